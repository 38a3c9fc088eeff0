package replication_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hotzfs/hotzfs/internal/loopback"
	"github.com/hotzfs/hotzfs/internal/zfstest"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// TestRealFailbackBringsTheStandbysWritesHome: a zvol and a filesystem are backed up in one snapshot set;
// failover clones them on the receiver and the guest writes there; failback snapshots the clones through the
// receiver and fetches the clones' changes since the set (from the origin: -i), then a second round (inside
// the clone: an ordinary base). The first stream is a clone stream (zfs send -i from another dataset's
// snapshot sets DRR_FLAG_CLONE), which OpenZFS receives only as a new dataset, never into an existing one
// ("destination exists" without -F, "destination has snapshots" with it; the kernel refuses a clone into an
// existing dataset too): so it is received next to the original, where zfs makes it a clone of the
// original's @SET (found by GUID). Both rounds leave it holding what the standby's clones held.
func TestRealFailbackBringsTheStandbysWritesHome(t *testing.T) {
	const set, t1, t2 = "hotzfs_20261203T101500Z", "hotzfs_20261203T111500Z", "hotzfs_20261203T121500Z"
	r := newRig(t, 512)
	vol := r.src + "/disk0"
	must(t, r.z.CreateVolume(r.ctx, vol, 16<<20, nil))
	zfstest.WaitDevice(t, "/dev/zvol/"+vol)
	zfstest.WriteFile(t, "/dev/zvol/"+vol, 5, 4<<20)
	fs, _ := r.filesystem("data", 1)
	must(t, r.z.SnapshotAtomic(r.ctx, []string{vol + "@" + set, fs + "@" + set}, nil))
	for src, target := range map[string]string{vol: "tank/disk0", fs: "tank/data"} {
		_, err := r.replicate(src, target, transport.CompressionDefault)
		must(t, err)
	}

	// Failover on the backup host: clones of the set, and the guest writes into them.
	root := r.dst + "/backup/hv1"
	must(t, r.z.Clone(r.ctx, root+"/tank/disk0@"+set, root+"/tank/disk0-failover", nil))
	must(t, r.z.Clone(r.ctx, root+"/tank/data@"+set, root+"/tank/data-failover", nil))
	cloneDev := "/dev/zvol/" + root + "/tank/disk0-failover"
	zfstest.WaitDevice(t, cloneDev)
	standbyWrites := func(seed uint64) {
		t.Helper()
		zfstest.WriteFile(t, cloneDev, seed, 2<<20)
		cmnt := zfstest.Mountpoint(t, root+"/tank/data-failover")
		zfstest.WriteFile(t, filepath.Join(cmnt, "standby", "new"), seed, 1<<20)
		must(t, os.Remove(filepath.Join(cmnt, "d0", "f000")))
		zfstest.WriteFile(t, filepath.Join(cmnt, "d0", "f000"), seed+1, 64<<10)
	}
	standbyWrites(6)

	c, err := loopback.Dial(r.ctx, r.addr, r.files, "hv1")
	must(t, err)
	defer c.Close()
	infos, err := c.List(nil)
	must(t, err)
	setGUID := map[string]uint64{"tank/disk0-failover": guid(t, r, vol+"@"+set), "tank/data-failover": guid(t, r, fs+"@"+set)}
	listed := 0
	for _, d := range infos {
		if g, ok := setGUID[d.Name]; ok {
			listed++
			if d.Origin != d.Name[:len(d.Name)-len("-failover")]+"@"+set || d.OriginGUID != g {
				t.Errorf("%s listed with origin %q guid %d, want its set snapshot guid %d", d.Name, d.Origin, d.OriginGUID, g)
			}
		}
	}
	if listed != 2 {
		t.Fatalf("listing %+v: want both clones", infos)
	}
	// A received dataset is not the client's to snapshot.
	_, err = c.Snapshot(&transport.SnapshotRequest{Datasets: []string{"tank/disk0"}, Name: t1})
	var remote *transport.RemoteError
	if !errors.As(err, &remote) || remote.Code != transport.CodeForbidden {
		t.Fatalf("snapshot of a received dataset: %v, want forbidden", err)
	}

	// round asks for snapshot name of both clones, then brings each home from its base (from, fromGUID by
	// dataset) and checks the originals hold what the clones held at that snapshot.
	round := func(name string, base map[string]transport.SnapshotRef) map[string]transport.SnapshotRef {
		t.Helper()
		resp, err := c.Snapshot(&transport.SnapshotRequest{Datasets: []string{"tank/disk0-failover", "tank/data-failover"},
			Name: name, Consistency: "crash"})
		must(t, err)
		wantVol := zfstest.SnapshotSum(t, root+"/tank/disk0-failover@"+name, r.dst+"/sum")
		wantTree := zfstest.TreeSums(t, zfstest.Mountpoint(t, root+"/tank/data-failover"))
		made := map[string]transport.SnapshotRef{}
		for _, d := range resp.Datasets {
			s := d.Snapshots[0]
			if s.Name != name || s.Consistency != "crash" || s.GUID == 0 {
				t.Fatalf("%s: snapshot %+v, want @%s, crash", d.Name, s, name)
			}
			made[d.Name] = transport.SnapshotRef{Name: s.Name, GUID: s.GUID}
		}
		for rel, local := range map[string]string{"tank/disk0-failover": vol + "-failback", "tank/data-failover": fs + "-failback"} {
			from := base[rel]
			if from.Name != set { // reading the filesystem's files modified it since its newest snapshot
				must(t, r.z.Rollback(r.ctx, local+"@"+from.Name, false))
			}
			_, stream, err := c.Fetch(&transport.SendRequest{Dataset: rel, Snapshot: name, GUID: made[rel].GUID,
				From: from.Name, FromGUID: from.GUID, Compression: transport.CompressionDefault})
			must(t, err)
			must(t, r.z.Receive(r.ctx, local, zfs.ReceiveOptions{}, stream))
			if got := guid(t, r, local+"@"+name); got != made[rel].GUID {
				t.Errorf("%s@%s has guid %d, the clone's snapshot %d", local, name, got, made[rel].GUID)
			}
		}
		for _, local := range []string{vol, fs} {
			if origin, _ := r.prop(local+"-failback", "origin"); origin != local+"@"+set {
				t.Errorf("%s-failback has origin %s, want %s@%s", local, origin, local, set)
			}
		}
		if got := zfstest.SnapshotSum(t, vol+"-failback@"+name, r.src+"/sum"); got != wantVol {
			t.Errorf("%s-failback@%s: sha256 %s, the clone's %s", vol, name, got, wantVol)
		}
		zfstest.EqualSums(t, wantTree, zfstest.TreeSums(t, zfstest.Mountpoint(t, fs+"-failback")))
		return made
	}
	base := map[string]transport.SnapshotRef{
		"tank/disk0-failover": {Name: set, GUID: setGUID["tank/disk0-failover"]},
		"tank/data-failover":  {Name: set, GUID: setGUID["tank/data-failover"]},
	}
	base = round(t1, base) // from the origin, the set
	standbyWrites(9)
	round(t2, base) // inside the clone, from t1
}
