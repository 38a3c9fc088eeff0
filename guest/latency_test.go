package guest

import (
	"slices"
	"testing"
	"time"
)

// TestRealFreezeThawLatency measures freeze, thaw and status latency against the real guest over 20 rounds
// and logs the distribution. It asserts only correctness (frozen/thawed), never timings.
func TestRealFreezeThawLatency(t *testing.T) {
	r := newRig(t)
	d := r.boot(t, bootOptions{})
	ctx := testCtx(t, 5*time.Minute)
	if err := r.c.SetAgentTimeout(ctx, d, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	const rounds = 20
	var freeze, thaw, status, window []time.Duration
	for i := range rounds {
		time.Sleep(200 * time.Millisecond) // let the ticker dirty some data, as a busy guest would
		start := time.Now()
		if _, err := r.c.Freeze(ctx, d); err != nil {
			t.Fatalf("round %d: freeze: %v", i, err)
		}
		frozen := time.Now()
		st, err := r.c.Status(ctx, d, 5*time.Second)
		statusDone := time.Now()
		if err != nil || st != Frozen {
			t.Fatalf("round %d: status = %q, %v", i, st, err)
		}
		thawStart := time.Now()
		if _, err := r.c.Thaw(ctx, d); err != nil {
			t.Fatalf("round %d: thaw: %v", i, err)
		}
		end := time.Now()
		freeze = append(freeze, frozen.Sub(start))
		status = append(status, statusDone.Sub(frozen))
		thaw = append(thaw, end.Sub(thawStart))
		window = append(window, end.Sub(start))
	}
	if st, err := r.c.Status(ctx, d, 5*time.Second); err != nil || st != Thawed {
		t.Fatalf("status after the rounds = %q, %v", st, err)
	}
	for _, m := range []struct {
		name string
		ds   []time.Duration
	}{{"freeze", freeze}, {"status", status}, {"thaw", thaw}, {"window (freeze+status+thaw)", window}} {
		s := slices.Clone(m.ds)
		slices.Sort(s)
		t.Logf("%-28s n=%d min=%v median=%v p90=%v max=%v", m.name, len(s), s[0].Round(time.Microsecond*100),
			s[len(s)/2].Round(time.Microsecond*100), s[len(s)*9/10].Round(time.Microsecond*100),
			s[len(s)-1].Round(time.Microsecond*100))
	}
}
