package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/internal/loopback"
	"github.com/hotzfs/hotzfs/internal/zfstest"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// TestRealFailbackSwapsInTheStandbysData runs the local half of a failback on real ZFS, for a zvol and for a
// filesystem with an explicit mountpoint: the standby's changes (a clone of the received set, written to and
// snapshotted twice) arrive as a new clone of DATASET@SET and take its place. DATASET then holds the standby's
// data, keeps @SET with its GUID and its base hold, has the standby's snapshots after it, and keeps its
// mountpoint; what DATASET held after the set (a later snapshot and unsnapshotted writes) is kept aside with
// its own mountpoint. A dataset that held nothing after the set leaves no aside.
func TestRealFailbackSwapsInTheStandbysData(t *testing.T) {
	zfstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	z := zfs.NewRunner(loopback.Logger())
	// The mountpoints' directory first: it is removed after the pools are gone (cleanups run last first).
	fsMount := filepath.Join(t.TempDir(), "images")
	src, dst := zfstest.Pool(t, 512), zfstest.Pool(t, 512)
	const set, t1, t2 = "hotzfs_20261203T100000Z", "hotzfs_20261203T110000Z", "hotzfs_20261203T110005Z"

	vol, fs, clean := src+"/vm/disk0", src+"/vm/images", src+"/vm/quiet"
	zfstest.Run(t, "zfs", "create", "-p", "-V", "16M", vol)
	zfstest.Run(t, "zfs", "create", "-o", "mountpoint="+fsMount, fs)
	zfstest.Run(t, "zfs", "create", "-V", "8M", clean)
	zfstest.WaitDevice(t, "/dev/zvol/"+vol)
	zfstest.WaitDevice(t, "/dev/zvol/"+clean)
	writeDev(t, "/dev/zvol/"+vol, 1, 4<<20)
	zfstest.WriteFile(t, fsMount+"/disk.img", 1, 4<<20)
	writeDev(t, "/dev/zvol/"+clean, 1, 1<<20)
	for _, ds := range []string{vol, fs, clean} {
		zfstest.Run(t, "zfs", "snapshot", ds+"@"+set)
		zfstest.Run(t, "zfs", "hold", "hotzfs-base:t", ds+"@"+set)
	}
	// The original host wrote on after the set: a later snapshot, then writes no snapshot holds.
	writeDev(t, "/dev/zvol/"+vol, 2, 1<<20)
	zfstest.WriteFile(t, fsMount+"/later.img", 2, 1<<20)
	for _, ds := range []string{vol, fs} {
		zfstest.Run(t, "zfs", "snapshot", ds+"@later")
	}
	zfstest.WriteFile(t, fsMount+"/unsnapshotted.img", 3, 1<<20)
	setGUID := map[string]string{}
	for _, ds := range []string{vol, fs, clean} {
		setGUID[ds] = zfstest.Run(t, "zfs", "get", "-H", "-o", "value", "guid", ds+"@"+set)
	}

	// The receiver's copy and the standby's clone of it, which the standby writes to.
	standby := map[string]string{}
	for _, ds := range []string{vol, fs, clean} {
		received := dst + "/" + strings.TrimPrefix(ds, src+"/")
		zfstest.Run(t, "zfs", "create", "-p", "-o", "canmount=off", received[:strings.LastIndexByte(received, '/')])
		zfstest.Run(t, "sh", "-c", "zfs send "+ds+"@"+set+" | zfs receive -u "+received)
		clone := received + "-failover"
		zfstest.Run(t, "zfs", "clone", received+"@"+set, clone)
		standby[ds] = clone
	}
	cloneMount := zfstest.Mountpoint(t, standby[fs])
	zfstest.WaitDevice(t, "/dev/zvol/"+standby[vol])
	writeDev(t, "/dev/zvol/"+standby[vol], 4, 2<<20)
	zfstest.WriteFile(t, cloneMount+"/standby.img", 4, 2<<20)
	zfstest.Run(t, "zfs", "snapshot", standby[vol]+"@"+t1, standby[fs]+"@"+t1, standby[clean]+"@"+t1)
	writeDev(t, "/dev/zvol/"+standby[vol], 5, 1<<20)
	zfstest.WriteFile(t, cloneMount+"/standby2.img", 5, 1<<20)
	zfstest.Run(t, "zfs", "snapshot", standby[vol]+"@"+t2, standby[fs]+"@"+t2, standby[clean]+"@"+t2)

	for _, ds := range []string{vol, fs, clean} {
		d := failbackDisk{local: ds, set: set, incoming: ds + "-failback"}
		snaps, err := z.List(ctx, []string{ds}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
		if err != nil {
			t.Fatal(err)
		}
		if d.state, err = readLocal(ctx, z, ds, set, snaps); err != nil {
			t.Fatal(err)
		}
		if got, want := d.state.diverged(), ds != clean; got != want {
			t.Fatalf("%s: diverged = %t, want %t (%s)", ds, got, want, d.state.describe(set))
		}
		// The two rounds of a failback, as pullRound receives them.
		origin := strings.TrimSuffix(standby[ds], "-failover") + "@" + set
		receiveStream(t, ctx, z, zfs.SendOptions{Snapshot: standby[ds] + "@" + t1, From: origin}, d.incoming,
			zfs.ReceiveOptions{NoMount: true, Set: map[string]string{"origin": ds + "@" + set}})
		receiveStream(t, ctx, z, zfs.SendOptions{Snapshot: standby[ds] + "@" + t2, From: "@" + t1}, d.incoming,
			zfs.ReceiveOptions{NoMount: true})
		aside, err := swapIn(ctx, z, io.Discard, d, t1)
		if err != nil {
			t.Fatalf("swap %s: %v", ds, err)
		}
		if ds == clean {
			if aside != "" {
				t.Errorf("%s held nothing after the set, yet %s was kept", ds, aside)
			}
			if ok, _ := z.Exists(ctx, ds+"-before-failback-"+t1); ok {
				t.Errorf("%s-before-failback-%s exists; nothing after the set was there to keep", ds, t1)
			}
		} else if aside != ds+"-before-failback-"+t1 {
			t.Fatalf("%s: kept aside as %q, want %s", ds, aside, ds+"-before-failback-"+t1)
		}
		if got := zfstest.Run(t, "zfs", "get", "-H", "-o", "value", "guid", ds+"@"+set); got != setGUID[ds] {
			t.Errorf("%s@%s: guid %s after the swap, %s before", ds, set, got, setGUID[ds])
		}
		if holds := zfstest.Run(t, "zfs", "holds", "-H", ds+"@"+set); !strings.Contains(holds, "hotzfs-base:t") {
			t.Errorf("%s@%s lost its base hold: %q", ds, set, holds)
		}
		for _, s := range []string{t1, t2} {
			want := zfstest.Run(t, "zfs", "get", "-H", "-o", "value", "guid", standby[ds]+"@"+s)
			if got := zfstest.Run(t, "zfs", "get", "-H", "-o", "value", "guid", ds+"@"+s); got != want {
				t.Errorf("%s@%s: guid %s, the standby's is %s", ds, s, got, want)
			}
		}
		if origin := strings.TrimSpace(zfstest.Run(t, "zfs", "get", "-H", "-o", "value", "origin", ds)); origin != "-" {
			t.Errorf("%s is a clone of %s after the swap; it must own its snapshots", ds, origin)
		}
	}

	// The data: the standby's, where the guest will look for it; the original's later writes aside.
	zfstest.WaitDevice(t, "/dev/zvol/"+vol)
	if err := waitVolume(ctx, vol, vol+"-before-failback-"+t1); err != nil {
		t.Fatal(err)
	}
	if got, want := zfstest.DeviceSum(t, "/dev/zvol/"+vol), zfstest.SnapshotSum(t, standby[vol]+"@"+t2, dst+"/check"); got != want {
		t.Errorf("%s: sha256 %s, the standby's @%s %s", vol, got, t2, want)
	}
	if got := zfstest.Mountpoint(t, fs); got != fsMount {
		t.Errorf("%s is mounted at %s, want its own mountpoint %s", fs, got, fsMount)
	}
	zfstest.EqualSums(t, zfstest.TreeSums(t, filepath.Join(cloneMount, ".zfs/snapshot", t2)), zfstest.TreeSums(t, fsMount))
	aside := fs + "-before-failback-" + t1
	asideMount := zfstest.Mountpoint(t, aside)
	if asideMount != fsMount+"-before-failback-"+t1 {
		t.Errorf("%s is mounted at %s, want %s", aside, asideMount, fsMount+"-before-failback-"+t1)
	}
	for _, f := range []string{"later.img", "unsnapshotted.img"} {
		if _, err := os.Stat(filepath.Join(asideMount, f)); err != nil {
			t.Errorf("the original's %s is not in %s: %v", f, aside, err)
		}
	}
	if _, err := os.Stat(filepath.Join(fsMount, "unsnapshotted.img")); err == nil {
		t.Errorf("%s still has the original's later write after the swap", fs)
	}
}

// writeDev writes size bytes of seeded data at the start of a block device and flushes them.
func writeDev(t *testing.T, dev string, seed uint64, size int) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), "data")
	zfstest.WriteFile(t, tmp, seed, size)
	zfstest.Run(t, "dd", "if="+tmp, "of="+dev, "bs=1M", "conv=fsync,notrunc", "status=none")
}

