package retention

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Decision is the verdict on one snapshot. It is kept exactly when it has a reason.
type Decision struct {
	why reasonSet
}

// Keep reports whether the snapshot stays.
func (d Decision) Keep() bool { return d.why.mask != 0 }

// Result is a plan: a decision for every input snapshot.
type Result struct {
	Decisions []Decision // Decisions[i] is about snaps[i] of the Plan call
	Order     []int      // input indexes by dataset name, then newest first: the order to show a plan in
	policy    Policy
}

// Reasons lists why snaps[i] is kept, rules first, then protections; none means it is destroyed.
func (r *Result) Reasons(i int) []Reason { return r.Decisions[i].why.expand(&r.policy) }

// Destroy lists the input indexes of the snapshots to destroy, in plan order (by dataset, newest first).
func (r *Result) Destroy() []int {
	var out []int
	for _, i := range r.Order {
		if !r.Decisions[i].Keep() {
			out = append(out, i)
		}
	}
	return out
}

// entry is a snapshot reduced to what ordering and the rules read, so that sorting moves small values.
type entry struct {
	nanos int64 // creation, Unix nanoseconds, clamped
	txg   uint64
	ds    int32 // dataset number, in name order
	idx   int32 // index into the input
	cand  bool  // the rules apply to it: ours (or foreign included) and not in the future
}

// planner carries one Plan call's inputs and output.
type planner struct {
	snaps []Snapshot
	p     *Policy
	loc   *time.Location
	dec   []Decision
	buf   []entry // candidates of the current dataset, reused
}

// Plan decides for each snapshot whether to keep or destroy it under p, dataset by dataset. now only marks
// snapshots created after it as protected (see the package comment); the rules never read the clock.
func Plan(snaps []Snapshot, p Policy, now time.Time) (Result, error) {
	if err := p.Validate(); err != nil {
		return Result{}, fmt.Errorf("retention policy: %w", err)
	}
	if now.IsZero() {
		return Result{}, errors.New("retention: now is not set")
	}
	if len(snaps) > math.MaxInt32 {
		return Result{}, fmt.Errorf("retention: %d snapshots is more than one plan takes", len(snaps))
	}
	pl := &planner{snaps: snaps, p: &p, loc: p.location(), dec: make([]Decision, len(snaps))}
	entries := pl.sorted(pl.entries(unixNano(now)))
	for lo := 0; lo < len(entries); {
		hi := lo + 1
		for hi < len(entries) && entries[hi].ds == entries[lo].ds {
			hi++
		}
		pl.planDataset(entries[lo:hi])
		lo = hi
	}
	order := make([]int, len(entries))
	for i, e := range entries {
		order[i] = int(e.idx)
	}
	p.Grid.Segments = slices.Clone(p.Grid.Segments) // reasons are formatted later
	return Result{Decisions: pl.dec, Order: order, policy: p}, nil
}

// entries builds the sort keys and records the protections, which depend on nothing but the snapshot.
func (pl *planner) entries(now int64) []entry {
	entries := make([]entry, len(pl.snaps))
	names := datasetNames{}
	for i := range pl.snaps {
		s := &pl.snaps[i]
		e := entry{nanos: unixNano(s.Created), txg: s.CreateTXG, ds: names.id(s.Dataset), idx: int32(i)}
		why := &pl.dec[i].why
		if s.Base {
			why.add(ReasonBase)
		}
		if s.Held {
			why.add(ReasonHeld)
		}
		if pl.p.KeepUnreplicated && !s.Replicated {
			why.add(ReasonNotReplicated)
		}
		if !s.Owned && !pl.p.IncludeForeign {
			why.add(ReasonForeign)
		}
		if e.nanos > now {
			why.add(ReasonFuture)
		}
		e.cand = (s.Owned || pl.p.IncludeForeign) && e.nanos <= now
		entries[i] = e
	}
	if rank := names.byName(); rank != nil {
		for i := range entries {
			entries[i].ds = rank[entries[i].ds]
		}
	}
	return entries
}

// sorted orders entries by dataset, then newest first. It groups datasets with a counting sort and sorts
// each group alone, so the usual input (datasets together, each oldest or newest first) costs linear time.
func (pl *planner) sorted(entries []entry) []entry {
	var counts []int
	grouped := true
	for i, e := range entries {
		for int(e.ds) >= len(counts) {
			counts = append(counts, 0)
		}
		counts[e.ds]++
		grouped = grouped && (i == 0 || entries[i-1].ds <= e.ds)
	}
	if !grouped {
		out := make([]entry, len(entries))
		next := make([]int, len(counts))
		for d := 1; d < len(counts); d++ {
			next[d] = next[d-1] + counts[d-1]
		}
		for _, e := range entries {
			out[next[e.ds]] = e
			next[e.ds]++
		}
		entries = out
	}
	lo := 0
	for _, n := range counts {
		pl.sortNewestFirst(entries[lo : lo+n])
		lo += n
	}
	return entries
}

