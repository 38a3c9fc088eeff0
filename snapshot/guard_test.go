package snapshot

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// The watchdog's decisions, with a fake libvirt; the real process is exercised by the real-guest signal tests.
func TestGuardianDecisions(t *testing.T) {
	cases := []struct {
		name      string
		messages  []string
		closePipe bool
		wait      time.Duration // before closing the pipe (or before checking)
		thaws     int
	}{
		{"done after freeze: no thaw", []string{"freeze", "done"}, false, 0, 0},
		{"EOF before freeze: nothing frozen", nil, true, 0, 0},
		{"EOF after freeze: thaw", []string{"freeze"}, true, 0, 1},
		{"freeze timeout: thaw, then done", []string{"freeze"}, false, 700 * time.Millisecond, 1},
		{"freeze timeout, then EOF: thaw again", []string{"freeze"}, true, 700 * time.Millisecond, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := newFakeQuiescer(map[string]*fakeDom{"web": {frozen: true}})
			g := &guardian{cfg: guardConfig{Guests: []string{"web"}, FreezeTimeout: 300 * time.Millisecond,
				ThawTimeout: time.Second}, q: q, log: testLog(t)}
			lines := make(chan string, 4)
			for _, m := range tc.messages {
				lines <- m
			}
			done := make(chan error, 1)
			go func() { done <- g.watch(context.Background(), lines) }()
			time.Sleep(tc.wait)
			if tc.closePipe {
				close(lines)
			} else if tc.wait > 0 {
				lines <- "done"
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("watchdog did not return")
			}
			n := 0
			for _, c := range q.callList() {
				if c == "thaw web" {
					n++
				}
			}
			if n != tc.thaws {
				t.Errorf("thaws = %d, want %d (calls %v)", n, tc.thaws, q.callList())
			}
		})
	}
}

func TestGuardianThawsWhenTold(t *testing.T) {
	q := newFakeQuiescer(map[string]*fakeDom{"web": {frozen: true}})
	g := &guardian{cfg: guardConfig{Guests: []string{"web"}, FreezeTimeout: time.Hour, ThawTimeout: time.Second},
		q: q, log: testLog(t)}
	lines := make(chan string, 1)
	lines <- "freeze"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.watch(ctx, lines) }()
	time.Sleep(100 * time.Millisecond)
	cancel() // SIGTERM
	if err := <-done; err != nil || q.frozen("web") {
		t.Errorf("watch = %v, frozen %v; want a thaw before stopping", err, q.frozen("web"))
	}
}

// A watchdog that cannot be started through its wrapper (systemd-run refusing the scope) means no freeze:
// under preferred a crash-consistent snapshot with the reason, and the wrapper named in it.
func TestGuardWrapperFailureFreezesNothing(t *testing.T) {
	q := newFakeQuiescer(map[string]*fakeDom{"web": {}})
	s := &fakeSnapshotter{q: q}
	req := baseRequest(t, q, s)
	req.Guests = []Guest{{Domain: dom("web"), Datasets: []string{"tank/web"}, Quiesce: Preferred}}
	req.Guard = &GuardSpec{URI: "qemu:///system", Wrap: func() []string {
		return []string{"sh", "-c", "echo 'Failed to start transient scope unit' >&2; exit 1", "systemd-run"}
	}}
	res, err := Take(context.Background(), req)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	g := res.Guests[0]
	if g.Attempted || g.Consistency != Crash || g.Err == nil || !strings.Contains(g.Err.Error(), "exited before it was ready: exit status 1") ||
		!strings.Contains(g.Err.Error(), `started through "sh -c`) {
		t.Errorf("guest outcome %+v; want no freeze attempt, crash-consistent, the wrapper named", g)
	}
	if slices.Contains(q.callList(), "freeze web") {
		t.Errorf("calls %v: a guest was frozen without a watchdog", q.callList())
	}
}
