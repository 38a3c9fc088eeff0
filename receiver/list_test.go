package receiver

import (
	"testing"

	"github.com/hotzfs/hotzfs/zfs"
)

func TestGroupListing(t *testing.T) {
	all := []zfs.Dataset{
		{Name: "pool/backup/hv1", Type: zfs.Filesystem},
		{Name: "pool/backup/hv1/tank", Type: zfs.Filesystem},
		{Name: "pool/backup/hv1/tank/web", Type: zfs.Filesystem, ResumeToken: "1-abc"},
		{Name: "pool/backup/hv1/tank/web@b", Type: zfs.Snapshot, GUID: 2, CreateTXG: 20},
		{Name: "pool/backup/hv1/tank/web@a", Type: zfs.Snapshot, GUID: 1, CreateTXG: 10,
			Props: map[string]string{consistencyProp: "fs-frozen"}},
		{Name: "pool/backup/hv1x/other@a", Type: zfs.Snapshot, GUID: 9, CreateTXG: 5},
	}
	got := groupListing(all, "pool/backup/hv1", nil)
	if len(got) != 1 || got[0].Name != "tank/web" || got[0].ResumeToken != "1-abc" {
		t.Fatalf("listing %+v: want only tank/web (parents without snapshots left out, other roots ignored)", got)
	}
	if s := got[0].Snapshots; len(s) != 2 || s[0].Name != "a" || s[0].Consistency != "fs-frozen" || s[1].GUID != 2 {
		t.Fatalf("snapshots %+v, want a then b with a's consistency", s)
	}
	got = groupListing(all, "pool/backup/hv1", map[string]bool{"tank": true})
	if len(got) != 1 || got[0].Name != "tank" || len(got[0].Snapshots) != 0 {
		t.Fatalf("asked for tank: %+v", got)
	}
}
