package replication_test

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/internal/loopback"
	"github.com/hotzfs/hotzfs/internal/zfstest"
	"github.com/hotzfs/hotzfs/receiver"
	"github.com/hotzfs/hotzfs/retention"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// newRigFor is newRig with the receiver's policy for hv1 given.
func newRigFor(t *testing.T, dstMB int, policy receiver.Client) *rig {
	r := newRig(t, dstMB)
	r.recv.Stop()
	pki, err := loopback.NewPKI(t.TempDir())
	must(t, err)
	r.files, err = pki.Client("hv1")
	must(t, err)
	r.recv, err = loopback.StartReceiver(r.ctx, r.z, pki, receiver.Options{Root: r.dst + "/backup", Logger: loopback.Logger(),
		Clients: map[string]receiver.Client{"hv1": policy}})
	must(t, err)
	r.addr = r.recv.Addr // newRig's cleanup stops r.recv, now this one
	return r
}

// sendRaw sends `zfs send opts` into target as a hostile client would: straight through the protocol.
func (r *rig) sendRaw(target string, opts zfs.SendOptions, req transport.ReceiveRequest) error {
	c, err := loopback.Dial(r.ctx, r.addr, r.files, "hv1")
	must(r.t, err)
	defer c.Close()
	stream, err := r.z.Send(r.ctx, opts)
	must(r.t, err)
	defer stream.Close()
	req.Dataset, req.Compression = target, transport.CompressionNone
	_, err = c.Receive(&req, stream, transport.StreamOptions{}, 0)
	return err
}

func (r *rig) prop(ds, name string) (value, source string) {
	out := zfstest.Run(r.t, "zfs", "get", "-H", "-o", "value,source", name, ds)
	v, s, _ := strings.Cut(strings.TrimSpace(out), "\t")
	return v, s
}

func guid(t *testing.T, r *rig, snap string) uint64 {
	props, err := r.z.GetProps(r.ctx, snap, "guid")
	must(t, err)
	var g uint64
	_, err = fmt.Sscan(props["guid"], &g)
	must(t, err)
	return g
}

func TestRealReceivedFilesystemNeverMountsOrSharesByItself(t *testing.T) {
	r := newRig(t, 512)
	ds, _ := r.filesystem("web", 1)
	hostile := "/" + r.src + "-hostile"
	zfstest.Run(t, "zfs", "set", "mountpoint="+hostile, "setuid=on", "exec=on", "devices=on", ds)
	_, _ = zfstestRunMaybe("zfs", "set", "sharenfs=on", ds) // without an NFS server, setting may complain
	r.snap(ds, "hotzfs_20260101T000000Z")
	_, err := r.replicate(ds, "tank/web", transport.CompressionDefault)
	must(t, err)
	target := r.dst + "/backup/hv1/tank/web"
	checkSafe := func(target string) {
		t.Helper()
		if v, src := r.prop(target, "mountpoint"); v == hostile || (src != "default" && !strings.HasPrefix(src, "inherited")) {
			t.Errorf("%s: mountpoint %s (%s), want inherited", target, v, src)
		}
		for name, want := range map[string]string{"canmount": "noauto", "sharenfs": "off", "sharesmb": "off",
			"exec": "off", "setuid": "off", "devices": "off"} {
			if v, _ := r.prop(target, name); v != want {
				t.Errorf("%s: %s=%s, want %s", target, name, v, want)
			}
		}
	}
	checkSafe(target)
	// An incremental keeps it so.
	r.snap(ds, "hotzfs_20260102T000000Z")
	_, err = r.replicate(ds, "tank/web", transport.CompressionDefault)
	must(t, err)
	checkSafe(target)

	// A stream that carries the properties (send -p) is refused outright; so is a replication stream.
	for name, opts := range map[string]zfs.SendOptions{"props": {Snapshot: ds + "@hotzfs_20260102T000000Z", Props: true}} {
		err := r.sendRaw("tank/"+name, opts, transport.ReceiveRequest{Snapshot: "hotzfs_20260102T000000Z",
			GUID: guid(t, r, opts.Snapshot)})
		var remote *transport.RemoteError
		if !errors.As(err, &remote) || remote.Code != transport.CodeForbidden {
			t.Errorf("%s stream: %v, want forbidden", name, err)
		}
		if ok, err := r.z.Exists(r.ctx, r.dst+"/backup/hv1/tank/"+name); err != nil || ok {
			t.Errorf("%s stream: target exists %t (%v)", name, ok, err)
		}
	}
	// Zfs itself, given the receiver's flags, keeps the properties of a -p stream from taking effect.
	zfstest.Run(t, "sh", "-c", fmt.Sprintf("zfs send -p %s@hotzfs_20260102T000000Z | zfs receive -u -o canmount=noauto "+
		"-o exec=off -o setuid=off -o devices=off -x mountpoint -x sharenfs -x sharesmb %s/direct", ds, r.dst))
	checkSafe(r.dst + "/direct")
}

