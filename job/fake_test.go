package job

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/replication"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// The fakes below model the source's zfs and a receiver in memory, for the logic of a run: which datasets go
// where, holds, retention on both sides, retries, status. What zfs and the receiver really do is the real
// tests' business (real_test.go, in the OpenZFS VM).

// fakeZFS is the source: snapshots per dataset, oldest first; a dataset with a mountpoint is a filesystem,
// the others are volumes.
type fakeZFS struct {
	mu          sync.Mutex
	txg         uint64
	snaps       map[string][]zfs.Dataset
	mountpoints map[string]string
}

func newFakeZFS(datasets ...string) *fakeZFS {
	z := &fakeZFS{snaps: map[string][]zfs.Dataset{}}
	for _, ds := range datasets {
		z.snaps[ds] = nil
	}
	return z
}

func (z *fakeZFS) SnapshotAtomic(_ context.Context, names []string, _ map[string]string) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.txg++
	for _, name := range names {
		ds, _, _ := strings.Cut(name, "@")
		if _, ok := z.snaps[ds]; !ok {
			return fmt.Errorf("%s: %w", ds, zfs.ErrDatasetNotFound)
		}
		z.snaps[ds] = append(z.snaps[ds], zfs.Dataset{Name: name, Type: zfs.Snapshot, GUID: z.txg<<16 | uint64(len(z.snaps)),
			CreateTXG: z.txg, Creation: time.Unix(int64(z.txg), 0)})
	}
	return nil
}

func (z *fakeZFS) SetProps(context.Context, string, map[string]string) error { return nil }

func (z *fakeZFS) List(_ context.Context, roots []string, opts zfs.ListOptions) ([]zfs.Dataset, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	var out []zfs.Dataset
	for _, ds := range roots {
		self := zfs.Dataset{Name: ds, Type: zfs.Volume}
		if mp := z.mountpoints[ds]; mp != "" {
			self.Type, self.Mountpoint = zfs.Filesystem, mp
		}
		for _, d := range append([]zfs.Dataset{self}, z.snaps[ds]...) {
			if len(opts.Types) == 0 || slices.Contains(opts.Types, d.Type) {
				out = append(out, d)
			}
		}
	}
	return out, nil
}

func (z *fakeZFS) DestroySnapshots(_ context.Context, ds string, shorts []string) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, short := range shorts {
		i := slices.IndexFunc(z.snaps[ds], func(d zfs.Dataset) bool { return d.Short() == short })
		switch {
		case i < 0:
			return fmt.Errorf("%s@%s: %w", ds, short, zfs.ErrDatasetNotFound)
		case z.snaps[ds][i].UserRefs > 0:
			return fmt.Errorf("%s@%s: %w", ds, short, zfs.ErrHeld)
		}
		z.snaps[ds] = slices.Delete(z.snaps[ds], i, i+1)
	}
	return nil
}

func (z *fakeZFS) names(ds string) []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	var out []string
	for _, d := range z.snaps[ds] {
		out = append(out, d.Short())
	}
	return out
}

func (z *fakeZFS) held(ds string) []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	var out []string
	for _, d := range z.snaps[ds] {
		if d.UserRefs > 0 {
			out = append(out, d.Short())
		}
	}
	return out
}

// setHold holds full (one hold, for the job's one target) and releases the others; it returns the released.
func (z *fakeZFS) setHold(ds, full string, held []string) []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	var released []string
	for i, d := range z.snaps[ds] {
		switch {
		case d.Name == full:
			z.snaps[ds][i].UserRefs = 1
		case slices.Contains(held, d.Name) && d.UserRefs > 0:
			z.snaps[ds][i].UserRefs = 0
			released = append(released, d.Name)
		}
	}
	return released
}

// fakeTarget is a receiver: snapshots per target dataset, oldest first. Replicate answers the errors of script
// in turn before it does the work.
type fakeTarget struct {
	src *fakeZFS

	mu          sync.Mutex
	data        map[string][]transport.SnapshotInfo
	mountpoints map[string]string // of each source, as the last Replicate was given it
	script      []error
	dialErrs    []error
	replicate   int // calls to Replicate
	dials       int
	open        int // sessions not closed
	active      int
	maxActive   int
	delay       time.Duration // how long a Replicate takes
}

func newFakeTarget(src *fakeZFS) *fakeTarget {
	return &fakeTarget{src: src, data: map[string][]transport.SnapshotInfo{}, mountpoints: map[string]string{}}
}

func (t *fakeTarget) dial(context.Context) (session, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dials++
	if len(t.dialErrs) > 0 {
		err := t.dialErrs[0]
		t.dialErrs = t.dialErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	t.open++
	return &fakeSession{t: t}, nil
}

func (t *fakeTarget) names(ds string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, s := range t.data[ds] {
		out = append(out, s.Name)
	}
	return out
}

type fakeSession struct {
	t      *fakeTarget
	closed bool
}

func (s *fakeSession) Close() error {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.t.open--
	}
	return nil
}

