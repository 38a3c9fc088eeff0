package retention

import "strconv"

// ReasonKind is why a snapshot is kept: a rule that selected it, or a protection.
type ReasonKind uint8

// The reasons, in the order Result.Reasons lists them.
const (
	ReasonNewest        ReasonKind = iota // the dataset's newest snapshot, always kept
	ReasonLast                            // KeepLast
	ReasonWithin                          // KeepWithin
	ReasonHourly                          // calendar rules
	ReasonDaily                           //
	ReasonWeekly                          //
	ReasonMonthly                         //
	ReasonYearly                          //
	ReasonGrid                            // a grid bucket
	ReasonNoRules                         // the policy has no rule: everything is kept
	ReasonBase                            // protected: the incremental base
	ReasonHeld                            // protected: held
	ReasonNotReplicated                   // protected: the target lacks it
	ReasonForeign                         // protected: not made by hotzfs
	ReasonFuture                          // protected: created after now
	numReasons
)

var reasonNames = [numReasons]string{"newest", "last", "within", "hourly", "daily", "weekly", "monthly",
	"yearly", "grid", "no rules", "base", "held", "not replicated", "foreign", "in the future"}

// String is the kind's name as users read it: "daily", "not replicated".
func (k ReasonKind) String() string {
	if k >= numReasons {
		return "reason(" + strconv.Itoa(int(k)) + ")"
	}
	return reasonNames[k]
}

// Protects reports whether the reason is a protection rather than a rule: the snapshot would be kept under
// any policy.
func (k ReasonKind) Protects() bool { return k >= ReasonBase && k < numReasons }

// Reason is one reason a snapshot is kept.
type Reason struct {
	Kind   ReasonKind
	N      int    // place within the rule: 2 in "last 2/4", 3 in "daily 3/7", bucket 5 in "grid 5/24x1h"
	Of     int    // the rule's count: 4 in "last 2/4"; for grid, the segment's bucket count
	Rule   string // within: "48h"; grid: the segment, "24x1h"
	Oldest bool   // calendar: kept as the oldest snapshot while the rule had count left, not as a new period
}

// String is the reason as users read it: "last 2/4", "within 48h", "daily 3/7", "daily 5/7 (oldest)",
// "grid 2/24x1h", "not replicated".
func (r Reason) String() string {
	switch r.Kind {
	case ReasonLast, ReasonHourly, ReasonDaily, ReasonWeekly, ReasonMonthly, ReasonYearly:
		s := r.Kind.String() + " " + strconv.Itoa(r.N) + "/" + strconv.Itoa(r.Of)
		if r.Oldest {
			s += " (oldest)"
		}
		return s
	case ReasonWithin:
		return "within " + r.Rule
	case ReasonGrid:
		return "grid " + strconv.Itoa(r.N) + "/" + r.Rule
	}
	return r.Kind.String()
}

// MarshalText makes a Reason appear as its String in JSON.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// ordinal slots of a reasonSet: the rules that number what they keep.
const (
	slotLast = iota
	slotHourly
	slotDaily
	slotWeekly
	slotMonthly
	slotYearly
	slotGrid
	numSlots
)

// oldestShift puts the "(oldest)" flags of the calendar rules above the kind bits.
const oldestShift = numReasons

// reasonSet is a snapshot's reasons in compact form: one bit per kind, the calendar rules' "(oldest)" bits,
// and the ordinals; strings are made only when asked for.
type reasonSet struct {
	mask    uint32
	ord     [numSlots]int32
	gridSeg uint16
}

func (s *reasonSet) add(k ReasonKind)                 { s.mask |= 1 << k }
func (s *reasonSet) addNth(k ReasonKind, slot, n int) { s.mask |= 1 << k; s.ord[slot] = int32(n) }
func (s *reasonSet) has(k ReasonKind) bool            { return s.mask&(1<<k) != 0 }

// slotOf is the ordinal slot of a numbered kind, or -1.
func slotOf(k ReasonKind) int {
	switch k {
	case ReasonLast:
		return slotLast
	case ReasonHourly, ReasonDaily, ReasonWeekly, ReasonMonthly, ReasonYearly:
		return slotHourly + int(k-ReasonHourly)
	case ReasonGrid:
		return slotGrid
	}
	return -1
}

// expand turns the compact set into Reasons, with the counts and rule texts from p.
func (s *reasonSet) expand(p *Policy) []Reason {
	if s.mask == 0 {
		return nil
	}
	var out []Reason
	for k := ReasonKind(0); k < numReasons; k++ {
		if !s.has(k) {
			continue
		}
		r := Reason{Kind: k}
		if slot := slotOf(k); slot >= 0 {
			r.N = int(s.ord[slot])
		}
		switch k {
		case ReasonLast:
			r.Of = p.KeepLast
		case ReasonHourly, ReasonDaily, ReasonWeekly, ReasonMonthly, ReasonYearly:
			r.Of = p.calendarCount(k)
			r.Oldest = s.mask&(1<<(oldestShift+k-ReasonHourly)) != 0
		case ReasonWithin:
			r.Rule = FormatDuration(p.KeepWithin)
		case ReasonGrid:
			seg := p.Grid.Segments[s.gridSeg]
			r.Of, r.Rule = seg.Count, seg.String()
		}
		out = append(out, r)
	}
	return out
}

// calendarCount is the count of a calendar rule.
func (p *Policy) calendarCount(k ReasonKind) int {
	return [...]int{p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly}[k-ReasonHourly]
}
