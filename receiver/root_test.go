package receiver

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotzfs/hotzfs/zfs"
)

// A receiver checks its root when it starts: zfs must be installed and the root an existing filesystem.
func TestCheckRoot(t *testing.T) {
	z, _ := stateZFS(t, []fakeDataset{
		{Name: "pool", Type: zfs.Filesystem},
		{Name: "pool/backup", Type: zfs.Filesystem},
		{Name: "pool/vol", Type: zfs.Volume},
	})
	for _, c := range []struct{ root, want string }{
		{"pool/backup", ""},
		{"pool/nope", "receiver root pool/nope does not exist: create it with zfs create pool/nope (pool pool must be imported)"},
		{"tank/backup", "create it with zfs create tank/backup (pool tank must be imported)"},
		{"pool/vol", "receiver root pool/vol is a volume; set root: to a filesystem"},
	} {
		srv, err := New(z, Options{Root: c.root})
		if err != nil {
			t.Fatal(err)
		}
		err = srv.CheckRoot(t.Context())
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("root %s: %v; want %q", c.root, err, c.want)
		}
	}

	srv, err := New(&zfs.Runner{ZFS: filepath.Join(t.TempDir(), "zfs")}, Options{Root: "pool/backup"})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.CheckRoot(t.Context())
	if !errors.Is(err, zfs.ErrNoZFS) || !strings.Contains(err.Error(), "install zfsutils-linux") {
		t.Errorf("without zfs: %v; want ErrNoZFS saying to install zfsutils-linux", err)
	}
}
