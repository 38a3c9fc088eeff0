package guest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// CheckDisks verifies, before a built domain is defined, that its disks are what they claim on the copies,
// whose content came from the untrusted side: a zvol is a block device; an image file is a regular file on
// the copy's own filesystem, reached without a symlink out of it; a qcow2 image names no backing file and no
// external data file (qemu would open those host paths, whatever the domain XML says).
func CheckDisks(disks []BuiltDisk) error {
	for _, d := range disks {
		if err := checkDisk(d); err != nil {
			return fmt.Errorf("disk %s (%s): %w", d.Target, d.Path, err)
		}
	}
	return nil
}

// zvolDeviceWait bounds the wait for a new zvol's device: udev makes /dev/zvol/… a little after zfs clone or
// zfs receive returns.
var zvolDeviceWait = 30 * time.Second

// statZvol stats a zvol's /dev/zvol/… link (udev's symlink to the zd device), waiting for it to appear.
func statZvol(path string) (os.FileInfo, error) {
	deadline := time.Now().Add(zvolDeviceWait)
	for {
		st, err := os.Stat(path)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || time.Now().After(deadline) {
			if err != nil && errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%w (no device after %v: is udev running?)", err, zvolDeviceWait)
			}
			return st, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func checkDisk(d BuiltDisk) error {
	path := d.Path
	if d.Root == "" {
		st, err := statZvol(path)
		if err != nil {
			return err
		}
		if st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
			return fmt.Errorf("not a block device (%s)", st.Mode())
		}
	} else {
		root, err := filepath.EvalSymlinks(d.Root)
		if err != nil {
			return fmt.Errorf("the copy's mountpoint: %w", err)
		}
		if path, err = filepath.EvalSymlinks(d.Path); err != nil {
			return err
		}
		if !strings.HasPrefix(path, strings.TrimSuffix(root, "/")+"/") {
			return fmt.Errorf("a symlink leads out of the copy (%s), to %s", d.Root, path)
		}
		st, err := os.Lstat(path)
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("not a regular file (%s)", st.Mode())
		}
		rst, err := os.Stat(root)
		if err != nil {
			return err
		}
		if devOf(st) != devOf(rst) {
			return fmt.Errorf("not on the copy's filesystem mounted at %s", d.Root)
		}
	}
	if d.Format == "qcow2" {
		return checkQcow2(path)
	}
	return nil
}

func devOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev)
	}
	return 0
}

// qcow2 header (big-endian): magic "QFI\xfb", version u32 at 4, backing_file_offset u64 at 8,
// incompatible_features u64 at 72 (version 3), whose bit 2 is "external data file".
func checkQcow2(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var h [80]byte
	n, err := io.ReadFull(f, h[:])
	if err != nil && err != io.ErrUnexpectedEOF {
		return fmt.Errorf("read the qcow2 header: %w", err)
	}
	if n < 16 || string(h[:4]) != "QFI\xfb" {
		return nil // not a qcow2 image: qemu refuses to open it as one
	}
	if binary.BigEndian.Uint64(h[8:16]) != 0 {
		return fmt.Errorf("the qcow2 image names a backing file; define the guest by hand after checking it " +
			"(qemu-img info), or flatten the image (qemu-img convert)")
	}
	if binary.BigEndian.Uint32(h[4:8]) >= 3 && (n < 80 || binary.BigEndian.Uint64(h[72:80])&(1<<2) != 0) {
		return fmt.Errorf("the qcow2 image uses an external data file; define the guest by hand after checking it (qemu-img info)")
	}
	return nil
}
