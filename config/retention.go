package config

import (
	"github.com/hotzfs/hotzfs/retention"

	"strings"
	"time"
)

// Retention is a job's pruning policy for each side.
type Retention struct {
	Source Rules `yaml:"source"` // snapshots on the sending host
	Target Rules `yaml:"target"` // snapshots on the receiver
}

// Rules is one side's retention policy as written. A snapshot is kept if any rule keeps it; with no rule
// at all everything is kept. The semantics are the retention package's (see DESIGN.md, "Retention
// semantics"); this package checks that the values can mean something.
//
// The code that wires the packages together turns Rules into a retention.Policy: the counts and
// KeepWithin copy over, Grid goes through retention.ParseGrid, and Location gives Policy.Location.
type Rules struct {
	KeepLast   int      `yaml:"keep_last"`   // the N youngest
	KeepWithin Duration `yaml:"keep_within"` // everything younger than the youngest snapshot minus this
	Hourly     int      `yaml:"hourly"`      // the newest of each of the N newest hours, …
	Daily      int      `yaml:"daily"`
	Weekly     int      `yaml:"weekly"` // ISO 8601 weeks
	Monthly    int      `yaml:"monthly"`
	Yearly     int      `yaml:"yearly"`
	Grid       string   `yaml:"grid"`     // zrepl grid: "1x1h(keep=all) | 24x1h | 14x1d"
	Timezone   string   `yaml:"timezone"` // for the calendar rules; "" is the host's local zone
}

// IsEmpty reports whether no rule is set (which keeps everything).
func (r Rules) IsEmpty() bool {
	return r.KeepLast == 0 && r.KeepWithin == 0 && r.Hourly == 0 && r.Daily == 0 && r.Weekly == 0 &&
		r.Monthly == 0 && r.Yearly == 0 && strings.TrimSpace(r.Grid) == ""
}

// Location is the zone the calendar rules count periods in: Timezone, or time.Local when it is empty.
func (r Rules) Location() (*time.Location, error) {
	if r.Timezone == "" {
		return time.Local, nil
	}
	return time.LoadLocation(r.Timezone)
}

// validate reports every value of the rules at path that cannot mean anything; who names the rules in
// messages (`job "guests": retention.source`).
func (r Rules) validate(p *problems, path, who string) {
	counts := []struct {
		key string
		n   int
	}{{"keep_last", r.KeepLast}, {"hourly", r.Hourly}, {"daily", r.Daily}, {"weekly", r.Weekly},
		{"monthly", r.Monthly}, {"yearly", r.Yearly}}
	for _, c := range counts {
		if c.n < 0 {
			p.add(join(path, c.key), "%s.%s is %d; a count must be 0 or more (0 or leaving it out turns the rule off)",
				who, c.key, c.n)
		}
	}
	if strings.TrimSpace(r.Grid) != "" {
		if _, err := retention.ParseGrid(r.Grid); err != nil {
			p.add(join(path, "grid"), "%s.grid: %v", who, err)
		}
	}
	if r.Timezone != "" {
		if _, err := time.LoadLocation(r.Timezone); err != nil {
			p.add(join(path, "timezone"), "%s.timezone %q is not a known time zone; use a name like "+
				"Europe/Berlin or UTC (is tzdata installed?)", who, r.Timezone)
		}
	}
}

// Policy turns the configured rules into a retention policy, starting from base (retention.SourceDefaults()
// on the sending side, so snapshots not yet replicated stay protected). An empty timezone means local time.
func (r Rules) Policy(base retention.Policy) (retention.Policy, error) {
	p := base
	p.KeepLast, p.KeepWithin = r.KeepLast, time.Duration(r.KeepWithin)
	p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly = r.Hourly, r.Daily, r.Weekly, r.Monthly, r.Yearly
	if strings.TrimSpace(r.Grid) != "" {
		g, err := retention.ParseGrid(r.Grid)
		if err != nil {
			return p, err
		}
		p.Grid = g
	}
	loc, err := r.Location()
	if err != nil {
		return p, err
	}
	p.Location = loc
	return p, p.Validate()
}
