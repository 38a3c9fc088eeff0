package receiver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// maxCloneSnapshots bounds the snapshots a clone may have for a snapshot request to add one: a client cannot
// pile up snapshots (and the space they pin) on the receiver without pruning.
const maxCloneSnapshots = 64

// snapshot serves a SnapshotRequest (failback): one atomic snapshot of clones the client's own snapshots were
// cloned into (by failover), so their new data can be fetched back with a SendRequest. Received datasets are
// refused: a snapshot there would break their next incremental receive.
func (ss *session) snapshot(ctx context.Context, req *transport.SnapshotRequest) error {
	targets := make([]string, len(req.Datasets))
	for i, rel := range req.Datasets {
		target, err := transport.ResolveDataset(ss.root, rel)
		if err != nil {
			return refuse(transport.CodeForbidden, "dataset %q: %v", rel, err)
		}
		targets[i] = target
	}
	if !hotzfsName(req.Name) {
		return refuse(transport.CodeBadRequest, "snapshot name %q is not named like a hotzfs snapshot "+
			"(PREFIX_YYYYMMDDTHHMMSSZ); the receiver makes only those", req.Name)
	}
	release, err := ss.reserve(targets)
	if err != nil {
		return err
	}
	defer release()
	if err := ss.checkClones(ctx, targets, req); err != nil {
		return err
	}
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t + "@" + req.Name
	}
	var props map[string]string
	if req.Consistency != "" {
		props = map[string]string{consistencyProp: req.Consistency}
	}
	if err := ss.srv.zfs.SnapshotAtomic(ctx, names, props); err != nil {
		return fmt.Errorf("snapshot %d clones as @%s: %w", len(names), req.Name, err)
	}
	ss.log.Info("snapshotted failover clones", "datasets", strings.Join(targets, ","), "snapshot", req.Name,
		"consistency", req.Consistency)
	resp, err := ss.snapshotResponse(ctx, targets, req)
	if err != nil {
		return err
	}
	return transport.WriteMessage(ss.conn, resp)
}

// checkClones refuses the request unless every target exists, is a clone of a snapshot under the client's
// root, has no snapshot named req.Name (nor an origin of that name, which a restore's base would then not
// tell apart) and fewer than maxCloneSnapshots snapshots.
func (ss *session) checkClones(ctx context.Context, targets []string, req *transport.SnapshotRequest) error {
	z := ss.srv.zfs
	all, err := z.List(ctx, targets, zfs.ListOptions{Types: []zfs.Type{zfs.Filesystem, zfs.Volume, zfs.Snapshot},
		Depth: 1, Origin: true})
	if errors.Is(err, zfs.ErrDatasetNotFound) {
		for i, t := range targets {
			if ok, xerr := z.Exists(ctx, t); xerr == nil && !ok {
				return refuse(transport.CodeNotFound, "%s does not exist; list the client's datasets to find "+
					"the clones failover made", req.Datasets[i])
			}
		}
	}
	if err != nil {
		return err
	}
	self := map[string]zfs.Dataset{}
	snaps := map[string]map[string]bool{}
	for _, d := range all {
		if d.Type == zfs.Snapshot {
			if snaps[d.Dataset()] == nil {
				snaps[d.Dataset()] = map[string]bool{}
			}
			snaps[d.Dataset()][d.Short()] = true
		} else {
			self[d.Name] = d
		}
	}
	for i, t := range targets {
		rel, d := req.Datasets[i], self[t]
		switch {
		case d.Name == "":
			return refuse(transport.CodeNotFound, "%s does not exist; list the client's datasets to find the clones "+
				"failover made", rel)
		case d.Origin == "":
			return refuse(transport.CodeForbidden, "%s is not a clone: the receiver snapshots only clones of the "+
				"client's snapshots (as failover makes them), never a received dataset, whose next incremental "+
				"receive a snapshot would break", rel)
		case !strings.HasPrefix(d.Origin, ss.root+"/"):
			return refuse(transport.CodeForbidden, "%s is a clone of a snapshot outside the client's root; the "+
				"receiver snapshots only clones of the client's own snapshots", rel)
		case snaps[t][req.Name] || d.Origin[strings.Index(d.Origin, "@")+1:] == req.Name:
			return refuse(transport.CodeConflict, "%s already has a snapshot @%s (or its origin has that name); "+
				"choose another name", rel, req.Name)
		case len(snaps[t]) >= maxCloneSnapshots:
			return refuse(transport.CodeConflict, "%s has %d snapshots, the most a clone may have here; prune its "+
				"older snapshots first", rel, len(snaps[t]))
		}
	}
	return nil
}