// zfstestRunMaybe runs a command whose failure is acceptable.
func zfstestRunMaybe(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func TestRealVolumeStillReceivesWithTheFlags(t *testing.T) {
	r := newRig(t, 512)
	vol := r.src + "/disk0"
	must(t, r.z.CreateVolume(r.ctx, vol, 16<<20, nil))
	zfstest.WaitDevice(t, "/dev/zvol/"+vol)
	zfstest.WriteFile(t, "/dev/zvol/"+vol, 5, 4<<20)
	r.snap(vol, "hotzfs_20260101T000000Z")
	_, err := r.replicate(vol, "tank/disk0", transport.CompressionDefault)
	must(t, err)
	r.snap(vol, "hotzfs_20260102T000000Z")
	_, err = r.replicate(vol, "tank/disk0", transport.CompressionDefault)
	must(t, err)
	if n := len(r.targetSnaps("tank/disk0")); n != 2 {
		t.Fatalf("target has %d snapshots, want 2", n)
	}
}

// TestRealReceivedSnapshotsRecordTheirSource: after a backup of a filesystem and of a volume, each received
// snapshot carries the source dataset's name, the filesystem's mountpoint and the snapshot's guests as
// properties, and the receiver's listing (what a restore or failover reads) reports them.
func TestRealReceivedSnapshotsRecordTheirSource(t *testing.T) {
	r := newRig(t, 512)
	fs, mnt := r.filesystem("images", 1)
	vol := r.src + "/disk0"
	must(t, r.z.CreateVolume(r.ctx, vol, 16<<20, nil))
	zfstest.WaitDevice(t, "/dev/zvol/"+vol)
	zfstest.WriteFile(t, "/dev/zvol/"+vol, 5, 1<<20)
	guests := map[string]string{fs: "web1,db1", vol: "web1"}
	targets := map[string]string{fs: "tank/images", vol: "tank/disk0"}
	mountpoints := map[string]string{fs: mnt, vol: ""}
	for _, snap := range []string{"hotzfs_20260101T000000Z", "hotzfs_20260102T000000Z"} { // full, then incremental
		for src, target := range targets {
			must(t, r.z.SnapshotAtomic(r.ctx, []string{src + "@" + snap},
				map[string]string{"hotzfs:guest": guests[src], "hotzfs:consistency": "crash"}))
			rep, err := r.replicate(src, target, transport.CompressionDefault)
			must(t, err)
			got := rep.TargetSnaps[len(rep.TargetSnaps)-1] // from the receiver's result
			if got.Source != src || got.Mountpoint != mountpoints[src] || strings.Join(got.Guests, ",") != guests[src] {
				t.Errorf("%s@%s: the receive's result says source %q, mountpoint %q, guests %q", src, snap,
					got.Source, got.Mountpoint, got.Guests)
			}
			received := r.dst + "/backup/hv1/" + target + "@" + snap
			for prop, want := range map[string]string{"hotzfs:source": src, "hotzfs:guest": guests[src],
				"hotzfs:mountpoint": mountpoints[src], "hotzfs:consistency": "crash"} {
				if v, _ := r.prop(received, prop); v != want && (want != "" || v != "-") {
					t.Errorf("%s: %s=%s, want %q", received, prop, v, want)
				}
			}
		}
	}
	c, err := loopback.Dial(r.ctx, r.addr, r.files, "hv1")
	must(t, err)
	defer c.Close()
	infos, err := c.List(nil)
	must(t, err)
	listed := 0
	for _, info := range infos {
		for src, target := range targets {
			if info.Name != target {
				continue
			}
			for _, s := range info.Snapshots {
				listed++
				if s.Source != src || s.Mountpoint != mountpoints[src] || strings.Join(s.Guests, ",") != guests[src] ||
					s.Consistency != "crash" {
					t.Errorf("%s@%s listed with source %q, mountpoint %q, guests %q, consistency %q", target, s.Name,
						s.Source, s.Mountpoint, s.Guests, s.Consistency)
				}
			}
		}
	}
	if listed != 4 {
		t.Errorf("the listing has %d of the 4 received snapshots: %+v", listed, infos)
	}
}

func TestRealCloneStreamIsRefused(t *testing.T) {
	r := newRig(t, 512)
	ds, _ := r.filesystem("a", 2)
	r.snap(ds, "s")
	_, err := r.replicate(ds, "tank/a", transport.CompressionDefault) // the origin is on the receiver too
	must(t, err)
	clone := r.src + "/clone"
	must(t, r.z.Clone(r.ctx, ds+"@s", clone, nil))
	r.snap(clone, "t")
	for _, inter := range []bool{false, true} { // -i and -I
		target := fmt.Sprintf("tank/clone-%t", inter)
		err := r.sendRaw(target, zfs.SendOptions{Snapshot: clone + "@t", From: ds + "@s", Intermediates: inter},
			transport.ReceiveRequest{Snapshot: "t", GUID: guid(t, r, clone+"@t"), From: "s", FromGUID: guid(t, r, ds+"@s")})
		var remote *transport.RemoteError
		if !errors.As(err, &remote) || remote.Code != transport.CodeForbidden {
			t.Errorf("clone stream (-I %t): %v, want forbidden", inter, err)
		}
		if ok, err := r.z.Exists(r.ctx, r.dst+"/backup/hv1/"+target); err != nil || ok {
			t.Errorf("clone stream (-I %t): the clone exists on the target: %t %v", inter, ok, err)
		}
	}
}

func TestRealReceiverRetentionPrunesAnAppendOnlyClient(t *testing.T) {
	r := newRigFor(t, 512, receiver.Client{AllowPrune: false, Retention: &retention.Policy{KeepLast: 2}})
	ds, mnt := r.filesystem("vm", 3)
	target := r.dst + "/backup/hv1/tank/vm"
	names := []string{}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 6; i++ {
		name := "hotzfs_" + base.Add(time.Duration(i)*time.Hour).Format("20060102T150405Z")
		zfstest.WriteTree(t, mnt, uint64(10+i), 1, 64<<10)
		r.snap(ds, name)
		names = append(names, name)
		if i == 1 {
			r.snap(ds, "admin-before-upgrade")
		}
		_, err := r.replicate(ds, "tank/vm", transport.CompressionDefault)
		must(t, err)
		if i == 1 { // an admin's hold on the receiver
			zfstest.Run(t, "zfs", "hold", "admin", target+"@"+names[0])
		}
		if n := len(r.targetSnaps("tank/vm")); n > 5 {
			t.Fatalf("after backup %d the target has %d snapshots; retention does not bound it", i+1, n)
		}
	}
	var got []string
	for _, s := range r.targetSnaps("tank/vm") {
		got = append(got, s.Short())
	}
	want := []string{names[0], "admin-before-upgrade", names[4], names[5]}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("target keeps %v, want %v (the held one, the hand-made one, and keep_last 2)", got, want)
	}
	holds := zfstest.Run(t, "zfs", "holds", "-H", target+"@"+names[5])
	if !strings.Contains(holds, receiver.BaseHoldTag) {
		t.Errorf("the newest is not the held base: %q", holds)
	}
	// The client itself may not destroy anything.
	c, err := loopback.Dial(r.ctx, r.addr, r.files, "hv1")
	must(t, err)
	defer c.Close()
	_, err = c.Prune(&transport.PruneRequest{Dataset: "tank/vm",
		Snapshots: []transport.SnapshotRef{{Name: names[4], GUID: guid(t, r, target+"@"+names[4])}}})
	var remote *transport.RemoteError
	if !errors.As(err, &remote) || remote.Code != transport.CodeForbidden {
		t.Errorf("prune request of an append-only client: %v, want forbidden", err)
	}
	if n := len(r.targetSnaps("tank/vm")); n != len(want) {
		t.Errorf("the refused prune changed the target: %d snapshots", n)
	}
}
