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
	defer recv.Stop()

	yaml := fmt.Sprintf(`state_dir: %s
targets:
  t: {address: "%s", ca: %s, cert: %s, key: %s, server_name: localhost}
jobs:
  - name: j
    datasets: [%s]
    target: t
    retention:
      source: {keep_last: 1}
      target: {keep_last: 2}
`, t.TempDir(), recv.Addr, files.CA, files.Cert, files.Key, ds)
	cfg, err := config.ParseSender("test.yaml", []byte(yaml))
	must(t, err)
	env := job.Env{ZFS: z, Log: loopback.Logger(), Config: cfg,
		Dial: func(ctx context.Context, _ string) (*replication.Client, error) {
			return loopback.Dial(ctx, recv.Addr, files, "hv1")
		}}
	run := func(i int) *job.Report {
		rep := job.Run(ctx, env, cfg.Jobs[0], job.AllSteps)
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
