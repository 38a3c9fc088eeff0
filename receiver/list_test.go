package receiver

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/hotzfs/hotzfs/meta"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

func TestGroupListing(t *testing.T) {
	all := []zfs.Dataset{
		{Name: "pool/backup/hv1", Type: zfs.Filesystem},
		{Name: "pool/backup/hv1/tank", Type: zfs.Filesystem},
		{Name: "pool/backup/hv1/tank/web", Type: zfs.Filesystem, ResumeToken: "1-abc"},
		{Name: "pool/backup/hv1/tank/web@b", Type: zfs.Snapshot, GUID: 2, CreateTXG: 20},
		{Name: "pool/backup/hv1/tank/web@a", Type: zfs.Snapshot, GUID: 1, CreateTXG: 10,
			Props: map[string]string{consistencyProp: "fs-frozen", meta.PropSource: "tank/web",
				meta.PropMountpoint: "/srv/web", meta.PropGuest: "web1,web2"}},
		{Name: "pool/backup/hv1x/other@a", Type: zfs.Snapshot, GUID: 9, CreateTXG: 5},
	}
	got := groupListing(all, "pool/backup/hv1", nil)
	if len(got) != 1 || got[0].Name != "tank/web" || got[0].ResumeToken != "1-abc" {
		t.Fatalf("listing %+v: want only tank/web (parents without snapshots left out, other roots ignored)", got)
	}
	if s := got[0].Snapshots; len(s) != 2 || s[0].Name != "a" || s[0].Consistency != "fs-frozen" || s[1].GUID != 2 ||
		s[0].Source != "tank/web" || s[0].Mountpoint != "/srv/web" || !slices.Equal(s[0].Guests, []string{"web1", "web2"}) ||
		s[1].Source != "" || s[1].Guests != nil {
		t.Fatalf("snapshots %+v, want a then b with what a's properties record", s)
	}
	got = groupListing(all, "pool/backup/hv1", map[string]bool{"tank": true})
	if len(got) != 1 || got[0].Name != "tank" || len(got[0].Snapshots) != 0 {
		t.Fatalf("asked for tank: %+v", got)
	}
}

// Snapshots recorded with long values (a mountpoint of characters JSON escapes, 16 long guest names) still list:
// the listing is split by size, not only by count, so no message passes the control frame limit.
func TestLongRecordedValuesStillList(t *testing.T) {
	guests := make([]string, 16)
	for i := range guests {
		guests[i] = strings.Repeat("<", 256)
	}
	want := transport.DatasetInfo{Name: "tank/web"}
	for i := range listChunk {
		want.Snapshots = append(want.Snapshots, transport.SnapshotInfo{Name: fmt.Sprintf("s%d", i), GUID: uint64(i + 1),
			Source: "tank/web", Mountpoint: "/" + strings.Repeat("&", 1023), Guests: guests})
	}
	a, b := net.Pipe()
	defer a.Close()
	ss := &session{conn: transport.Guard(context.Background(), b, transport.Timeouts{})}
	written := make(chan error, 1)
	go func() {
		written <- ss.writeList([]transport.DatasetInfo{want})
		b.Close() // the pipe is synchronous: everything written has been read
	}()
	var got []transport.SnapshotInfo
	messages := 0
	for more := true; more; messages++ {
		resp, err := transport.Expect[*transport.ListResponse](a)
		if err != nil {
			t.Fatalf("message %d: %v (writing: %v)", messages+1, err, <-written)
		}
		for _, d := range resp.Datasets {
			if d.Name != want.Name {
				t.Fatalf("message %d lists %q", messages+1, d.Name)
			}
			got = append(got, d.Snapshots...)
		}
		more = resp.More
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want.Snapshots) || got[len(got)-1].Mountpoint != want.Snapshots[0].Mountpoint {
		t.Fatalf("%d snapshots listed in %d messages, want %d with their values", len(got), messages, len(want.Snapshots))
	}
}
