package meta

import (
	"strings"
	"time"
)

// NameLayout is the sortable UTC timestamp at the end of the snapshot names hotzfs makes
// (PREFIX_20261126T011500Z).
const NameLayout = "20060102T150405Z"

// SnapshotName returns the snapshot short name for prefix at t: PREFIX_20261126T011500Z (UTC, sortable).
func SnapshotName(prefix string, t time.Time) string {
	return prefix + "_" + t.UTC().Format(NameLayout)
}

// ParseSnapshotName reports whether short is a snapshot name hotzfs made with prefix (PREFIX_TIMESTAMP,
// optionally followed by a collision suffix _N) and returns its timestamp. Names of other tools or prefixes
// return false.
func ParseSnapshotName(prefix, short string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(short, prefix+"_")
	if !ok || len(rest) < len(NameLayout) {
		return time.Time{}, false
	}
	stamp, suffix := rest[:len(NameLayout)], rest[len(NameLayout):]
	if suffix != "" {
		n, ok := strings.CutPrefix(suffix, "_")
		if !ok || n == "" || n[0] == '0' || strings.Trim(n, "0123456789") != "" {
			return time.Time{}, false
		}
	}
	t, err := time.Parse(NameLayout, stamp)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// IsSnapshotName reports whether short is named the way hotzfs names its snapshots, whatever the prefix
// (the receiver does not know the jobs' prefixes): PREFIX_TIMESTAMP[_N], the prefix of letters, digits, _
// and -, not starting with -.
func IsSnapshotName(short string) bool {
	candidates := []string{short}
	if i := strings.LastIndexByte(short, '_'); i >= 0 {
		candidates = append(candidates, short[:i]) // without a collision suffix
	}
	for _, s := range candidates {
		cut := len(s) - len(NameLayout) - 1
		if cut < 1 || s[cut] != '_' {
			continue
		}
		prefix := s[:cut]
		if prefix[0] == '-' || strings.Trim(prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			continue
		}
		if _, ok := ParseSnapshotName(prefix, short); ok {
			return true
		}
	}
	return false
}
