package zfs_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/internal/zfstest"
	"github.com/hotzfs/hotzfs/zfs"
)

func TestRealReceiveErrors(t *testing.T) {
	r, ctx := runner(t)
	src, dst := zfstest.Pool(t, 256), zfstest.Pool(t, 256)
	ds := src + "/data"
	must(t, r.CreateFilesystem(ctx, ds, nil))
	zfstest.WriteTree(t, zfstest.Mountpoint(t, ds), 8, 2, 64<<10)
	must(t, r.SnapshotAtomic(ctx, []string{ds + "@s1"}, nil))
	must(t, r.SnapshotAtomic(ctx, []string{ds + "@s2"}, nil))
	must(t, pipe(t, ctx, r, zfs.SendOptions{Snapshot: ds + "@s1"}, dst+"/data", zfs.ReceiveOptions{NoMount: true}))

	t.Run("full stream into existing dataset", func(t *testing.T) {
		err := pipe(t, ctx, r, zfs.SendOptions{Snapshot: ds + "@s1"}, dst+"/data", zfs.ReceiveOptions{})
		if !errors.Is(err, zfs.ErrDestinationExists) {
			t.Fatalf("got %v, want ErrDestinationExists", err)
		}
	})
	t.Run("incremental whose base the target lacks", func(t *testing.T) {
		must(t, r.SnapshotAtomic(ctx, []string{ds + "@s3"}, nil))
		err := pipe(t, ctx, r, zfs.SendOptions{Snapshot: ds + "@s3", From: "@s2"}, dst+"/data", zfs.ReceiveOptions{})
		if !errors.Is(err, zfs.ErrIncrementalMismatch) {
			t.Fatalf("got %v, want ErrIncrementalMismatch", err)
		}
	})
	t.Run("garbage resume token", func(t *testing.T) {
		_, err := r.Estimate(ctx, zfs.SendOptions{ResumeToken: "1-deadbeef-0-789c"})
		if !errors.Is(err, zfs.ErrResumeTokenInvalid) {
			t.Fatalf("got %v, want ErrResumeTokenInvalid", err)
		}
	})
	t.Run("send of a missing snapshot fails on read", func(t *testing.T) {
		stream, err := r.Send(ctx, zfs.SendOptions{Snapshot: ds + "@nope"})
		must(t, err)
		defer stream.Close()
		_, err = io.Copy(io.Discard, stream)
		if !errors.Is(err, zfs.ErrDatasetNotFound) {
			t.Fatalf("reading the stream: %v, want ErrDatasetNotFound", err)
		}
	})
	t.Run("target written since its last snapshot", func(t *testing.T) {
		must(t, r.SetProps(ctx, dst+"/data", map[string]string{"readonly": "off"}))
		must(t, r.Rollback(ctx, dst+"/data@s1", false))
		zfstest.WriteFile(t, filepath.Join(zfstest.Mountpoint(t, dst+"/data"), "stray"), 9, 4096)
		zfstest.Run(t, "sync")
		err := pipe(t, ctx, r, zfs.SendOptions{Snapshot: ds + "@s2", From: "@s1"}, dst+"/data", zfs.ReceiveOptions{})
		if !errors.Is(err, zfs.ErrDestinationModified) {
			t.Fatalf("got %v, want ErrDestinationModified", err)
		}
		// -F rolls the stray write back and takes the stream.
		must(t, pipe(t, ctx, r, zfs.SendOptions{Snapshot: ds + "@s2", From: "@s1"}, dst+"/data", zfs.ReceiveOptions{Force: true}))
	})
}

func TestRealReceiveIntoFullPool(t *testing.T) {
	r, ctx := runner(t)
	src, dst := zfstest.Pool(t, 512), zfstest.Pool(t, 64)
	ds := src + "/data"
	must(t, r.CreateFilesystem(ctx, ds, nil))
	zfstest.WriteTree(t, zfstest.Mountpoint(t, ds), 11, 12, 8<<20)
	must(t, r.SnapshotAtomic(ctx, []string{ds + "@big"}, nil))
	pools, err := r.PoolHealth(ctx)
	must(t, err)
	i := slices.IndexFunc(pools, func(p zfs.PoolStatus) bool { return p.Name == dst })
	if i < 0 || pools[i].Health != "ONLINE" || pools[i].Free == 0 || pools[i].Free > 64<<20 || pools[i].Allocated == 0 {
		t.Fatalf("pool %s in %+v", dst, pools)
	}
	err = pipe(t, ctx, r, zfs.SendOptions{Snapshot: ds + "@big"}, dst+"/data", zfs.ReceiveOptions{Resumable: true})
	if !errors.Is(err, zfs.ErrNoSpace) {
		t.Fatalf("receive of 96 MiB into a 64 MiB pool: %v, want ErrNoSpace", err)
	}
}

func TestRealDestroyErrorsAndBatches(t *testing.T) {
	r, ctx := runner(t)
	pool := zfstest.Pool(t, 128)
	ds := pool + "/data"
	must(t, r.CreateFilesystem(ctx, ds+"/child", nil))
	err := r.Destroy(ctx, ds, false)
	if !errors.Is(err, zfs.ErrBusy) {
		t.Fatalf("destroy of a dataset with children: %v, want ErrBusy", err)
	}
	err = r.Destroy(ctx, pool+"/missing", false)
	if !errors.Is(err, zfs.ErrDatasetNotFound) {
		t.Fatalf("destroy of a missing dataset: %v, want ErrDatasetNotFound", err)
	}
	var shorts []string
	for i := 0; i < 250; i++ { // more than one destroy batch
		s := fmt.Sprintf("s%03d", i)
		shorts = append(shorts, s)
		must(t, r.SnapshotAtomic(ctx, []string{ds + "@" + s}, nil))
	}
	must(t, r.DestroySnapshots(ctx, ds, shorts[:245]))
	if got := snapNames(t, ctx, r, ds); strings.Join(got, ",") != "s245,s246,s247,s248,s249" {
		t.Fatalf("after batched destroy: %v", got)
	}
	must(t, r.Destroy(ctx, ds, true))
	if ok, _ := r.Exists(ctx, ds); ok {
		t.Fatal("dataset still there after recursive destroy")
	}
}

