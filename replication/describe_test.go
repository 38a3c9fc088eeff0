package replication

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// A stream's request tells the receiver where its snapshot comes from: the dataset, its mountpoint and the
// guests recorded on the snapshot. What the receiver would refuse is left out, with a warning, so the backup
// still happens.
func TestSenderDescribesTheSnapshot(t *testing.T) {
	for _, c := range []struct {
		name, mountpoint, guests string
		wantMountpoint           string
		wantGuests               []string
		warning                  string
	}{
		{"filesystem of two guests", "/srv/vm", "web1,db1", "/srv/vm", []string{"web1", "db1"}, ""},
		{"volume", "", "web1", "", []string{"web1"}, ""},
		{"plain dataset", "/srv/data", "", "/srv/data", nil, ""},
		{"mountpoint not in its shortest form", "/srv//vm", "web1", "", []string{"web1"}, "mountpoint"},
		{"guest name the receiver refuses", "/srv/vm", "web1,a/b", "/srv/vm", nil, "guests"},
	} {
		t.Run(c.name, func(t *testing.T) {
			props := "hotzfs:consistency\tfs-frozen\tlocal\n"
			if c.guests != "" {
				props += "hotzfs:guest\t" + c.guests + "\tlocal\n"
			}
			z, _ := spyZFS(t, props)
			var logs logBuffer
			s := &Sender{ZFS: z, Log: slog.New(slog.NewTextHandler(&logs, nil)), Compression: transport.CompressionNone}
			req := firstStream(t, s, Dataset{Source: "pool/vm", Target: "tank/vm", Mountpoint: c.mountpoint,
				Snapshots: []zfs.Dataset{{Name: "pool/vm@a", Type: zfs.Snapshot, GUID: 1, CreateTXG: 1}}},
				transport.DatasetInfo{Name: "tank/other", Snapshots: []transport.SnapshotInfo{}}) // tank/vm: new
			if req.Source != "pool/vm" || req.Mountpoint != c.wantMountpoint || !slices.Equal(req.Guests, c.wantGuests) ||
				req.Consistency != "fs-frozen" {
				t.Errorf("request says source %q, mountpoint %q, guests %q, consistency %q; want pool/vm, %q, %q, fs-frozen",
					req.Source, req.Mountpoint, req.Guests, req.Consistency, c.wantMountpoint, c.wantGuests)
			}
			log := logs.String()
			if warned := strings.Contains(log, "the receiver will not know"); warned != (c.warning != "") ||
				!strings.Contains(log, c.warning) {
				t.Errorf("log %q, want a warning about the %q only when something is left out", log, c.warning)
			}
		})
	}
}
