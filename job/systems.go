package job

import (
	"context"
	"log/slog"
	"time"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/replication"
	"github.com/hotzfs/hotzfs/snapshot"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// sourceZFS is what a run needs of the source's zfs besides the snapshot step: one listing, and destroy.
type sourceZFS interface {
	List(ctx context.Context, roots []string, opts zfs.ListOptions) ([]zfs.Dataset, error)
	DestroySnapshots(ctx context.Context, dataset string, shorts []string) error
}

// session is one connection to the job's target: its listing, its pruning, and replication through it.
type session interface {
	List(datasets []string) ([]transport.DatasetInfo, error)
	Prune(req *transport.PruneRequest) (*transport.PruneResponse, error)
	Replicate(ctx context.Context, ds replication.Dataset) (replication.Report, error)
	Close() error
}

// systems are what a run works with besides the config. Run builds them from Env; unit tests from fakes.
type systems struct {
	snapshotter snapshot.Snapshotter
	zfs         sourceZFS
	dial        func(ctx context.Context) (session, error) // a new session to the job's target
	retry       retryPolicy
	now         func() time.Time
}

func (e Env) systems(j config.Job, log *slog.Logger) systems {
	return systems{snapshotter: e.ZFS, zfs: e.ZFS, retry: defaultRetry, now: e.now,
		dial: func(ctx context.Context) (session, error) {
			c, err := e.Dial(ctx, j.Target)
			if err != nil {
				return nil, err
			}
			return clientSession{Client: c, sender: newSender(e, j, c, log)}, nil
		}}
}

// clientSession is a session over a receiver connection.
type clientSession struct {
	*replication.Client
	sender *replication.Sender
}

func (c clientSession) Replicate(ctx context.Context, ds replication.Dataset) (replication.Report, error) {
	return c.sender.Replicate(ctx, ds)
}

func newSender(env Env, j config.Job, c *replication.Client, log *slog.Logger) *replication.Sender {
	return &replication.Sender{ZFS: env.ZFS, Client: c, Log: log, Compression: transport.Compression(j.Compression),
		Flags: replication.SendFlags{Raw: j.Send.Raw, Compressed: j.Send.Compressed, LargeBlocks: j.Send.LargeBlocks,
			Embedded: j.Send.Embedded},
		Bandwidth: int64(j.Bandwidth), HoldTag: holdTag(j.Target), AllowRollback: j.AllowRollback, Progress: env.Progress}
}
