package guest

// Tests against a real guest running qemu-guest-agent 7.2 under libvirt's qemu driver (see rig_test.go).
// They assert what a user would notice: writes in the guest stop while frozen and resume after, the guest is
// thawed after every failure, and the error says what is wrong.

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRealFreezeStopsWritesAndThawResumesThem(t *testing.T) {
	r := newRig(t)
	d := r.boot(t, bootOptions{})
	ctx := testCtx(t, 2*time.Minute)
	if err := r.c.SetAgentTimeout(ctx, d, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	n, err := r.c.Freeze(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.c.ThawUntilThawed(testCtx(t, 30*time.Second), d, time.Second) })
	if n != 1 {
		t.Errorf("froze %d filesystems, want 1 (/data)", n)
	}
	if st, err := r.c.Status(ctx, d, 5*time.Second); err != nil || st != Frozen {
		t.Fatalf("status after freeze = %q, %v; want frozen", st, err)
	}
	const hold = 1500 * time.Millisecond
	time.Sleep(hold)
	if st, err := r.c.Status(ctx, d, 5*time.Second); err != nil || st != Frozen {
		t.Fatalf("status while held = %q, %v; want frozen", st, err)
	}
	if n, err := r.c.Thaw(ctx, d); err != nil || n != 1 {
		t.Fatalf("thaw = %d, %v; want 1 filesystem", n, err)
	}
	if st, err := r.c.Status(ctx, d, 5*time.Second); err != nil || st != Thawed {
		t.Fatalf("status after thaw = %q, %v; want thawed", st, err)
	}
	time.Sleep(time.Second)

	// The hook log brackets the frozen window in guest time: "freeze" just before the freeze, "thaw" just after.
	calls := r.hookLog(t, d)
	if len(calls) != 2 || calls[0].Action != "freeze" || calls[1].Action != "thaw" {
		t.Fatalf("hook calls = %+v, want freeze then thaw", calls)
	}
	frozeAt, thawedAt := calls[0].Uptime, calls[1].Uptime
	if window := thawedAt - frozeAt; window < hold.Seconds()*0.8 {
		t.Errorf("guest frozen for %.2f s (guest clock), held %v", window, hold)
	}
	ticks := r.ticks(t, d)
	// A tick stamped just before the freeze completes can land after it; allow 0.2 s at the start.
	if n := ticksBetween(ticks, frozeAt+0.2, thawedAt); n != 0 {
		t.Errorf("%d ticks written while frozen (%.2f..%.2f): freeze is not real", n, frozeAt, thawedAt)
	}
	if n := ticksBetween(ticks, thawedAt, 1e9); n < 3 {
		t.Errorf("only %d ticks after thaw at %.2f: writes did not resume (last ticks %v)", n, thawedAt,
			ticks[max(0, len(ticks)-5):])
	}
	t.Logf("frozen window in guest: %.2f s; ticks before/during/after: %d/%d/%d", thawedAt-frozeAt,
		ticksBetween(ticks, 0, frozeAt), ticksBetween(ticks, frozeAt, thawedAt), ticksBetween(ticks, thawedAt, 1e9))
}

func TestRealFreezeWhileFrozenIsAlreadyFrozen(t *testing.T) {
	r := newRig(t)
	d := r.boot(t, bootOptions{})
	ctx := testCtx(t, 2*time.Minute)
	if _, err := r.c.Freeze(ctx, d); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.c.ThawUntilThawed(testCtx(t, 30*time.Second), d, time.Second) })

	_, err := r.c.Freeze(ctx, d)
	if !errors.Is(err, ErrAlreadyFrozen) {
		t.Fatalf("second freeze error = %v, want ErrAlreadyFrozen", err)
	}
	t.Logf("second freeze: %v (%s)", err, libvirtCode(err))
	if !strings.Contains(err.Error(), d.Name) || !strings.Contains(err.Error(), "thaw it first") {
		t.Errorf("error %q does not name the guest and say what to do", err)
	}
	if err := r.c.ThawUntilThawed(ctx, d, time.Second); err != nil {
		t.Fatal(err)
	}
	if st, err := r.c.Status(ctx, d, 5*time.Second); err != nil || st != Thawed {
		t.Fatalf("status after thaw = %q, %v", st, err)
	}
}

func TestRealFreezeHookFailure(t *testing.T) {
	r := newRig(t)
	d := r.boot(t, bootOptions{})
	ctx := testCtx(t, 2*time.Minute)
	r.exec(t, d, "hook-mode fail")

	_, err := r.c.Freeze(ctx, d)
	if !errors.Is(err, ErrFreezeHookFailed) {
		t.Fatalf("freeze error = %v, want ErrFreezeHookFailed", err)
	}
	t.Logf("freeze with failing hook: %v (%s)", err, libvirtCode(err))
	if err := r.c.ThawUntilThawed(ctx, d, time.Second); err != nil {
		t.Fatalf("ThawUntilThawed: %v", err)
	}
	if st, err := r.c.Status(ctx, d, 5*time.Second); err != nil || st != Thawed {
		t.Fatalf("status = %q, %v; want thawed", st, err)
	}
	// The guest keeps writing.
	before := len(r.ticks(t, d))
	time.Sleep(time.Second)
	if after := len(r.ticks(t, d)); after <= before {
		t.Errorf("ticks %d -> %d: the guest stopped writing after a failed freeze", before, after)
	}
	calls := r.hookLog(t, d)
	if len(calls) == 0 || calls[0].Action != "freeze" || calls[0].Mode != "fail" {
		t.Errorf("hook calls = %+v, want the failing freeze first", calls)
	}
}