func (s *fakeSession) List(datasets []string) ([]transport.DatasetInfo, error) {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	var out []transport.DatasetInfo
	for name, snaps := range s.t.data {
		if len(datasets) == 0 || slices.Contains(datasets, name) {
			out = append(out, transport.DatasetInfo{Name: name, Snapshots: slices.Clone(snaps)})
		}
	}
	return out, nil
}

// Prune destroys what it is asked, except the newest snapshot (the base), as the receiver does.
func (s *fakeSession) Prune(req *transport.PruneRequest) (*transport.PruneResponse, error) {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	list := s.t.data[req.Dataset]
	resp := &transport.PruneResponse{}
	for _, ref := range req.Snapshots {
		i := slices.IndexFunc(list, func(x transport.SnapshotInfo) bool { return x.Name == ref.Name && x.GUID == ref.GUID })
		switch {
		case i < 0:
			resp.Kept = append(resp.Kept, transport.PruneKept{SnapshotRef: ref, Reason: "not found"})
		case i == len(list)-1:
			resp.Kept = append(resp.Kept, transport.PruneKept{SnapshotRef: ref, Reason: "base"})
		default:
			list = slices.Delete(list, i, i+1)
			resp.Destroyed = append(resp.Destroyed, ref)
		}
	}
	s.t.data[req.Dataset] = list
	return resp, nil
}

// Replicate sends what the target lacks (as zfs send -I from the newest common snapshot), then holds the new
// base on the source, as replication.Sender does.
func (s *fakeSession) Replicate(ctx context.Context, ds replication.Dataset) (replication.Report, error) {
	rep := replication.Report{Source: ds.Source, Target: ds.Target}
	t := s.t
	t.mu.Lock()
	t.replicate++
	t.mountpoints[ds.Source] = ds.Mountpoint
	t.active++
	t.maxActive = max(t.maxActive, t.active)
	var err error
	if len(t.script) > 0 {
		err, t.script = t.script[0], t.script[1:]
	}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.active--
		t.mu.Unlock()
	}()
	if s.closed {
		return rep, fmt.Errorf("session used after Close")
	}
	time.Sleep(t.delay)
	if err != nil {
		return rep, err
	}
	var snaps []zfs.Dataset
	var held []string
	for _, d := range ds.Snapshots {
		if d.Type == zfs.Snapshot {
			snaps = append(snaps, d)
			if d.UserRefs > 0 {
				held = append(held, d.Name)
			}
		}
	}
	if len(snaps) == 0 {
		return rep, fmt.Errorf("%s: %w", ds.Source, replication.ErrNoSourceSnapshots)
	}
	t.mu.Lock()
	target := t.data[ds.Target]
	var baseTXG uint64
	for _, d := range snaps {
		if slices.ContainsFunc(target, func(x transport.SnapshotInfo) bool { return x.GUID == d.GUID }) {
			baseTXG = max(baseTXG, d.CreateTXG)
		}
	}
	if len(target) > 0 && baseTXG == 0 {
		t.mu.Unlock()
		return rep, &replication.ConflictError{Kind: replication.ErrNoCommonSnapshot, Msg: ds.Target}
	}
	for _, d := range snaps {
		if d.CreateTXG > baseTXG {
			target = append(target, transport.SnapshotInfo{Name: d.Short(), GUID: d.GUID, CreateTXG: d.CreateTXG, Creation: d.Creation})
			rep.Steps = append(rep.Steps, replication.StepReport{Step: "to @" + d.Short(), Bytes: 100})
		}
	}
	t.data[ds.Target] = target
	rep.TargetSnaps = slices.Clone(target)
	t.mu.Unlock()
	newest := snaps[len(snaps)-1]
	rep.Base, rep.BaseGUID, rep.Held = newest.Short(), newest.GUID, newest.Name
	rep.Released = t.src.setHold(ds.Source, newest.Name, held)
	return rep, ctx.Err()
}

// fakeJob returns a job over the fakes, parsed from YAML like a user's config.
func fakeJob(t *testing.T, datasets []string, extra string) (Env, config.Job) {
	t.Helper()
	yaml := fmt.Sprintf(`state_dir: %s
targets:
  t: {address: "127.0.0.1:7390", ca: ca.crt, cert: c.crt, key: c.key}
jobs:
  - name: j
    datasets: [%s]
    target: t
%s`, t.TempDir(), strings.Join(datasets, ", "), extra)
	cfg, err := config.ParseSender("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return Env{Config: cfg}, cfg.Jobs[0]
}

// fastRetry is defaultRetry's shape with delays a test can wait for.
var fastRetry = retryPolicy{attempts: 3, delay: 5 * time.Millisecond, factor: 4}

// logBuffer is a text slog handler's output, safe to read while workers log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLog() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}
