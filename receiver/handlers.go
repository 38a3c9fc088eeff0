package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/hotzfs/hotzfs/meta"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// BaseHoldTag marks, on the receiver, the newest received snapshot of each dataset: the incremental base.
const BaseHoldTag = meta.ReceiverBaseHold

// A list response message holds at most listChunk snapshots and about listBytes of JSON, well under the
// control frame limit: the values recorded with each snapshot (source, mountpoint, guests) may be long.
const (
	listChunk = 2000
	listBytes = transport.MaxControlPayload / 2
)

// consistencyProp is the user property carrying a snapshot's consistency level.
const consistencyProp = meta.PropConsistency

// listedProps are the user properties a listing reports of each snapshot: what the client said of it.
var listedProps = []string{consistencyProp, meta.PropSource, meta.PropMountpoint, meta.PropGuest}

func (ss *session) list(ctx context.Context, req *transport.ListRequest) error {
	// One dataset asked for (the sender's question before each stream) lists that dataset only, not every
	// snapshot the client has; anything else lists the client's root.
	root, depth := ss.root, 0
	if len(req.Datasets) == 1 {
		if target, err := transport.ResolveDataset(ss.root, req.Datasets[0]); err == nil {
			root, depth = target, 1
		}
	}
	all, err := ss.listTree(ctx, root, depth)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, rel := range req.Datasets {
		want[rel] = true
	}
	infos := groupListing(all, ss.root, want)
	if err := ss.originGUIDs(ctx, infos); err != nil {
		return err
	}
	return ss.writeList(infos)
}

// listTree lists root (0: its whole subtree; 1: it and its snapshots and children) with what a DatasetInfo
// needs; a root that does not exist (a client that never sent anything, a dataset not received yet) has
// nothing.
func (ss *session) listTree(ctx context.Context, root string, depth int) ([]zfs.Dataset, error) {
	all, err := ss.srv.zfs.List(ctx, []string{root}, zfs.ListOptions{Depth: depth, Origin: true,
		Types: []zfs.Type{zfs.Filesystem, zfs.Volume, zfs.Snapshot}, UserProps: listedProps})
	if errors.Is(err, zfs.ErrDatasetNotFound) {
		return nil, nil
	}
	return all, err
}

// groupListing turns a recursive listing of root into one DatasetInfo per dataset below root, with names
// relative to root and snapshots oldest first. Without a filter, datasets with neither snapshots nor a
// partial receive nor an origin (the parents the receiver creates) are left out. A clone whose origin lies
// under root gets it (relative), with its GUID when all has the origin (see originGUIDs for the rest); a
// clone of anything outside root gets no origin: other clients' names are not for this one.
func groupListing(all []zfs.Dataset, root string, want map[string]bool) []transport.DatasetInfo {
	byName := map[string]*transport.DatasetInfo{}
	guids := map[string]uint64{}
	for _, d := range all {
		if d.Type == zfs.Snapshot {
			guids[d.Name] = d.GUID
		}
	}
	var order []string
	for _, d := range all {
		rel, ok := strings.CutPrefix(d.Dataset(), root+"/")
		if !ok || (len(want) > 0 && !want[rel]) {
			continue
		}
		info := byName[rel]
		if info == nil {
			info = &transport.DatasetInfo{Name: rel, Snapshots: []transport.SnapshotInfo{}}
			byName[rel] = info
			order = append(order, rel)
		}
		switch d.Type {
		case zfs.Snapshot:
			info.Snapshots = append(info.Snapshots, transport.SnapshotInfo{Name: d.Short(), GUID: d.GUID,
				CreateTXG: d.CreateTXG, Creation: d.Creation, Consistency: d.Props[consistencyProp], Size: d.Referenced,
				Source: d.Props[meta.PropSource], Mountpoint: d.Props[meta.PropMountpoint], Guests: meta.GuestNames(d.Props)})
		default:
			info.ResumeToken = d.ResumeToken
			if origin, ok := strings.CutPrefix(d.Origin, root+"/"); ok {
				info.Origin, info.OriginGUID = origin, guids[d.Origin]
			}
		}
	}
	out := make([]transport.DatasetInfo, 0, len(order))
	for _, rel := range order {
		info := byName[rel]
		if len(want) == 0 && len(info.Snapshots) == 0 && info.ResumeToken == "" && info.Origin == "" {
			continue // a parent the receiver created; asked for by name, it is listed
		}
		sort.Slice(info.Snapshots, func(i, j int) bool { return info.Snapshots[i].CreateTXG < info.Snapshots[j].CreateTXG })
		out = append(out, *info)
	}
	return out
}

