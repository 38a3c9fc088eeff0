package transport

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hotzfs/hotzfs/meta"
)

func TestSnapshotRequestValidation(t *testing.T) {
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("tank/vm%d-failover", i)
		}
		return out
	}
	ok := SnapshotRequest{Datasets: []string{"tank/web-failover"}, Name: "hotzfs_20261203T101500Z"}
	for _, c := range []struct {
		name string
		set  func(*SnapshotRequest)
		want string // part of the error; "" valid
	}{
		{"plain", func(*SnapshotRequest) {}, ""},
		{"each level", func(m *SnapshotRequest) { m.Consistency = "fs-frozen" }, ""},
		{"64 datasets", func(m *SnapshotRequest) { m.Datasets = many(MaxSnapshotDatasets) }, ""},
		{"no datasets", func(m *SnapshotRequest) { m.Datasets = nil }, "0 datasets"},
		{"65 datasets", func(m *SnapshotRequest) { m.Datasets = many(MaxSnapshotDatasets + 1) }, "65 datasets"},
		{"duplicate", func(m *SnapshotRequest) { m.Datasets = []string{"tank/a", "tank/b", "tank/a"} }, "named twice"},
		{"escape", func(m *SnapshotRequest) { m.Datasets = []string{"../hv2/tank/web"} }, `".."`},
		{"inner escape", func(m *SnapshotRequest) { m.Datasets = []string{"tank/../../hv2"} }, `".."`},
		{"absolute", func(m *SnapshotRequest) { m.Datasets = []string{"/pool/backup/hv2/web"} }, "empty name component"},
		{"snapshot as dataset", func(m *SnapshotRequest) { m.Datasets = []string{"tank/a@b"} }, "'@'"},
		{"option", func(m *SnapshotRequest) { m.Datasets = []string{"-o/x"} }, "'-'"},
		{"long dataset", func(m *SnapshotRequest) { m.Datasets = []string{strings.Repeat("a", 256)} }, "longer than"},
		{"empty name", func(m *SnapshotRequest) { m.Name = "" }, "empty name component"},
		{"name with @", func(m *SnapshotRequest) { m.Name = "a@b" }, "character"},
		{"name with /", func(m *SnapshotRequest) { m.Name = "a/b" }, "character"},
		{"name option", func(m *SnapshotRequest) { m.Name = "-r" }, "'-'"},
		{"bad consistency", func(m *SnapshotRequest) { m.Consistency = "frozen" }, "unknown consistency"},
		{"consistency case", func(m *SnapshotRequest) { m.Consistency = "Crash" }, "unknown consistency"},
	} {
		m := ok
		c.set(&m)
		err := m.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error about %s", c.name, err, c.want)
		}
	}
}

// The levels a snapshot request may record are meta's, all of them.
func TestConsistencyLevelsAreMetas(t *testing.T) {
	for _, c := range []meta.Consistency{meta.FSFrozen, meta.Crash, meta.Offline, meta.None} {
		if err := checkConsistency(string(c)); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
}

func TestDatasetInfoOriginValidation(t *testing.T) {
	for _, c := range []struct {
		origin string
		guid   uint64
		valid  bool
	}{
		{"", 0, true},
		{"tank/web@hotzfs_20261203T101500Z", 7, true},
		{"web@s", 7, true},
		{"tank/web@s", 0, false},
		{"", 7, false},
		{"tank/web", 7, false},
		{"@s", 7, false},
		{"../hv2/web@s", 7, false},
		{"/pool/backup/hv2/web@s", 7, false},
		{"tank/web@s@t", 7, false},
		{"tank/web@s#m", 7, false},
		{"tank/web@-s", 7, false},
		{"-o/web@s", 7, false},
		{"tank/web@" + strings.Repeat("s", 250), 7, false},
	} {
		m := &ListResponse{Datasets: []DatasetInfo{{Name: "tank/web-failover", Origin: c.origin, OriginGUID: c.guid}}}
		if err := m.Validate(); (err == nil) != c.valid {
			t.Errorf("origin %.40q guid %d: %v, want valid %t", c.origin, c.guid, err, c.valid)
		}
	}
}

func TestSnapshotResponseValidation(t *testing.T) {
	snap := SnapshotInfo{Name: "hotzfs_20261203T111500Z", GUID: 3, CreateTXG: 9}
	for name, c := range map[string]struct {
		m     SnapshotResponse
		valid bool
	}{
		"one each": {SnapshotResponse{Datasets: []DatasetInfo{{Name: "a", Snapshots: []SnapshotInfo{snap}}}}, true},
		"none":     {SnapshotResponse{Datasets: []DatasetInfo{{Name: "a", Snapshots: []SnapshotInfo{}}}}, false},
		"two":      {SnapshotResponse{Datasets: []DatasetInfo{{Name: "a", Snapshots: []SnapshotInfo{snap, snap}}}}, false},
		"escape":   {SnapshotResponse{Datasets: []DatasetInfo{{Name: "../a", Snapshots: []SnapshotInfo{snap}}}}, false},
		"no guid": {SnapshotResponse{Datasets: []DatasetInfo{{Name: "a",
			Snapshots: []SnapshotInfo{{Name: "s"}}}}}, false},
		"bad consistency": {SnapshotResponse{Datasets: []DatasetInfo{{Name: "a",
			Snapshots: []SnapshotInfo{{Name: "s", GUID: 1, Consistency: "weird"}}}}}, false},
	} {
		if err := c.m.Validate(); (err == nil) != c.valid {
			t.Errorf("%s: %v, want valid %t", name, err, c.valid)
		}
	}
}

func TestDecodeStrictSnapshotMessages(t *testing.T) {
	for name, payload := range map[string]string{
		"escape":            `{"type":"snapshot-request","body":{"datasets":["../hv2/web"],"name":"s"}}`,
		"no datasets":       `{"type":"snapshot-request","body":{"datasets":[],"name":"s"}}`,
		"unknown field":     `{"type":"snapshot-request","body":{"datasets":["a"],"name":"s","recursive":true}}`,
		"numeric origin id": `{"type":"list-response","body":{"datasets":[{"name":"a","snapshots":[],"origin":"b@s","origin_guid":7}]}}`,
		"origin elsewhere":  `{"type":"list-response","body":{"datasets":[{"name":"a","snapshots":[],"origin":"/p/hv2/b@s","origin_guid":"7"}]}}`,
	} {
		m, err := DecodeMessage([]byte(payload))
		if err == nil || !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: accepted as %+v (%v)", name, m, err)
		}
	}
}
