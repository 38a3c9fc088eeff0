package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/guest"
	"github.com/hotzfs/hotzfs/meta"
	"github.com/hotzfs/hotzfs/zfs"
)

var at = time.Date(2026, 11, 26, 1, 15, 0, 0, time.UTC)

func baseRequest(t *testing.T, q *fakeQuiescer, s *fakeSnapshotter) Request {
	return Request{Job: "nightly", Prefix: "hotzfs", At: at, Quiescer: q, Snapshotter: s,
		FreezeTimeout: 4 * time.Second, ThawTimeout: 5 * time.Second, Logger: testLog(t)}
}

func TestThawAfterFreezeErrorThatLandsLater(t *testing.T) {
	timedOut := fmt.Errorf("guest %q: freeze: %w", "web", guest.ErrAgentTimeout)
	q := newFakeQuiescer(map[string]*fakeDom{"web": {freezeErrs: []error{timedOut}, freezeLands: true}})
	s := &fakeSnapshotter{q: q}
	req := baseRequest(t, q, s)
	req.Guests = []Guest{{Domain: dom("web"), Datasets: []string{"tank/web"}, Quiesce: Preferred}}
	res, err := Take(context.Background(), req)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	if q.frozen("web") {
		t.Fatal("guest left frozen after a freeze that failed but landed")
	}
	if want := []string{"timeout web 2s", "freeze web", "thaw web"}; !slices.Equal(q.callList(), want) {
		t.Errorf("calls = %v, want %v", q.callList(), want)
	}
	g := res.Guests[0]
	if !g.Attempted || g.Froze || g.Consistency != Crash || !errors.Is(g.Err, guest.ErrAgentTimeout) {
		t.Errorf("guest outcome = %+v; want attempted, crash, ErrAgentTimeout warning", g)
	}
	if got := s.setProps["tank/web@hotzfs_20261126T011500Z"][PropConsistency]; got != "crash" {
		t.Errorf("consistency property = %q, want crash", got)
	}
}

func TestThawRunsWhenCallerCancelsDuringSnapshot(t *testing.T) {
	q := newFakeQuiescer(map[string]*fakeDom{"db": {}})
	started := make(chan struct{})
	s := &fakeSnapshotter{q: q, block: started}
	dir := t.TempDir()
	marker := filepath.Join(dir, "post")
	req := baseRequest(t, q, s)
	req.Guests = []Guest{{Domain: dom("db"), Datasets: []string{"tank/db"}, Quiesce: Required}}
	req.Hooks = []Hook{{Name: "mark", Pre: []string{"true"}, Post: []string{"touch", marker}, Timeout: 5 * time.Second}}
	req.StateDir = dir
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	res, err := Take(ctx, req)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrSnapshotFailed) {
		t.Errorf("Take error = %v, want the cancellation as a snapshot failure", err)
	}
	if q.frozen("db") {
		t.Fatal("guest left frozen after the caller cancelled")
	}
	if len(q.thawCtx) != 1 || q.thawCtx[0] != nil {
		t.Errorf("thaw contexts = %v, want one live context", q.thawCtx)
	}
	if len(s.calls) != 1 || !slices.Equal(s.calls[0].frozen, []string{"db"}) {
		t.Errorf("snapshot calls = %+v, want one with db frozen", s.calls)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("post-hook did not run after cancellation: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, stateGlob)); len(left) != 0 {
		t.Errorf("frozen-guest record left after a confirmed thaw: %v", left)
	}
	if res.Window <= 0 || res.Snapshots[0].Snapshot != "" {
		t.Errorf("result = %+v; want a window and no snapshot", res)
	}
}

func TestPostHooksRunInReverseForSucceededPreHooks(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	sh := func(s string) []string { return []string{"sh", "-c", "exec >>" + logf + "; " + s} }
	hooks := []Hook{
		{Name: "a", Pre: sh("echo pre-a"), Post: sh("echo post-a")},
		{Name: "b", Post: sh("echo post-b")}, // no pre: counts as succeeded
		{Name: "c", Pre: sh("echo pre-c"), Post: sh("echo post-c; exit 7")},
		{Name: "d", Pre: sh("echo pre-d; exit 3"), Post: sh("echo post-d")},
		{Name: "e", Pre: sh("echo pre-e"), Post: sh("echo post-e")},
	}
	q := newFakeQuiescer(map[string]*fakeDom{"web": {}})
	s := &fakeSnapshotter{q: q}
	req := baseRequest(t, q, s)
	req.Guests = []Guest{{Domain: dom("web"), Datasets: []string{"tank/web"}, Quiesce: Required}}
	req.Hooks = hooks
	res, err := Take(context.Background(), req)
	if !errors.Is(err, ErrHookFailed) || !strings.Contains(err.Error(), `pre-hook "d"`) ||
		!strings.Contains(err.Error(), `post-hook "c"`) {
		t.Errorf("Take error = %v, want pre-hook d and post-hook c failures", err)
	}
	b, _ := os.ReadFile(logf)
	want := "pre-a\npre-c\npre-d\npost-c\npost-b\npost-a\n"
	if string(b) != want {
		t.Errorf("hook order:\n%s\nwant:\n%s", b, want)
	}
	if len(q.callList()) != 0 || len(s.calls) != 0 {
		t.Errorf("after a failed pre-hook: guest calls %v, snapshot calls %d; want none", q.callList(), len(s.calls))
	}
	if len(res.Hooks) != 6 {
		t.Errorf("hook outcomes = %+v, want 6 runs", res.Hooks)
	}
}

