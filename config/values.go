package config

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/hotzfs/hotzfs/retention"
)

// Duration is a length of time in a config file: "10s", "1h30m", "14d", "2w". Convert with time.Duration(d).
type Duration time.Duration

// ParseDuration reads hotzfs's one duration grammar (retention.ParseDuration): what time.ParseDuration reads,
// plus the units d (24h) and w (7d), and without a sign: "10s", "1h30m", "1.5h", "14d", "1.5d". "0" is zero.
func ParseDuration(s string) (Duration, error) {
	d, err := retention.ParseDuration(s)
	return Duration(d), err
}

// parseDuration is ParseDuration with errors that do not repeat the input.
func parseDuration(s string) (Duration, error) {
	d, err := retention.ParseDurationTerms(s)
	return Duration(d), err
}

// String writes the duration the way a config would: "10s", "1h30m", "14d", "36h".
func (d Duration) String() string {
	td := time.Duration(d)
	const day = 24 * time.Hour
	if td >= day && td%day == 0 {
		return fmt.Sprintf("%dd", td/day)
	}
	s := td.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// UnmarshalYAML parses the duration while the file is decoded.
func (d *Duration) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	return decodeScalar(ctx, node, d, "a duration like 30s, 5m or 14d", parseDuration)
}

// Size is a number of bytes: "50MiB", "1.5G", "4096". Units: B; k, M, G, T (powers of 1000, an optional
// trailing B); KiB, MiB, GiB, TiB (powers of 1024). Case does not matter.
type Size int64

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseSize reads a size like "50MiB", "1.5G" or "4096".
func ParseSize(s string) (Size, error) {
	v, err := parseSize(s)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	return v, nil
}

// parseSize is ParseSize with errors that do not repeat the input.
func parseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	if i == 0 && strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("must not be negative")
	} else if i == 0 {
		return 0, fmt.Errorf("expected a number with an optional unit, like 500MiB or 2G")
	}
	unitText := strings.TrimSpace(t[i:])
	unit, ok := sizeUnits[strings.ToLower(unitText)]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q (use B, k, M, G, T, KiB, MiB, GiB or TiB)", unitText)
	}
	f, err := strconv.ParseFloat(t[:i], 64)
	if err != nil {
		return 0, fmt.Errorf("bad number %q", t[:i])
	}
	if f*float64(unit) >= math.MaxInt64 {
		return 0, fmt.Errorf("too large")
	}
	return Size(math.Round(f * float64(unit))), nil
}

// String writes the size in the largest unit that divides it exactly: "50MiB", "2G", "1500B".
func (s Size) String() string {
	if s == 0 {
		return "0"
	}
	units := []struct {
		name string
		n    int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"T", 1e12}, {"G", 1e9}, {"M", 1e6},
		{"KiB", 1 << 10}, {"k", 1e3}}
	for _, u := range units {
		if int64(s)%u.n == 0 {
			return fmt.Sprintf("%d%s", int64(s)/u.n, u.name)
		}
	}
	return fmt.Sprintf("%dB", int64(s))
}

// UnmarshalYAML parses the size while the file is decoded.
func (s *Size) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	return decodeScalar(ctx, node, s, "a size like 500MiB or 2G", parseSize)
}

// Bandwidth is a rate in bytes per second: "50MiB/s", "10M" (the "/s" is optional). 0 means unlimited.
type Bandwidth int64

// ParseBandwidth reads a rate like "50MiB/s"; "0" is unlimited.
func ParseBandwidth(s string) (Bandwidth, error) {
	v, err := parseBandwidth(s)
	if err != nil {
		return 0, fmt.Errorf("bandwidth %q: %w", s, err)
	}
	return v, nil
}

func parseBandwidth(s string) (Bandwidth, error) {
	size, err := parseSize(strings.TrimSuffix(strings.TrimSpace(s), "/s"))
	return Bandwidth(size), err
}

// Unlimited reports whether the rate has no limit.
func (b Bandwidth) Unlimited() bool { return b == 0 }

// String writes the rate: "50MiB/s", or "unlimited".
func (b Bandwidth) String() string {
	if b == 0 {
		return "unlimited"
	}
	return Size(b).String() + "/s"
}

// UnmarshalYAML parses the rate while the file is decoded.
func (b *Bandwidth) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	return decodeScalar(ctx, node, b, "a rate like 50MiB/s (0 for unlimited)", parseBandwidth)
}

// decodeScalar decodes a scalar node with parse; want says what is expected, for a node that is not a
// scalar. An empty value (or null) is the zero value, which means "the default".
func decodeScalar[T any](ctx context.Context, node ast.Node, dst *T, want string, parse func(string) (T, error)) error {
	text, ok := scalarText(node)
	if !ok {
		return reject(ctx, node, "", "expected %s, found %s", want, nodeWord(node))
	}
	if strings.TrimSpace(text) == "" {
		var zero T
		*dst = zero
		return nil
	}
	v, err := parse(text)
	if err != nil {
		return reject(ctx, node, text, "%v", err)
	}
	*dst = v
	return nil
}
