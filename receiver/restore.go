package receiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hotzfs/hotzfs/meta"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// StoredDomainXML returns the definition stored with a received snapshot, "" when it has none.
func StoredDomainXML(ctx context.Context, z *zfs.Runner, snap string) (string, error) {
	props, err := z.GetProps(ctx, snap, "all")
	if err != nil {
		return "", err
	}
	if _, ok := props[meta.PropDomXML+".sha256"]; !ok {
		return "", nil
	}
	return meta.DecodeDomainXML(props)
}

// send serves a SendRequest: a snapshot of the client's back to it (restore).
func (ss *session) send(ctx context.Context, req *transport.SendRequest) (reqErr, connErr error) {
	dataset, err := transport.ResolveDataset(ss.root, req.Dataset)
	if err != nil {
		return refuse(transport.CodeForbidden, "dataset %q: %v", req.Dataset, err), nil
	}
	opts, err := ss.sendOptions(ctx, dataset, req)
	if err != nil {
		return err, nil
	}
	release, err := ss.acquire(dataset)
	if err != nil {
		return err, nil
	}
	defer release()
	estimate, err := ss.srv.zfs.Estimate(ctx, opts)
	if err != nil {
		return err, nil
	}
	xml := ""
	if opts.Snapshot != "" {
		if xml, err = StoredDomainXML(ctx, ss.srv.zfs, opts.Snapshot); err != nil {
			ss.log.Warn("stored domain XML unreadable", "snapshot", opts.Snapshot, "err", err)
		}
	}
	stream, err := ss.srv.zfs.Send(ctx, opts)
	if err != nil {
		return err, nil
	}
	defer stream.Close()
	if err := transport.WriteMessage(ss.conn, &transport.Ready{Estimate: estimate, DomainXML: xml}); err != nil {
		return nil, err
	}
	ss.conn.SetTimeouts(transport.Timeouts{Read: ss.srv.opts.StallTimeout, Write: ss.srv.opts.StallTimeout})
	w, err := transport.NewStreamWriter(ss.conn, transport.StreamOptions{Compression: req.Compression,
		Authenticated: ss.conn.Authenticated(), Queue: transport.DefaultQueue})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	n, err := io.Copy(w, stream)
	if err != nil {
		ss.srv.opts.Metrics.streamDone(ss.client, "send", n, int64(w.WireBytes()))
		if werr := w.CloseWithError(err); werr != nil {
			return nil, errors.Join(err, werr)
		}
		ss.log.Warn("restore stream failed", "dataset", dataset, "err", err)
		return nil, nil // the client got the error trailer; the session can go on
	}
	err = w.Close()
	ss.srv.opts.Metrics.streamDone(ss.client, "send", n, int64(w.WireBytes()))
	ss.log.Info("sent", "dataset", dataset, "snapshot", opts.Snapshot, "bytes", n, "duration", time.Since(start).Round(time.Millisecond))
	return nil, err
}

// sendOptions checks a SendRequest against what the dataset holds. From is one of the dataset's snapshots
// (sent with -I), or, for a clone, its origin when that is a snapshot of the client's (-i, see originBase).
func (ss *session) sendOptions(ctx context.Context, dataset string, req *transport.SendRequest) (zfs.SendOptions, error) {
	if req.ResumeToken != "" {
		// A token names the snapshot it continues; one crafted by a client could name another client's data.
		return zfs.SendOptions{}, refuse(transport.CodeUnsupported, "resuming a restore is not supported; "+
			"abort the partial restore (zfs receive -A) and restore again")
	}
	snaps, err := ss.srv.zfs.List(ctx, []string{dataset}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
	if err != nil {
		return zfs.SendOptions{}, err
	}
	byName := map[string]zfs.Dataset{}
	for _, s := range snaps {
		byName[s.Short()] = s
	}
	snap, ok := byName[req.Snapshot]
	if !ok {
		return zfs.SendOptions{}, refuse(transport.CodeNotFound, "%s has no snapshot @%s", req.Dataset, req.Snapshot)
	}
	if req.GUID != 0 && snap.GUID != req.GUID {
		return zfs.SendOptions{}, refuse(transport.CodeConflict, "@%s has guid %d, not %d", req.Snapshot, snap.GUID, req.GUID)
	}
	opts := zfs.SendOptions{Snapshot: snap.Name, Raw: req.Raw}
	if !opts.Raw { // an encrypted backup arrived raw and its key is not here: it can only leave raw too
		props, err := ss.srv.zfs.GetProps(ctx, dataset, "encryption")
		if err != nil {
			return zfs.SendOptions{}, err
		}
		opts.Raw = props["encryption"] != "" && props["encryption"] != "off" && props["encryption"] != "-"
	}
	if req.From != "" {
		from, ok := byName[req.From]
		if ok && (req.FromGUID == 0 || from.GUID == req.FromGUID) {
			opts.From, opts.Intermediates = "@"+req.From, true
			return opts, nil
		}
		// Failback: the base of a clone's first snapshot is its origin, in another dataset (-i, one step).
		if opts.From, err = ss.originBase(ctx, dataset, req); err != nil {
			return zfs.SendOptions{}, err
		}
	}
	return opts, nil
}

// prune serves a PruneRequest: destroy the listed snapshots, except the base, the newest, snapshots hotzfs
// did not make (see hotzfsName), and any whose GUID does not match what the client named.
func (ss *session) prune(ctx context.Context, req *transport.PruneRequest) error {
	if !ss.policy.AllowPrune {
		return refuse(transport.CodeForbidden, "client %q may not prune; set allow_prune for it in the receiver config", ss.client)
	}
	dataset, err := transport.ResolveDataset(ss.root, req.Dataset)
	if err != nil {
		return refuse(transport.CodeForbidden, "dataset %q: %v", req.Dataset, err)
	}
	snaps, err := ss.srv.zfs.List(ctx, []string{dataset}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
	if err != nil {
		return err
	}
	resp := &transport.PruneResponse{Dataset: req.Dataset, Destroyed: []transport.SnapshotRef{}}
	var newest zfs.Dataset
	byName := map[string]zfs.Dataset{}
	for _, s := range snaps {
		byName[s.Short()] = s
		if s.CreateTXG > newest.CreateTXG {
			newest = s
		}
	}
	var destroy []string
	for _, ref := range req.Snapshots {
		s, ok := byName[ref.Name]
		reason := ""
		switch {
		case !ok:
			reason = "not found"
		case s.GUID != ref.GUID:
			reason = fmt.Sprintf("guid is %d, not %d", s.GUID, ref.GUID)
		case !hotzfsName(ref.Name):
			reason = "not named like a hotzfs snapshot (PREFIX_YYYYMMDDTHHMMSSZ); the receiver destroys only those"
		case s.Name == newest.Name:
			reason = "newest snapshot (incremental base)"
		case s.UserRefs > 0:
			reason = "held (incremental base or a user's hold)"
		}
		if reason != "" {
			resp.Kept = append(resp.Kept, transport.PruneKept{SnapshotRef: ref, Reason: reason})
			continue
		}
		destroy = append(destroy, ref.Name)
		resp.Destroyed = append(resp.Destroyed, ref)
	}
	if !req.DryRun && len(destroy) > 0 {
		if err := ss.srv.zfs.DestroySnapshots(ctx, dataset, destroy); err != nil {
			return err
		}
		ss.log.Info("pruned", "dataset", dataset, "destroyed", len(destroy), "kept", len(resp.Kept))
	}
	return transport.WriteMessage(ss.conn, resp)
}
