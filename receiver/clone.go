package receiver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// maxClientClones bounds the clones a client's root may hold after a clone request: each keeps its origin
// snapshot from being pruned and holds whatever a guest writes into it.
const maxClientClones = 64

// undoTimeout bounds destroying the clones of a failed clone request.
const undoTimeout = 30 * time.Second

// cloneFSProps are set on filesystem clones, which are mounted on the receiver host with the client's data in
// them: setuid programs and device nodes there take no effect.
var cloneFSProps = map[string]string{"setuid": "off", "devices": "off"}

// clone serves a CloneRequest (migrate): each received dataset's snapshot of the set, checked by GUID, is
// cloned to the dataset's name with the suffix, where a guest can run on it. The received datasets are not
// modified, so replication can go on.
func (ss *session) clone(ctx context.Context, req *transport.CloneRequest) error {
	if !ss.policy.AllowClone {
		return refuse(transport.CodeForbidden, "client %q may not have its snapshots cloned here; set "+
			"allow_clone: true for it under clients: in the receiver config", ss.client)
	}
	resp, err := ss.cloneSet(ctx, req)
	if err != nil {
		return err
	}
	return transport.WriteMessage(ss.conn, resp)
}

// cloneSet makes the clones of req, or none: nothing is cloned unless every dataset passes checkCloneSources,
// and when a clone fails, those made before it are destroyed.
func (ss *session) cloneSet(ctx context.Context, req *transport.CloneRequest) (*transport.CloneResponse, error) {
	sources := make([]string, len(req.Datasets))
	clones := make([]string, len(req.Datasets))
	for i, rel := range req.Datasets {
		var err error
		if sources[i], err = transport.ResolveDataset(ss.root, rel); err != nil {
			return nil, refuse(transport.CodeForbidden, "dataset %q: %v", rel, err)
		}
		if clones[i], err = transport.ResolveDataset(ss.root, rel+req.Suffix); err != nil {
			return nil, refuse(transport.CodeForbidden, "clone %q: %v", rel+req.Suffix, err)
		}
	}
	// One clone request at a time, so that no two of them pass maxClientClones together.
	ss.srv.cloneMu.Lock()
	defer ss.srv.cloneMu.Unlock()
	release, err := ss.reserve(append(slices.Clone(sources), clones...))
	if err != nil {
		return nil, err
	}
	defer release()
	types, err := ss.checkCloneSources(ctx, sources, clones, req)
	if err != nil {
		return nil, err
	}
	resp := &transport.CloneResponse{Clones: make([]transport.CloneInfo, len(sources))}
	var made []string
	for i := range sources {
		info, ok, err := ss.makeClone(ctx, sources[i]+"@"+req.Snapshot, clones[i], types[i])
		if ok {
			made = append(made, clones[i])
		}
		if err != nil {
			return nil, ss.undoClones(ctx, req, made, err)
		}
		info.Dataset, info.Clone = req.Datasets[i], req.Datasets[i]+req.Suffix
		resp.Clones[i] = info
	}
	ss.log.Info("cloned received snapshots", "snapshot", req.Snapshot, "datasets", strings.Join(sources, ","),
		"clones", strings.Join(clones, ","))
	return resp, nil
}

