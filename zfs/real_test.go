package zfs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/internal/zfstest"
	"github.com/hotzfs/hotzfs/zfs"
)

func runner(t *testing.T) (*zfs.Runner, context.Context) {
	t.Helper()
	zfstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return zfs.NewRunner(log), ctx
}

// pipe sends opts and receives the stream into target.
func pipe(t *testing.T, ctx context.Context, r *zfs.Runner, opts zfs.SendOptions, target string, ropts zfs.ReceiveOptions) error {
	t.Helper()
	stream, err := r.Send(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	return r.Receive(ctx, target, ropts, stream)
}

func snapNames(t *testing.T, ctx context.Context, r *zfs.Runner, dataset string) []string {
	t.Helper()
	list, err := r.List(ctx, []string{dataset}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range list {
		names = append(names, d.Short())
	}
	return names
}

func TestRealFilesystemFullThenIncrementalWithIntermediates(t *testing.T) {
	r, ctx := runner(t)
	src, dst := zfstest.Pool(t, 256), zfstest.Pool(t, 256)
	ds := src + "/data"
	if err := r.CreateFilesystem(ctx, ds, nil); err != nil {
		t.Fatal(err)
	}
	mnt := zfstest.Mountpoint(t, ds)
	zfstest.WriteTree(t, mnt, 1, 6, 256<<10)
	must(t, r.SnapshotAtomic(ctx, []string{ds + "@s1"}, nil))
	must(t, pipe(t, ctx, r, zfs.SendOptions{Snapshot: ds + "@s1"}, dst+"/data", zfs.ReceiveOptions{Resumable: true, NoMount: true}))

	zfstest.WriteFile(t, filepath.Join(mnt, "new2"), 20, 100<<10)
	must(t, r.SnapshotAtomic(ctx, []string{ds + "@s2"}, nil))
	zfstest.WriteFile(t, filepath.Join(mnt, "new3"), 30, 100<<10)
	must(t, os.Remove(filepath.Join(mnt, "d0", "f000")))
	must(t, r.SnapshotAtomic(ctx, []string{ds + "@s3"}, nil))
	must(t, pipe(t, ctx, r, zfs.SendOptions{Snapshot: ds + "@s3", From: "@s1", Intermediates: true},
		dst+"/data", zfs.ReceiveOptions{Resumable: true}))

	if got := snapNames(t, ctx, r, dst+"/data"); !slices.Equal(got, []string{"s1", "s2", "s3"}) {
		t.Fatalf("target snapshots %v, want s1 s2 s3 (intermediates carried by -I)", got)
	}
	zfstest.EqualSums(t, zfstest.TreeSums(t, mnt), zfstest.TreeSums(t, zfstest.Mountpoint(t, dst+"/data")))
	srcList, _ := r.List(ctx, []string{ds}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}})
	dstList, _ := r.List(ctx, []string{dst + "/data"}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}})
	for i := range srcList {
		if srcList[i].GUID != dstList[i].GUID || srcList[i].GUID == 0 {
			t.Errorf("snapshot %s: guid %d on source, %d on target", srcList[i].Short(), srcList[i].GUID, dstList[i].GUID)
		}
	}
}

func TestRealVolumeRoundTrip(t *testing.T) {
	r, ctx := runner(t)
	src, dst := zfstest.Pool(t, 256), zfstest.Pool(t, 256)
	vol := src + "/vol"
	must(t, r.CreateVolume(ctx, vol, 32<<20, map[string]string{"volblocksize": "16384"}))
	dev := "/dev/zvol/" + vol
	zfstest.WaitDevice(t, dev)
	zfstest.WriteFile(t, dev, 7, 8<<20)
	must(t, r.SnapshotAtomic(ctx, []string{vol + "@a"}, nil))
	must(t, pipe(t, ctx, r, zfs.SendOptions{Snapshot: vol + "@a"}, dst+"/vol", zfs.ReceiveOptions{Resumable: true}))
	typ, err := r.TypeOf(ctx, dst+"/vol")
	must(t, err)
	if typ != zfs.Volume {
		t.Fatalf("received type %q, want volume", typ)
	}
	zfstest.WaitDevice(t, "/dev/zvol/"+dst+"/vol")
	want, err := zfstest.FileSum(dev)
	must(t, err)
	got, err := zfstest.FileSum("/dev/zvol/" + dst + "/vol")
	must(t, err)
	if want != got {
		t.Fatalf("zvol sha256 differs after receive: source %s, target %s", want, got)
	}
}