func TestPostHooksRunAfterSnapshotFailure(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	sh := func(s string) []string { return []string{"sh", "-c", "exec >>" + logf + "; " + s} }
	q := newFakeQuiescer(map[string]*fakeDom{"web": {}})
	s := &fakeSnapshotter{q: q, errs: func(int, []string) error { return errors.New("out of space") }}
	req := baseRequest(t, q, s)
	req.Guests = []Guest{{Domain: dom("web"), Datasets: []string{"tank/web"}, Quiesce: Required}}
	req.Hooks = []Hook{{Pre: sh("echo pre-1"), Post: sh("echo post-1")}, {Pre: sh("echo pre-2"), Post: sh("echo post-2")}}
	_, err := Take(context.Background(), req)
	if !errors.Is(err, ErrSnapshotFailed) {
		t.Errorf("Take error = %v, want ErrSnapshotFailed", err)
	}
	if b, _ := os.ReadFile(logf); string(b) != "pre-1\npre-2\npost-2\npost-1\n" {
		t.Errorf("hook order: %q", b)
	}
	if q.frozen("web") {
		t.Error("guest left frozen")
	}
}

func TestHookTimeoutKillsItsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "late")
	h := Hook{Name: "slow", Pre: []string{"sh", "-c", "(sleep 2; touch " + marker + ") & sleep 30"},
		Timeout: 300 * time.Millisecond}
	start := time.Now()
	out := runHook(context.Background(), h, "pre", h.Pre, discardLog())
	if !errors.Is(out.Err, ErrHookFailed) || !strings.Contains(out.Err.Error(), "killed after 300ms") {
		t.Errorf("hook error = %v", out.Err)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("hook with a 300 ms timeout took %v", d)
	}
	time.Sleep(2500 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Error("a child of the timed-out hook survived the kill of its process group")
	}
}

