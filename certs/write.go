package certs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultDir is where `hotzfs certs` writes and the example configs read the certificates and keys.
const DefaultDir = "/etc/hotzfs/tls"

// Write stores p as certPath (mode 0644) and keyPath (mode 0600). Without force it refuses, before writing
// anything, when either file exists; with force it replaces them. Each file appears atomically.
func Write(p *Pair, certPath, keyPath string, force bool) error {
	if !force {
		for _, path := range []string{certPath, keyPath} {
			if _, err := os.Lstat(path); err == nil {
				return fmt.Errorf("%s already exists; remove it or use --force to replace it", path)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("check %s: %w", path, err)
			}
		}
	}
	if err := writeFile(keyPath, p.KeyPEM, 0o600, force); err != nil {
		return err
	}
	return writeFile(certPath, p.CertPEM, 0o644, force)
}

// writeFile writes data to a temporary file beside path, then moves it into place: with force by rename
// (replacing), without by hard link, which fails if path appeared meanwhile.
func writeFile(path string, data []byte, mode os.FileMode, force bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".hotzfs-cert-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if force {
		err = os.Rename(tmp.Name(), path)
	} else {
		err = os.Link(tmp.Name(), path)
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; remove it or use --force to replace it", path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
