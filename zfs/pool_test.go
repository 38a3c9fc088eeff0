package zfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hotzfs/hotzfs/internal/fakezfs"
)

// The sizes are those of the two-pool capture (testdata/openzfs-2.3/zpool-list-two-pools.stdout).
var twoPools = []fakezfs.Pool{
	{Name: "hzfix", Health: "ONLINE", Size: 1006632960, Allocated: 118411264},
	{Name: "hzsmall", Health: "DEGRADED", Size: 50331648, Allocated: 462848},
}

// PoolHealth reads every pool's health and space through go-zfs from what zpool prints (hzsmall DEGRADED).
func TestPoolHealthReadsZpool(t *testing.T) {
	fakezfs.Zpool(t, fakezfs.Path(t), twoPools...)
	pools, err := NewRunner(nil).PoolHealth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []PoolStatus{
		{Name: "hzfix", Health: "ONLINE", Size: 1006632960, Allocated: 118411264, Free: 888221696},
		{Name: "hzsmall", Health: "DEGRADED", Size: 50331648, Allocated: 462848, Free: 49868800},
	}
	if len(pools) != len(want) || pools[0] != want[0] || pools[1] != want[1] {
		t.Fatalf("pools %+v, want %+v", pools, want)
	}
	if c := pools[0].Capacity(); c < 11.76 || c > 11.77 {
		t.Errorf("capacity of hzfix %.3f%%, want 11.763%% (allocated / size)", c)
	}
}

// Without zpool on PATH, PoolHealth says to install zfsutils-linux, as every other zfs call does.
func TestPoolHealthWithoutZpool(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := NewRunner(nil).PoolHealth(context.Background())
	if !errors.Is(err, ErrNoZFS) {
		t.Fatalf("%v, want ErrNoZFS", err)
	}
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Cmd != "zpool" || len(ce.Args) == 0 || ce.Args[0] != "list" {
		t.Errorf("%#v, want the zpool list command", err)
	}
}

// A zpool that fails is reported with its stderr.
func TestPoolHealthReportsZpoolErrors(t *testing.T) {
	dir := fakezfs.Path(t)
	script := "#!/bin/sh\necho 'Permission denied the ZFS utilities must be run as root.' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "zpool"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := NewRunner(nil).PoolHealth(context.Background())
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Stderr != "Permission denied the ZFS utilities must be run as root." {
		t.Errorf("%v, want the command's stderr", err)
	}
}
