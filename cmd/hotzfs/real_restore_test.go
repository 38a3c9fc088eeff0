package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/internal/loopback"
	"github.com/hotzfs/hotzfs/internal/zfstest"
	"github.com/hotzfs/hotzfs/receiver"
	"github.com/hotzfs/hotzfs/zfs"
)

// TestRealRestoreInterruptedThenRunAgain kills `hotzfs restore` (and its zfs receive) mid-stream, then runs
// the same restore again: it discards the partial state the first one left and restores the snapshot in full.
// A third run finds it restored; a restore into a dataset that holds something else is refused, saying what.
func TestRealRestoreInterruptedThenRunAgain(t *testing.T) {
	zfstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// 512 MiB pools: a pool keeps at least 128 MiB of slop, and the source holds the data and its restore.
	z := zfs.NewRunner(loopback.Logger())
	p := pools{ctx: ctx, z: z, src: zfstest.Pool(t, 512), dst: zfstest.Pool(t, 512)}
	src, ds := p.src, p.src+"/data"
	if err := z.CreateFilesystem(ctx, ds, nil); err != nil {
		t.Fatal(err)
	}
	mnt := zfstest.Mountpoint(t, ds)
	zfstest.WriteTree(t, mnt, 1, 8, 8<<20)
	recv, files := startReceiver(t, ctx, z, p.dst, receiver.Client{})
	cfg := filepath.Join(t.TempDir(), "hotzfs.yaml")
	writeTestFile(t, cfg, fmt.Sprintf(`state_dir: %s
targets:
  t: {address: "%s", ca: %s, cert: %s, key: %s, server_name: localhost}
jobs:
  - name: j
    datasets: [%s]
    target: t
    compression: none
`, t.TempDir(), recv.Addr, files.CA, files.Cert, files.Key, ds))
	hotzfs := func(args ...string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], append(args, "--config", cfg, "--log-format", "text")...)
		cmd.Env = append(os.Environ(), envExecMain+"=1")
		return cmd
	}
	run := func(args ...string) (string, error) {
		out, err := hotzfs(args...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("backup"); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	want := zfstest.TreeSums(t, mnt)
	into := src + "/restored"

	// Interrupt: kill -9 the restore and everything it started as soon as the receive has created the dataset.
	var out bytes.Buffer
	cmd := hotzfs("restore", ds, "--into", into)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if ok, _ := z.Exists(ctx, into); ok {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the restore ended (%v) before it could be interrupted: make the data bigger\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within 2 minutes\n%s", into, out.String())
		}
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	for syscall.Kill(-cmd.Process.Pid, 0) == nil { // the orphaned zfs receive ends once its ioctl returns
		if time.Now().After(deadline) {
			t.Fatal("the killed restore's processes still run")
		}
		time.Sleep(50 * time.Millisecond)
	}
	token, err := z.ResumeToken(ctx, into)
	if err != nil || token == "" {
		t.Fatalf("no partial state after the kill (token %q, %v): the restore was not interrupted mid-stream\n%s",
			token, err, out.String())
	}
	if tok, err := zfs.ParseResumeToken(token); err != nil || tok.ToGUID != snapshotsOf(t, ctx, z, ds)[0].GUID ||
		!strings.HasPrefix(tok.ToName, p.dst+"/backup/hv1/") {
		name, guid := tok.ToName, tok.ToGUID
		t.Fatalf("resume token decodes to %q guid %d (%v), want the backup's snapshot", name, guid, err)
	}
	t.Logf("interrupted: %s holds a partial receive, token %s", into, token)

	// Run it again: the partial state goes, the restore completes.
	got, err := run("restore", ds, "--into", into)
	if err != nil {
		t.Fatalf("restore after the interruption: %v\n%s", err, got)
	}
	if !strings.Contains(got, "discarding it") {
		t.Errorf("the retry did not say it discarded the partial state:\n%s", got)
	}
	zfstest.EqualSums(t, want, zfstest.TreeSums(t, zfstest.Mountpoint(t, into)))
	if tok, _ := z.ResumeToken(ctx, into); tok != "" {
		t.Errorf("partial state left after the retry: %q", tok)
	}

	// Once more: already restored, nothing received, nothing changed.
	got, err = run("restore", ds, "--into", into)
	if err != nil || !strings.Contains(got, "already restored") {
		t.Errorf("restore into the completed copy: %v, want 'already restored'\n%s", err, got)
	}
	zfstest.EqualSums(t, want, zfstest.TreeSums(t, zfstest.Mountpoint(t, into)))

	// A dataset with other content is refused, and named.
	other := src + "/other"
	if err := z.CreateFilesystem(ctx, other, nil); err != nil {
		t.Fatal(err)
	}
	zfstest.Run(t, "zfs", "snapshot", other+"@mine")
	got, err = run("restore", ds, "--into", other)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(got, "exists and is not a restore of "+ds) ||
		!strings.Contains(got, "filesystem with snapshots @mine") || !strings.Contains(got, "zfs destroy -r "+other) {
		t.Errorf("restore into an unrelated dataset: %v, want a refusal saying what is there and what to do\n%s", err, got)
	}
	if snaps := snapshotsOf(t, ctx, z, other); len(snaps) != 1 || snaps[0].Short() != "mine" {
		t.Errorf("the refused restore changed %s: %v", other, snaps)
	}
}
