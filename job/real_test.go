package job_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/internal/loopback"
	"github.com/hotzfs/hotzfs/internal/zfstest"
	"github.com/hotzfs/hotzfs/job"
	"github.com/hotzfs/hotzfs/receiver"
	"github.com/hotzfs/hotzfs/replication"
	"github.com/hotzfs/hotzfs/zfs"
)

// TestRealPruneBothSidesThenIncremental: replicate, prune hard on both sides, and the next run is still an
// incremental (the base survived on both sides), with data equal at the end.
func TestRealPruneBothSidesThenIncremental(t *testing.T) {
	zfstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r := newRealJob(t, ctx, "source: {keep_last: 1}", "target: {keep_last: 2}")
	z, ds, dst, mnt, cfg := r.z, r.ds, r.dst, r.mnt, r.cfg
	run := func(i int) *job.Report {
		rep := job.Run(ctx, r.env, cfg.Jobs[0], job.AllSteps)
		if rep.Err != nil {
			t.Fatalf("run %d: %v", i, rep.Err)
		}
		return rep
	}
	for i := 0; i < 4; i++ {
		zfstest.WriteFile(t, filepath.Join(mnt, fmt.Sprint("run", i)), uint64(10+i), 128<<10)
		rep := run(i)
		steps := rep.Replicated[0].Steps
		if len(steps) != 1 || (i > 0 && !strings.HasPrefix(steps[0].Step, "incremental")) {
			t.Fatalf("run %d sent %+v, want one incremental after the first", i, steps)
		}
	}
	local := snapshots(t, ctx, z, ds)
	remote := snapshots(t, ctx, z, dst+"/backup/hv1/"+ds)
	if len(local) != 1 || len(remote) != 2 {
		t.Fatalf("after pruning: source %v (want 1), target %v (want 2)", local, remote)
	}
	if local[0] != remote[1] {
		t.Fatalf("the source kept %s but the target's newest is %s: the base is gone", local[0], remote[1])
	}
	zfstest.EqualSums(t, zfstest.TreeSums(t, mnt), zfstest.TreeSums(t, zfstest.Mountpoint(t, dst+"/backup/hv1/"+ds)))
	st, err := job.LoadStatus(cfg.StateDir)
	must(t, err)
	if js := st.Jobs["j"]; js.Error != "" || js.Datasets[ds].ReplicatedSnap != local[0] {
		t.Errorf("status %+v", js)
	}
}

// realJob is one job replicating SRC/data (filled with a small tree) to a loopback receiver on a second pool.
type realJob struct {
	z            *zfs.Runner
	ds, dst, mnt string
	cfg          *config.Sender
	env          job.Env
}

func newRealJob(t *testing.T, ctx context.Context, source, target string) realJob {
	t.Helper()
	z := zfs.NewRunner(loopback.Logger())
	src, dst := zfstest.Pool(t, 512), zfstest.Pool(t, 512)
	ds := src + "/data"
	must(t, z.CreateFilesystem(ctx, ds, nil))
	mnt := zfstest.Mountpoint(t, ds)
	zfstest.WriteTree(t, mnt, 1, 4, 256<<10)

	pki, err := loopback.NewPKI(t.TempDir())
	must(t, err)
	files, err := pki.Client("hv1")
	must(t, err)
	recv, err := loopback.StartReceiver(ctx, z, pki, receiver.Options{Root: dst + "/backup", Logger: loopback.Logger(),
		Clients: map[string]receiver.Client{"hv1": {AllowPrune: true}}})
	must(t, err)
	t.Cleanup(func() {
		if err := recv.Stop(); err != nil {
			t.Errorf("stop the receiver: %v", err)
		}
	})

	yaml := fmt.Sprintf(`state_dir: %s
targets:
  t: {address: "%s", ca: %s, cert: %s, key: %s, server_name: localhost}
jobs:
  - name: j
    datasets: [%s]
    target: t
    retention:
      %s
      %s
`, t.TempDir(), recv.Addr, files.CA, files.Cert, files.Key, ds, source, target)
	cfg, err := config.ParseSender("test.yaml", []byte(yaml))
	must(t, err)
	env := job.Env{ZFS: z, Log: loopback.Logger(), Config: cfg,
		Dial: func(ctx context.Context, _ string) (*replication.Client, error) {
			return loopback.Dial(ctx, recv.Addr, files, "hv1")
		}}
	return realJob{z: z, ds: ds, dst: dst, mnt: mnt, cfg: cfg, env: env}
}

// TestRealSourcePruneBoundedWhenTargetPrunesFirst: the target's rules prune sooner than the source's (keep_last
// 2 there, 4 here). Over ten backups the source keeps its four, not every snapshot the target pruned (those
// are older than the base both sides share: replicated), each run is one incremental, and the data is equal.
func TestRealSourcePruneBoundedWhenTargetPrunesFirst(t *testing.T) {
	zfstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	r := newRealJob(t, ctx, "source: {keep_last: 4}", "target: {keep_last: 2}")
	remoteDS := r.dst + "/backup/hv1/" + r.ds
	for i := 1; i <= 10; i++ {
		zfstest.WriteFile(t, filepath.Join(r.mnt, fmt.Sprint("run", i)), uint64(20+i), 64<<10)
		rep := job.Run(ctx, r.env, r.cfg.Jobs[0], job.AllSteps)
		if rep.Err != nil {
			t.Fatalf("run %d: %v", i, rep.Err)
		}
		if steps := rep.Replicated[0].Steps; len(steps) != 1 || (i > 1 && !strings.HasPrefix(steps[0].Step, "incremental")) {
			t.Fatalf("run %d sent %+v, want one incremental after the first", i, steps)
		}
		local, remote := snapshots(t, ctx, r.z, r.ds), snapshots(t, ctx, r.z, remoteDS)
		if len(local) != min(i, 4) || len(remote) != min(i, 2) {
			t.Fatalf("after run %d: source %v (want %d: keep_last 4, the base among them), target %v (want %d)",
				i, local, min(i, 4), remote, min(i, 2))
		}
		if local[len(local)-1] != remote[len(remote)-1] {
			t.Fatalf("after run %d: the source's newest %s is not the target's %s", i, local[len(local)-1], remote[len(remote)-1])
		}
	}
	zfstest.EqualSums(t, zfstest.TreeSums(t, r.mnt), zfstest.TreeSums(t, zfstest.Mountpoint(t, remoteDS)))
}

func snapshots(t *testing.T, ctx context.Context, z *zfs.Runner, ds string) []string {
	list, err := z.List(ctx, []string{ds}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
	must(t, err)
	var names []string
	for _, d := range list {
		names = append(names, d.Short())
	}
	return names
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