func TestRealInterruptedReceiveResumes(t *testing.T) {
	r, ctx := runner(t)
	src, dst := zfstest.Pool(t, 256), zfstest.Pool(t, 256)
	ds := src + "/data"
	must(t, r.CreateFilesystem(ctx, ds, nil))
	mnt := zfstest.Mountpoint(t, ds)
	zfstest.WriteTree(t, mnt, 3, 8, 512<<10)
	must(t, r.SnapshotAtomic(ctx, []string{ds + "@s1"}, nil))
	size, err := r.Estimate(ctx, zfs.SendOptions{Snapshot: ds + "@s1"})
	must(t, err)
	if size < 4<<20 {
		t.Fatalf("estimate %d bytes for 4 MiB of data", size)
	}

	stream, err := r.Send(ctx, zfs.SendOptions{Snapshot: ds + "@s1"})
	must(t, err)
	err = r.Receive(ctx, dst+"/data", zfs.ReceiveOptions{Resumable: true}, io.LimitReader(stream, int64(size/2)))
	stream.Close()
	if err == nil {
		t.Fatal("receive of half a stream succeeded")
	}
	token, err := r.ResumeToken(ctx, dst+"/data")
	must(t, err)
	if token == "" {
		t.Fatal("interrupted resumable receive left no resume token")
	}
	decoded, err := zfs.ParseResumeToken(token)
	must(t, err)
	srcSnaps, err := r.List(ctx, []string{ds}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}})
	must(t, err)
	if decoded.ToName != ds+"@s1" || decoded.ToGUID != srcSnaps[0].GUID {
		t.Errorf("token continues %s guid %d, want %s guid %d", decoded.ToName, decoded.ToGUID, ds+"@s1", srcSnaps[0].GUID)
	}
	rest, err := r.Estimate(ctx, zfs.SendOptions{ResumeToken: token})
	must(t, err)
	if rest >= size {
		t.Errorf("resume estimate %d bytes, not less than the full %d", rest, size)
	}
	must(t, pipe(t, ctx, r, zfs.SendOptions{ResumeToken: token}, dst+"/data", zfs.ReceiveOptions{Resumable: true}))
	zfstest.EqualSums(t, zfstest.TreeSums(t, mnt), zfstest.TreeSums(t, zfstest.Mountpoint(t, dst+"/data")))
	if token, _ := r.ResumeToken(ctx, dst+"/data"); token != "" {
		t.Errorf("token still set after the resumed receive completed: %q", token)
	}
}

func TestRealAbortReceiveDiscardsPartialState(t *testing.T) {
	r, ctx := runner(t)
	src, dst := zfstest.Pool(t, 256), zfstest.Pool(t, 256)
	ds := src + "/data"
	must(t, r.CreateFilesystem(ctx, ds, nil))
	zfstest.WriteTree(t, zfstest.Mountpoint(t, ds), 4, 4, 512<<10)
	must(t, r.SnapshotAtomic(ctx, []string{ds + "@s1"}, nil))
	must(t, pipe(t, ctx, r, zfs.SendOptions{Snapshot: ds + "@s1"}, dst+"/data", zfs.ReceiveOptions{Resumable: true}))
	zfstest.WriteTree(t, zfstest.Mountpoint(t, ds), 40, 4, 512<<10)
	must(t, r.SnapshotAtomic(ctx, []string{ds + "@s2"}, nil))
	stream, err := r.Send(ctx, zfs.SendOptions{Snapshot: ds + "@s2", From: "@s1"})
	must(t, err)
	err = r.Receive(ctx, dst+"/data", zfs.ReceiveOptions{Resumable: true}, io.LimitReader(stream, 300<<10))
	stream.Close()
	if err == nil {
		t.Fatal("receive of a truncated stream succeeded")
	}
	// A plain receive now is refused because of the partial state.
	err = pipe(t, ctx, r, zfs.SendOptions{Snapshot: ds + "@s2", From: "@s1"}, dst+"/data", zfs.ReceiveOptions{})
	if !errors.Is(err, zfs.ErrPartialReceive) {
		t.Fatalf("receive over partial state: %v, want ErrPartialReceive", err)
	}
	must(t, r.AbortReceive(ctx, dst+"/data"))
	if token, _ := r.ResumeToken(ctx, dst+"/data"); token != "" {
		t.Fatalf("token still set after receive -A")
	}
	if got := snapNames(t, ctx, r, dst+"/data"); !slices.Equal(got, []string{"s1"}) {
		t.Fatalf("target snapshots after abort %v, want the last complete one, s1", got)
	}
	must(t, pipe(t, ctx, r, zfs.SendOptions{Snapshot: ds + "@s2", From: "@s1"}, dst+"/data", zfs.ReceiveOptions{Resumable: true}))
}