// A hung agent (SIGSTOPped qemu-ga) makes freeze fail after the response timeout, but the freeze still lands
// when the agent wakes; ThawUntilThawed must end with the guest thawed.
func TestRealHungAgent(t *testing.T) {
	r := newRig(t)
	d := r.boot(t, bootOptions{})
	ctx := testCtx(t, 3*time.Minute)
	const respTimeout = 2 * time.Second
	const hang = 6 // seconds qemu-ga stays stopped
	if err := r.c.SetAgentTimeout(ctx, d, respTimeout); err != nil {
		t.Fatal(err)
	}
	uptime0 := r.uptime(t, d)
	r.exec(t, d, "hang-agent 6")
	time.Sleep(time.Second) // hang-agent stops qemu-ga 0.3 s after it returns

	start := time.Now()
	_, err := r.c.Freeze(ctx, d)
	elapsed := time.Since(start)
	if !errors.Is(err, ErrAgentTimeout) {
		t.Fatalf("freeze of a hung agent: error = %v, want ErrAgentTimeout", err)
	}
	t.Logf("freeze of a hung agent returned after %v: %v (%s)", elapsed.Round(time.Millisecond), err, libvirtCode(err))
	if elapsed > respTimeout+2*time.Second {
		t.Errorf("freeze took %v with an agent response timeout of %v", elapsed, respTimeout)
	}

	start = time.Now()
	if err := r.c.ThawUntilThawed(testCtx(t, 60*time.Second), d, 500*time.Millisecond); err != nil {
		t.Fatalf("ThawUntilThawed: %v", err)
	}
	t.Logf("ThawUntilThawed ended after %v", time.Since(start).Round(time.Millisecond))
	if st, err := r.c.Status(ctx, d, 5*time.Second); err != nil || st != Thawed {
		t.Fatalf("status = %q, %v; want thawed", st, err)
	}
	// The freeze that "failed" did happen once the agent woke up, and was undone.
	calls := r.hookLog(t, d)
	var actions []string
	for _, c := range calls {
		if c.Uptime > uptime0 {
			actions = append(actions, c.Action)
		}
	}
	if len(actions) < 2 || actions[0] != "freeze" || actions[len(actions)-1] != "thaw" {
		t.Errorf("hook calls after the hang = %v, want the late freeze, then a thaw", actions)
	}
	t.Logf("hook calls after the hang: %v", actions)
	before := len(r.ticks(t, d))
	time.Sleep(time.Second)
	if after := len(r.ticks(t, d)); after <= before {
		t.Errorf("ticks %d -> %d: guest not writing after ThawUntilThawed", before, after)
	}
}

func TestRealPausedGuest(t *testing.T) {
	r := newRig(t)
	d := r.boot(t, bootOptions{})
	ctx := testCtx(t, time.Minute)
	r.gt.Suspend(t, d.Name)
	if st, err := r.c.State(ctx, d); err != nil || st != StatePaused {
		t.Fatalf("state = %q, %v; want paused", st, err)
	}
	_, err := r.c.Freeze(ctx, d)
	if !errors.Is(err, ErrNotRunning) {
		t.Fatalf("freeze of a paused guest: error = %v, want ErrNotRunning", err)
	}
	t.Logf("freeze of a paused guest: %v (%s)", err, libvirtCode(err))
	if _, err := r.c.Status(ctx, d, 2*time.Second); !errors.Is(err, ErrNotRunning) {
		t.Errorf("status of a paused guest: error = %v, want ErrNotRunning", err)
	}
	r.gt.Resume(t, d.Name)
	if st, err := r.c.Status(ctx, d, 5*time.Second); err != nil || st != Thawed {
		t.Fatalf("status after resume = %q, %v; want thawed", st, err)
	}
}

func TestRealGuestWithoutAgentChannel(t *testing.T) {
	r := newRig(t)
	d := r.boot(t, bootOptions{NoAgentChannel: true, NoWait: true})
	ctx := testCtx(t, time.Minute)
	_, err := r.c.Freeze(ctx, d)
	if !errors.Is(err, ErrAgentNotConnected) || !errors.Is(err, ErrAgentNotConfigured) {
		t.Fatalf("freeze without agent channel: error = %v, want ErrAgentNotConnected and ErrAgentNotConfigured", err)
	}
	t.Logf("freeze without agent channel: %v (%s)", err, libvirtCode(err))
	if !strings.Contains(err.Error(), "org.qemu.guest_agent.0") {
		t.Errorf("error %q does not say which channel to add", err)
	}
	if err := r.c.ThawUntilThawed(ctx, d, time.Second); !errors.Is(err, ErrAgentNotConfigured) {
		t.Errorf("ThawUntilThawed without agent channel = %v, want ErrAgentNotConfigured at once", err)
	}
}

