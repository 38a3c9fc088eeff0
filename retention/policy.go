package retention

import (
	"errors"
	"fmt"
	"time"
)

// Snapshot is one snapshot as the caller sees it. The flags are facts the caller establishes (from holds,
// properties, the prefix and the target's listing); the policy engine only reads them.
type Snapshot struct {
	Dataset   string // pool/vm-disk
	Name      string // the part after '@'
	GUID      uint64
	CreateTXG uint64
	Created   time.Time

	Owned      bool // made by hotzfs (its prefix or property); others are foreign
	Held       bool // carries a hold the caller wants respected
	Base       bool // the current incremental base, shared with the target
	Replicated bool // sending side: the target has this snapshot (matched by GUID)
}

// Policy says which snapshots to keep. The zero value keeps everything and protects only what is always
// protected; start from SourceDefaults on the sending side.
type Policy struct {
	KeepLast   int           // the N youngest
	KeepWithin time.Duration // everything younger than the youngest snapshot minus this
	Hourly     int           // newest of each of the N newest hours with a snapshot
	Daily      int
	Weekly     int // ISO 8601 weeks
	Monthly    int
	Yearly     int
	Grid       Grid           // zrepl retention grid; no segments means no grid rule
	Location   *time.Location // calendar periods are taken in this zone; nil means UTC

	// KeepUnreplicated protects snapshots whose Replicated flag is false. Set it on the sending side (it
	// is what SourceDefaults does) so that nothing the target lacks is destroyed; leave it off on the target.
	KeepUnreplicated bool
	// IncludeForeign lets the rules destroy snapshots hotzfs did not make. Off, they are never destroyed.
	IncludeForeign bool
}

// SourceDefaults is the policy for the sending side before the rules are filled in: unreplicated
// snapshots are protected, foreign ones are left alone, calendar periods are in UTC.
func SourceDefaults() Policy {
	return Policy{KeepUnreplicated: true, Location: time.UTC}
}

// hasRules reports whether any keep rule is set; without one, everything is kept.
func (p *Policy) hasRules() bool {
	return p.KeepLast > 0 || p.KeepWithin > 0 || p.Hourly > 0 || p.Daily > 0 || p.Weekly > 0 ||
		p.Monthly > 0 || p.Yearly > 0 || len(p.Grid.Segments) > 0
}

// location is the zone calendar periods are taken in.
func (p *Policy) location() *time.Location {
	if p.Location == nil {
		return time.UTC
	}
	return p.Location
}

// Validate reports every setting that is out of range, joined, naming the setting.
func (p *Policy) Validate() error {
	var errs []error
	counts := []struct {
		name string
		n    int
	}{{"keep_last", p.KeepLast}, {"hourly", p.Hourly}, {"daily", p.Daily}, {"weekly", p.Weekly},
		{"monthly", p.Monthly}, {"yearly", p.Yearly}}
	for _, c := range counts {
		if c.n < 0 {
			errs = append(errs, fmt.Errorf("%s: %d is negative; use 0 to turn the rule off", c.name, c.n))
		}
	}
	if p.KeepWithin < 0 {
		errs = append(errs, fmt.Errorf("keep_within: %s is negative", p.KeepWithin))
	}
	if err := p.Grid.validate(); err != nil {
		errs = append(errs, fmt.Errorf("grid: %w", err))
	}
	return errors.Join(errs...)
}