// snapshotResponse lists the targets after the snapshot: each with its origin and the snapshot made.
func (ss *session) snapshotResponse(ctx context.Context, targets []string, req *transport.SnapshotRequest) (*transport.SnapshotResponse, error) {
	all, err := ss.srv.zfs.List(ctx, targets, zfs.ListOptions{Types: []zfs.Type{zfs.Filesystem, zfs.Volume, zfs.Snapshot},
		Depth: 1, Origin: true, UserProps: listedProps})
	if err != nil {
		return nil, fmt.Errorf("list the clones after their snapshot @%s: %w", req.Name, err)
	}
	want := map[string]bool{}
	for _, rel := range req.Datasets {
		want[rel] = true
	}
	infos := groupListing(all, ss.root, want)
	if err := ss.originGUIDs(ctx, infos); err != nil {
		return nil, err
	}
	for i := range infos {
		var made []transport.SnapshotInfo
		for _, s := range infos[i].Snapshots {
			if s.Name == req.Name {
				made = append(made, s)
			}
		}
		if len(made) != 1 {
			return nil, fmt.Errorf("snapshot @%s of %s made but not listed", req.Name, infos[i].Name)
		}
		infos[i].Snapshots = made
	}
	if len(infos) != len(targets) {
		return nil, fmt.Errorf("snapshot @%s made in %d clones, %d listed", req.Name, len(targets), len(infos))
	}
	return &transport.SnapshotResponse{Datasets: infos}, nil
}

// originGUIDs fills in the GUID of each origin groupListing could not find in its listing (a listing of one
// dataset has its origin's dataset not in it), with one zfs list of the origins' datasets. An origin that is
// gone meanwhile is left out.
func (ss *session) originGUIDs(ctx context.Context, infos []transport.DatasetInfo) error {
	var datasets []string
	seen := map[string]bool{}
	for _, info := range infos {
		if info.Origin != "" && info.OriginGUID == 0 {
			ds := ss.root + "/" + info.Origin[:strings.Index(info.Origin, "@")]
			if !seen[ds] {
				seen[ds] = true
				datasets = append(datasets, ds)
			}
		}
	}
	if len(datasets) == 0 {
		return nil
	}
	snaps, err := ss.srv.zfs.List(ctx, datasets, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
	if err != nil {
		return fmt.Errorf("list the origins of clones: %w", err)
	}
	guids := map[string]uint64{}
	for _, s := range snaps {
		guids[strings.TrimPrefix(s.Name, ss.root+"/")] = s.GUID
	}
	for i := range infos {
		if infos[i].Origin != "" && infos[i].OriginGUID == 0 {
			if infos[i].OriginGUID = guids[infos[i].Origin]; infos[i].OriginGUID == 0 {
				infos[i].Origin = ""
			}
		}
	}
	return nil
}

// reserve marks targets busy, as acquire does for a stream, all or none, without taking a stream slot: no
// stream into or out of them starts until release.
func (ss *session) reserve(targets []string) (release func(), err error) {
	s := ss.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range targets {
		if s.busy[t] {
			return nil, refuse(transport.CodeBusy, "a stream of %s is in progress; retry later",
				strings.TrimPrefix(t, ss.root+"/"))
		}
	}
	for _, t := range targets {
		s.busy[t] = true
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, t := range targets {
			delete(s.busy, t)
		}
	}, nil
}

// originBase is the incremental base of a restore from a clone whose origin the client named as From: the
// origin's full name, when it lies under the client's root and has the GUID the client gave. zfs send -i from
// another dataset's snapshot makes a clone stream: the client receives it as a new dataset.
func (ss *session) originBase(ctx context.Context, dataset string, req *transport.SendRequest) (string, error) {
	z := ss.srv.zfs
	props, err := z.GetProps(ctx, dataset, "origin")
	if err != nil {
		return "", err
	}
	origin := props["origin"]
	if _, short, ok := strings.Cut(origin, "@"); !ok || short != req.From {
		return "", errNoBase(req)
	}
	if !strings.HasPrefix(origin, ss.root+"/") {
		return "", refuse(transport.CodeForbidden, "the incremental base @%s is the origin of %s, which lies outside "+
			"the client's root", req.From, req.Dataset)
	}
	if req.FromGUID == 0 {
		return "", refuse(transport.CodeBadRequest, "@%s is the origin of clone %s, not its own snapshot: "+
			"an incremental from it needs from_guid", req.From, req.Dataset)
	}
	got, err := z.GetProps(ctx, origin, "guid")
	if err != nil {
		return "", err
	}
	if guid, err := strconv.ParseUint(got["guid"], 10, 64); err != nil || guid != req.FromGUID {
		return "", refuse(transport.CodeConflict, "the origin @%s of %s has guid %s, not %d", req.From, req.Dataset,
			got["guid"], req.FromGUID)
	}
	return origin, nil
}

// errNoBase refuses a SendRequest whose From is neither a snapshot of the dataset nor its origin.
func errNoBase(req *transport.SendRequest) error {
	return refuse(transport.CodeConflict, "incremental base @%s (guid %d) is not on the receiver", req.From, req.FromGUID)
}