// checkCloneSources refuses the request unless every source is a received dataset (not a clone) with the
// snapshot and GUID the client named, no clone's name is taken, and the client's root would hold at most
// maxClientClones clones after it. It returns the type of each source.
func (ss *session) checkCloneSources(ctx context.Context, sources, clones []string, req *transport.CloneRequest) ([]zfs.Type, error) {
	z := ss.srv.zfs
	all, err := z.List(ctx, []string{ss.root}, zfs.ListOptions{Types: []zfs.Type{zfs.Filesystem, zfs.Volume}, Origin: true})
	if errors.Is(err, zfs.ErrDatasetNotFound) {
		return nil, refuse(transport.CodeNotFound, "the receiver holds nothing of client %q yet; replicate its "+
			"datasets first", ss.client)
	}
	if err != nil {
		return nil, err
	}
	byName := map[string]zfs.Dataset{}
	existing := 0
	for _, d := range all {
		byName[d.Name] = d
		if d.Origin != "" {
			existing++
		}
	}
	types := make([]zfs.Type, len(sources))
	for i, src := range sources {
		rel, d := req.Datasets[i], byName[src]
		switch {
		case d.Name == "":
			return nil, refuse(transport.CodeNotFound, "%s does not exist; list the client's datasets to find the "+
				"received ones", rel)
		case d.Origin != "":
			return nil, refuse(transport.CodeConflict, "%s is a clone, not a received dataset: the receiver clones "+
				"only what the client sent; name the received datasets", rel)
		case byName[clones[i]].Name != "":
			return nil, refuse(transport.CodeConflict, "%s exists: an earlier migrate or failover made it; zfs "+
				"destroy -r it on the receiver or choose another suffix", rel+req.Suffix)
		}
		types[i] = d.Type
	}
	if existing+len(sources) > maxClientClones {
		return nil, refuse(transport.CodeConflict, "the client's root holds %d clones; %d more would pass the %d a "+
			"client may have here: zfs destroy -r the clones of earlier migrations or failovers on the receiver first",
			existing, len(sources), maxClientClones)
	}
	snaps, err := z.List(ctx, sources, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
	if err != nil {
		return nil, err
	}
	guids := map[string]uint64{}
	for _, s := range snaps {
		guids[s.Name] = s.GUID
	}
	for i, src := range sources {
		switch got := guids[src+"@"+req.Snapshot]; {
		case got == 0:
			return nil, refuse(transport.CodeNotFound, "%s has no snapshot @%s; replicate the set first, or list "+
				"the client's datasets for the sets received", req.Datasets[i], req.Snapshot)
		case got != req.GUIDs[i]:
			return nil, refuse(transport.CodeConflict, "%s@%s has guid %d, not %d: it is another snapshot of that "+
				"name; replicate again, or name the snapshot as listed", req.Datasets[i], req.Snapshot, got, req.GUIDs[i])
		}
	}
	return types, nil
}

// makeClone clones snapshot to clone and, for a filesystem, sees it mounted. made reports that the clone
// exists (or may), also when err says it is not usable.
func (ss *session) makeClone(ctx context.Context, snapshot, clone string, typ zfs.Type) (info transport.CloneInfo, made bool, err error) {
	z := ss.srv.zfs
	var props map[string]string
	if typ == zfs.Filesystem {
		props = cloneFSProps
	}
	if err := z.Clone(ctx, snapshot, clone, props); err != nil {
		// zfs clone fails when it made the clone but could not mount it: mountClone tries again.
		exists, xerr := z.Exists(ctx, clone)
		if typ != zfs.Filesystem || !exists {
			return info, exists || xerr != nil, fmt.Errorf("clone %s to %s: %w", snapshot, clone, err)
		}
		ss.log.Warn("zfs clone made the clone but did not mount it; mounting it", "dataset", clone, "err", err)
	}
	if typ == zfs.Volume {
		return transport.CloneInfo{Device: "/dev/zvol/" + clone}, true, nil
	}
	mountpoint, err := ss.mountClone(ctx, clone)
	return transport.CloneInfo{Mountpoint: mountpoint}, true, err
}

// mountClone mounts a filesystem clone that zfs clone did not mount, and returns its mountpoint.
func (ss *session) mountClone(ctx context.Context, clone string) (string, error) {
	z := ss.srv.zfs
	props, err := z.GetProps(ctx, clone, "mountpoint", "mounted")
	if err != nil {
		return "", err
	}
	if props["mounted"] != "yes" && strings.HasPrefix(props["mountpoint"], "/") {
		if err := z.Mount(ctx, clone); err != nil {
			return "", fmt.Errorf("mount clone %s: %w", clone, err)
		}
		if props, err = z.GetProps(ctx, clone, "mountpoint", "mounted"); err != nil {
			return "", err
		}
	}
	if props["mounted"] != "yes" || transport.CheckMountpoint(props["mountpoint"]) != nil {
		return "", refuse(transport.CodeConflict, "clone %s is not mounted (mountpoint %q, mounted %q); give the "+
			"client's root a mountpoint on the receiver", strings.TrimPrefix(clone, ss.root+"/"), props["mountpoint"],
			props["mounted"])
	}
	return props["mountpoint"], nil
}

// undoClones destroys the clones a failed request made, which are new and hold nothing, and returns err; if
// some cannot be destroyed, the refusal names them.
func (ss *session) undoClones(ctx context.Context, req *transport.CloneRequest, made []string, err error) error {
	if len(made) == 0 {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	var left []string
	var errs []error
	for _, c := range made {
		if derr := destroyNew(ctx, ss.srv.zfs, c); derr != nil && !errors.Is(derr, zfs.ErrDatasetNotFound) {
			left = append(left, strings.TrimPrefix(c, ss.root+"/"))
			errs = append(errs, derr)
		}
	}
	if len(left) == 0 {
		ss.log.Info("destroyed the clones of a failed clone request", "clones", strings.Join(made, ","))
		return err
	}
	ss.log.Error("cannot destroy the clones of a failed clone request", "clones", strings.Join(left, ","),
		"err", errors.Join(errs...))
	return &requestError{code: errorCode(err), err: fmt.Errorf("%s; the clones %s it made stay: zfs destroy them "+
		"on the receiver", clientMessage(requestLabel(req), err), strings.Join(left, ", "))}
}

// destroyNew destroys a dataset just made, retrying while it is busy: udev and blkid open a new zvol for a
// moment.
func destroyNew(ctx context.Context, z *zfs.Runner, name string) error {
	for {
		err := z.Destroy(ctx, name, false)
		if !errors.Is(err, zfs.ErrBusy) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(300 * time.Millisecond):
		}
	}
}
