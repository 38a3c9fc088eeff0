package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Monitoring exit codes (Nagios plugin convention).
const (
	checkOK       = 0
	checkWarning  = 1
	checkCritical = 2
	checkUnknown  = 3
)

var checkLabels = map[int]string{checkOK: "OK", checkWarning: "WARNING", checkCritical: "CRITICAL", checkUnknown: "UNKNOWN"}

// severity orders the states: a part that could not be checked (UNKNOWN) is worse than OK and less bad than
// anything found wrong.
var severity = map[int]int{checkOK: 0, checkUnknown: 1, checkWarning: 2, checkCritical: 3}

// verdict is what a check found: the worst state, the problems, what was fine, and the performance data.
type verdict struct {
	state    int
	problems []finding
	fine     []string
	perf     []string
}

type finding struct {
	state int
	text  string
}

// add records a problem of the given state.
func (v *verdict) add(state int, format string, args ...any) {
	if severity[state] > severity[v.state] {
		v.state = state
	}
	v.problems = append(v.problems, finding{state, fmt.Sprintf(format, args...)})
}

// ok records what was checked and found fine, for the line when there is no problem.
func (v *verdict) ok(format string, args ...any) {
	v.fine = append(v.fine, fmt.Sprintf(format, args...))
}

// perfdata adds one performance value: 'label'=value;warn;crit;min;max (trailing empty fields left out).
func (v *verdict) perfdata(label, value string, thresholds ...string) {
	label = strings.NewReplacer("'", "_", "=", "_").Replace(label)
	item := strings.TrimRight(strings.Join(append([]string{"'" + label + "'=" + value}, thresholds...), ";"), ";")
	v.perf = append(v.perf, item)
}

// line is the plugin's output: "HOTZFS STATE - what | perfdata", the worst problems first.
func (v *verdict) line() string {
	text := strings.Join(v.fine, ", ")
	if len(v.problems) > 0 {
		sorted := slices.Clone(v.problems)
		slices.SortStableFunc(sorted, func(a, b finding) int { return severity[b.state] - severity[a.state] })
		texts := make([]string, len(sorted))
		for i, p := range sorted {
			texts[i] = p.text
		}
		text = strings.Join(texts, "; ")
	}
	out := "HOTZFS " + checkLabels[v.state] + " - " + text
	if len(v.perf) > 0 {
		out += " | " + strings.Join(v.perf, " ")
	}
	return out
}

// unknown is the line of a check that could not be made at all.
func unknown(err error) (int, string) {
	return checkUnknown, "HOTZFS UNKNOWN - " + firstLine(err.Error())
}

// span writes a length of time for a person: "45s", "12m5s", "3h30m", "2d3h" (to the second under an hour,
// the minute under a day, the hour beyond).
func span(d time.Duration) string {
	const day = 24 * time.Hour
	if d >= day {
		d = d.Round(time.Hour)
		s := fmt.Sprintf("%dd", d/day)
		if h := d % day / time.Hour; h > 0 {
			s += fmt.Sprintf("%dh", h)
		}
		return s
	}
	if d >= time.Hour {
		d = d.Round(time.Minute)
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// seconds is a perfdata value in seconds.
func seconds(d time.Duration) string { return fmt.Sprintf("%ds", int64(d.Seconds())) }
