package config

import (
	"fmt"
	"strconv"
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
		if err := checkGrid(r.Grid); err != nil {
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

// checkGrid checks the syntax of a zrepl retention grid: segments "COUNTxLENGTH" or
// "COUNTxLENGTH(keep=N|all)" joined by '|', spaces allowed around the parts.
func checkGrid(grid string) error {
	for i, part := range strings.Split(grid, "|") {
		if err := checkGridSegment(strings.Join(strings.Fields(part), "")); err != nil {
			return fmt.Errorf("segment %d %q: %w (a grid looks like \"1x1h(keep=all) | 24x1h | 14x1d\")",
				i+1, strings.TrimSpace(part), err)
		}
	}
	return nil
}

func checkGridSegment(seg string) error {
	if seg == "" {
		return fmt.Errorf("empty (two '|' in a row, or one at an end?)")
	}
	body, keep, hasKeep := strings.Cut(seg, "(")
	if hasKeep {
		inner, ok := strings.CutSuffix(keep, ")")
		if !ok {
			return fmt.Errorf("missing ')' after (keep=")
		}
		v, ok := strings.CutPrefix(inner, "keep=")
		if n, err := strconv.Atoi(v); !ok || (v != "all" && (err != nil || n < 1)) {
			return fmt.Errorf("(%s) must be (keep=N) with N ≥ 1, or (keep=all)", inner)
		}
	}
	count, length, ok := strings.Cut(body, "x")
	if !ok {
		return fmt.Errorf("expected COUNTxLENGTH, like 24x1h")
	}
	if n, err := strconv.Atoi(count); err != nil || n < 1 {
		return fmt.Errorf("count %q must be a whole number ≥ 1", count)
	}
	if length == "" {
		return fmt.Errorf("missing the bucket length after x, like 24x1h")
	}
	d, err := ParseDuration(length)
	if err != nil {
		return err
	}
	if d <= 0 {
		return fmt.Errorf("bucket length %q must be more than 0", length)
	}
	return nil
}
