package retention

import (
	"strings"
	"testing"
	"time"
)

const m = time.Minute

func TestGridRule(t *testing.T) {
	tests := []struct {
		name string
		grid string
		ago  []time.Duration // before the youngest snapshot, youngest first
		want []string        // reasons per snapshot, "" for destroyed
	}{{
		name: "K oldest per bucket; a snapshot on a boundary belongs to the older bucket; beyond the grid is dropped",
		grid: "2x1h",
		// buckets: (t0-1h, t0], (t0-2h, t0-1h]; t0-1h is in the second, t0-2h beyond the grid.
		ago:  []time.Duration{0, 30 * m, h, 90 * m, 2 * h, 3 * h},
		want: []string{"newest", "grid 1/2x1h", "", "grid 2/2x1h", "", ""},
	}, {
		name: "keep=all keeps every snapshot of its buckets",
		grid: "1x1h(keep=all) | 2x1h",
		ago:  []time.Duration{0, 20 * m, 40 * m, 59 * m, h, 80 * m, 2*h + 10*m, 2*h + 50*m},
		want: []string{"newest, grid 1/1x1h(keep=all)", "grid 1/1x1h(keep=all)", "grid 1/1x1h(keep=all)",
			"grid 1/1x1h(keep=all)", "", "grid 1/2x1h", "", "grid 2/2x1h"},
	}, {
		name: "keep=2 keeps the two oldest",
		grid: "1x1h(keep=2)",
		ago:  []time.Duration{0, 10 * m, 20 * m, 30 * m},
		want: []string{"newest", "", "grid 1/1x1h(keep=2)", "grid 1/1x1h(keep=2)"},
	}, {
		name: "later segments continue backwards from the previous one",
		grid: "1x1h | 3x1d",
		// segment 2 covers (t0-1h-3d, t0-1h] in days: (t0-25h, t0-1h], (t0-49h, t0-25h], (t0-73h, t0-49h];
		// t0-25h is on a boundary, so in the second day, whose oldest is t0-30h; nothing in (t0-73h, t0-49h]
		// but t0-72h59m, and t0-73h is beyond the grid.
		ago:  []time.Duration{0, 2 * h, 25 * h, 30 * h, 72*h + 59*m, 73 * h},
		want: []string{"newest, grid 1/1x1h", "grid 1/3x1d", "", "grid 2/3x1d", "grid 3/3x1d", ""},
	}, {
		name: "first bucket includes the anchor itself",
		grid: "1x1h",
		ago:  []time.Duration{0, 2 * h},
		want: []string{"newest, grid 1/1x1h", ""},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snaps := ago(tc.ago...)
			res := mustPlan(t, snaps, Policy{Grid: mustGrid(t, tc.grid)})
			want := make([]string, len(tc.ago))
			for i, d := range tc.ago {
				want[i] = line(t0.Add(-d), tc.want[i])
			}
			checkPlan(t, res, snaps, want)
		})
	}
}

func TestGridIsAnchoredAtYoungestSnapshotNotNow(t *testing.T) {
	snaps := ago(0, 30*m, 90*m)
	// A week after the last snapshot (replication broke): the grid still spans the snapshots' own last 2h.
	res, err := Plan(snaps, Policy{Grid: mustGrid(t, "2x1h")}, t0.Add(7*24*h))
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, res, snaps, []string{line(t0, "newest"), line(t0.Add(-30*m), "grid 1/2x1h"), line(t0.Add(-90*m), "grid 2/2x1h")})
}

func TestGridTiesInOneBucket(t *testing.T) {
	// Two snapshots in the same second: the older by createtxg is "oldest".
	snaps := ago(0, 10*m, 10*m)
	snaps[1].CreateTXG, snaps[2].CreateTXG, snaps[2].Name = 50, 40, "same-second-lower-txg"
	res := mustPlan(t, snaps, Policy{Grid: mustGrid(t, "1x1h")})
	checkPlan(t, res, snaps, []string{line(t0, "newest"), line(t0.Add(-10*m), ""), "same-second-lower-txg: grid 1/1x1h"})
}

func TestParseGrid(t *testing.T) {
	g, err := ParseGrid(" 1x1h(keep=all) |24 x 1h| 14x1d | 6x30d(keep=2)|1x2w ")
	if err != nil {
		t.Fatal(err)
	}
	want := []GridSegment{{1, h, KeepAll, ""}, {24, h, 1, ""}, {14, 24 * h, 1, ""}, {6, 30 * 24 * h, 2, ""}, {1, 14 * 24 * h, 1, ""}}
	if len(g.Segments) != len(want) {
		t.Fatalf("got %d segments, want %d", len(g.Segments), len(want))
	}
	for i, s := range g.Segments {
		if s.Count != want[i].Count || s.Length != want[i].Length || s.Keep != want[i].Keep {
			t.Errorf("segment %d = %+v, want %+v", i+1, s, want[i])
		}
	}
	if s := g.String(); s != "1x1h(keep=all) | 24x1h | 14x1d | 6x30d(keep=2) | 1x2w" {
		t.Errorf("String() = %q", s)
	}
}

func TestParseGridErrorsNameTheSegment(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty"},
		{"24x1h | ", `segment 2 "" (column 9): empty segment`},
		{"24x1h || 1x1d", `segment 2 "" (column 8)`},
		{"24x1h | 14y1d", `segment 2 "14y1d" (column 9): want COUNTxLENGTH`},
		{"0x1h", `segment 1 "0x1h" (column 1): count "0"`},
		{"ax1h", `count "a"`},
		{"24x1h | 3x1q", `segment 2 "3x1q"`},
		{"3x0h", "not positive"},
		{"3x-1d", "must not have a sign"},
		{"1x1h(keep=0)", "keep=0"},
		{"1x1h(keep=some)", "keep=some"},
		{"1x1h(kept=2)", "want (keep=N)"},
		{"1x1h(keep=2", "missing ')'"},
		{"1x1h | 100000x1000w", "290 years"},
	}
	for _, tc := range tests {
		_, err := ParseGrid(tc.in)
		if err == nil {
			t.Errorf("ParseGrid(%q) accepted", tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseGrid(%q) = %q, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

func TestGridBuiltInCode(t *testing.T) {
	g := Grid{Segments: []GridSegment{{Count: 24, Length: h, Keep: 1}, {Count: 7, Length: 24 * h, Keep: KeepAll}}}
	if s := g.String(); s != "24x1h | 7x24h(keep=all)" {
		t.Errorf("String() = %q", s)
	}
	p := Policy{Grid: Grid{Segments: []GridSegment{{Count: 1, Length: h, Keep: 0}}}}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "grid: segment 1") {
		t.Errorf("keep 0 in code: %v", err)
	}
}

// A grid reads durations as every other setting does: "1.5d" is 36 hours here as in keep_within.
func TestParseGridFractionalDays(t *testing.T) {
	g, err := ParseGrid("3x1.5d")
	if err != nil {
		t.Fatal(err)
	}
	if s := g.Segments; len(s) != 1 || s[0].Count != 3 || s[0].Length != 36*time.Hour {
		t.Fatalf("ParseGrid(3x1.5d) = %+v, want 3 buckets of 36h", g)
	}
}
