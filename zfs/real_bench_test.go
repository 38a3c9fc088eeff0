package zfs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/hotzfs/hotzfs/internal/zfstest"
	"github.com/hotzfs/hotzfs/zfs"
)

// listFixture is a pool with 100 datasets of 100 snapshots each (10,000 snapshots), made once per binary run.
var listFixture struct {
	once     sync.Once
	pool     string
	datasets []string
}

func benchPool(b *testing.B) (*zfs.Runner, []string, string) {
	zfstest.Require(b)
	r := zfs.NewRunner(nil)
	ctx := context.Background()
	listFixture.once.Do(func() {
		pool := zfstest.UncleanedPool(b, 512)
		var ds []string
		for i := 0; i < 100; i++ {
			name := fmt.Sprintf("%s/ds%03d", pool, i)
			if err := r.CreateFilesystem(ctx, name, nil); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, name)
		}
		for s := 0; s < 100; s++ {
			snaps := make([]string, len(ds))
			for i, d := range ds {
				snaps[i] = fmt.Sprintf("%s@s%03d", d, s)
			}
			if err := r.SnapshotAtomic(ctx, snaps, nil); err != nil {
				b.Fatal(err)
			}
		}
		listFixture.pool, listFixture.datasets = pool, ds
	})
	return r, listFixture.datasets, listFixture.pool
}

// BenchmarkRealListOneCall lists 10,000 snapshots of 100 datasets with one zfs call, as hotzfs does per run.
func BenchmarkRealListOneCall(b *testing.B) {
	r, _, pool := benchPool(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		list, err := r.List(ctx, []string{pool}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}})
		if err != nil || len(list) != 10000 {
			b.Fatalf("%d snapshots, %v", len(list), err)
		}
	}
}

// BenchmarkRealListPerDataset lists the same snapshots with one zfs call per dataset.
func BenchmarkRealListPerDataset(b *testing.B) {
	r, ds, _ := benchPool(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		for _, d := range ds {
			list, err := r.List(ctx, []string{d}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
			if err != nil {
				b.Fatal(err)
			}
			n += len(list)
		}
		if n != 10000 {
			b.Fatalf("%d snapshots", n)
		}
	}
}
