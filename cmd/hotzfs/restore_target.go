package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/hotzfs/hotzfs/job"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// prepareRestoreTarget makes into ready for a restore of dataset@snap, so that a restore the user (or a
// crash) interrupted can simply be run again. Nothing there: go on. The partial state of an interrupted
// receive of that same snapshot (by GUID): a restore stream cannot be resumed (the receiver does not take
// resume tokens from clients), so the partial state is discarded (zfs receive -A) and the restore starts
// again. The snapshot already complete there: done is true, nothing needs receiving. Anything else is refused
// with what is there and what to do.
func prepareRestoreTarget(ctx context.Context, env job.Env, w io.Writer, into, dataset string, snap transport.SnapshotInfo) (done bool, err error) {
	ok, err := env.ZFS.Exists(ctx, into)
	if err != nil || !ok {
		return false, err
	}
	what := fmt.Sprintf("%s@%s (guid %d)", dataset, snap.Name, snap.GUID)
	token, err := env.ZFS.ResumeToken(ctx, into)
	if err != nil {
		return false, err
	}
	if token != "" {
		tok, err := zfs.ParseResumeToken(token)
		toname, toguid := tok.ToName, tok.ToGUID
		switch {
		case err != nil:
			return false, usagef("%s holds the partial state of an interrupted receive whose resume token hotzfs "+
				"cannot read (%v): discard it (zfs receive -A %s) and run the restore again, or choose another name "+
				"with --into", into, err, into)
		case toguid != snap.GUID:
			return false, usagef("%s holds the partial state of an interrupted receive of %s (guid %d), not of %s: "+
				"discard it (zfs receive -A %s) and run the restore again, or choose another name with --into",
				into, toname, toguid, what, into)
		}
		fmt.Fprintf(w, "%s holds the partial state of an interrupted restore of %s@%s: discarding it (zfs receive -A; "+
			"a restore cannot resume) and restoring from the start\n", into, dataset, snap.Name)
		env.Log.Info("discarding an interrupted restore", "dataset", into, "snapshot", what)
		if err := env.ZFS.AbortReceive(ctx, into); err != nil {
			return false, fmt.Errorf("discard the partial restore in %s: %w", into, err)
		}
		if ok, err := env.ZFS.Exists(ctx, into); err != nil || !ok {
			return false, err // the interrupted restore had created into: it is gone
		}
	}
	snaps, err := env.ZFS.List(ctx, []string{into}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
	if err != nil {
		return false, err
	}
	names := make([]string, 0, len(snaps))
	for _, s := range snaps {
		if s.GUID == snap.GUID {
			fmt.Fprintf(w, "%s already holds %s as @%s: already restored, nothing to receive\n", into, what, s.Short())
			return true, nil
		}
		names = append(names, "@"+s.Short())
	}
	kind := "dataset"
	if props, err := env.ZFS.GetProps(ctx, into, "type"); err == nil && props["type"] != "" {
		kind = props["type"]
	}
	holds := "no snapshots"
	if len(names) > 0 {
		holds = "snapshots " + strings.Join(names, " ") + ", none of them " + what
	}
	return false, usagef("%s exists and is not a restore of %s: it is a %s with %s; destroy it (zfs destroy -r %s) "+
		"and run the restore again, or choose another name with --into", into, what, kind, holds, into)
}