// writeList sends infos in messages of at most listChunk snapshots (and entries) and listBytes of JSON; a
// dataset with more is split over consecutive entries of the same name, which the client merges.
func (ss *session) writeList(infos []transport.DatasetInfo) error {
	var batch []transport.DatasetInfo
	n, size := 0, 0
	flush := func(more bool) error {
		err := transport.WriteMessage(ss.conn, &transport.ListResponse{Datasets: batch, More: more})
		batch, n, size = nil, 0, 0
		return err
	}
	for _, info := range infos {
		rest := info.Snapshots
		for {
			part := info
			n++
			size += jsonLen(transport.DatasetInfo{Name: info.Name, ResumeToken: info.ResumeToken})
			k := 0
			for ; k < len(rest) && n < listChunk && size < listBytes; k++ {
				n++
				size += jsonLen(rest[k]) + 1
			}
			part.Snapshots, rest = rest[:k], rest[k:]
			batch = append(batch, part)
			if n >= listChunk || size >= listBytes {
				if err := flush(true); err != nil {
					return err
				}
			}
			if len(rest) == 0 {
				break
			}
		}
	}
	return flush(false)
}

// jsonLen is the length of v in JSON, as a control message carries it. A value that does not encode (then
// WriteMessage says why) counts as a full message.
func jsonLen(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return listBytes
	}
	return len(b)
}

// acquire reserves a stream slot (one of max_streams and of the client's max_streams_per_client) and the
// dataset, and holds the connection to the minimum rate until release undoes it all.
func (ss *session) acquire(target string) (release func(), err error) {
	s := ss.srv
	rel := strings.TrimPrefix(target, ss.root+"/")
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.busy[target]:
		return nil, refuse(transport.CodeBusy, "another stream into %s is in progress", rel)
	case s.streamsOf[ss.client] >= s.opts.MaxStreamsPerClient:
		return nil, refuse(transport.CodeBusy, "client %q already runs %d streams (max_streams_per_client); retry later",
			ss.client, s.opts.MaxStreamsPerClient)
	}
	select {
	case s.streams <- struct{}{}:
	default:
		return nil, refuse(transport.CodeBusy, "the receiver already runs %d streams (max_streams); retry later", cap(s.streams))
	}
	s.busy[target] = true
	s.streamsOf[ss.client]++
	s.opts.Metrics.streamStarted()
	ss.conn.SetMinRate(s.opts.MinRate, s.opts.RateWindow)
	return func() {
		ss.conn.SetMinRate(0, 0)
		s.mu.Lock()
		delete(s.busy, target)
		if s.streamsOf[ss.client]--; s.streamsOf[ss.client] <= 0 {
			delete(s.streamsOf, ss.client)
		}
		s.mu.Unlock()
		<-s.streams
	}, nil
}

// receive serves a ReceiveRequest. reqErr is reported to the client; connErr ends the session because the
// connection is mid-stream in an unknown state.
func (ss *session) receive(ctx context.Context, req *transport.ReceiveRequest) (reqErr, connErr error) {
	target, err := transport.ResolveDataset(ss.root, req.Dataset)
	if err != nil {
		return refuse(transport.CodeForbidden, "dataset %q: %v", req.Dataset, err), nil
	}
	if req.Force && !ss.policy.AllowRollback {
		return refuse(transport.CodeForbidden, "rollback (-F) of %s is not allowed for client %q; "+
			"set allow_rollback for it in the receiver config", req.Dataset, ss.client), nil
	}
	release, err := ss.acquire(target)
	if err != nil {
		return err, nil
	}
	defer release()
	existed, err := ss.prepareTarget(ctx, target, req)
	if err != nil {
		return err, nil
	}
	if err := transport.WriteMessage(ss.conn, &transport.Ready{}); err != nil {
		return nil, err
	}
	ss.conn.SetTimeouts(transport.Timeouts{Read: ss.srv.opts.StallTimeout, Write: ss.srv.opts.StallTimeout})
	sr := transport.NewStreamReader(ss.conn, transport.ReaderOptions{Authenticated: ss.conn.Authenticated()})
	start := time.Now()
	// The stream's begin record says what it carries before zfs receive sees a byte of it.
	hdr, stream, err := peekStream(earning{sr, ss.conn.Earn}, req)
	if err == nil {
		err = ss.srv.zfs.Receive(ctx, target, receiveOptions(hdr.First.Type, req.Force), stream)
	}
	if err == nil {
		_, err = io.Copy(io.Discard, sr) // the end frame: counts checked
	}
	if err != nil {
		return nil, ss.failedStream(req, sr, err)
	}
	ss.srv.opts.Metrics.streamDone(ss.client, "receive", sr.RawBytes(), sr.WireBytes())
	if !existed {
		if err := ss.refuseClone(ctx, target, req); err != nil {
			return err, nil
		}
	}
	res, err := ss.finishReceive(ctx, target, req)
	if err != nil {
		return err, nil
	}
	res.Bytes, res.WireBytes = uint64(sr.RawBytes()), uint64(sr.WireBytes())
	ss.log.Info("received", "dataset", target, "snapshot", res.Snapshot, "bytes", res.Bytes,
		"wire_bytes", res.WireBytes, "duration", time.Since(start).Round(time.Millisecond))
	withoutDestroyed(res.Target, ss.applyRetention(ctx, target))
	ss.srv.opts.Metrics.received(ss.client, req.Dataset, float64(time.Now().Unix()))
	return nil, transport.WriteMessage(ss.conn, res)
}

