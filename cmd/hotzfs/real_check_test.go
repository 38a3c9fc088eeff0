package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/internal/loopback"
	"github.com/hotzfs/hotzfs/internal/zfstest"
	"github.com/hotzfs/hotzfs/zfs"
)

// TestRealCheckSeesADegradedPool: a mirror of two file vdevs is ONLINE and check finds nothing wrong with it;
// with one side offline the pool is DEGRADED, as zpool reports it through go-zfs, and check makes that a
// WARNING that names the pool.
func TestRealCheckSeesADegradedPool(t *testing.T) {
	zfstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.img"), filepath.Join(dir, "b.img")
	for _, f := range []string{a, b} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(f, 128<<20); err != nil {
			t.Fatal(err)
		}
	}
	pool := fmt.Sprintf("hzmirror%d", os.Getpid()%10000)
	zfstest.Run(t, "zpool", "create", "-f", pool, "mirror", a, b)
	t.Cleanup(func() {
		if out, err := exec.Command("zpool", "destroy", "-f", pool).CombinedOutput(); err != nil {
			t.Errorf("zpool destroy %s: %v: %s", pool, err, out)
		}
	})
	z := zfs.NewRunner(loopback.Logger())
	opts := checkOptions{capacityWarning: 80, capacityCritical: 90}

	judge := func(wantHealth string, wantState int) {
		t.Helper()
		pools, err := z.PoolHealth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(pools, func(p zfs.PoolStatus) bool { return p.Name == pool })
		if i < 0 {
			t.Fatalf("PoolHealth does not list %s: %+v", pool, pools)
		}
		if pools[i].Health != wantHealth || pools[i].Size == 0 {
			t.Fatalf("%s: %+v, want health %s and a size", pool, pools[i], wantHealth)
		}
		var v verdict
		judgePools(&v, pools, []string{pool}, opts)
		if v.state != wantState || (wantState != checkOK && !strings.Contains(v.line(), pool)) {
			t.Errorf("%s %s: check says %q (state %d), want state %d naming the pool", pool, wantHealth, v.line(), v.state, wantState)
		}
	}
	judge("ONLINE", checkOK)
	zfstest.Run(t, "zpool", "offline", pool, b)
	judge("DEGRADED", checkWarning)
}