func TestRealCloneRollbackProps(t *testing.T) {
	r, ctx := runner(t)
	pool := zfstest.Pool(t, 128)
	ds := pool + "/data"
	must(t, r.CreateFilesystem(ctx, ds, map[string]string{"hotzfs:owner": "test"}))
	mnt := zfstest.Mountpoint(t, ds)
	zfstest.WriteFile(t, filepath.Join(mnt, "f"), 1, 4096)
	must(t, r.SnapshotAtomic(ctx, []string{ds + "@a"}, nil))
	want := zfstest.TreeSums(t, mnt)
	zfstest.WriteFile(t, filepath.Join(mnt, "f"), 2, 4096)
	must(t, r.SnapshotAtomic(ctx, []string{ds + "@b"}, nil))

	must(t, r.Clone(ctx, ds+"@a", pool+"/restored", map[string]string{"hotzfs:restored-from": ds + "@a"}))
	zfstest.EqualSums(t, want, zfstest.TreeSums(t, zfstest.Mountpoint(t, pool+"/restored")))
	props, err := r.GetProps(ctx, pool+"/restored", "hotzfs:restored-from", "origin", "hotzfs:unset")
	must(t, err)
	if props["hotzfs:restored-from"] != ds+"@a" || props["origin"] != ds+"@a" {
		t.Errorf("clone props %v", props)
	}
	if _, ok := props["hotzfs:unset"]; ok {
		t.Errorf("unset user property reported: %v", props)
	}

	err = r.Rollback(ctx, ds+"@a", false)
	if err == nil {
		t.Fatal("rollback past a later snapshot without -r succeeded")
	}
	must(t, r.Destroy(ctx, pool+"/restored", false))
	must(t, r.Rollback(ctx, ds+"@a", true))
	zfstest.EqualSums(t, want, zfstest.TreeSums(t, mnt))
	if ok, _ := r.Exists(ctx, ds+"@b"); ok {
		t.Error("rollback -r kept the later snapshot")
	}
	typ, err := r.TypeOf(ctx, ds)
	must(t, err)
	if typ != zfs.Filesystem {
		t.Errorf("type %q", typ)
	}
	must(t, r.SetProps(ctx, ds, map[string]string{"hotzfs:owner": "other", "hotzfs:job": "j"}))
	props, err = r.GetProps(ctx, ds, "hotzfs:owner", "hotzfs:job")
	must(t, err)
	if props["hotzfs:owner"] != "other" || props["hotzfs:job"] != "j" {
		t.Errorf("props after set: %v", props)
	}
}

func TestRealSendCloseStopsEarly(t *testing.T) {
	r, ctx := runner(t)
	pool := zfstest.Pool(t, 256)
	ds := pool + "/data"
	must(t, r.CreateFilesystem(ctx, ds, nil))
	zfstest.WriteTree(t, zfstest.Mountpoint(t, ds), 12, 8, 4<<20)
	must(t, r.SnapshotAtomic(ctx, []string{ds + "@s"}, nil))
	stream, err := r.Send(ctx, zfs.SendOptions{Snapshot: ds + "@s"})
	must(t, err)
	if _, err := io.CopyN(io.Discard, stream, 64<<10); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	must(t, stream.Close())
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Close took %v", d)
	}
	must(t, stream.Close())
	// The snapshot is free again: nothing keeps sending from it.
	must(t, r.DestroySnapshots(ctx, ds, []string{"s"}))
}

func TestRealRawEncryptedReceivedWithoutKeys(t *testing.T) {
	r, ctx := runner(t)
	src, dst := zfstest.Pool(t, 256), zfstest.Pool(t, 256)
	key := filepath.Join(t.TempDir(), "key")
	must(t, os.WriteFile(key, []byte(strings.Repeat("ab", 32)), 0o600))
	ds := src + "/secret"
	must(t, r.CreateFilesystem(ctx, ds, map[string]string{"encryption": "on", "keyformat": "hex", "keylocation": "file://" + key}))
	mnt := zfstest.Mountpoint(t, ds)
	zfstest.WriteTree(t, mnt, 13, 3, 128<<10)
	must(t, r.SnapshotAtomic(ctx, []string{ds + "@s1"}, nil))
	must(t, pipe(t, ctx, r, zfs.SendOptions{Snapshot: ds + "@s1", Raw: true}, dst+"/secret", zfs.ReceiveOptions{Resumable: true, NoMount: true}))
	props, err := r.GetProps(ctx, dst+"/secret", "keystatus", "encryption")
	must(t, err)
	if props["keystatus"] != "unavailable" || props["encryption"] == "off" {
		t.Fatalf("received raw dataset props %v, want encrypted with keystatus unavailable", props)
	}
	zfstest.Run(t, "zfs", "load-key", "-L", "file://"+key, dst+"/secret")
	zfstest.Run(t, "zfs", "mount", dst+"/secret")
	zfstest.EqualSums(t, zfstest.TreeSums(t, mnt), zfstest.TreeSums(t, zfstest.Mountpoint(t, dst+"/secret")))
}
