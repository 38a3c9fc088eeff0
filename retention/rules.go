package retention

import "time"

// calRule is one calendar rule's state while walking a dataset newest first.
type calRule struct {
	kind ReasonKind
	n    int   // the configured count
	left int   // periods still to keep
	prev int64 // period of the previous snapshot
}

// calendar applies the hourly…yearly rules with restic's semantics: walking newest first, a snapshot whose
// period differs from the previous snapshot's is the newest of a new period and is kept while the rule has
// count left; the oldest snapshot is kept too if count is left when the snapshots run out.
func (pl *planner) calendar(cands []entry) {
	p := pl.p
	rules := [...]calRule{{kind: ReasonHourly, n: p.Hourly}, {kind: ReasonDaily, n: p.Daily},
		{kind: ReasonWeekly, n: p.Weekly}, {kind: ReasonMonthly, n: p.Monthly}, {kind: ReasonYearly, n: p.Yearly}}
	active := 0
	for i := range rules {
		rules[i].left = rules[i].n
		if rules[i].n > 0 {
			active++
		}
	}
	last := len(cands) - 1
	for i := 0; i < len(cands) && active > 0; i++ {
		e := cands[i]
		t := pl.snaps[e.idx].Created.In(pl.loc)
		for r := range rules {
			rule := &rules[r]
			if rule.left == 0 {
				continue
			}
			key := periodKey(rule.kind, t)
			newPeriod := i == 0 || key != rule.prev
			rule.prev = key
			if !newPeriod && i != last {
				continue
			}
			why := pl.why(e)
			why.addNth(rule.kind, slotOf(rule.kind), rule.n-rule.left+1)
			if !newPeriod {
				why.mask |= 1 << (oldestShift + rule.kind - ReasonHourly)
			}
			if rule.left--; rule.left == 0 {
				active--
			}
		}
	}
}

// periodKey numbers the calendar period of t (already in the policy's zone) for a calendar rule: equal keys,
// same period. Periods are wall-clock labels, so a repeated autumn hour is one hour.
func periodKey(k ReasonKind, t time.Time) int64 {
	if k == ReasonWeekly {
		y, w := t.ISOWeek()
		return int64(y)*100 + int64(w)
	}
	y, m, d := t.Date()
	switch k {
	case ReasonHourly:
		return ((int64(y)*100+int64(m))*100+int64(d))*100 + int64(t.Hour())
	case ReasonDaily:
		return (int64(y)*100+int64(m))*100 + int64(d)
	case ReasonMonthly:
		return int64(y)*100 + int64(m)
	}
	return int64(y)
}

// grid applies the retention grid: buckets laid backwards from the youngest candidate, each keeping its
// oldest snapshots. Walking newest first, each bucket's snapshots form a run; a run is settled when it ends.
func (pl *planner) grid(cands []entry) {
	segs := pl.p.Grid.Segments
	anchor := cands[0].nanos
	seg, segStart, segEnd := 0, int64(0), int64(segs[0].Count)*int64(segs[0].Length)
	runStart, runBucket := 0, int64(-1)
	i := 0
	for ; i < len(cands); i++ {
		age := anchor - cands[i].nanos
		if age < 0 { // overflow: older than any grid
			age = maxAge
		}
		for seg < len(segs) && age >= segEnd {
			pl.settleBucket(cands[runStart:i], seg, runBucket)
			runStart, runBucket = i, -1
			seg++
			if seg < len(segs) {
				segStart, segEnd = segEnd, segEnd+int64(segs[seg].Count)*int64(segs[seg].Length)
			}
		}
		if seg == len(segs) {
			break
		}
		if b := (age - segStart) / int64(segs[seg].Length); b != runBucket {
			pl.settleBucket(cands[runStart:i], seg, runBucket)
			runStart, runBucket = i, b
		}
	}
	if seg < len(segs) {
		pl.settleBucket(cands[runStart:i], seg, runBucket)
	}
}

const maxAge = int64(^uint64(0) >> 1)

// settleBucket keeps the oldest snapshots of one bucket's run (the run is newest first).
func (pl *planner) settleBucket(run []entry, seg int, bucket int64) {
	if len(run) == 0 || bucket < 0 {
		return
	}
	keep := pl.p.Grid.Segments[seg].Keep
	if keep == KeepAll || keep > len(run) {
		keep = len(run)
	}
	for _, e := range run[len(run)-keep:] {
		why := pl.why(e)
		why.addNth(ReasonGrid, slotGrid, int(bucket)+1)
		why.gridSeg = uint16(seg)
	}
}