// sortNewestFirst sorts one dataset's entries, noticing input that is already in order or reversed.
func (pl *planner) sortNewestFirst(g []entry) {
	if slices.IsSortedFunc(g, pl.compare) {
		return
	}
	slices.Reverse(g)
	if !slices.IsSortedFunc(g, pl.compare) {
		slices.SortFunc(g, pl.compare)
	}
}

// compare orders by dataset, then newest first: later creation, higher createtxg, greater name, greater GUID.
func (pl *planner) compare(a, b entry) int {
	if a.ds != b.ds {
		return cmp.Compare(a.ds, b.ds)
	}
	if a.nanos != b.nanos {
		return cmp.Compare(b.nanos, a.nanos)
	}
	if a.txg != b.txg {
		return cmp.Compare(b.txg, a.txg)
	}
	sa, sb := &pl.snaps[a.idx], &pl.snaps[b.idx]
	if c := strings.Compare(sb.Name, sa.Name); c != 0 {
		return c
	}
	return cmp.Compare(sb.GUID, sa.GUID)
}

// planDataset applies the rules to one dataset's snapshots, sorted newest first.
func (pl *planner) planDataset(all []entry) {
	cands := all
	if slices.ContainsFunc(all, func(e entry) bool { return !e.cand }) {
		pl.buf = pl.buf[:0]
		for _, e := range all {
			if e.cand {
				pl.buf = append(pl.buf, e)
			}
		}
		cands = pl.buf
	}
	if len(cands) == 0 {
		return
	}
	pl.why(cands[0]).add(ReasonNewest)
	if !pl.p.hasRules() {
		for _, e := range cands {
			pl.why(e).add(ReasonNoRules)
		}
		return
	}
	for i := range min(pl.p.KeepLast, len(cands)) {
		pl.why(cands[i]).addNth(ReasonLast, slotLast, i+1)
	}
	if pl.p.KeepWithin > 0 {
		pl.within(cands)
	}
	pl.calendar(cands)
	if len(pl.p.Grid.Segments) > 0 {
		pl.grid(cands)
	}
}

func (pl *planner) why(e entry) *reasonSet { return &pl.dec[e.idx].why }

// within keeps what was created less than KeepWithin before the youngest candidate.
func (pl *planner) within(cands []entry) {
	cutoff := cands[0].nanos - int64(pl.p.KeepWithin)
	if cutoff > cands[0].nanos { // overflowed below the earliest time
		cutoff = math.MinInt64
	}
	for _, e := range cands {
		if e.nanos <= cutoff {
			break
		}
		pl.why(e).add(ReasonWithin)
	}
}

// unixNano is t in Unix nanoseconds, clamped to the int64 range (years 1678–2262) so order is kept.
func unixNano(t time.Time) int64 {
	const maxSec = math.MaxInt64/int64(time.Second) - 1
	switch s := t.Unix(); {
	case s < -maxSec:
		return math.MinInt64
	case s > maxSec:
		return math.MaxInt64
	}
	return t.UnixNano()
}

// datasetNames numbers datasets as they appear; runs of one dataset, the usual input, cost no map lookup.
type datasetNames struct {
	ids   map[string]int32
	names []string
	last  string
	lastN int32
}

func (d *datasetNames) id(name string) int32 {
	if len(d.names) > 0 && name == d.last {
		return d.lastN
	}
	n, ok := d.ids[name]
	if !ok {
		if d.ids == nil {
			d.ids = map[string]int32{}
		}
		n = int32(len(d.names))
		d.ids[name] = n
		d.names = append(d.names, name)
	}
	d.last, d.lastN = name, n
	return n
}

// byName maps each number to its dataset's rank by name, or is nil if the numbering is already in name order.
func (d *datasetNames) byName() []int32 {
	if slices.IsSorted(d.names) {
		return nil
	}
	byName := make([]int32, len(d.names))
	for i := range byName {
		byName[i] = int32(i)
	}
	slices.SortFunc(byName, func(a, b int32) int { return strings.Compare(d.names[a], d.names[b]) })
	rank := make([]int32, len(d.names))
	for r, n := range byName {
		rank[n] = int32(r)
	}
	return rank
}
