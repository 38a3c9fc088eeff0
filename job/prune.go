package job

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/retention"
	"github.com/hotzfs/hotzfs/snapshot"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// PruneReport is the plan and outcome of pruning one dataset on one side.
type PruneReport struct {
	Side      string // "source" or "target"
	Dataset   string
	Decisions []Decision
	Destroyed []string
	Refused   []string // target: snapshots the receiver kept, with its reason
}

// Decision is one snapshot's verdict with the reasons it is kept (none: destroyed).
type Decision struct {
	Snapshot string    `json:"snapshot"`
	Created  time.Time `json:"created"`
	Keep     bool      `json:"keep"`
	Reasons  []string  `json:"reasons,omitempty"`
}

// pruneAll applies the source retention to each dataset. targets holds what each target has; a dataset
// missing from it counts as not replicated at all.
func pruneAll(ctx context.Context, sys systems, j config.Job, datasets []string, byDataset map[string][]zfs.Dataset,
	targets map[string][]transport.SnapshotInfo, steps Steps, rep *Report, log *slog.Logger) []error {
	if j.Retention.Source.IsEmpty() {
		return nil
	}
	policy, err := j.Retention.Source.Policy(retention.SourceDefaults())
	if err != nil {
		return []error{fmt.Errorf("job %q: source retention: %w", j.Name, err)}
	}
	var errs []error
	for _, ds := range datasets {
		snaps := sourceSnapshots(j, ds, byDataset[ds], targets[ds])
		pr, destroy, err := plan(snaps, policy, sys.now(), "source", ds)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !steps.DryRun && len(destroy) > 0 {
			if err := sys.zfs.DestroySnapshots(ctx, ds, destroy); err != nil {
				errs = append(errs, fmt.Errorf("prune %s: %w", ds, err))
			} else {
				pr.Destroyed = destroy
				log.Info("pruned source", "dataset", ds, "destroyed", len(destroy), "kept", len(snaps)-len(destroy))
			}
		}
		rep.Pruned = append(rep.Pruned, pr)
	}
	return errs
}

// sourceSnapshots describes a source dataset's snapshots to the retention engine. The base is the newest
// snapshot both sides share (by GUID). A snapshot is replicated when the target holds it, or when it is older
// than the base: the target had it, or never needs it, and its retention may have pruned it since — no later
// send would bring it back, so protecting it as "not replicated" would keep it for ever.
func sourceSnapshots(j config.Job, ds string, source []zfs.Dataset, target []transport.SnapshotInfo) []retention.Snapshot {
	onTarget := map[uint64]bool{}
	for _, s := range target {
		onTarget[s.GUID] = true
	}
	var base *zfs.Dataset
	for i, d := range source {
		if d.Type == zfs.Snapshot && onTarget[d.GUID] && (base == nil || d.CreateTXG > base.CreateTXG) {
			base = &source[i]
		}
	}
	var snaps []retention.Snapshot
	for _, d := range source {
		if d.Type != zfs.Snapshot {
			continue
		}
		_, owned := snapshot.ParseName(j.SnapshotPrefix, d.Short())
		snaps = append(snaps, retention.Snapshot{Dataset: ds, Name: d.Short(), GUID: d.GUID, CreateTXG: d.CreateTXG,
			Created: d.Creation, Owned: owned, Held: d.UserRefs > 0, Base: base != nil && d.GUID == base.GUID,
			Replicated: onTarget[d.GUID] || base != nil && d.CreateTXG <= base.CreateTXG})
	}
	return snaps
}

// plan runs the retention engine and returns the report and the names to destroy.
func plan(snaps []retention.Snapshot, policy retention.Policy, now time.Time, side, ds string) (PruneReport, []string, error) {
	pr := PruneReport{Side: side, Dataset: ds}
	res, err := retention.Plan(snaps, policy, now)
	if err != nil {
		return pr, nil, fmt.Errorf("%s retention for %s: %w", side, ds, err)
	}
	var destroy []string
	for _, i := range res.Order {
		d := Decision{Snapshot: snaps[i].Name, Created: snaps[i].Created, Keep: res.Decisions[i].Keep()}
		for _, r := range res.Reasons(i) {
			d.Reasons = append(d.Reasons, r.String())
		}
		if !d.Keep {
			destroy = append(destroy, snaps[i].Name)
		}
		pr.Decisions = append(pr.Decisions, d)
	}
	return pr, destroy, nil
}

// pruneTargets applies the target retention through the receiver, which keeps the base and held snapshots
// whatever it is asked.
func pruneTargets(j config.Job, client session, datasets []string, targets map[string][]transport.SnapshotInfo,
	steps Steps, rep *Report, now time.Time) []error {
	if j.Retention.Target.IsEmpty() {
		return nil
	}
	policy, err := j.Retention.Target.Policy(retention.Policy{})
	if err != nil {
		return []error{fmt.Errorf("job %q: target retention: %w", j.Name, err)}
	}
	var errs []error
	for _, ds := range datasets {
		list := targets[ds]
		if len(list) == 0 {
			continue
		}
		tds := TargetDataset(j, ds)
		snaps := make([]retention.Snapshot, len(list))
		guids := map[string]uint64{}
		for i, s := range list {
			_, owned := snapshot.ParseName(j.SnapshotPrefix, s.Name)
			snaps[i] = retention.Snapshot{Dataset: tds, Name: s.Name, GUID: s.GUID, CreateTXG: s.CreateTXG,
				Created: s.Creation, Owned: owned, Base: i == len(list)-1}
			guids[s.Name] = s.GUID
		}
		pr, destroy, err := plan(snaps, policy, now, "target", tds)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(destroy) > 0 && !steps.DryRun {
			req := &transport.PruneRequest{Dataset: tds}
			for _, name := range destroy {
				req.Snapshots = append(req.Snapshots, transport.SnapshotRef{Name: name, GUID: guids[name]})
			}
			resp, err := client.Prune(req)
			if err != nil {
				errs = append(errs, fmt.Errorf("prune target %s: %w", tds, err))
			} else {
				for _, d := range resp.Destroyed {
					pr.Destroyed = append(pr.Destroyed, d.Name)
				}
				for _, k := range resp.Kept {
					pr.Refused = append(pr.Refused, k.Name+": "+k.Reason)
				}
			}
		}
		rep.Pruned = append(rep.Pruned, pr)
	}
	return errs
}
