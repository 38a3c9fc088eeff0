package receiver

import (
	"context"
	"time"

	"github.com/hotzfs/hotzfs/meta"
	"github.com/hotzfs/hotzfs/retention"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// hotzfsName reports whether short is named the way hotzfs names its snapshots, whatever the job's prefix.
func hotzfsName(short string) bool { return meta.IsSnapshotName(short) }

// applyRetention prunes target by the client's receiver-owned retention (Client.Retention), after a receive
// into it: only snapshots named the way hotzfs names them, never the newest (the incremental base) nor a
// held one (the base hold, or an admin's). It returns the short names it destroyed. A failure leaves the
// snapshots in place for the next receive to try again and is logged: the backup itself succeeded.
func (ss *session) applyRetention(ctx context.Context, target string) []string {
	policy := ss.policy.Retention
	if policy == nil {
		return nil
	}
	z := ss.srv.zfs
	list, err := z.List(ctx, []string{target}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
	if err != nil {
		ss.log.Warn("receiver retention: cannot list the snapshots; nothing pruned, the next receive tries again",
			"dataset", target, "err", err)
		return nil
	}
	snaps := make([]retention.Snapshot, 0, len(list))
	for _, s := range list {
		snaps = append(snaps, retention.Snapshot{Dataset: target, Name: s.Short(), GUID: s.GUID, CreateTXG: s.CreateTXG,
			Created: s.Creation, Owned: hotzfsName(s.Short()), Held: s.UserRefs > 0})
	}
	plan, err := retention.Plan(snaps, *policy, time.Now())
	if err != nil {
		ss.log.Warn("receiver retention: the policy is invalid; fix retention: in the receiver config",
			"dataset", target, "err", err)
		return nil
	}
	var destroy []string
	for _, i := range plan.Destroy() {
		destroy = append(destroy, snaps[i].Name)
	}
	if len(destroy) == 0 {
		return nil
	}
	if err := z.DestroySnapshots(ctx, target, destroy); err != nil {
		ss.log.Warn("receiver retention: destroying snapshots failed; the next receive tries again",
			"dataset", target, "snapshots", destroy, "err", err)
		return nil
	}
	ss.log.Info("receiver retention pruned", "dataset", target, "destroyed", len(destroy), "kept", len(snaps)-len(destroy))
	return destroy
}

// withoutDestroyed drops the destroyed snapshots from the target state a result carries back.
func withoutDestroyed(state *transport.DatasetInfo, destroyed []string) {
	if state == nil || len(destroyed) == 0 {
		return
	}
	gone := map[string]bool{}
	for _, n := range destroyed {
		gone[n] = true
	}
	kept := state.Snapshots[:0]
	for _, s := range state.Snapshots {
		if !gone[s.Name] {
			kept = append(kept, s)
		}
	}
	state.Snapshots = kept
}
