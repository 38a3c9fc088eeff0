package retention

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const h = time.Hour

func TestKeepLast(t *testing.T) {
	snaps := ago(0, h, 2*h, 3*h, 4*h)
	res := mustPlan(t, snaps, Policy{KeepLast: 3})
	checkPlan(t, res, snaps, []string{
		line(t0, "newest, last 1/3"),
		line(t0.Add(-h), "last 2/3"),
		line(t0.Add(-2*h), "last 3/3"),
		line(t0.Add(-3*h), ""),
		line(t0.Add(-4*h), ""),
	})
}

func TestKeepLastTiesBrokenByTXGThenName(t *testing.T) {
	// zfs creation times have one-second resolution: snapshots taken in one second tie on Created.
	snaps := []Snapshot{
		{Dataset: "tank/a", Name: "b", CreateTXG: 10, Created: t0, Owned: true, Replicated: true},
		{Dataset: "tank/a", Name: "a", CreateTXG: 11, Created: t0, Owned: true, Replicated: true},
		{Dataset: "tank/a", Name: "c", CreateTXG: 10, Created: t0, Owned: true, Replicated: true},
		{Dataset: "tank/a", Name: "old", CreateTXG: 12, Created: t0.Add(-time.Second), Owned: true, Replicated: true},
	}
	res := mustPlan(t, snaps, Policy{KeepLast: 2})
	// txg 11 is youngest despite its name; between the two txg-10 snapshots the greater name is younger;
	// a higher txg does not beat a later creation time.
	checkPlan(t, res, snaps, []string{"a: newest, last 1/2", "c: last 2/2", "b: -", "old: -"})
}

func TestKeepWithinIsMeasuredFromYoungestNotNow(t *testing.T) {
	snaps := ago(0, h, 47*h, 48*h, 49*h)
	// now is 30 days after the youngest snapshot: measured from now, nothing would be within 48h.
	res, err := Plan(snaps, Policy{KeepWithin: 48 * h}, t0.Add(30*24*h))
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, res, snaps, []string{
		line(t0, "newest, within 48h"),
		line(t0.Add(-h), "within 48h"),
		line(t0.Add(-47*h), "within 48h"),
		line(t0.Add(-48*h), ""), // exactly 48h older is outside, as in restic
		line(t0.Add(-49*h), ""),
	})
}

func TestEmptyPolicyKeepsEverything(t *testing.T) {
	snaps := ago(0, h, 400*24*h)
	res := mustPlan(t, snaps, Policy{})
	checkPlan(t, res, snaps, []string{
		line(t0, "newest, no rules"),
		line(t0.Add(-h), "no rules"),
		line(t0.Add(-400*24*h), "no rules"),
	})
}

func TestNewestIsKeptEvenIfNoRuleSelectsIt(t *testing.T) {
	// A grid whose first bucket keeps its oldest snapshot selects the one before the newest.
	snaps := ago(0, 10*time.Minute, 2*h)
	res := mustPlan(t, snaps, Policy{Grid: mustGrid(t, "1x1h")})
	checkPlan(t, res, snaps, []string{
		line(t0, "newest"),
		line(t0.Add(-10*time.Minute), "grid 1/1x1h"),
		line(t0.Add(-2*h), ""),
	})
}

func TestUnionOfRules(t *testing.T) {
	snaps := every(t0, 12*h, 8) // t0 is 12:00, so the series alternates 12:00 and 00:00
	p := Policy{KeepLast: 2, Daily: 3, KeepWithin: 30 * h}
	res := mustPlan(t, snaps, p)
	checkPlan(t, res, snaps, []string{
		line(t0, "newest, last 1/2, within 30h, daily 1/3"),
		line(t0.Add(-12*h), "last 2/2, within 30h"),
		line(t0.Add(-24*h), "within 30h, daily 2/3"),
		line(t0.Add(-36*h), ""),
		line(t0.Add(-48*h), "daily 3/3"),
		line(t0.Add(-60*h), ""),
		line(t0.Add(-72*h), ""),
		line(t0.Add(-84*h), ""),
	})
}

