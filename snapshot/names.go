package snapshot

import (
	"strconv"
	"strings"
	"time"
)

// nameLayout is the sortable UTC timestamp in snapshot names.
const nameLayout = "20060102T150405Z"

// Name returns the snapshot short name for prefix at t: PREFIX_20261126T011500Z (UTC, sortable).
func Name(prefix string, t time.Time) string {
	return prefix + "_" + t.UTC().Format(nameLayout)
}

// withSuffix returns base for n == 0 and base_N otherwise: the names tried after a collision.
func withSuffix(base string, n int) string {
	if n == 0 {
		return base
	}
	return base + "_" + strconv.Itoa(n)
}

// ParseName reports whether short is a snapshot name hotzfs made with prefix (PREFIX_TIMESTAMP, optionally
// followed by a collision suffix _N) and returns its timestamp. Names of other tools or prefixes return false.
func ParseName(prefix, short string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(short, prefix+"_")
	if !ok || len(rest) < len(nameLayout) {
		return time.Time{}, false
	}
	stamp, suffix := rest[:len(nameLayout)], rest[len(nameLayout):]
	if suffix != "" {
		n, ok := strings.CutPrefix(suffix, "_")
		if !ok || n == "" || n[0] == '0' || strings.Trim(n, "0123456789") != "" {
			return time.Time{}, false
		}
	}
	t, err := time.Parse(nameLayout, stamp)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}