// failedStream reports a failed receive at once, so the client stops sending, then reads the rest of the
// stream (the client ends it with an error trailer) so the session can go on. It returns an error only when
// the connection itself is broken.
func (ss *session) failedStream(req *transport.ReceiveRequest, sr *transport.StreamReader, err error) error {
	ss.log.Warn("receive failed", "dataset", req.Dataset, "err", err)
	ss.srv.opts.Metrics.failed(req.Kind())
	werr := ss.writeError(requestLabel(req), err)
	_, derr := io.Copy(io.Discard, sr)
	ss.srv.opts.Metrics.streamDone(ss.client, "receive", sr.RawBytes(), sr.WireBytes())
	var remote *transport.RemoteError
	if derr != nil && !errors.As(derr, &remote) {
		return errors.Join(fmt.Errorf("receive into %s: %w", req.Dataset, err), derr)
	}
	return werr
}

// prepareTarget creates the client's root and the target's parents, and clears a partial receive that a
// new (non-resume) stream replaces; the last complete snapshot stays. It reports whether the target existed.
func (ss *session) prepareTarget(ctx context.Context, target string, req *transport.ReceiveRequest) (bool, error) {
	z := ss.srv.zfs
	// Streams into different datasets of one client run at once; their creates of shared parents must not race.
	ss.srv.createMu.Lock()
	defer ss.srv.createMu.Unlock()
	// Usually everything is there: one listing of the parent says so and gives the target's resume token.
	parent := target[:strings.LastIndex(target, "/")]
	siblings, err := z.List(ctx, []string{parent}, zfs.ListOptions{Types: []zfs.Type{zfs.Filesystem, zfs.Volume}, Depth: 1})
	if errors.Is(err, zfs.ErrDatasetNotFound) {
		siblings, err = nil, ss.createParents(ctx, parent)
	}
	if err != nil {
		return false, err
	}
	found, token := false, ""
	for _, d := range siblings {
		if d.Name == target {
			found, token = true, d.ResumeToken
		}
	}
	if !found {
		if req.Resume {
			return false, refuse(transport.CodeConflict, "%s has no interrupted receive to resume", req.Dataset)
		}
		return false, nil
	}
	switch {
	case req.Resume && token == "":
		return true, refuse(transport.CodeConflict, "%s has no interrupted receive to resume", req.Dataset)
	case !req.Resume && token != "":
		ss.log.Info("discarding an interrupted receive replaced by a new stream", "dataset", target)
		if err := z.AbortReceive(ctx, target); err != nil {
			return true, fmt.Errorf("discard the interrupted receive of %s: %w", target, err)
		}
	}
	return true, nil
}

// createParents creates the client's root (with its quota) when it is missing, and parent below it.
func (ss *session) createParents(ctx context.Context, parent string) error {
	z := ss.srv.zfs
	if ok, err := z.Exists(ctx, ss.root); err != nil {
		return err
	} else if !ok {
		props := map[string]string{"canmount": "off"}
		if ss.policy.Quota > 0 {
			props["quota"] = fmt.Sprint(ss.policy.Quota)
		}
		if err := z.CreateFilesystem(ctx, ss.root, props); err != nil && !errors.Is(err, zfs.ErrExists) {
			return fmt.Errorf("create client root %s: %w", ss.root, err)
		}
	}
	if parent != ss.root {
		if err := z.CreateFilesystem(ctx, parent, map[string]string{"canmount": "off"}); err != nil && !errors.Is(err, zfs.ErrExists) {
			return fmt.Errorf("create parent %s: %w", parent, err)
		}
	}
	return nil
}

