package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/job"
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

// A run that finds the job locked by another (cron overlapping a slow run) skips it, as the cron example
// promises, and exits 0; the running job's status is left alone.
func TestBackupSkipsAJobAnotherRunHolds(t *testing.T) {
	state := t.TempDir()
	cfg := writeSenderConfig(t, state)
	unlock, err := job.Lock(state, "j")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	var stdout, stderr bytes.Buffer
	code := execute(t.Context(), []string{"backup", "--config", cfg}, &stdout, &stderr)
	if code != exitOK || stdout.String() != "job j: skipped, already running\n" || stderr.Len() > 0 {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 0 and only \"job j: skipped, already running\"",
			code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	code = execute(t.Context(), []string{"backup", "--config", cfg, "--json"}, &stdout, &stderr)
	var reports []jsonReport
	if err := json.Unmarshal(stdout.Bytes(), &reports); err != nil || code != exitOK || len(reports) != 1 ||
		reports[0].Status != "skipped" {
		t.Errorf("--json: exit %d, %s (%v); want exit 0 and status skipped", code, stdout.String(), err)
	}
	if _, err := os.Stat(filepath.Join(state, "status")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a skipped run recorded a status (%v)", err)
	}
}

// failback needs the job's lock for itself: held by another run, it exits 4 as the table says.
func TestFailbackOfALockedJobExits4(t *testing.T) {
	state := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "hotzfs.yaml")
	yaml := fmt.Sprintf(`state_dir: %s
targets:
  t: {address: "127.0.0.1:7390", ca: ca.crt, cert: c.crt, key: c.key}
jobs:
  - name: j
    guests: [web1]
    target: t
`, state)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	unlock, err := job.Lock(state, "j")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	var stderr bytes.Buffer
	code := execute(t.Context(), []string{"failback", "web1", "--standby", "qemu:///nowhere", "--config", cfg}, io.Discard, &stderr)
	if code != exitLocked || !strings.Contains(stderr.String(), "another hotzfs run holds the job's lock") {
		t.Errorf("exit %d, %q; want exit %d naming the lock", code, stderr.String(), exitLocked)
	}
}

// Ctrl-C during a backup is an interruption, exit 130, said once, not a failure of the zfs command it cut
// short. The child is the test binary running main, with a zfs that hangs until it is killed.
func TestBackupInterruptedBySIGINTExits130(t *testing.T) {
	bin := t.TempDir()
	started := filepath.Join(t.TempDir(), "started")
	script := "#!/bin/sh\nPATH=/usr/bin:/bin\necho \"$*\" > " + started + "\nexec sleep 60\n"
	if err := os.WriteFile(filepath.Join(bin, "zfs"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "backup", "--config", writeSenderConfig(t, t.TempDir()))
	cmd.Env = append(os.Environ(), envExecMain+"=1", "PATH="+bin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zfs never started; stderr: %s", stderr.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("hotzfs did not exit after SIGINT")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitCanceled {
		t.Errorf("exit %v, want %d", err, exitCanceled)
	}
	all := stdout.String() + stderr.String()
	if !strings.Contains(stdout.String(), "job j: interrupted in ") ||
		strings.Count(stderr.String(), "hotzfs: interrupted (interrupt signal received)") != 1 {
		t.Errorf("want the job and the run reported interrupted, once:\n%s", all)
	}
	// Not the word "error": a log line may carry one for something else (in a systemd service, the
	// watchdog's warning that systemd-run is missing).
	for _, wrong := range []string{"FAILED", "zfs snapshot", "context canceled", `"level":"ERROR"`, "level=ERROR"} {
		if strings.Contains(all, wrong) {
			t.Errorf("output says %q:\n%s", wrong, all)
		}
	}
}
