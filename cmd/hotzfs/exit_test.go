package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTwoJobConfig writes a sender config with jobs j and k and returns its path.
func writeTwoJobConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hotzfs.yaml")
	cfg := fmt.Sprintf(`state_dir: %s
targets:
  t: {address: "127.0.0.1:7390", ca: ca.crt, cert: c.crt, key: c.key}
jobs:
  - name: j
    datasets: [tank/a, tank/b]
    target: t
  - name: k
    datasets: [tank/c]
    target: t
`, t.TempDir())
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// On a fresh install the sender's and the receiver's commands say which packaged example to start from.
func TestMissingConfigNamesTheExample(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args    []string
		example string
	}{
		{[]string{"backup", "--config", filepath.Join(dir, "hotzfs.yaml")}, "/usr/share/doc/hotzfs/examples/hotzfs.yaml"},
		{[]string{"status", "--config", filepath.Join(dir, "hotzfs.yaml")}, "/usr/share/doc/hotzfs/examples/hotzfs.yaml"},
		{[]string{"serve", "--config", filepath.Join(dir, "receiver.yaml")}, "/usr/share/doc/hotzfs/examples/receiver.yaml"},
	} {
		var stdout, stderr bytes.Buffer
		code := execute(t.Context(), c.args, &stdout, &stderr)
		want := "cp " + c.example + " " + c.args[2]
		if code != exitUsage || !strings.Contains(stderr.String(), want) {
			t.Errorf("%v: exit %d, %q; want exit %d saying %q", c.args, code, stderr.String(), exitUsage, want)
		}
	}
}

// Without zfs installed, backup says once what to install and stops: no later step, no other job.
func TestBackupWithoutZFSSaysSoOnceAndStops(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	var stdout, stderr bytes.Buffer
	code := execute(t.Context(), []string{"backup", "--config", writeTwoJobConfig(t), "--log-format", "text"}, &stdout, &stderr)
	all := stdout.String() + stderr.String()
	if code != exitFailure || strings.Count(all, "install zfsutils-linux") != 1 {
		t.Errorf("exit %d; want %d and the error once:\n%s", code, exitFailure, all)
	}
	if strings.Contains(all, "list snapshots") || strings.Contains(all, "job k") {
		t.Errorf("went on after finding no zfs:\n%s", all)
	}
}
