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

// ParseDuration parses a retention duration: what time.ParseDuration accepts (without a sign) plus the units
// d (24h) and w (7d), which take whole numbers: "48h", "14d", "2w", "1d12h", "90m".
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration")
	}
	var total time.Duration
	for rest := s; rest != ""; {
		num, unit, tail, err := nextTerm(rest)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		d, err := termValue(num, unit)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		if total > math.MaxInt64-d {
			return 0, fmt.Errorf("duration %q: too long", s)
		}
		total += d
		rest = tail
	}
	return total, nil
}

// nextTerm splits "12h30m" into "12", "h" and "30m".
func nextTerm(s string) (num, unit, tail string, err error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	if i == 0 {
		return "", "", "", fmt.Errorf("expected a number at %q", s)
	}
	j := i
	for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
		j++
	}
	if j == i {
		return "", "", "", fmt.Errorf("missing unit after %q (use s, m, h, d or w)", s[:i])
	}
	return s[:i], s[i:j], s[j:], nil
}

// termValue is the length of one number+unit term.
func termValue(num, unit string) (time.Duration, error) {
	var per time.Duration
	switch unit {
	case "d":
		per = day
	case "w":
		per = week
	default:
		d, err := time.ParseDuration(num + unit)
		if err != nil {
			return 0, fmt.Errorf("%s%s: unknown unit or bad number (use s, m, h, d or w)", num, unit)
		}
		return d, nil
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s%s: days and weeks take whole numbers", num, unit)
	}
	if n > math.MaxInt64/int64(per) {
		return 0, fmt.Errorf("%s%s: too long", num, unit)
	}
	return time.Duration(n) * per, nil
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
