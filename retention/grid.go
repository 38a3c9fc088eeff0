package retention

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxSegments bounds a grid's segments (a reason records its segment in 16 bits).
const maxSegments = 1000

// KeepAll as a GridSegment's Keep keeps every snapshot in its buckets ("keep=all").
const KeepAll = -1

// Grid is a zrepl retention grid: segments of equal-length buckets laid backwards from the youngest
// snapshot. The zero value has no segments and keeps nothing by itself.
type Grid struct {
	Segments []GridSegment
}

// GridSegment is one "NxL(keep=K)" term: Count buckets of Length, each keeping its Keep oldest snapshots.
type GridSegment struct {
	Count  int
	Length time.Duration
	Keep   int // how many of the oldest per bucket; KeepAll for all; 1 when written without keep=

	text string // as written, spaces removed; "" when built in code
}

// ParseGrid reads a grid like "1x1h(keep=all) | 24x1h | 14x1d | 6x30d". Errors name the segment (1-based)
// and the column it starts at (1-based, in bytes).
func ParseGrid(s string) (Grid, error) {
	if strings.TrimSpace(s) == "" {
		return Grid{}, errors.New("grid is empty")
	}
	var g Grid
	off := 0
	for i, part := range strings.Split(s, "|") {
		seg, err := parseSegment(part)
		if err != nil {
			col := off + len(part) - len(strings.TrimLeft(part, " \t")) + 1
			return Grid{}, fmt.Errorf("grid segment %d %q (column %d): %w", i+1, strings.TrimSpace(part), col, err)
		}
		g.Segments = append(g.Segments, seg)
		off += len(part) + 1
	}
	if err := g.validate(); err != nil {
		return Grid{}, err
	}
	return g, nil
}

// parseSegment reads "24x1h" or "1x1h(keep=all)" with any spaces around the parts.
func parseSegment(part string) (GridSegment, error) {
	text := strings.Join(strings.Fields(part), "")
	if text == "" {
		return GridSegment{}, errors.New("empty segment (two '|' in a row, or one at an end?)")
	}
	seg := GridSegment{Keep: 1, text: text}
	body := text
	if open := strings.IndexByte(text, '('); open >= 0 {
		if !strings.HasSuffix(text, ")") {
			return GridSegment{}, errors.New("missing ')' after keep=")
		}
		keep, err := parseKeep(text[open+1 : len(text)-1])
		if err != nil {
			return GridSegment{}, err
		}
		seg.Keep, body = keep, text[:open]
	}
	count, length, ok := strings.Cut(body, "x")
	if !ok {
		return GridSegment{}, errors.New(`want COUNTxLENGTH, like "24x1h"`)
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 {
		return GridSegment{}, fmt.Errorf("count %q is not a positive whole number", count)
	}
	if length == "" {
		return GridSegment{}, errors.New(`missing the bucket length after "x", like "24x1h"`)
	}
	d, err := ParseDuration(length)
	if err != nil {
		return GridSegment{}, err
	}
	if d <= 0 {
		return GridSegment{}, fmt.Errorf("bucket length %q is not positive", length)
	}
	seg.Count, seg.Length = n, d
	return seg, nil
}

// parseKeep reads the inside of "(keep=3)" or "(keep=all)".
func parseKeep(s string) (int, error) {
	v, ok := strings.CutPrefix(s, "keep=")
	if !ok {
		return 0, fmt.Errorf("want (keep=N) or (keep=all), got (%s)", s)
	}
	if v == "all" {
		return KeepAll, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("keep=%s: want a positive whole number or all", v)
	}
	return n, nil
}

// validate checks a grid built in code the way ParseGrid checks a written one.
func (g Grid) validate() error {
	if len(g.Segments) > maxSegments {
		return fmt.Errorf("%d segments is more than %d", len(g.Segments), maxSegments)
	}
	for i, seg := range g.Segments {
		if seg.Count < 1 || seg.Length <= 0 || seg.Keep < 1 && seg.Keep != KeepAll {
			return fmt.Errorf("segment %d %q: count and length must be positive and keep positive or KeepAll",
				i+1, seg.String())
		}
	}
	_, err := g.span()
	return err
}

// span is how far back the whole grid reaches, or an error if that does not fit a time.Duration.
func (g Grid) span() (time.Duration, error) {
	var total time.Duration
	for _, seg := range g.Segments {
		if seg.Length > 0 && int64(seg.Count) > (math.MaxInt64-int64(total))/int64(seg.Length) {
			return 0, errors.New("grid reaches back more than 290 years")
		}
		total += time.Duration(seg.Count) * seg.Length
	}
	return total, nil
}

// String is the segment as written, or in canonical form if built in code: "24x1h", "1x1h(keep=all)".
func (s GridSegment) String() string {
	if s.text != "" {
		return s.text
	}
	t := strconv.Itoa(s.Count) + "x" + FormatDuration(s.Length)
	switch s.Keep {
	case 1:
		return t
	case KeepAll:
		return t + "(keep=all)"
	default:
		return t + "(keep=" + strconv.Itoa(s.Keep) + ")"
	}
}

// String is the grid in the form ParseGrid reads.
func (g Grid) String() string {
	parts := make([]string, len(g.Segments))
	for i, s := range g.Segments {
		parts[i] = s.String()
	}
	return strings.Join(parts, " | ")
}
