package job

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/meta"
	"github.com/hotzfs/hotzfs/replication"
	"github.com/hotzfs/hotzfs/snapshot"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// holdTag is the hold hotzfs keeps on the source's incremental base for one target.
func holdTag(target string) string { return meta.SenderBaseHold(target) }

// IsBaseHold reports whether a hold on a source snapshot is one hotzfs placed on an incremental base.
func IsBaseHold(tag string) bool { return meta.IsSenderBaseHold(tag) }

// replicateAndPrune lists all the job's datasets with one zfs call, replicates each, then prunes each side.
func replicateAndPrune(ctx context.Context, env Env, j config.Job, datasets []string, steps Steps, rep *Report, log *slog.Logger) []error {
	listing, err := env.ZFS.List(ctx, datasets, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot, zfs.Bookmark}, Depth: 1})
	if err != nil {
		return []error{fmt.Errorf("job %q: list snapshots: %w", j.Name, err)}
	}
	byDataset := map[string][]zfs.Dataset{}
	for _, d := range listing {
		byDataset[d.Dataset()] = append(byDataset[d.Dataset()], d)
	}
	client, err := env.Dial(ctx, j.Target)
	if err != nil {
		err = fmt.Errorf("job %q: target %q: %w", j.Name, j.Target, err)
		if steps.Prune && !steps.Replicate {
			// Without the target's list nothing counts as replicated; unreplicated snapshots stay.
			log.Warn("pruning the source without the target's list", "err", err)
			return append([]error{err}, pruneAll(ctx, env, j, datasets, byDataset, nil, steps, rep, log)...)
		}
		return []error{err}
	}
	defer client.Close()
	targets := map[string][]transport.SnapshotInfo{}
	var errs []error
	if steps.Replicate {
		reports, snaps, rerrs := replicateAll(ctx, env, j, datasets, byDataset, client, log)
		rep.Replicated = append(rep.Replicated, reports...)
		errs = append(errs, rerrs...)
		for i, ds := range datasets {
			if snaps[i] != nil {
				targets[ds] = snaps[i]
			}
		}
	} else {
		infos, err := client.List(nil)
		if err != nil {
			return append(errs, fmt.Errorf("job %q: list the target: %w", j.Name, err))
		}
		for _, ds := range datasets {
			for _, info := range infos {
				if info.Name == TargetDataset(j, ds) {
					targets[ds] = info.Snapshots
				}
			}
		}
	}
	if steps.Prune {
		errs = append(errs, pruneAll(ctx, env, j, datasets, byDataset, targets, steps, rep, log)...)
		errs = append(errs, pruneTargets(j, client, datasets, targets, steps, rep, env.now())...)
	}
	return errs
}

// snapshotMeta returns the guest definition ("" for a plain dataset) and consistency level recorded on a
// source snapshot.
func snapshotMeta(ctx context.Context, z *zfs.Runner, snap string) (string, string, error) {
	props, err := z.GetProps(ctx, snap, "all")
	if err != nil {
		return "", "", err
	}
	consistency := props[snapshot.PropConsistency]
	if _, ok := props[snapshot.PropDomXML+".sha256"]; !ok {
		return "", consistency, nil
	}
	xml, err := meta.DecodeDomainXML(props)
	return xml, consistency, err
}

// updateHolds brings the run's listing up to date with the holds replication moved, so pruning sees the old
// base as released without listing again.
func updateHolds(list []zfs.Dataset, r replication.Report) {
	released := map[string]bool{}
	for _, name := range r.Released {
		released[name] = true
	}
	for i := range list {
		switch {
		case released[list[i].Name] && list[i].UserRefs > 0:
			list[i].UserRefs--
		case list[i].Name == r.Held && list[i].UserRefs == 0:
			list[i].UserRefs = 1
		}
	}
}

// maxStreams bounds how many datasets of a job replicate at once, each over its own connection.
const maxStreams = 2

// replicateAll replicates the datasets, up to maxStreams at a time: the first worker uses client, the others
// dial their own (a worker that cannot connect just leaves the work to the others). Results are in dataset
// order; snaps[i] is nil when dataset i failed.
func replicateAll(ctx context.Context, env Env, j config.Job, datasets []string, byDataset map[string][]zfs.Dataset,
	client *replication.Client, log *slog.Logger) ([]replication.Report, [][]transport.SnapshotInfo, []error) {
	reports := make([]replication.Report, len(datasets))
	snaps := make([][]transport.SnapshotInfo, len(datasets))
	errs := make([]error, len(datasets))
	next := make(chan int)
	var wg sync.WaitGroup
	worker := func(c *replication.Client) {
		defer wg.Done()
		sender := newSender(env, j, c, log)
		for i := range next {
			ds := datasets[i]
			r, err := sender.Replicate(ctx, replication.Dataset{Source: ds, Snapshots: byDataset[ds], Target: TargetDataset(j, ds)})
			updateHolds(byDataset[ds], r)
			reports[i], errs[i] = r, err
			if err == nil {
				snaps[i] = r.TargetSnaps
			}
		}
	}
	streams := maxStreams
	if j.Bandwidth > 0 {
		streams = 1 // the limit is per stream; one stream keeps the job within it
	}
	wg.Add(1)
	go worker(client)
	for n := 1; n < min(streams, len(datasets)); n++ {
		c, err := env.Dial(ctx, j.Target)
		if err != nil {
			log.Warn("replicating with fewer parallel streams", "err", err)
			break
		}
		defer c.Close()
		wg.Add(1)
		go worker(c)
	}
	for i := range datasets {
		next <- i
	}
	close(next)
	wg.Wait()
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return reports, snaps, out
}

func newSender(env Env, j config.Job, c *replication.Client, log *slog.Logger) *replication.Sender {
	return &replication.Sender{ZFS: env.ZFS, Client: c, Log: log, Compression: transport.Compression(j.Compression),
		Flags: replication.SendFlags{Raw: j.Send.Raw, Compressed: j.Send.Compressed, LargeBlocks: j.Send.LargeBlocks,
			Embedded: j.Send.Embedded},
		Bandwidth: int64(j.Bandwidth), HoldTag: holdTag(j.Target), AllowRollback: j.AllowRollback,
		SnapshotMeta: func(ctx context.Context, snap string) (string, string, error) {
			return snapshotMeta(ctx, env.ZFS, snap)
		},
		Progress: env.Progress}
}