func TestProtectedSnapshotsAreKept(t *testing.T) {
	snaps := ago(0, h, 2*h, 3*h, 4*h, 5*h, 6*h)
	snaps[1].Base = true
	snaps[2].Held = true
	snaps[3].Replicated = false
	snaps[4].Owned = false
	snaps[5].Base, snaps[5].Held = true, true
	p := SourceDefaults()
	p.KeepLast = 1
	res := mustPlan(t, snaps, p)
	checkPlan(t, res, snaps, []string{
		line(t0, "newest, last 1/1"),
		line(t0.Add(-h), "base"),
		line(t0.Add(-2*h), "held"),
		line(t0.Add(-3*h), "not replicated"),
		line(t0.Add(-4*h), "foreign"),
		line(t0.Add(-5*h), "base, held"),
		line(t0.Add(-6*h), ""),
	})
}

func TestUnreplicatedAndForeignProtectionsAreOptional(t *testing.T) {
	snaps := ago(0, h, 2*h)
	snaps[1].Replicated = false
	snaps[2].Owned = false
	res := mustPlan(t, snaps, Policy{KeepLast: 1, IncludeForeign: true}) // target side: no unreplicated
	checkPlan(t, res, snaps, []string{line(t0, "newest, last 1/1"), line(t0.Add(-h), ""), line(t0.Add(-2*h), "")})
}

func TestForeignSnapshotsAreInvisibleToRules(t *testing.T) {
	// zfs-auto-snapshot's snapshots between ours must not use up keep_last or stand in for our daily.
	snaps := ago(0, h, 2*h, 3*h)
	snaps[0].Owned, snaps[2].Owned = false, false
	res := mustPlan(t, snaps, Policy{KeepLast: 2, Daily: 1})
	checkPlan(t, res, snaps, []string{
		line(t0, "foreign"),
		line(t0.Add(-h), "newest, last 1/2, daily 1/1"),
		line(t0.Add(-2*h), "foreign"),
		line(t0.Add(-3*h), "last 2/2"),
	})
}

func TestFutureSnapshotDoesNotMoveAnchors(t *testing.T) {
	// A snapshot taken while the clock read 2030: anchoring keep_within at it would destroy all the rest.
	snaps := ago(0, h, 3*h)
	snaps = append(snaps, at(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))...)
	res, err := Plan(snaps, Policy{KeepWithin: 2 * h}, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, res, snaps, []string{
		"2030-01-01T00:00Z: in the future",
		line(t0, "newest, within 2h"),
		line(t0.Add(-h), "within 2h"),
		line(t0.Add(-3*h), ""),
	})
}

func TestDatasetsArePlannedIndependently(t *testing.T) {
	a := ago(0, h, 2*h)
	b := ago(5*h, 6*h) // older than all of a: a global keep_last would drop them
	for i := range b {
		b[i].Dataset = "tank/b"
	}
	snaps := append(b, a...)
	res := mustPlan(t, snaps, Policy{KeepLast: 1})
	var got []string
	for _, i := range res.Order {
		if res.Decisions[i].Keep() {
			got = append(got, snaps[i].Dataset+"@"+snaps[i].Name)
		}
	}
	want := []string{"tank/a@" + snapName(t0), "tank/b@" + snapName(t0.Add(-5*h))}
	if !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	if d := res.Destroy(); len(d) != 3 {
		t.Errorf("Destroy() = %v, want 3 snapshots", d)
	}
}

func TestPlanRejectsBadInput(t *testing.T) {
	if _, err := Plan(ago(0), Policy{KeepLast: -1}, t0); err == nil {
		t.Error("negative keep_last accepted")
	}
	if _, err := Plan(ago(0), Policy{KeepLast: 1}, time.Time{}); err == nil {
		t.Error("zero now accepted")
	}
	bad := Policy{Grid: Grid{Segments: []GridSegment{{Count: 1, Length: 0, Keep: 1}}}}
	if _, err := Plan(ago(0), bad, t0); err == nil {
		t.Error("grid with zero-length buckets accepted")
	}
	res, err := Plan(nil, Policy{KeepLast: 1}, t0)
	if err != nil || len(res.Decisions) != 0 {
		t.Errorf("empty input: %v, %v", res, err)
	}
}

func TestValidateNamesEverySetting(t *testing.T) {
	p := Policy{KeepLast: -1, Daily: -2, KeepWithin: -h}
	err := p.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"keep_last: -1", "daily: -2", "keep_within: -1h0m0s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