// Right after start the channel exists but no agent listens in the guest yet: the same situation as a guest
// without qemu-guest-agent installed.
func TestRealAgentNotRunningYet(t *testing.T) {
	r := newRig(t)
	d := r.boot(t, bootOptions{NoWait: true})
	ctx := testCtx(t, time.Minute)
	_, err := r.c.Status(ctx, d, time.Second)
	if !errors.Is(err, ErrAgentNotConnected) || errors.Is(err, ErrAgentNotConfigured) {
		t.Fatalf("status before the agent is up: error = %v, want ErrAgentNotConnected only", err)
	}
	t.Logf("status before the agent is up: %v (%s)", err, libvirtCode(err))
	if !strings.Contains(err.Error(), "is qemu-guest-agent installed and running") {
		t.Errorf("error %q does not tell the user what to check", err)
	}
}

func TestRealDomainLookupSelectXMLAndDisks(t *testing.T) {
	r := newRig(t)
	d := r.boot(t, bootOptions{})
	ctx := testCtx(t, time.Minute)

	if _, err := r.c.Lookup(ctx, testDomainPrefix+"no-such-domain"); !errors.Is(err, ErrDomainNotFound) {
		t.Errorf("lookup of a missing domain: error = %v, want ErrDomainNotFound", err)
	} else {
		t.Logf("lookup of a missing domain: %v (%s)", err, libvirtCode(err))
	}
	got, err := r.c.Select(ctx, []string{d.Name, testDomainPrefix + "*"})
	if err != nil || !slices.ContainsFunc(got, func(x Domain) bool { return x.Name == d.Name && x.UUID == d.UUID }) {
		t.Errorf("Select = %v, %v; want it to contain %s", got, err, d.Name)
	}
	if _, err := r.c.Select(ctx, []string{d.Name, "hotzfs-nothing-*"}); !errors.Is(err, ErrNoMatch) ||
		!strings.Contains(err.Error(), "hotzfs-nothing-*") {
		t.Errorf("Select with a pattern matching nothing: error = %v, want ErrNoMatch naming it", err)
	}
	if st, err := r.c.State(ctx, d); err != nil || st != StateRunning {
		t.Errorf("state = %q, %v; want running", st, err)
	}
	xml, err := r.c.XML(ctx, d, false)
	if err != nil || !strings.Contains(xml, "org.qemu.guest_agent.0") {
		t.Fatalf("XML = %.200q, %v", xml, err)
	}
	// The data disk is a file in the test's temp dir: not on ZFS, and the error names it.
	_, err = r.c.DomainDisks(ctx, d, []Dataset{{Name: "tank", Type: TypeFilesystem, Mountpoint: "/tank"}}, MapOptions{})
	var nz *NotOnZFSError
	if !errors.As(err, &nz) || len(nz.Disks) != 1 || nz.Disks[0].Target != "vda" {
		t.Errorf("DomainDisks error = %v, want vda not on ZFS", err)
	}
	fs, err := r.c.FsInfo(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Mountpoint != "/data" || fs[0].Type != "ext4" || !slices.Equal(fs[0].Disks, []string{"vda"}) {
		t.Errorf("FsInfo = %+v, want /data ext4 on vda", fs)
	}
}

// A slow fsfreeze hook (an application flushing) that outlasts the response timeout looks like a hung agent:
// freeze fails with ErrAgentTimeout, the guest freezes anyway once the hook ends, and ThawUntilThawed undoes it.
func TestRealSlowFreezeHook(t *testing.T) {
	r := newRig(t)
	d := r.boot(t, bootOptions{})
	ctx := testCtx(t, 2*time.Minute)
	if err := r.c.SetAgentTimeout(ctx, d, time.Second); err != nil {
		t.Fatal(err)
	}
	r.exec(t, d, "hook-mode sleep 4")
	start := time.Now()
	_, err := r.c.Freeze(ctx, d)
	if !errors.Is(err, ErrAgentTimeout) {
		t.Fatalf("freeze with a 4 s hook and a 1 s timeout: error = %v (%s), want ErrAgentTimeout", err, libvirtCode(err))
	}
	t.Logf("freeze with a slow hook returned after %v: %s", time.Since(start).Round(time.Millisecond), libvirtCode(err))
	if err := r.c.ThawUntilThawed(testCtx(t, time.Minute), d, 500*time.Millisecond); err != nil {
		t.Fatalf("ThawUntilThawed: %v", err)
	}
	r.exec(t, d, "hook-mode ok")
	var actions []string
	for _, c := range r.hookLog(t, d) {
		actions = append(actions, c.Action+"("+c.Mode+")")
	}
	if len(actions) < 2 || actions[0] != "freeze(sleep 4)" || !strings.HasPrefix(actions[len(actions)-1], "thaw") {
		t.Errorf("hook calls = %v, want the slow freeze, then a thaw", actions)
	}
}
