package replication_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/hotzfs/hotzfs/internal/loopback"
	"github.com/hotzfs/hotzfs/internal/zfstest"
	"github.com/hotzfs/hotzfs/receiver"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// TestRealCloneRequestClonesTheReceivedSet: a zvol and a filesystem are backed up in one snapshot set; a clone
// request (migrate) to a receiver whose policy has allow_clone makes DATASET-migrated of each. The volume
// clone's device and the mounted filesystem clone hold what the set holds, the filesystem clone takes no
// setuid or device nodes, and the received datasets keep exactly their snapshots (same GUIDs), so replication
// can go on. Asked again, the receiver refuses: the clones exist.
func TestRealCloneRequestClonesTheReceivedSet(t *testing.T) {
	const set = "hotzfs_20261203T101500Z"
	r := newRigFor(t, 512, receiver.Client{AllowPrune: true, AllowClone: true})
	vol := r.src + "/disk0"
	must(t, r.z.CreateVolume(r.ctx, vol, 16<<20, nil))
	zfstest.WaitDevice(t, "/dev/zvol/"+vol)
	zfstest.WriteFile(t, "/dev/zvol/"+vol, 5, 4<<20)
	fs, mnt := r.filesystem("data", 1)
	must(t, r.z.SnapshotAtomic(r.ctx, []string{vol + "@" + set, fs + "@" + set}, nil))
	for src, target := range map[string]string{vol: "tank/disk0", fs: "tank/data"} {
		_, err := r.replicate(src, target, transport.CompressionDefault)
		must(t, err)
	}
	wantVol := zfstest.SnapshotSum(t, vol+"@"+set, r.src+"/sum")
	wantTree := zfstest.TreeSums(t, mnt) // nothing written since the set
	received := map[string][]zfs.Dataset{"tank/disk0": r.targetSnaps("tank/disk0"), "tank/data": r.targetSnaps("tank/data")}

	c, err := loopback.Dial(r.ctx, r.addr, r.files, "hv1")
	must(t, err)
	defer c.Close()
	req := &transport.CloneRequest{Datasets: []string{"tank/disk0", "tank/data"}, Snapshot: set,
		GUIDs: []uint64{guid(t, r, vol+"@"+set), guid(t, r, fs+"@"+set)}, Suffix: "-migrated"}
	resp, err := c.Clone(req)
	must(t, err)
	root := r.dst + "/backup/hv1"
	vc, fc := resp.Clones[0], resp.Clones[1]
	if vc.Device != "/dev/zvol/"+root+"/tank/disk0-migrated" || vc.Mountpoint != "" {
		t.Fatalf("volume clone %+v, want device /dev/zvol/%s/tank/disk0-migrated", vc, root)
	}
	zfstest.WaitDevice(t, vc.Device)
	if got := zfstest.DeviceSum(t, vc.Device); got != wantVol {
		t.Errorf("%s: sha256 %s, the snapshot's %s", vc.Device, got, wantVol)
	}
	clone := root + "/tank/data-migrated"
	if mounted, _ := r.prop(clone, "mounted"); mounted != "yes" || fc.Device != "" {
		t.Fatalf("filesystem clone %+v: mounted %s, want it mounted", fc, mounted)
	}
	if mp, _ := r.prop(clone, "mountpoint"); mp != fc.Mountpoint {
		t.Errorf("%s is mounted at %s, the answer says %s", clone, mp, fc.Mountpoint)
	}
	zfstest.EqualSums(t, wantTree, zfstest.TreeSums(t, fc.Mountpoint))
	for name, want := range map[string]string{"setuid": "off", "devices": "off", "origin": root + "/tank/data@" + set} {
		if v, _ := r.prop(clone, name); v != want {
			t.Errorf("%s: %s=%s, want %s", clone, name, v, want)
		}
	}
	if origin, _ := r.prop(root+"/tank/disk0-migrated", "origin"); origin != root+"/tank/disk0@"+set {
		t.Errorf("volume clone's origin %s, want %s/tank/disk0@%s", origin, root, set)
	}
	for rel, before := range received {
		after := r.targetSnaps(rel)
		if !slices.EqualFunc(before, after, func(a, b zfs.Dataset) bool { return a.Name == b.Name && a.GUID == b.GUID }) {
			t.Errorf("%s: snapshots %v after the clone, %v before", rel, after, before)
		}
	}

	_, err = c.Clone(req)
	var remote *transport.RemoteError
	if !errors.As(err, &remote) || remote.Code != transport.CodeConflict {
		t.Fatalf("the same clone request again: %v, want a conflict (the clones exist)", err)
	}
}