func TestRealHeldSnapshotCannotBeDestroyed(t *testing.T) {
	r, ctx := runner(t)
	pool := zfstest.Pool(t, 128)
	ds := pool + "/data"
	must(t, r.CreateFilesystem(ctx, ds, nil))
	must(t, r.SnapshotAtomic(ctx, []string{ds + "@base"}, nil))
	must(t, r.Hold(ctx, "hotzfs-test", ds+"@base"))
	holds, err := r.Holds(ctx, ds+"@base")
	must(t, err)
	if len(holds) != 1 || holds[0].Tag != "hotzfs-test" || holds[0].Snapshot != ds+"@base" {
		t.Fatalf("holds %+v, want one hotzfs-test hold", holds)
	}
	list, err := r.List(ctx, []string{ds}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}})
	must(t, err)
	if list[0].UserRefs != 1 {
		t.Errorf("userrefs %d, want 1", list[0].UserRefs)
	}
	err = r.DestroySnapshots(ctx, ds, []string{"base"})
	if !errors.Is(err, zfs.ErrBusy) { // 2.3 says "being held" (ErrHeld, which is also ErrBusy); 2.1 "busy"
		t.Fatalf("destroy of a held snapshot: %v, want ErrBusy", err)
	}
	if ok, _ := r.Exists(ctx, ds+"@base"); !ok {
		t.Fatal("held snapshot is gone")
	}
	must(t, r.Release(ctx, "hotzfs-test", ds+"@base"))
	must(t, r.DestroySnapshots(ctx, ds, []string{"base"}))
	if ok, _ := r.Exists(ctx, ds+"@base"); ok {
		t.Fatal("snapshot still there after release and destroy")
	}
}

func TestRealIncrementalFromBookmark(t *testing.T) {
	r, ctx := runner(t)
	src, dst := zfstest.Pool(t, 256), zfstest.Pool(t, 256)
	ds := src + "/data"
	must(t, r.CreateFilesystem(ctx, ds, nil))
	mnt := zfstest.Mountpoint(t, ds)
	zfstest.WriteTree(t, mnt, 5, 4, 128<<10)
	must(t, r.SnapshotAtomic(ctx, []string{ds + "@a"}, nil))
	must(t, pipe(t, ctx, r, zfs.SendOptions{Snapshot: ds + "@a"}, dst+"/data", zfs.ReceiveOptions{Resumable: true, NoMount: true}))
	must(t, r.CreateBookmark(ctx, ds+"@a", ds+"#a"))
	must(t, r.DestroySnapshots(ctx, ds, []string{"a"}))
	zfstest.WriteFile(t, filepath.Join(mnt, "later"), 50, 64<<10)
	must(t, r.SnapshotAtomic(ctx, []string{ds + "@b"}, nil))

	list, err := r.List(ctx, []string{ds}, zfs.ListOptions{Types: []zfs.Type{zfs.Bookmark}})
	must(t, err)
	if len(list) != 1 || list[0].Name != ds+"#a" || list[0].GUID == 0 {
		t.Fatalf("bookmarks %+v, want %s#a with its guid", list, ds)
	}
	must(t, pipe(t, ctx, r, zfs.SendOptions{Snapshot: ds + "@b", From: "#a"}, dst+"/data", zfs.ReceiveOptions{Resumable: true}))
	zfstest.EqualSums(t, zfstest.TreeSums(t, mnt), zfstest.TreeSums(t, zfstest.Mountpoint(t, dst+"/data")))
	must(t, r.Destroy(ctx, ds+"#a", false))
	if ok, _ := r.Exists(ctx, ds+"#a"); ok {
		t.Fatal("bookmark still there after destroy")
	}
}

