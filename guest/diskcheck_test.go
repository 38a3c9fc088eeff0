package guest

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func qcow2Header(version uint32, backing uint64, incompat uint64) []byte {
	h := make([]byte, 512)
	copy(h, "QFI\xfb")
	binary.BigEndian.PutUint32(h[4:], version)
	binary.BigEndian.PutUint64(h[8:], backing)
	binary.BigEndian.PutUint64(h[72:], incompat)
	return h
}

// The copies' content comes from the untrusted side: an image that is a symlink out of the copy, or a qcow2
// image whose header names a backing or data file, would make qemu open a host path the XML never named.
func TestCheckDisks(t *testing.T) {
	root := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	raw := write("disk.raw", make([]byte, 4096))
	clean := write("clean.qcow2", qcow2Header(3, 0, 0))
	backed := write("backed.qcow2", qcow2Header(3, 0x10000, 0))
	datafile := write("datafile.qcow2", qcow2Header(3, 0, 1<<2))
	link := filepath.Join(root, "shadow.raw")
	if err := os.Symlink("/etc/passwd", link); err != nil {
		t.Fatal(err)
	}
	ok := []BuiltDisk{{"vda", raw, root, "raw"}, {"vdb", clean, root, "qcow2"}, {"vdc", raw, root, "qcow2"}}
	if err := CheckDisks(ok); err != nil {
		t.Errorf("good disks refused: %v", err)
	}
	for _, c := range []struct {
		disk BuiltDisk
		want string
	}{
		{BuiltDisk{"vda", link, root, "raw"}, "symlink leads out of the copy"},
		{BuiltDisk{"vda", backed, root, "qcow2"}, "backing file"},
		{BuiltDisk{"vda", datafile, root, "qcow2"}, "external data file"},
		{BuiltDisk{"vda", root, root, "raw"}, "symlink leads out"}, // the mountpoint itself is not under it
		{BuiltDisk{"vda", raw, "", "raw"}, "not a block device"},
		{BuiltDisk{"vda", filepath.Join(root, "missing"), root, "raw"}, "no such file"},
	} {
		err := CheckDisks([]BuiltDisk{c.disk})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.disk, err, c.want)
		}
	}
}

// A zvol's /dev/zvol link appears a little after zfs clone or receive returns: the check waits for it
// (bounded) instead of refusing the failover.
func TestCheckDisksWaitsForTheZvolDevice(t *testing.T) {
	var blockdev string
	entries, _ := os.ReadDir("/dev")
	for _, e := range entries {
		if st, err := os.Stat("/dev/" + e.Name()); err == nil && st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0 {
			blockdev = "/dev/" + e.Name()
			break
		}
	}
	if blockdev == "" {
		t.Skip("this machine has no block device in /dev to stand for a zvol")
	}
	link := filepath.Join(t.TempDir(), "zvol")
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = os.Symlink(blockdev, link)
	}()
	if err := CheckDisks([]BuiltDisk{{Target: "vda", Path: link, Format: "raw"}}); err != nil {
		t.Fatalf("a device that appears after 300 ms: %v", err)
	}
	defer func(d time.Duration) { zvolDeviceWait = d }(zvolDeviceWait)
	zvolDeviceWait = 200 * time.Millisecond
	err := CheckDisks([]BuiltDisk{{Target: "vda", Path: link + "-never", Format: "raw"}})
	if err == nil || !strings.Contains(err.Error(), "no device after") {
		t.Fatalf("a device that never appears: %v", err)
	}
}
