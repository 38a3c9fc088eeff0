package snapshot

import (
	"testing"
	"time"
)

func TestParseName(t *testing.T) {
	ts := time.Date(2026, 11, 26, 1, 15, 0, 0, time.UTC)
	if got := Name("hotzfs", ts.In(time.FixedZone("X", 3600))); got != "hotzfs_20261126T011500Z" {
		t.Errorf("Name = %q", got)
	}
	for short, ok := range map[string]bool{
		"hotzfs_20261126T011500Z":      true,
		"hotzfs_20261126T011500Z_12":   true,
		"hotzfs_20261126T011500Z_0":    false,
		"hotzfs_20261126T011500Z_01":   false,
		"hotzfs_20261126T011500Z_":     false,
		"hotzfs_20261126T011500Zx":     false,
		"hotzfs_20261126T011500":       false,
		"other_20261126T011500Z":       false,
		"hotzfsx_20261126T011500Z":     false,
		"hotzfs_20261326T011500Z":      false,
		"autosnap_2026-11-26_01:15:00": false,
	} {
		got, gotOK := ParseName("hotzfs", short)
		if gotOK != ok || ok && !got.Equal(ts) {
			t.Errorf("ParseName(%q) = %v, %v; want ok=%v", short, got, gotOK, ok)
		}
	}
}
