package retention

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // zone tests run without a system zone database too
)

// t0 is the youngest snapshot's time in most tests: Sunday 2024-03-10 12:00 UTC.
var t0 = time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)

// snapName names a snapshot after its creation time in UTC, so names sort like times.
func snapName(t time.Time) string { return t.UTC().Format("2006-01-02T15:04Z") }

// at makes owned, replicated snapshots of tank/a created at the given times, with createtxg rising with time.
func at(times ...time.Time) []Snapshot {
	out := make([]Snapshot, len(times))
	for i, t := range times {
		out[i] = Snapshot{Dataset: "tank/a", Name: snapName(t), GUID: uint64(1000 + i), Created: t,
			CreateTXG: uint64(t.Unix()), Owned: true, Replicated: true}
	}
	return out
}

// ago makes snapshots at t0 minus each offset.
func ago(offsets ...time.Duration) []Snapshot {
	times := make([]time.Time, len(offsets))
	for i, d := range offsets {
		times[i] = t0.Add(-d)
	}
	return at(times...)
}

// every makes n snapshots step apart, the youngest at newest.
func every(newest time.Time, step time.Duration, n int) []Snapshot {
	times := make([]time.Time, n)
	for i := range times {
		times[i] = newest.Add(-time.Duration(i) * step)
	}
	return at(times...)
}

// mustPlan plans with now an hour after t0, failing the test on error.
func mustPlan(t testing.TB, snaps []Snapshot, p Policy) Result {
	t.Helper()
	res, err := Plan(snaps, p, t0.Add(time.Hour))
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return res
}

// verdicts renders a plan as "name: reasons" lines in plan order, "name: -" for a destroyed snapshot, so a
// failing test shows the whole plan.
func verdicts(res Result, snaps []Snapshot) []string {
	var out []string
	for _, i := range res.Order {
		why := "-"
		if rs := res.Reasons(i); len(rs) > 0 {
			parts := make([]string, len(rs))
			for j, r := range rs {
				parts[j] = r.String()
			}
			why = strings.Join(parts, ", ")
		}
		out = append(out, snaps[i].Name+": "+why)
	}
	return out
}

// checkPlan compares a plan line by line with want ("name: reasons" or "name: -"), in plan order.
func checkPlan(t *testing.T, res Result, snaps []Snapshot, want []string) {
	t.Helper()
	got := verdicts(res, snaps)
	if !slices.Equal(got, want) {
		t.Errorf("plan:\n  got  %s\n  want %s", strings.Join(got, "\n       "), strings.Join(want, "\n       "))
	}
}

// line is one expected plan line for the snapshot created at t.
func line(t time.Time, reasons string) string {
	if reasons == "" {
		reasons = "-"
	}
	return fmt.Sprintf("%s: %s", snapName(t), reasons)
}

// mustGrid parses a grid, failing the test on error.
func mustGrid(t testing.TB, s string) Grid {
	t.Helper()
	g, err := ParseGrid(s)
	if err != nil {
		t.Fatalf("ParseGrid(%q): %v", s, err)
	}
	return g
}
