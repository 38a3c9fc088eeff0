package retention

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// randomCase is one random input: a few datasets of snapshots with ties, gaps and random flags, a random
// policy and a now that sometimes lies before the youngest snapshots.
type randomCase struct {
	snaps []Snapshot
	p     Policy
	now   time.Time
}

var randomGrids = []string{"1x1h(keep=all) | 24x1h | 14x1d", "2x1h", "1x1h(keep=3) | 6x4h | 3x1w", "4x15m | 2x1d(keep=all)", "6x30d"}

var randomZones = []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"}

// anchors for the youngest snapshot: plain days, just after both Berlin DST changes, a year change.
var randomAnchors = []time.Time{t0, time.Date(2024, 10, 27, 3, 0, 0, 0, time.UTC),
	time.Date(2024, 3, 31, 3, 0, 0, 0, time.UTC), time.Date(2021, 1, 4, 6, 0, 0, 0, time.UTC)}

func newRandomCase(t *testing.T, r *rand.Rand) randomCase {
	anchor := randomAnchors[r.IntN(len(randomAnchors))]
	var c randomCase
	for d := range 1 + r.IntN(3) {
		c.snaps = append(c.snaps, randomDataset(r, fmt.Sprintf("pool/d%d", d), anchor)...)
	}
	c.p = randomPolicy(t, r)
	c.now = anchor.Add(time.Duration(r.IntN(50)-2) * time.Hour)
	return c
}

// randomDataset makes up to 150 snapshots going back from anchor, steps between 0 (a tie) and 2 days.
func randomDataset(r *rand.Rand, name string, anchor time.Time) []Snapshot {
	n := r.IntN(151)
	steps := []time.Duration{0, time.Minute, 15 * time.Minute, time.Hour, 5 * time.Hour, 24 * time.Hour, 48 * time.Hour}
	out := make([]Snapshot, n)
	created := anchor
	for i := range out {
		created = created.Add(-steps[r.IntN(len(steps))] - time.Duration(r.IntN(60))*time.Second*time.Duration(r.IntN(2)))
		out[i] = Snapshot{Dataset: name, Name: fmt.Sprintf("n%d-%03d", r.IntN(4), i), GUID: r.Uint64(),
			CreateTXG: uint64(10000 - i - r.IntN(2)), Created: created,
			Owned: r.IntN(8) > 0, Held: r.IntN(20) == 0, Base: r.IntN(30) == 0, Replicated: r.IntN(5) > 0}
	}
	return out
}

func randomPolicy(t *testing.T, r *rand.Rand) Policy {
	maybe := func(n int) int {
		if r.IntN(2) == 0 {
			return 0
		}
		return r.IntN(n + 1)
	}
	loc, err := time.LoadLocation(randomZones[r.IntN(len(randomZones))])
	if err != nil {
		t.Fatal(err)
	}
	p := Policy{KeepLast: maybe(5), KeepWithin: time.Duration(maybe(72)) * time.Hour, Hourly: maybe(30),
		Daily: maybe(10), Weekly: maybe(6), Monthly: maybe(13), Yearly: maybe(3), Location: loc,
		KeepUnreplicated: r.IntN(2) == 0, IncludeForeign: r.IntN(4) == 0}
	if r.IntN(2) == 0 {
		p.Grid = mustGrid(t, randomGrids[r.IntN(len(randomGrids))])
	}
	if r.IntN(10) == 0 {
		p = Policy{KeepUnreplicated: p.KeepUnreplicated, IncludeForeign: p.IncludeForeign} // no rules
	}
	return p
}

// forRandomCases runs check on 400 random cases with fixed seeds; a failure names its seed.
func forRandomCases(t *testing.T, check func(t *testing.T, c randomCase, res Result)) {
	for seed := range uint64(400) {
		c := newRandomCase(t, rand.New(rand.NewPCG(seed, 7)))
		res, err := Plan(c.snaps, c.p, c.now)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { check(t, c, res) })
		if t.Failed() {
			return
		}
	}
}

func TestPropertyEverySnapshotDecidedOnce(t *testing.T) {
	forRandomCases(t, func(t *testing.T, c randomCase, res Result) {
		if len(res.Decisions) != len(c.snaps) {
			t.Fatalf("%d decisions for %d snapshots", len(res.Decisions), len(c.snaps))
		}
		seen := make([]int, len(c.snaps))
		for _, i := range res.Order {
			seen[i]++
		}
		destroy := res.Destroy()
		for _, i := range destroy {
			if res.Decisions[i].Keep() || len(res.Reasons(i)) != 0 {
				t.Errorf("%s destroyed but kept or with reasons %v", c.snaps[i].Name, res.Reasons(i))
			}
			seen[i] += 10
		}
		kept := 0
		for i, n := range seen {
			switch {
			case n == 1 && res.Decisions[i].Keep() && len(res.Reasons(i)) > 0:
				kept++
			case n == 11:
			default:
				t.Errorf("snapshot %d: seen %d times in Order (+10 per Destroy), keep %v", i, n, res.Decisions[i].Keep())
			}
		}
		if kept+len(destroy) != len(c.snaps) {
			t.Errorf("kept %d + destroyed %d != %d", kept, len(destroy), len(c.snaps))
		}
	})
}

