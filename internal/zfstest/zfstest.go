// Package zfstest makes throwaway file-backed pools and test data for tests that run against real OpenZFS.
// Those tests run inside the OpenZFS test VM (test/vm), where HOTZFS_REAL_ZFS=1 is set.
package zfstest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// EnvReal is set to 1 inside the OpenZFS test VM.
const EnvReal = "HOTZFS_REAL_ZFS"

// Require skips t unless it runs where real OpenZFS is available, saying how to run it.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv(EnvReal) != "1" {
		t.Skipf("needs real OpenZFS: run `make test-zfs` (boots the OpenZFS test VM, which sets %s=1)", EnvReal)
	}
}

var poolSeq atomic.Int64

// Pool creates a file-backed pool of sizeMB megabytes with compression off and returns its name. It is
// destroyed when the test ends.
func Pool(t testing.TB, sizeMB int) string {
	t.Helper()
	name := UncleanedPool(t, sizeMB)
	t.Cleanup(func() { destroyPool(t, name) })
	return name
}

// UncleanedPool creates a pool like Pool but leaves it in place when the test ends, for fixtures shared by
// benchmarks (whose cleanups run after every b.N round). The test VM discards everything at power-off.
func UncleanedPool(t testing.TB, sizeMB int) string {
	t.Helper()
	Require(t)
	name := fmt.Sprintf("hz%d%d", os.Getpid()%10000, poolSeq.Add(1))
	dir := filepath.Join(os.TempDir(), "hotzfs-pools")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, name+".img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(sizeMB) << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	Run(t, "zpool", "create", "-f", "-O", "compression=off", "-O", "mountpoint=/"+name, name, img)
	return name
}

func destroyPool(t testing.TB, name string) {
	if out, err := whileBusy(3*time.Second, "zpool", "destroy", "-f", name); err != nil {
		t.Errorf("zpool destroy %s: %v: %s", name, err, out)
	}
	os.Remove(filepath.Join(os.TempDir(), "hotzfs-pools", name+".img"))
}

// Destroy destroys a dataset, retrying while udev or blkid still hold a just-closed zvol open.
func Destroy(t testing.TB, dataset string) {
	t.Helper()
	if out, err := whileBusy(10*time.Second, "zfs", "destroy", dataset); err != nil {
		t.Fatalf("zfs destroy %s: %v\n%s", dataset, err, out)
	}
}

// whileBusy runs a command every 300 ms until it succeeds or wait has passed: a just-closed zvol or mount can
// keep a dataset or pool busy for a moment.
func whileBusy(wait time.Duration, name string, args ...string) ([]byte, error) {
	deadline := time.Now().Add(wait)
	for {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err == nil || time.Now().After(deadline) {
			return out, err
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// Run runs a command and fails the test with its output if it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Mountpoint mounts a filesystem if it is not mounted (a receive with -u leaves it unmounted) and returns
// where it is mounted.
func Mountpoint(t testing.TB, dataset string) string {
	t.Helper()
	if strings.TrimSpace(Run(t, "zfs", "get", "-H", "-o", "value", "mounted", dataset)) != "yes" {
		Run(t, "zfs", "mount", dataset)
	}
	return strings.TrimSpace(Run(t, "zfs", "get", "-H", "-o", "value", "mountpoint", dataset))
}

// WriteTree writes files of pseudo-random content derived from seed under dir: nfiles files of size bytes
// each, in a couple of subdirectories.
func WriteTree(t testing.TB, dir string, seed uint64, nfiles, size int) {
	t.Helper()
	for i := 0; i < nfiles; i++ {
		p := filepath.Join(dir, fmt.Sprintf("d%d", i%3), fmt.Sprintf("f%03d", i))
		WriteFile(t, p, seed+uint64(i), size)
	}
}

// WriteFile writes size pseudo-random bytes derived from seed to path and syncs it.
func WriteFile(t testing.TB, path string, seed uint64, size int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:8], seed)
	src := rand.NewChaCha8(key)
	if _, err := io.CopyN(f, src, int64(size)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TreeSums returns the sha256 of every regular file below dir, keyed by relative path.
func TreeSums(t testing.TB, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sums[rel], err = FileSum(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// FileSum returns the hex sha256 of a file or block device.
func FileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// EqualSums fails the test unless both maps hold the same files with the same sums.
func EqualSums(t testing.TB, want, got map[string]string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("no files to compare")
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: sha256 %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected file", k)
		}
	}
}

// WaitDevice waits up to 15 s for a device node (udev creates /dev/zvol links asynchronously).
func WaitDevice(t testing.TB, path string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("device %s did not appear within 15 s", path)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// DeviceSum is the sha256 of a block device's (or file's) whole contents.
func DeviceSum(t testing.TB, dev string) string {
	t.Helper()
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("read %s: %v", dev, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SnapshotSum is the sha256 of a zvol snapshot's contents, read through a temporary clone.
func SnapshotSum(t testing.TB, snapshot, clone string) string {
	t.Helper()
	Run(t, "zfs", "clone", snapshot, clone)
	defer Destroy(t, clone)
	WaitDevice(t, "/dev/zvol/"+clone)
	return DeviceSum(t, "/dev/zvol/"+clone)
}
