package snapshot

import (
	"strconv"
	"time"

	"github.com/hotzfs/hotzfs/meta"
)

// Name returns the snapshot short name for prefix at t (meta owns the format).
func Name(prefix string, t time.Time) string { return meta.SnapshotName(prefix, t) }

// withSuffix returns base for n == 0 and base_N otherwise: the names tried after a collision.
func withSuffix(base string, n int) string {
	if n == 0 {
		return base
	}
	return base + "_" + strconv.Itoa(n)
}

// ParseName reports whether short is a snapshot name hotzfs made with prefix, and its timestamp (see
// meta.ParseSnapshotName).
func ParseName(prefix, short string) (time.Time, bool) { return meta.ParseSnapshotName(prefix, short) }