func TestOneSnapshotCallPerPool(t *testing.T) {
	q := newFakeQuiescer(map[string]*fakeDom{"a": {xml: "<domain>a</domain>"}, "b": {xml: "<domain>b</domain>"}})
	s := &fakeSnapshotter{q: q}
	req := baseRequest(t, q, s)
	req.Guests = []Guest{
		{Domain: dom("a"), Datasets: []string{"tank/a1", "tank/shared", "fast/a2"}, Quiesce: Required},
		{Domain: dom("b"), Datasets: []string{"tank/shared", "tank/b1"}, Quiesce: Preferred},
	}
	req.Datasets = []string{"tank/plain", "fast/plain", "tank/a1"}
	res, err := Take(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	const name = "hotzfs_20261126T011500Z"
	byPool := map[string][]string{}
	for _, c := range s.calls {
		pool := zfs.Pool(c.snapshots[0])
		if _, dup := byPool[pool]; dup {
			t.Errorf("second snapshot call for pool %s", pool)
		}
		byPool[pool] = c.snapshots
		if !slices.Equal(c.frozen, []string{"a", "b"}) {
			t.Errorf("pool %s snapshotted with frozen guests %v, want a and b", pool, c.frozen)
		}
		if c.props[PropOwner] != "hotzfs" || c.props[PropJob] != "nightly" {
			t.Errorf("creation props = %v", c.props)
		}
	}
	wantTank := []string{"tank/a1@" + name, "tank/shared@" + name, "tank/b1@" + name, "tank/plain@" + name}
	wantFast := []string{"fast/a2@" + name, "fast/plain@" + name}
	if len(s.calls) != 2 || !slices.Equal(byPool["tank"], wantTank) || !slices.Equal(byPool["fast"], wantFast) {
		t.Errorf("snapshot calls = %v; want tank %v and fast %v", byPool, wantTank, wantFast)
	}
	if q.frozen("a") || q.frozen("b") {
		t.Error("guest left frozen")
	}
	shared := s.setProps["tank/shared@"+name]
	xmls, err := meta.GuestDomainXMLs(shared)
	if shared[PropGuest] != "a,b" || err != nil || xmls["a"] != "<domain>a</domain>" || xmls["b"] != "<domain>b</domain>" {
		t.Errorf("shared dataset props = %v (%v, %v)", shared, xmls, err)
	}
	if p := s.setProps["tank/plain@"+name]; p[PropConsistency] != "none" || p[PropGuest] != "" {
		t.Errorf("plain dataset props = %v", p)
	}
	if p := s.setProps["tank/a1@"+name]; p[PropConsistency] != "fs-frozen" || p[PropGuest] != "a" {
		t.Errorf("tank/a1 (a guest disk also listed as plain) props = %v", p)
	}
	if len(res.Snapshots) != 6 || res.SnapTime <= 0 || res.Window < res.SnapTime {
		t.Errorf("result: %d snapshots, snapshot time %v, window %v", len(res.Snapshots), res.SnapTime, res.Window)
	}
}

func TestNameCollisionAddsSuffix(t *testing.T) {
	exists := fmt.Errorf("cannot create snapshot: %w", zfs.ErrExists)
	s := &fakeSnapshotter{errs: func(call int, snaps []string) error {
		if zfs.Pool(snaps[0]) == "tank" && !strings.HasSuffix(snaps[0], "_2") {
			return exists
		}
		return nil
	}}
	req := baseRequest(t, nil, s)
	req.Quiescer = nil
	req.Datasets = []string{"tank/a", "tank/b", "fast/c"}
	res, err := Take(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{res.Snapshots[0].Snapshot, res.Snapshots[1].Snapshot, res.Snapshots[2].Snapshot}
	want := []string{"tank/a@hotzfs_20261126T011500Z_2", "tank/b@hotzfs_20261126T011500Z_2", "fast/c@hotzfs_20261126T011500Z"}
	if !slices.Equal(got, want) {
		t.Errorf("snapshots = %v, want %v", got, want)
	}
	if len(s.calls) != 4 {
		t.Errorf("%d snapshot calls, want 4 (tank 3×, fast 1×)", len(s.calls))
	}
	for _, short := range []string{"hotzfs_20261126T011500Z", "hotzfs_20261126T011500Z_2"} {
		if ts, ok := ParseName("hotzfs", short); !ok || !ts.Equal(at) {
			t.Errorf("ParseName(%q) = %v, %v", short, ts, ok)
		}
	}
}

func TestAlreadyFrozenGuestIsThawedAndFrozenAgain(t *testing.T) {
	q := newFakeQuiescer(map[string]*fakeDom{"web": {frozen: true}})
	s := &fakeSnapshotter{q: q}
	req := baseRequest(t, q, s)
	req.Guests = []Guest{{Domain: dom("web"), Datasets: []string{"tank/web"}, Quiesce: Required}}
	res, err := Take(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"timeout web 2s", "freeze web", "thaw web", "freeze web", "thaw web"}
	if !slices.Equal(q.callList(), want) || q.frozen("web") || res.Guests[0].Consistency != FSFrozen {
		t.Errorf("calls %v, frozen %v, outcome %+v", q.callList(), q.frozen("web"), res.Guests[0])
	}
}

func TestThawFailureIsReportedAndRecordKept(t *testing.T) {
	stuck := fmt.Errorf("guest %q: %w", "web", guest.ErrAgentTimeout)
	q := newFakeQuiescer(map[string]*fakeDom{"web": {thawErr: stuck}})
	s := &fakeSnapshotter{q: q}
	dir := t.TempDir()
	req := baseRequest(t, q, s)
	req.StateDir = dir
	req.Guests = []Guest{{Domain: dom("web"), Datasets: []string{"tank/web"}, Quiesce: Required}}
	_, err := Take(context.Background(), req)
	if !errors.Is(err, ErrNotThawed) || !errors.Is(err, guest.ErrAgentTimeout) {
		t.Errorf("Take error = %v, want ErrNotThawed", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, stateGlob))
	if len(left) != 1 {
		t.Fatalf("records = %v, want the unthawed run's record kept", left)
	}
	q.doms["web"].thawErr = nil
	if err := RecoverFrozen(context.Background(), dir, q, testLog(t)); err != nil {
		t.Fatal(err)
	}
	if q.frozen("web") {
		t.Error("RecoverFrozen left the guest frozen")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, stateGlob)); len(left) != 0 {
		t.Errorf("records after recovery: %v", left)
	}
}