// receiveStream pipes one zfs send into one zfs receive.
func receiveStream(t *testing.T, ctx context.Context, z *zfs.Runner, send zfs.SendOptions, into string, recv zfs.ReceiveOptions) {
	t.Helper()
	stream, err := z.Send(ctx, send)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if err := z.Receive(ctx, into, recv, stream); err != nil {
		t.Fatalf("receive %s into %s: %v", send.Snapshot, into, err)
	}
}

// TestRealFailbackGoesOnFromAnEarlierSync: a DATASET-failback that an earlier failback --sync-only left (a
// clone of DATASET@SET holding the standby's @T1) is taken up where it stopped, when the receiver's clone
// still has that @T1 with the same GUID; it is refused when the receiver's clone no longer has it, or when
// DATASET-failback is not a clone of DATASET@SET.
func TestRealFailbackGoesOnFromAnEarlierSync(t *testing.T) {
	zfstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	z := zfs.NewRunner(loopback.Logger())
	src, dst := zfstest.Pool(t, 256), zfstest.Pool(t, 256)
	const set, t1 = "hotzfs_20261204T010000Z", "hotzfs_20261204T020000Z"
	vol := src + "/disk0"
	zfstest.Run(t, "zfs", "create", "-V", "8M", vol)
	zfstest.WaitDevice(t, "/dev/zvol/"+vol)
	writeDev(t, "/dev/zvol/"+vol, 1, 1<<20)
	zfstest.Run(t, "zfs", "snapshot", vol+"@"+set)
	received, clone := dst+"/disk0", dst+"/disk0-migrated"
	zfstest.Run(t, "sh", "-c", "zfs send "+vol+"@"+set+" | zfs receive -u "+received)
	zfstest.Run(t, "zfs", "clone", received+"@"+set, clone)
	zfstest.WaitDevice(t, "/dev/zvol/"+clone)
	writeDev(t, "/dev/zvol/"+clone, 2, 1<<20)
	zfstest.Run(t, "zfs", "snapshot", clone+"@"+t1)
	incoming := vol + "-failback"
	receiveStream(t, ctx, z, zfs.SendOptions{Snapshot: clone + "@" + t1, From: received + "@" + set}, incoming,
		zfs.ReceiveOptions{NoMount: true, Set: map[string]string{"origin": vol + "@" + set}})
	guid, err := strconv.ParseUint(strings.TrimSpace(zfstest.Run(t, "zfs", "get", "-H", "-o", "value", "guid", clone+"@"+t1)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}

	d := failbackDisk{local: vol, set: set, incoming: incoming, clone: "disk0-migrated",
		cloneSnaps: []transport.SnapshotInfo{{Name: t1, GUID: guid}}}
	if err := goOnFrom(ctx, z, &d); err != nil {
		t.Fatalf("an earlier sync's %s: %v", incoming, err)
	}
	if d.last.Name != t1 || d.last.GUID != guid {
		t.Errorf("goes on from %+v, want @%s guid %d", d.last, t1, guid)
	}
	gone := failbackDisk{local: vol, set: set, incoming: incoming, clone: "disk0-migrated",
		cloneSnaps: []transport.SnapshotInfo{{Name: t1, GUID: guid + 1}}}
	if err := goOnFrom(ctx, z, &gone); err == nil || !strings.Contains(err.Error(), "zfs destroy -r "+incoming) {
		t.Errorf("the receiver's clone without that @%s: %v, want a refusal that says what to do", t1, err)
	}
	other := src + "/other"
	zfstest.Run(t, "zfs", "create", "-V", "8M", other)
	stray := failbackDisk{local: vol, set: set, incoming: other, clone: "disk0-migrated",
		cloneSnaps: []transport.SnapshotInfo{{Name: t1, GUID: guid}}}
	if err := goOnFrom(ctx, z, &stray); err == nil || !strings.Contains(err.Error(), "not a clone of "+vol+"@"+set) {
		t.Errorf("a dataset in the way that is no clone of the set: %v, want it refused", err)
	}
}
