package snapshot

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/guest"
	"github.com/hotzfs/hotzfs/internal/guesttest"
)

// benchSnapStep stands in for `zfs snapshot` (no ZFS on the libvirt host): it takes as long as OpenZFS's
// snapshot measured in the test VM (~0.1 s, see TESTENV).
type benchSnapStep struct {
	hold time.Duration
}

func (s benchSnapStep) SnapshotAtomic(ctx context.Context, _ []string, _ map[string]string) error {
	time.Sleep(s.hold)
	return ctx.Err()
}

func (benchSnapStep) SetProps(context.Context, string, map[string]string) error { return nil }

// BenchmarkRealFreezeWindow (goal P2): 20 Takes of one real guest (quiesce required, watchdog and state record
// on); reports the median freeze window (first freeze start → last thaw confirmed), the median snapshot-step
// time and the median of their per-round difference — the cost of quiescing (goal: ≤ 50 ms). Alternating with
// the Takes, 20 bare rounds (guest.Freeze, the same 100 ms step, guest.Thaw) measure what the agent alone costs
// under the same load, so the figures can be compared within one run. Run with
//
//	test/guest/run-tests.sh -run '^$' -bench RealFreezeWindow -benchtime 1x
func BenchmarkRealFreezeWindow(b *testing.B) {
	e := newReal(b)
	c, d := e.c, e.boot(b, guesttest.BootOptions{})
	const rounds = 20
	step := benchSnapStep{hold: 100 * time.Millisecond}
	var window, snap, diff, freeze, thaw, bare []time.Duration
	for b.Loop() {
		for i := range rounds {
			time.Sleep(200 * time.Millisecond) // let the ticker dirty some data, as a busy guest would
			req := Request{Job: "bench", Prefix: "hotzfs", StateDir: b.TempDir(), Quiescer: c, Snapshotter: step,
				Guard: &GuardSpec{URI: e.gt.URI}, Guests: []Guest{guestOf(d, Required)}, Logger: discardLog()}
			res, err := Take(guesttest.Ctx(b, time.Minute), req)
			if err != nil || res.Guests[0].Consistency != FSFrozen {
				b.Fatalf("round %d: %v, %+v", i, err, res.Guests[0])
			}
			window, snap = append(window, res.Window), append(snap, res.SnapTime)
			diff = append(diff, res.Window-res.SnapTime)
			freeze = append(freeze, res.FreezeFor[0])
			thaw = append(thaw, res.Window-res.SnapTime-res.FreezeFor[0]) // thaw + status, plus bookkeeping
			time.Sleep(200 * time.Millisecond)
			bare = append(bare, bareRound(b, e, d, step.hold)-step.hold)
		}
	}
	mw, ms, md := median(window), median(snap), median(diff)
	b.ReportMetric(float64(mw.Microseconds())/1000, "window-ms")
	b.ReportMetric(float64(ms.Microseconds())/1000, "snapstep-ms")
	b.ReportMetric(float64(md.Microseconds())/1000, "overhead-ms")
	b.ReportMetric(float64(median(bare).Microseconds())/1000, "bare-overhead-ms")
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	b.Logf("%d rounds: median window %v, median snapshot step %v, median difference %v (p90 %v, max %v); "+
		"goal P2: difference ≤ 50ms", len(window), r(mw), r(ms), r(md), r(pct(diff, 90)), r(slices.Max(diff)))
	b.Logf("of the difference: median freeze call %v, median thaw until confirmed %v", r(median(freeze)), r(median(thaw)))
	b.Logf("bare guest.Freeze + guest.Thaw around the same step, same run: median difference %v (p90 %v)",
		r(median(bare)), r(pct(bare, 90)))
}

// bareRound freezes and thaws the guest directly around a sleep of hold and returns the wall time.
func bareRound(b *testing.B, e *realEnv, d guest.Domain, hold time.Duration) time.Duration {
	ctx := guesttest.Ctx(b, time.Minute)
	start := time.Now()
	if _, err := e.c.Freeze(ctx, d); err != nil {
		b.Fatal(err)
	}
	time.Sleep(hold)
	if _, err := e.c.Thaw(ctx, d); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func median(ds []time.Duration) time.Duration { return pct(ds, 50) }

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}