func TestPropertyNewestAndProtectedAreKept(t *testing.T) {
	forRandomCases(t, func(t *testing.T, c randomCase, res Result) {
		newest := map[string]int{}
		for _, i := range res.Order { // newest first within a dataset
			if _, ok := newest[c.snaps[i].Dataset]; !ok {
				newest[c.snaps[i].Dataset] = i
			}
		}
		for ds, i := range newest {
			if !res.Decisions[i].Keep() {
				t.Errorf("%s: newest snapshot %s destroyed", ds, c.snaps[i].Name)
			}
		}
		for i, s := range c.snaps {
			protected := s.Base || s.Held || c.p.KeepUnreplicated && !s.Replicated ||
				!s.Owned && !c.p.IncludeForeign || s.Created.After(c.now)
			if protected && !res.Decisions[i].Keep() {
				t.Errorf("protected snapshot %s destroyed: %+v", s.Name, s)
			}
		}
	})
}

func TestPropertyMatchesReference(t *testing.T) {
	forRandomCases(t, func(t *testing.T, c randomCase, res Result) {
		want := refKinds(c.snaps, c.p, c.now)
		for i := range c.snaps {
			var got, exp []string
			for _, r := range res.Reasons(i) {
				got = append(got, r.Kind.String())
			}
			for k := ReasonKind(0); k < numReasons; k++ {
				if want[i][k] {
					exp = append(exp, k.String())
				}
			}
			if !slices.Equal(got, exp) {
				t.Errorf("%s@%s (%s): reasons %v, reference %v; policy %+v grid %s",
					c.snaps[i].Dataset, c.snaps[i].Name, c.snaps[i].Created.In(c.p.location()), got, exp, c.p, c.p.Grid)
			}
		}
	})
}

// Planning the kept set again destroys nothing and gives every snapshot the same reasons. This holds for
// every rule as specified, because each rule's choice over the kept set is its choice over the full set:
// the youngest candidate (the anchor of keep_within and the grid) is always kept; keep_last's N youngest
// are kept; a calendar rule's first N periods still have their newest snapshot, and if it had count left it
// still sees every period it saw, so it again keeps the same oldest snapshot; a grid bucket's K oldest are
// kept, so they are still its K oldest. What does not hold, by design, is stability over time: a newer
// snapshot moves the anchors, and a snapshot kept today may go tomorrow.
func TestPropertyIdempotent(t *testing.T) {
	forRandomCases(t, func(t *testing.T, c randomCase, res Result) {
		var kept []Snapshot
		for _, i := range res.Order {
			if res.Decisions[i].Keep() {
				kept = append(kept, c.snaps[i])
			}
		}
		again, err := Plan(kept, c.p, c.now)
		if err != nil {
			t.Fatal(err)
		}
		if d := again.Destroy(); len(d) > 0 {
			t.Errorf("second plan destroys %d more, first %s", len(d), kept[d[0]].Name)
		}
		first := byIdentity(res, c.snaps)
		for ident, why := range byIdentity(again, kept) {
			if first[ident] != why {
				t.Errorf("%s: reasons %q, first plan %q", ident, why, first[ident])
			}
		}
	})
}

func TestPropertyInputOrderDoesNotMatter(t *testing.T) {
	forRandomCases(t, func(t *testing.T, c randomCase, res Result) {
		shuffled := slices.Clone(c.snaps)
		r := rand.New(rand.NewPCG(uint64(len(shuffled)), 3))
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		again, err := Plan(shuffled, c.p, c.now)
		if err != nil {
			t.Fatal(err)
		}
		var text1, text2 strings.Builder
		if err := res.WriteText(&text1, c.snaps); err != nil {
			t.Fatal(err)
		}
		if err := again.WriteText(&text2, shuffled); err != nil {
			t.Fatal(err)
		}
		if text1.String() != text2.String() {
			t.Errorf("plans differ after shuffling the input:\n%s\n---\n%s", text1.String(), text2.String())
		}
	})
}

// byIdentity maps dataset@name to the joined reasons.
func byIdentity(res Result, snaps []Snapshot) map[string]string {
	out := map[string]string{}
	for i, s := range snaps {
		var parts []string
		for _, r := range res.Reasons(i) {
			parts = append(parts, r.String())
		}
		out[s.Dataset+"@"+s.Name] = strings.Join(parts, ", ")
	}
	return out
}
