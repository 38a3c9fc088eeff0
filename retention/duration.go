package retention

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

const (
	day  = 24 * time.Hour
	week = 7 * day
)

var durationUnits = map[string]time.Duration{
	"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "ms": time.Millisecond,
	"s": time.Second, "m": time.Minute, "h": time.Hour, "d": day, "w": week,
}

// ParseDuration is hotzfs's one duration grammar, for retention rules and every duration in a config file:
// what time.ParseDuration reads, plus the units d (24h) and w (7d), without a sign or spaces: "48h", "14d",
// "2w", "1d12h", "1.5d", "90m", "500ms". "0" is zero.
func ParseDuration(s string) (time.Duration, error) {
	d, err := ParseDurationTerms(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	return d, nil
}

// ParseDurationTerms is ParseDuration with errors that do not repeat the input (for callers that show it).
func ParseDurationTerms(s string) (time.Duration, error) {
	switch {
	case s == "0":
		return 0, nil
	case s == "":
		return 0, errors.New("empty (write e.g. 30s, 5m, 2h or 14d)")
	case s[0] == '-' || s[0] == '+':
		return 0, errors.New("must not have a sign")
	case strings.ContainsAny(s, " \t"):
		return 0, errors.New("no spaces (write e.g. 30s, 5m, 2h or 14d)")
	}
	var total float64
	for rest := s; rest != ""; {
		num, unit, tail := splitTerm(rest)
		if num == "" {
			return 0, fmt.Errorf("expected a number at %q (write e.g. 30s, 5m, 2h or 14d)", rest)
		}
		per, ok := durationUnits[unit]
		if !ok && unit == "" {
			return 0, fmt.Errorf("%s needs a unit (write e.g. %ss or %sm)", num, num, num)
		} else if !ok {
			return 0, fmt.Errorf("unknown unit %q (use s, m, h, d or w)", unit)
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, fmt.Errorf("bad number %q", num)
		}
		total += f * float64(per)
		rest = tail
	}
	if total >= math.MaxInt64 {
		return 0, errors.New("too long")
	}
	return time.Duration(math.Round(total)), nil
}

// splitTerm splits "12h30m" into "12", "h" and "30m".
func splitTerm(s string) (num, unit, tail string) {
	isNum := func(c byte) bool { return c >= '0' && c <= '9' || c == '.' }
	i := 0
	for i < len(s) && isNum(s[i]) {
		i++
	}
	j := i
	for j < len(s) && !isNum(s[j]) {
		j++
	}
	return s[:i], s[i:j], s[j:]
}

// FormatDuration writes d the way ParseDuration reads it: whole days as "Nd" from three days up ("14d",
// "3d12h"), shorter spans in hours, minutes and seconds without zero parts ("48h", "1h30m", "90s" as "1m30s").
func FormatDuration(d time.Duration) string {
	if d < 0 {
		return d.String() // not a retention duration; shown as Go does
	}
	var b strings.Builder
	if d >= 3*day {
		b.WriteString(strconv.FormatInt(int64(d/day), 10))
		b.WriteByte('d')
		d %= day
		if d == 0 {
			return b.String()
		}
	}
	s := d.String() // "1h30m0s", "48h0m0s", "1m30s", "0s"
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	b.WriteString(s)
	return b.String()
}
