package snapshot

// Tests against a real guest running qemu-guest-agent under libvirt's qemu driver (internal/guesttest). ZFS
// runs in a separate VM, so the snapshot step here records what the agent reports at that moment instead of
// running `zfs snapshot`: "frozen" inside the window, "thawed" after.

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/guest"
	"github.com/hotzfs/hotzfs/internal/guesttest"
	"github.com/hotzfs/hotzfs/meta"
)

type realEnv struct {
	gt *guesttest.Rig
	c  *guest.Client
}

func newReal(t testing.TB) *realEnv {
	t.Helper()
	gt := guesttest.New(t)
	c, err := guest.Connect(guesttest.Ctx(t, 30*time.Second), guest.Options{URI: gt.URI, Logger: guesttest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &realEnv{gt: gt, c: c}
}

func (e *realEnv) boot(t testing.TB, opts guesttest.BootOptions) guest.Domain {
	t.Helper()
	name := e.gt.Boot(t, opts)
	d, err := e.c.Lookup(guesttest.Ctx(t, 30*time.Second), name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// request is a Take request for the guests with the watchdog and a fresh state dir.
func (e *realEnv) request(t *testing.T, s Snapshotter, guests ...Guest) Request {
	return Request{Job: "realtest", Prefix: "hotzfs", Guests: guests, FreezeTimeout: 10 * time.Second,
		StateDir: t.TempDir(), Quiescer: e.c, Snapshotter: s, Guard: &GuardSpec{URI: e.gt.URI},
		Logger: guesttest.Logger(t)}
}

// status returns the guest's fsfreeze status as the agent reports it.
func (e *realEnv) status(t *testing.T, d guest.Domain) guest.FreezeStatus {
	t.Helper()
	st, err := e.c.Status(guesttest.Ctx(t, 30*time.Second), d, 5*time.Second)
	if err != nil {
		t.Fatalf("fsfreeze status of %s: %v", d.Name, err)
	}
	return st
}

// assertThawed checks the agent reports thawed and the guest's ticker keeps writing.
func (e *realEnv) assertThawed(t *testing.T, d guest.Domain) {
	t.Helper()
	if st := e.status(t, d); st != guest.Thawed {
		t.Fatalf("guest %s is %s, want thawed", d.Name, st)
	}
	before := len(e.gt.Ticks(t, d.Name))
	time.Sleep(time.Second)
	if after := len(e.gt.Ticks(t, d.Name)); after <= before {
		t.Errorf("ticks %d -> %d: guest not writing although thawed", before, after)
	}
}

func guestOf(d guest.Domain, p Policy) Guest {
	return Guest{Domain: d, Datasets: []string{"tank/" + d.Name}, Quiesce: p}
}

// recorder is the snapshot step of the real tests: it asks each guest's agent for its fsfreeze status at the
// moment of the snapshot, then holds the window for hold.
type recorder struct {
	gt     *guesttest.Rig
	guests []string
	hold   time.Duration

	mu       sync.Mutex
	calls    int
	statuses map[string]string // guest → status (or "error: …") at the snapshot
	props    map[string]map[string]string
}

func (r *recorder) SnapshotAtomic(ctx context.Context, snaps []string, props map[string]string) error {
	got := map[string]string{}
	for _, g := range r.guests {
		st, err := r.gt.FreezeStatus(g, 5*time.Second)
		if err != nil {
			st = "error: " + err.Error()
		}
		got[g] = st
	}
	time.Sleep(r.hold)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.statuses = got
	return ctx.Err()
}

func (r *recorder) SetProps(_ context.Context, name string, props map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.props == nil {
		r.props = map[string]map[string]string{}
	}
	r.props[name] = props
	return nil
}

func TestRealTakeFreezesForTheSnapshot(t *testing.T) {
	e := newReal(t)
	d := e.boot(t, guesttest.BootOptions{})
	const hold = 1500 * time.Millisecond
	rec := &recorder{gt: e.gt, guests: []string{d.Name}, hold: hold}
	req := e.request(t, rec, guestOf(d, Required))
	req.Datasets = []string{"tank/plain"}
	res, err := Take(guesttest.Ctx(t, 2*time.Minute), req)
	if err != nil {
		t.Fatal(err)
	}
	if rec.calls != 1 || rec.statuses[d.Name] != "frozen" {
		t.Fatalf("at the snapshot: %d calls, status %q; want one call, frozen", rec.calls, rec.statuses[d.Name])
	}
	e.assertThawed(t, d)
	if g := res.Guests[0]; g.Consistency != FSFrozen || !g.Froze || g.Err != nil || g.ThawErr != nil {
		t.Errorf("guest outcome %+v", g)
	}
	if res.Window < hold || res.SnapTime < hold || res.Window > res.SnapTime+5*time.Second {
		t.Errorf("window %v, snapshot step %v (held %v)", res.Window, res.SnapTime, hold)
	}
	t.Logf("freeze window %v, snapshot step %v, freeze call %v", res.Window, res.SnapTime, res.FreezeFor)
	props := rec.props[res.Snapshots[0].Snapshot]
	xml, err := meta.DecodeDomainXML(props)
	if props[PropConsistency] != "fs-frozen" || props[PropGuest] != d.Name || err != nil ||
		!strings.Contains(xml, "<name>"+d.Name+"</name>") {
		t.Errorf("properties %v; domain XML %.80q, %v", keys(props), xml, err)
	}
	if p := rec.props["tank/plain@"+res.Name]; p[PropConsistency] != "none" {
		t.Errorf("plain dataset properties %v", p)
	}
	assertNoRecords(t, req.StateDir)
	assertTickGap(t, e, d, hold)
}

// assertTickGap checks through the guest's hook log and ticker that writes stopped while it was frozen: the
// ticker writes every 100 ms, so a gap as long as the held window shows a real freeze.
func assertTickGap(t *testing.T, e *realEnv, d guest.Domain, hold time.Duration) {
	calls := e.gt.HookLog(t, d.Name)
	if len(calls) != 2 || calls[0].Action != "freeze" || calls[1].Action != "thaw" {
		t.Fatalf("hook calls = %+v, want freeze then thaw", calls)
	}
	frozeAt, thawedAt := calls[0].Uptime, calls[1].Uptime
	if thawedAt-frozeAt < hold.Seconds()*0.8 {
		t.Errorf("guest frozen for %.2f s (guest clock), snapshot step held %v", thawedAt-frozeAt, hold)
	}
	ticks := e.gt.Ticks(t, d.Name)
	gap, from := 0.0, 0.0
	for i := 1; i < len(ticks); i++ {
		if ticks[i] > frozeAt-0.5 && ticks[i-1] < thawedAt+0.5 && ticks[i]-ticks[i-1] > gap {
			gap, from = ticks[i]-ticks[i-1], ticks[i-1]
		}
	}
	if gap < hold.Seconds()*0.8 {
		t.Errorf("longest pause of the ticker around the window: %.2f s; held frozen %v", gap, hold)
	}
	if n := guesttest.TicksBetween(ticks, thawedAt, 1e9); n < 3 {
		t.Errorf("only %d ticks after the thaw at %.2f", n, thawedAt)
	}
	t.Logf("hook freeze→thaw %.2f s (guest clock); ticker paused %.2f s from %.2f", thawedAt-frozeAt, gap, from)
}

func assertNoRecords(t *testing.T, dir string) {
	t.Helper()
	if left, _ := filepath.Glob(filepath.Join(dir, stateGlob)); len(left) != 0 {
		t.Errorf("frozen-guest records left: %v", left)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRealFreezeHookFailure(t *testing.T) {
	e := newReal(t)
	d := e.boot(t, guesttest.BootOptions{})
	e.gt.Exec(t, d.Name, "hook-mode fail")

	rec := &recorder{gt: e.gt, guests: []string{d.Name}}
	req := e.request(t, rec, guestOf(d, Required))
	req.Datasets = []string{"tank/plain"}
	res, err := Take(guesttest.Ctx(t, 2*time.Minute), req)
	if !errors.Is(err, ErrQuiesceFailed) || !errors.Is(err, guest.ErrFreezeHookFailed) {
		t.Errorf("required: Take error = %v, want ErrQuiesceFailed with ErrFreezeHookFailed", err)
	}
	if res.Snapshots[0].Snapshot != "" || res.Snapshots[1].Snapshot == "" || rec.calls != 1 {
		t.Errorf("required: snapshots %+v; want the guest's skipped, the plain dataset taken", res.Snapshots)
	}
	e.assertThawed(t, d)

	rec = &recorder{gt: e.gt, guests: []string{d.Name}}
	res, err = Take(guesttest.Ctx(t, 2*time.Minute), e.request(t, rec, guestOf(d, Preferred)))
	if err != nil {
		t.Fatalf("preferred: Take error = %v", err)
	}
	g := res.Guests[0]
	if g.Consistency != Crash || !errors.Is(g.Err, guest.ErrFreezeHookFailed) || rec.statuses[d.Name] != "thawed" {
		t.Errorf("preferred: outcome %+v, status at snapshot %q; want crash with the hook failure as warning",
			g, rec.statuses[d.Name])
	}
	if c := rec.props[res.Snapshots[0].Snapshot][PropConsistency]; c != "crash" {
		t.Errorf("preferred: consistency property %q", c)
	}
	e.assertThawed(t, d)
}

// A hung agent (qemu-ga stopped) makes the freeze fail after the agent timeout (half the freeze timeout); the
// freeze still lands when the agent wakes up, and Take ends only once the guest reports thawed.
func TestRealHungAgent(t *testing.T) {
	e := newReal(t)
	d := e.boot(t, guesttest.BootOptions{})
	uptime0 := e.gt.Uptime(t, d.Name)
	e.gt.Exec(t, d.Name, "hang-agent 8")
	time.Sleep(time.Second) // hang-agent stops qemu-ga 0.3 s after it returns

	rec := &recorder{gt: e.gt}
	req := e.request(t, rec, guestOf(d, Preferred))
	req.FreezeTimeout = 4 * time.Second
	start := time.Now()
	res, err := Take(guesttest.Ctx(t, 3*time.Minute), req)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	g := res.Guests[0]
	t.Logf("Take took %v; freeze call %v; window %v; outcome %+v", took, res.FreezeFor, res.Window, g)
	if !errors.Is(g.Err, guest.ErrAgentTimeout) || g.Consistency != Crash {
		t.Errorf("outcome %+v; want crash after ErrAgentTimeout", g)
	}
	if len(res.FreezeFor) != 1 || res.FreezeFor[0] > req.FreezeTimeout {
		t.Errorf("freeze call took %v, freeze timeout %v", res.FreezeFor, req.FreezeTimeout)
	}
	if res.SnapTime > req.FreezeTimeout || rec.calls != 1 {
		t.Errorf("snapshot step: %d calls, %v", rec.calls, res.SnapTime)
	}
	e.assertThawed(t, d)
	var actions []string
	for _, c := range e.gt.HookLog(t, d.Name) {
		if c.Uptime > uptime0 {
			actions = append(actions, c.Action)
		}
	}
	if len(actions) < 2 || actions[0] != "freeze" || actions[len(actions)-1] != "thaw" {
		t.Errorf("hook calls after the hang = %v, want the late freeze, then a thaw", actions)
	}
	assertNoRecords(t, req.StateDir)
}

func TestRealGuestAlreadyFrozen(t *testing.T) {
	e := newReal(t)
	d := e.boot(t, guesttest.BootOptions{})
	ctx := guesttest.Ctx(t, 2*time.Minute)
	if _, err := e.c.Freeze(ctx, d); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.c.ThawUntilThawed(guesttest.Ctx(t, 30*time.Second), d, time.Second) })
	rec := &recorder{gt: e.gt, guests: []string{d.Name}}
	res, err := Take(ctx, e.request(t, rec, guestOf(d, Required)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Guests[0].Consistency != FSFrozen || rec.statuses[d.Name] != "frozen" {
		t.Errorf("outcome %+v, status at snapshot %q", res.Guests[0], rec.statuses[d.Name])
	}
	e.assertThawed(t, d)
}

func TestRealGuestWithoutAgentChannel(t *testing.T) {
	e := newReal(t)
	d := e.boot(t, guesttest.BootOptions{NoAgentChannel: true, NoWait: true})
	ctx := guesttest.Ctx(t, 2*time.Minute)
	res, err := Take(ctx, e.request(t, &recorder{gt: e.gt}, guestOf(d, Required)))
	if !errors.Is(err, ErrQuiesceFailed) || !errors.Is(err, guest.ErrAgentNotConfigured) {
		t.Errorf("required: Take error = %v, want ErrQuiesceFailed with ErrAgentNotConfigured", err)
	} else {
		t.Logf("required without agent channel: %v", err)
	}
	if res.Guests[0].ThawErr != nil {
		t.Errorf("required: thaw error %v", res.Guests[0].ThawErr)
	}
	res, err = Take(ctx, e.request(t, &recorder{gt: e.gt}, guestOf(d, Preferred)))
	if err != nil || res.Guests[0].Consistency != Crash || res.Snapshots[0].Snapshot == "" {
		t.Errorf("preferred: Take error %v, outcome %+v, snapshots %+v", err, res.Guests[0], res.Snapshots)
	}
}

func TestRealPausedAndShutOffGuests(t *testing.T) {
	e := newReal(t)
	paused := e.boot(t, guesttest.BootOptions{})
	off := e.boot(t, guesttest.BootOptions{DefineOnly: true})
	e.gt.Suspend(t, paused.Name)
	ctx := guesttest.Ctx(t, 2*time.Minute)

	rec := &recorder{gt: e.gt}
	res, err := Take(ctx, e.request(t, rec, guestOf(paused, Preferred), guestOf(off, Required)))
	if err != nil {
		t.Fatal(err)
	}
	if p, o := res.Guests[0], res.Guests[1]; p.Consistency != Crash || p.Attempted || p.State != guest.StatePaused ||
		o.Consistency != Offline || o.Attempted || o.State != guest.StateShutoff {
		t.Errorf("outcomes paused %+v, shut off %+v", p, o)
	}
	xml, err := meta.DecodeDomainXML(rec.props[res.Snapshots[1].Snapshot])
	if err != nil || !strings.Contains(xml, off.Name) {
		t.Errorf("domain XML of the shut-off guest: %.80q, %v", xml, err)
	}
	_, err = Take(ctx, e.request(t, &recorder{gt: e.gt}, guestOf(paused, Required)))
	if !errors.Is(err, ErrQuiesceFailed) || !errors.Is(err, guest.ErrNotRunning) {
		t.Errorf("paused guest under required: %v, want ErrQuiesceFailed", err)
	}
	e.gt.Resume(t, paused.Name)
	e.assertThawed(t, paused)
}

func TestRealRecoverFrozen(t *testing.T) {
	e := newReal(t)
	d := e.boot(t, guesttest.BootOptions{})
	ctx := guesttest.Ctx(t, 2*time.Minute)
	dir := t.TempDir()
	if _, err := e.c.Freeze(ctx, d); err != nil {
		t.Fatal(err)
	}
	st, err := writeState(dir, stateRecord{Job: "killed", PID: 999999, Written: time.Now(), Guests: []string{d.Name}})
	if err != nil {
		t.Fatal(err)
	}
	_ = st.unlock() // its process is gone
	if s := e.status(t, d); s != guest.Frozen {
		t.Fatalf("status %s, want frozen before recovery", s)
	}
	if err := RecoverFrozen(ctx, dir, e.c, guesttest.Logger(t)); err != nil {
		t.Fatal(err)
	}
	e.assertThawed(t, d)
	assertNoRecords(t, dir)
}
