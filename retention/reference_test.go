package retention

import (
	"fmt"
	"sort"
	"time"
)

// refKinds is a slow, direct reading of the rules in DESIGN.md ("Retention semantics") and the package
// comment, written independently of plan.go: for each input index, the set of reason kinds it is kept for.
// It is the oracle the random tests compare Plan with.
func refKinds(snaps []Snapshot, p Policy, now time.Time) []map[ReasonKind]bool {
	out := make([]map[ReasonKind]bool, len(snaps))
	for i := range out {
		out[i] = map[ReasonKind]bool{}
	}
	byDataset := map[string][]int{}
	for i, s := range snaps {
		byDataset[s.Dataset] = append(byDataset[s.Dataset], i)
		refProtect(out[i], s, p, now)
	}
	for _, idx := range byDataset {
		var cands []int
		for _, i := range idx {
			if (snaps[i].Owned || p.IncludeForeign) && !snaps[i].Created.After(now) {
				cands = append(cands, i)
			}
		}
		sort.Slice(cands, func(a, b int) bool { return refYounger(snaps[cands[a]], snaps[cands[b]]) })
		refRules(out, snaps, cands, p)
	}
	return out
}

func refProtect(k map[ReasonKind]bool, s Snapshot, p Policy, now time.Time) {
	k[ReasonBase] = s.Base
	k[ReasonHeld] = s.Held
	k[ReasonNotReplicated] = p.KeepUnreplicated && !s.Replicated
	k[ReasonForeign] = !s.Owned && !p.IncludeForeign
	k[ReasonFuture] = s.Created.After(now)
}

// refYounger: later creation, then higher createtxg, then greater name, then greater GUID.
func refYounger(a, b Snapshot) bool {
	switch {
	case !a.Created.Equal(b.Created):
		return a.Created.After(b.Created)
	case a.CreateTXG != b.CreateTXG:
		return a.CreateTXG > b.CreateTXG
	case a.Name != b.Name:
		return a.Name > b.Name
	}
	return a.GUID > b.GUID
}

func refRules(out []map[ReasonKind]bool, snaps []Snapshot, cands []int, p Policy) {
	if len(cands) == 0 {
		return
	}
	out[cands[0]][ReasonNewest] = true
	if p.KeepLast == 0 && p.KeepWithin == 0 && p.Hourly+p.Daily+p.Weekly+p.Monthly+p.Yearly == 0 &&
		len(p.Grid.Segments) == 0 {
		for _, i := range cands {
			out[i][ReasonNoRules] = true
		}
		return
	}
	youngest := snaps[cands[0]].Created
	for n, i := range cands {
		if n < p.KeepLast {
			out[i][ReasonLast] = true
		}
		if p.KeepWithin > 0 && snaps[i].Created.After(youngest.Add(-p.KeepWithin)) {
			out[i][ReasonWithin] = true
		}
	}
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	periods := map[ReasonKind]func(time.Time) string{
		ReasonHourly:  func(t time.Time) string { return t.Format("2006-01-02 15") },
		ReasonDaily:   func(t time.Time) string { return t.Format("2006-01-02") },
		ReasonWeekly:  func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprint(y, "-W", w) },
		ReasonMonthly: func(t time.Time) string { return t.Format("2006-01") },
		ReasonYearly:  func(t time.Time) string { return t.Format("2006") },
	}
	counts := map[ReasonKind]int{ReasonHourly: p.Hourly, ReasonDaily: p.Daily, ReasonWeekly: p.Weekly,
		ReasonMonthly: p.Monthly, ReasonYearly: p.Yearly}
	for kind, period := range periods {
		seen := map[string]bool{}
		for _, i := range cands {
			key := period(snaps[i].Created.In(loc))
			if !seen[key] && len(seen) < counts[kind] {
				out[i][kind] = true
			}
			seen[key] = true
		}
		if len(seen) < counts[kind] {
			out[cands[len(cands)-1]][kind] = true
		}
	}
	refGrid(out, snaps, cands, p.Grid)
}

// refGrid lays out every bucket explicitly as (start, end] and keeps the K oldest candidates in each.
func refGrid(out []map[ReasonKind]bool, snaps []Snapshot, cands []int, g Grid) {
	end := snaps[cands[0]].Created
	for _, seg := range g.Segments {
		for range seg.Count {
			start := end.Add(-seg.Length)
			var in []int // oldest first
			for n := len(cands) - 1; n >= 0; n-- {
				c := snaps[cands[n]].Created
				if c.After(start) && !c.After(end) {
					in = append(in, cands[n])
				}
			}
			for n, i := range in {
				if seg.Keep == KeepAll || n < seg.Keep {
					out[i][ReasonGrid] = true
				}
			}
			end = start
		}
	}
}
