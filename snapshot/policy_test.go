package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/guest"
)

func TestPolicyMatrix(t *testing.T) {
	type want struct {
		c       Consistency // "" = the guest fails and its dataset is not snapshotted
		attempt bool        // a freeze is attempted (and a thaw follows)
	}
	expect := func(p Policy, agent string, st guest.State) want {
		switch {
		case st == guest.StateShutoff:
			return want{Offline, false}
		case p == Off:
			return want{Crash, false}
		case st == guest.StatePaused && p == Required:
			return want{"", false}
		case st == guest.StatePaused:
			return want{Crash, false}
		case agent == "ok":
			return want{FSFrozen, true}
		case p == Required:
			return want{"", true}
		}
		return want{Crash, true}
	}
	for _, p := range []Policy{Required, Preferred, Off} {
		for _, agent := range []string{"ok", "fail", "missing"} {
			for _, st := range []guest.State{guest.StateRunning, guest.StatePaused, guest.StateShutoff} {
				t.Run(fmt.Sprintf("%s/%s/%s", p, agent, st), func(t *testing.T) {
					checkPolicy(t, p, agent, st, expect(p, agent, st))
				})
			}
		}
	}
}

func checkPolicy(t *testing.T, p Policy, agent string, st guest.State, w struct {
	c       Consistency
	attempt bool
}) {
	d := &fakeDom{state: st}
	switch agent {
	case "fail":
		d.freezeErrs = []error{fmt.Errorf("guest %q: %w", "g", guest.ErrFreezeHookFailed)}
	case "missing":
		missing := fmt.Errorf("guest %q: %w", "g", errors.Join(guest.ErrAgentNotConnected, guest.ErrAgentNotConfigured))
		d.freezeErrs, d.thawErr = []error{missing}, missing
	}
	q := newFakeQuiescer(map[string]*fakeDom{"g": d})
	s := &fakeSnapshotter{q: q}
	req := baseRequest(t, q, s)
	req.Logger = discardLog()
	req.Guests = []Guest{{Domain: dom("g"), Datasets: []string{"tank/g"}, Quiesce: p}}
	req.Datasets = []string{"tank/plain"}
	res, err := Take(context.Background(), req)
	out := res.Guests[0]
	if out.Consistency != w.c || out.Attempted != w.attempt {
		t.Errorf("outcome %+v; want consistency %q, freeze attempted %v", out, w.c, w.attempt)
	}
	if w.c == "" {
		if !errors.Is(err, ErrQuiesceFailed) || res.Snapshots[0].Snapshot != "" {
			t.Errorf("failed guest: Take error %v, snapshot %q; want ErrQuiesceFailed, none", err, res.Snapshots[0].Snapshot)
		}
	} else if err != nil || res.Snapshots[0].Consistency != w.c {
		t.Errorf("Take error %v, dataset %+v; want no error, consistency %q", err, res.Snapshots[0], w.c)
	}
	if res.Snapshots[1].Snapshot == "" {
		t.Errorf("plain dataset not snapshotted: %+v", res.Snapshots[1])
	}
	if q.frozen("g") {
		t.Error("guest left frozen")
	}
	thawed := strings.Contains(strings.Join(q.callList(), ","), "thaw g")
	if thawed != w.attempt {
		t.Errorf("calls %v: thaw ran %v, want %v", q.callList(), thawed, w.attempt)
	}
}

func TestRecoverFrozenSkipsLiveRecords(t *testing.T) {
	dir := t.TempDir()
	q := newFakeQuiescer(map[string]*fakeDom{"a": {frozen: true}, "b": {frozen: true}})
	live, err := writeState(dir, stateRecord{Job: "live", PID: 1, Guests: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	stale, err := writeState(dir, stateRecord{Job: "dead", PID: 2, Guests: []string{"b", "gone"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := stale.unlock(); err != nil { // as if its process had died
		t.Fatal(err)
	}
	if err := RecoverFrozen(context.Background(), dir, q, testLog(t)); err != nil {
		t.Fatal(err)
	}
	if !q.frozen("a") || q.frozen("b") {
		t.Errorf("frozen a=%v b=%v; want the live run's guest untouched and the stale one thawed",
			q.frozen("a"), q.frozen("b"))
	}
	if _, err := os.Stat(stale.path); !os.IsNotExist(err) {
		t.Errorf("stale record still there: %v", err)
	}
	if err := live.remove(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("files left: %v", left)
	}
}

func TestRecoverFrozenKeepsRecordOfUnthawedGuest(t *testing.T) {
	dir := t.TempDir()
	stuck := fmt.Errorf("%w", guest.ErrAgentTimeout)
	q := newFakeQuiescer(map[string]*fakeDom{"a": {frozen: true, thawErr: stuck}})
	st, err := writeState(dir, stateRecord{Job: "dead", Guests: []string{"a"}, Written: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_ = st.unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := RecoverFrozen(ctx, dir, q, testLog(t)); !errors.Is(err, ErrNotThawed) {
		t.Errorf("RecoverFrozen = %v, want ErrNotThawed", err)
	}
	if _, err := os.Stat(st.path); err != nil {
		t.Errorf("record of an unthawed guest removed: %v", err)
	}
}