// finishReceive checks that the snapshot the client announced arrived with its GUID, and moves the base hold
// to it.
func (ss *session) finishReceive(ctx context.Context, target string, req *transport.ReceiveRequest) (*transport.Result, error) {
	all, err := ss.listTree(ctx, target, 1)
	if err != nil {
		return nil, err
	}
	var snaps []zfs.Dataset
	for _, d := range all {
		if d.Type == zfs.Snapshot && d.Dataset() == target {
			snaps = append(snaps, d)
		}
	}
	if len(snaps) == 0 {
		return nil, refuse(transport.CodeInternal, "receive into %s completed but no snapshot is there", req.Dataset)
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].CreateTXG < snaps[j].CreateTXG })
	newest := snaps[len(snaps)-1]
	if req.GUID != 0 && newest.GUID != req.GUID {
		return nil, refuse(transport.CodeConflict, "received snapshot %s has guid %d, the client announced @%s guid %d",
			newest.Name, newest.GUID, req.Snapshot, req.GUID)
	}
	// The hold and the snapshot's metadata are independent zfs calls: made at the same time.
	moved := make(chan error, 1)
	go func() { moved <- ss.moveBaseHold(ctx, newest, snaps) }()
	recorded := recordedProps(req)
	metaErr := ss.recordMeta(ctx, newest.Name, recorded, req.DomainXML)
	if err := errors.Join(<-moved, metaErr); err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].Name == newest.Name {
			maps.Copy(all[i].Props, recorded) // listed with listedProps: Props is there
		}
	}
	// The target's state goes back with the result, so the client need not list it again (unless it is long:
	// a control message stays well under its size limit).
	var state *transport.DatasetInfo
	if infos := groupListing(all, ss.root, map[string]bool{req.Dataset: true}); len(infos) == 1 &&
		len(snaps) <= listChunk && jsonLen(infos[0]) <= listBytes {
		state = &infos[0]
	}
	return &transport.Result{Dataset: req.Dataset, Snapshot: newest.Short(), GUID: newest.GUID, Target: state}, nil
}

// recordedProps are the listedProps a ReceiveRequest gives its snapshot (validated with the request).
func recordedProps(req *transport.ReceiveRequest) map[string]string {
	props := map[string]string{}
	for k, v := range map[string]string{consistencyProp: req.Consistency, meta.PropSource: req.Source,
		meta.PropMountpoint: req.Mountpoint, meta.PropGuest: strings.Join(req.Guests, ",")} {
		if v != "" {
			props[k] = v
		}
	}
	return props
}

// recordMeta stores what the client sent with a snapshot, props and the guest definition, with one zfs set.
func (ss *session) recordMeta(ctx context.Context, snap string, props map[string]string, xml string) error {
	all := maps.Clone(props)
	if xml != "" {
		maps.Copy(all, meta.EncodeDomainXML(xml))
	}
	if err := ss.srv.zfs.SetProps(ctx, snap, all); err != nil {
		return fmt.Errorf("record the client's metadata on %s: %w", snap, err)
	}
	return nil
}

// moveBaseHold holds the new base first, then releases the tag from older snapshots: at no moment is the
// dataset without a held base. (Which older snapshots carry the tag is asked meanwhile.)
func (ss *session) moveBaseHold(ctx context.Context, base zfs.Dataset, snaps []zfs.Dataset) error {
	z := ss.srv.zfs
	var held []string
	for _, s := range snaps {
		if s.UserRefs > 0 && s.Name != base.Name {
			held = append(held, s.Name)
		}
	}
	holds, err := z.HoldWhileListing(ctx, BaseHoldTag, base.Name, held...)
	if err != nil {
		return err
	}
	var stale []string
	for _, h := range holds {
		if h.Tag == BaseHoldTag {
			stale = append(stale, h.Snapshot)
		}
	}
	return z.Release(ctx, BaseHoldTag, stale...)
}

// earning passes a stream's decoded bytes to earn (the connection's minimum-rate budget): a stream that
// compresses well moves at its raw rate, not at its few wire bytes.
type earning struct {
	r    io.Reader
	earn func(int)
}

func (e earning) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.earn(n)
	return n, err
}
