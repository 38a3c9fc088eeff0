package job

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/meta"
	"github.com/hotzfs/hotzfs/replication"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// holdTag is the hold hotzfs keeps on the source's incremental base for one target.
func holdTag(target string) string { return meta.SenderBaseHold(target) }

// IsBaseHold reports whether a hold on a source snapshot is one hotzfs placed on an incremental base.
func IsBaseHold(tag string) bool { return meta.IsSenderBaseHold(tag) }

// replicateAndPrune lists all the job's datasets with one zfs call, replicates each, then prunes each side.
// Failures go to f under the step they made fail.
func replicateAndPrune(ctx context.Context, sys systems, j config.Job, datasets []string, steps Steps, rep *Report,
	f *failures, log *slog.Logger) {
	// The datasets themselves are listed for their mountpoints (their children come along, unused).
	listing, err := sys.zfs.List(ctx, datasets, zfs.ListOptions{
		Types: []zfs.Type{zfs.Filesystem, zfs.Volume, zfs.Snapshot, zfs.Bookmark}, Depth: 1})
	if err != nil {
		f.add(fmt.Errorf("job %q: list snapshots: %w", j.Name, err), steps.among(StepReplicate, StepPrune)...)
		return
	}
	byDataset := map[string][]zfs.Dataset{}
	mountpoints := map[string]string{}
	for _, d := range listing {
		switch d.Type {
		case zfs.Filesystem, zfs.Volume:
			mountpoints[d.Name] = d.Mountpoint
		default:
			byDataset[d.Dataset()] = append(byDataset[d.Dataset()], d)
		}
	}
	client, err := dialRetrying(ctx, sys, log)
	if err != nil {
		err = fmt.Errorf("job %q: target %q: %w", j.Name, j.Target, err)
		f.add(err, steps.among(StepReplicate, StepPrune)...)
		if steps.Prune && !steps.Replicate {
			// Without the target's list nothing counts as replicated; unreplicated snapshots stay.
			log.Warn("pruning the source without the target's list", "err", err)
			f.addAll(pruneAll(ctx, sys, j, datasets, byDataset, nil, steps, rep, log), StepPrune)
		}
		return
	}
	defer func() {
		if client != nil {
			client.Close()
		}
	}()
	targets := map[string][]transport.SnapshotInfo{}
	if steps.Replicate {
		sources := make([]replication.Dataset, len(datasets))
		for i, ds := range datasets {
			sources[i] = replication.Dataset{Source: ds, Snapshots: byDataset[ds], Target: TargetDataset(j, ds),
				Mountpoint: mountpoints[ds]}
		}
		reports, snaps, rerrs, last := replicateAll(ctx, sys, j, sources, client, log)
		client = last
		rep.Replicated = append(rep.Replicated, reports...)
		f.addAll(rerrs, StepReplicate)
		for i, ds := range datasets {
			if snaps[i] != nil {
				targets[ds] = snaps[i]
			}
		}
	} else {
		infos, err := client.List(nil)
		if err != nil {
			f.add(fmt.Errorf("job %q: list the target: %w", j.Name, err), StepPrune)
			return
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
		f.addAll(pruneAll(ctx, sys, j, datasets, byDataset, targets, steps, rep, log), StepPrune)
		if client == nil && !j.Retention.Target.IsEmpty() {
			if client, err = dialRetrying(ctx, sys, log); err != nil {
				f.add(fmt.Errorf("job %q: prune the target %q: %w", j.Name, j.Target, err), StepPrune)
				return
			}
		}
		f.addAll(pruneTargets(j, client, datasets, targets, steps, rep, sys.now()), StepPrune)
	}
}

// dialRetrying opens a session, trying again while the failures are transient (the receiver restarting or at
// its connection limit).
func dialRetrying(ctx context.Context, sys systems, log *slog.Logger) (session, error) {
	var s session
	err := sys.retry.do(ctx, log, "connecting to the target", func(int) error {
		var err error
		s, err = sys.dial(ctx)
		return err
	})
	return s, err
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

// replicateAll replicates the sources, up to maxStreams at a time: the first worker uses first, the others
// dial their own (a worker that cannot connect just leaves the work to the others). Results are in source
// order; snaps[i] is nil when source i failed. A dataset whose failure is transient is tried again (see
// retryPolicy) over a new connection. last is the first worker's session at the end (nil if it lost it and
// could not connect again), for the caller to use and close.
func replicateAll(ctx context.Context, sys systems, j config.Job, sources []replication.Dataset, first session,
	log *slog.Logger) (reports []replication.Report, snaps [][]transport.SnapshotInfo, out []error, last session) {
	reports = make([]replication.Report, len(sources))
	snaps = make([][]transport.SnapshotInfo, len(sources))
	errs := make([]error, len(sources))
	next := make(chan int)
	var wg sync.WaitGroup
	work := func(w *worker) {
		defer wg.Done()
		for i := range next {
			r, err := w.replicate(ctx, sources[i])
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
	lead := &worker{sys: sys, conn: first, log: log}
	wg.Add(1)
	go work(lead)
	for n := 1; n < min(streams, len(sources)); n++ {
		c, err := sys.dial(ctx)
		if err != nil {
			log.Warn("replicating with fewer parallel streams", "err", err)
			break
		}
		w := &worker{sys: sys, conn: c, log: log}
		defer w.close()
		wg.Add(1)
		go work(w)
	}
	for i := range sources {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return reports, snaps, out, lead.conn
}

// worker replicates datasets one after the other over its own session, which it replaces when it is lost.
type worker struct {
	sys  systems
	conn session // nil after a lost connection that could not be made again
	log  *slog.Logger
}

// replicate replicates one dataset, trying again over a new session while the failures are transient. The
// report has the streams of every attempt.
func (w *worker) replicate(ctx context.Context, ds replication.Dataset) (replication.Report, error) {
	var sent []replication.StepReport
	var r replication.Report
	err := w.sys.retry.do(ctx, w.log.With("dataset", ds.Source), "replicating", func(attempt int) error {
		if w.conn == nil {
			c, err := w.sys.dial(ctx)
			if err != nil {
				return err
			}
			w.conn = c
		}
		var err error
		r, err = w.conn.Replicate(ctx, ds)
		updateHolds(ds.Snapshots, r)
		sent = append(sent, r.Steps...)
		if err != nil && transient(err) {
			w.close() // the session may be out of step with the receiver: start the next attempt afresh
		}
		return err
	})
	r.Steps = sent
	return r, err
}

func (w *worker) close() {
	if w.conn != nil {
		if err := w.conn.Close(); err != nil {
			w.log.Debug("closing a session to the target", "err", err)
		}
		w.conn = nil
	}
}
