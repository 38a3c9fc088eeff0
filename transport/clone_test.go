package transport

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestCloneRequestValidation(t *testing.T) {
	many := func(n int) ([]string, []uint64) {
		names, guids := make([]string, n), make([]uint64, n)
		for i := range names {
			names[i], guids[i] = fmt.Sprintf("tank/vm%d", i), uint64(i+1)
		}
		return names, guids
	}
	ok := CloneRequest{Datasets: []string{"tank/web", "tank/data"}, Snapshot: "hotzfs_20261203T101500Z",
		GUIDs: []uint64{11, 18446744073709551615}, Suffix: "-migrated"}
	for _, c := range []struct {
		name string
		set  func(*CloneRequest)
		want string // part of the error; "" valid
	}{
		{"plain", func(*CloneRequest) {}, ""},
		{"64 datasets", func(m *CloneRequest) { m.Datasets, m.GUIDs = many(MaxSnapshotDatasets) }, ""},
		{"suffix of 32", func(m *CloneRequest) { m.Suffix = "-" + strings.Repeat("a", 32) }, ""},
		{"suffix characters", func(m *CloneRequest) { m.Suffix = "-Mig_2.0:b" }, ""},
		{"no datasets", func(m *CloneRequest) { m.Datasets, m.GUIDs = nil, nil }, "0 datasets"},
		{"65 datasets", func(m *CloneRequest) { m.Datasets, m.GUIDs = many(MaxSnapshotDatasets + 1) }, "65 datasets"},
		{"duplicate", func(m *CloneRequest) { m.Datasets = []string{"tank/a", "tank/a"} }, "named twice"},
		{"escape", func(m *CloneRequest) { m.Datasets = []string{"../hv2/tank/web", "tank/data"} }, `".."`},
		{"inner escape", func(m *CloneRequest) { m.Datasets = []string{"tank/../../hv2", "tank/data"} }, `".."`},
		{"absolute", func(m *CloneRequest) { m.Datasets = []string{"/pool/backup/hv2/web", "x"} }, "empty name component"},
		{"snapshot as dataset", func(m *CloneRequest) { m.Datasets = []string{"tank/a@b", "x"} }, "'@'"},
		{"option", func(m *CloneRequest) { m.Datasets = []string{"-o/x", "y"} }, "'-'"},
		{"fewer guids", func(m *CloneRequest) { m.GUIDs = m.GUIDs[:1] }, "1 guids for 2 datasets"},
		{"more guids", func(m *CloneRequest) { m.GUIDs = append(m.GUIDs, 3) }, "3 guids for 2 datasets"},
		{"zero guid", func(m *CloneRequest) { m.GUIDs = []uint64{11, 0} }, "tank/data@hotzfs_20261203T101500Z: missing guid"},
		{"empty snapshot", func(m *CloneRequest) { m.Snapshot = "" }, "empty name component"},
		{"snapshot with @", func(m *CloneRequest) { m.Snapshot = "a@b" }, "character"},
		{"snapshot option", func(m *CloneRequest) { m.Snapshot = "-r" }, "'-'"},
		{"no suffix", func(m *CloneRequest) { m.Suffix = "" }, "suffix"},
		{"bare dash", func(m *CloneRequest) { m.Suffix = "-" }, "suffix"},
		{"no dash", func(m *CloneRequest) { m.Suffix = "migrated" }, "suffix"},
		{"suffix of 33", func(m *CloneRequest) { m.Suffix = "-" + strings.Repeat("a", 33) }, "suffix"},
		{"suffix with /", func(m *CloneRequest) { m.Suffix = "-x/../../hv2" }, "suffix"},
		{"suffix with @", func(m *CloneRequest) { m.Suffix = "-x@s" }, "suffix"},
		{"suffix with space", func(m *CloneRequest) { m.Suffix = "-a b" }, "suffix"},
		{"suffix with dash", func(m *CloneRequest) { m.Suffix = "--" }, "suffix"},
		{"clone too long", func(m *CloneRequest) { m.Datasets = []string{strings.Repeat("a", 250), "x"} }, "longer than"},
		{"clone is a dataset", func(m *CloneRequest) { m.Datasets = []string{"tank/web", "tank/web-migrated"} },
			`"tank/web-migrated", another dataset of the request`},
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

func TestCloneResponseValidation(t *testing.T) {
	vol := CloneInfo{Dataset: "tank/web", Clone: "tank/web-migrated", Device: "/dev/zvol/pool/backup/hv1/tank/web-migrated"}
	fs := CloneInfo{Dataset: "tank/data", Clone: "tank/data-migrated", Mountpoint: "/pool/backup/hv1/tank/data-migrated"}
	with := func(c CloneInfo, set func(*CloneInfo)) []CloneInfo {
		set(&c)
		return []CloneInfo{c}
	}
	many := make([]CloneInfo, MaxSnapshotDatasets+1)
	for i := range many {
		many[i] = CloneInfo{Dataset: fmt.Sprint("d", i), Clone: fmt.Sprint("d", i, "-m"), Mountpoint: "/m"}
	}
	for name, c := range map[string]struct {
		clones []CloneInfo
		valid  bool
	}{
		"both kinds":          {[]CloneInfo{vol, fs}, true},
		"none":                {nil, true},
		"64":                  {many[:MaxSnapshotDatasets], true},
		"65":                  {many, false},
		"twice":               {[]CloneInfo{vol, vol}, false},
		"escape":              {with(vol, func(c *CloneInfo) { c.Dataset = "../hv2/web" }), false},
		"clone escape":        {with(vol, func(c *CloneInfo) { c.Clone = "tank/../../hv2" }), false},
		"no clone":            {with(vol, func(c *CloneInfo) { c.Clone = "" }), false},
		"neither":             {with(vol, func(c *CloneInfo) { c.Device = "" }), false},
		"device and mount":    {with(vol, func(c *CloneInfo) { c.Mountpoint = "/srv" }), false},
		"device elsewhere":    {with(vol, func(c *CloneInfo) { c.Device = "/dev/sda" }), false},
		"device dotdot":       {with(vol, func(c *CloneInfo) { c.Device = "/dev/zvol/../sda" }), false},
		"device unclean":      {with(vol, func(c *CloneInfo) { c.Device = "/dev/zvol/pool//web" }), false},
		"device trailing":     {with(vol, func(c *CloneInfo) { c.Device = "/dev/zvol/pool/web/" }), false},
		"device relative":     {with(vol, func(c *CloneInfo) { c.Device = "dev/zvol/pool/web" }), false},
		"device bare":         {with(vol, func(c *CloneInfo) { c.Device = "/dev/zvol/" }), false},
		"device control":      {with(vol, func(c *CloneInfo) { c.Device = "/dev/zvol/pool/w\neb" }), false},
		"device long":         {with(vol, func(c *CloneInfo) { c.Device = "/dev/zvol/p/" + strings.Repeat("a", 300) }), false},
		"mountpoint relative": {with(fs, func(c *CloneInfo) { c.Mountpoint = "srv/data" }), false},
		"mountpoint dotdot":   {with(fs, func(c *CloneInfo) { c.Mountpoint = "/srv/../etc" }), false},
		"mountpoint control":  {with(fs, func(c *CloneInfo) { c.Mountpoint = "/srv/\x01" }), false},
	} {
		m := CloneResponse{Clones: c.clones}
		if err := m.Validate(); (err == nil) != c.valid {
			t.Errorf("%s: %v, want valid %t", name, err, c.valid)
		}
	}
}

func TestDecodeStrictCloneMessages(t *testing.T) {
	const req = `{"type":"clone-request","body":{"datasets":["tank/web"],"snapshot":"s","suffix":"-m",`
	for name, payload := range map[string]string{
		"escape":         `{"type":"clone-request","body":{"datasets":["../hv2/web"],"snapshot":"s","guids":[1],"suffix":"-m"}}`,
		"no guids":       req + `"guids":[]}}`,
		"negative guid":  req + `"guids":[-1]}}`,
		"guid too big":   req + `"guids":[18446744073709551616]}}`,
		"fraction guid":  req + `"guids":[1.5]}}`,
		"unknown field":  req + `"guids":[1],"recursive":true}}`,
		"suffix escape":  `{"type":"clone-request","body":{"datasets":["tank/web"],"snapshot":"s","guids":[1],"suffix":"/../x"}}`,
		"device outside": `{"type":"clone-response","body":{"clones":[{"dataset":"a","clone":"a-m","device":"/etc/shadow"}]}}`,
		"both set":       `{"type":"clone-response","body":{"clones":[{"dataset":"a","clone":"a-m","device":"/dev/zvol/p/a-m","mountpoint":"/a"}]}}`,
	} {
		m, err := DecodeMessage([]byte(payload))
		if err == nil || !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: accepted as %+v (%v)", name, m, err)
		}
	}
	m, err := DecodeMessage([]byte(req + `"guids":[18446744073709551615]}}`))
	if err != nil || m.(*CloneRequest).GUIDs[0] != 18446744073709551615 {
		t.Fatalf("the largest guid: %+v, %v", m, err)
	}
}