func TestRealAtomicSnapshotSharesOneTXG(t *testing.T) {
	r, ctx := runner(t)
	pool := zfstest.Pool(t, 256)
	names := []string{pool + "/a", pool + "/b", pool + "/b/c"}
	for _, n := range names {
		must(t, r.CreateFilesystem(ctx, n, nil))
	}
	must(t, r.CreateVolume(ctx, pool+"/v", 8<<20, nil))
	names = append(names, pool+"/v")
	var snaps []string
	for _, n := range names {
		snaps = append(snaps, n+"@hotzfs_1")
	}
	props := map[string]string{"hotzfs:job": "test", "hotzfs:consistency": "none"}
	must(t, r.SnapshotAtomic(ctx, snaps, props))
	list, err := r.List(ctx, []string{pool}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot},
		UserProps: []string{"hotzfs:job", "hotzfs:consistency", "hotzfs:guest"}})
	must(t, err)
	if len(list) != 4 {
		t.Fatalf("%d snapshots listed, want 4", len(list))
	}
	for _, s := range list {
		if s.CreateTXG != list[0].CreateTXG {
			t.Errorf("%s createtxg %d, %s %d: not one transaction group", s.Name, s.CreateTXG, list[0].Name, list[0].CreateTXG)
		}
		if s.Props["hotzfs:job"] != "test" || s.Props["hotzfs:consistency"] != "none" {
			t.Errorf("%s props %v", s.Name, s.Props)
		}
		if _, set := s.Props["hotzfs:guest"]; set {
			t.Errorf("%s: unset property reported as set", s.Name)
		}
	}
	err = r.SnapshotAtomic(ctx, snaps, nil)
	if !errors.Is(err, zfs.ErrExists) {
		t.Fatalf("second identical snapshot: %v, want ErrExists", err)
	}
}

func TestRealListOneCallManyRoots(t *testing.T) {
	r, ctx := runner(t)
	p1, p2 := zfstest.Pool(t, 128), zfstest.Pool(t, 128)
	must(t, r.CreateFilesystem(ctx, p1+"/x/y", nil))
	must(t, r.SnapshotAtomic(ctx, []string{p1 + "/x/y@s"}, nil))
	must(t, r.CreateFilesystem(ctx, p2+"/z", nil))
	list, err := r.List(ctx, []string{p1, p2}, zfs.ListOptions{})
	must(t, err)
	byName := map[string]zfs.Dataset{}
	for _, d := range list {
		byName[d.Name] = d
	}
	for _, n := range []string{p1, p1 + "/x", p1 + "/x/y", p1 + "/x/y@s", p2, p2 + "/z"} {
		if _, ok := byName[n]; !ok {
			t.Errorf("%s missing from one listing of two pools", n)
		}
	}
	s := byName[p1+"/x/y@s"]
	if s.Type != zfs.Snapshot || s.GUID == 0 || s.CreateTXG == 0 || time.Since(s.Creation) > time.Hour {
		t.Errorf("snapshot fields not parsed: %+v", s)
	}
	if fs := byName[p2+"/z"]; fs.Mountpoint != "/"+p2+"/z" || fs.Type != zfs.Filesystem {
		t.Errorf("filesystem fields not parsed: %+v", fs)
	}
	_, err = r.List(ctx, []string{p1 + "/nope"}, zfs.ListOptions{})
	if !errors.Is(err, zfs.ErrDatasetNotFound) {
		t.Fatalf("list of a missing dataset: %v, want ErrDatasetNotFound", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
