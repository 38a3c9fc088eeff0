package job

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/snapshot"
	"github.com/hotzfs/hotzfs/zfs"
)

// hookJob parses a sender config whose one job snapshots tank/data with the given hooks (YAML, indented under
// "hooks:") and returns the job, a zfs that succeeds and writes "zfs <subcommand>" to the log the hooks write to,
// and that log.
func hookJob(t *testing.T, hooks string) (config.Job, *zfs.Runner, func() string) {
	t.Helper()
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	bin := filepath.Join(dir, "zfs")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho \"zfs $1\" >> "+logf+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hooks = strings.ReplaceAll(hooks, "LOG", logf)
	s, err := config.ParseSender(filepath.Join(dir, "hotzfs.yaml"), []byte(`targets:
  offsite: {address: "backup.example.net:7390", ca: ca.crt, cert: c.crt, key: c.key}
jobs:
  - name: j
    datasets: [tank/data]
    target: offsite
    hooks:
`+hooks))
	if err != nil {
		t.Fatal(err)
	}
	read := func() string { b, _ := os.ReadFile(logf); return string(b) }
	return s.Jobs[0], &zfs.Runner{ZFS: bin, Zpool: bin}, read
}

func runHookJob(t *testing.T, j config.Job, z *zfs.Runner) (*snapshot.Result, error) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	at := time.Date(2026, 11, 26, 1, 15, 0, 0, time.UTC)
	env := Env{ZFS: z, Log: log, Config: &config.Sender{}, Now: func() time.Time { return at }}
	return takeSnapshot(context.Background(), env, z, j, nil, nil, log)
}

// A failed pre-hook stops the run, and the post-hooks of the pre-hooks that succeeded before it still run:
// the lock taken by the first pre-hook is released; the failed one's post-hook does not run.
func TestFailedPreHookRunsThePostHooksOfTheEarlierOnes(t *testing.T) {
	j, z, read := hookJob(t, `      - {pre: [sh, -c, "echo lock >> LOG"], post: [sh, -c, "echo unlock >> LOG"]}
      - {pre: [sh, -c, "echo failing >> LOG; exit 3"], post: [sh, -c, "echo x >> LOG"]}
      - {pre: [sh, -c, "echo never >> LOG"], post: [sh, -c, "echo never-post >> LOG"]}
`)
	_, err := runHookJob(t, j, z)
	if want := "lock\nfailing\nunlock\n"; read() != want {
		t.Errorf("ran:\n%s\nwant:\n%s", read(), want)
	}
	if !errors.Is(err, snapshot.ErrHookFailed) || !strings.Contains(err.Error(), `pre-hook "hooks[1]"`) ||
		!strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("error = %v, want the failure of pre-hook hooks[1]", err)
	}
}

// When every pre-hook succeeds, the snapshot is taken and the post-hooks run after it in reverse order; an entry
// with only a post-hook runs too.
func TestPostHooksRunInReverseOrderAfterTheSnapshot(t *testing.T) {
	j, z, read := hookJob(t, `      - {pre: [sh, -c, "echo pre-a >> LOG"], post: [sh, -c, "echo post-a >> LOG"], timeout: 5s}
      - {pre: [sh, -c, "echo pre-b >> LOG"], post: [sh, -c, "echo post-b >> LOG"]}
      - post: [sh, -c, "echo post-c >> LOG"]
`)
	res, err := runHookJob(t, j, z)
	if err != nil {
		t.Fatal(err)
	}
	if want := "pre-a\npre-b\nzfs snapshot\nzfs set\npost-c\npost-b\npost-a\n"; read() != want {
		t.Errorf("ran:\n%s\nwant:\n%s", read(), want)
	}
	if len(res.Hooks) != 5 {
		t.Errorf("hook outcomes = %+v, want 5", res.Hooks)
	}
}

// A failing post-hook is reported, and the post-hooks after it still run.
func TestFailedPostHookDoesNotStopTheOthers(t *testing.T) {
	j, z, read := hookJob(t, `      - {pre: [sh, -c, "echo pre-a >> LOG"], post: [sh, -c, "echo post-a >> LOG"]}
      - {pre: [sh, -c, "echo pre-b >> LOG"], post: [sh, -c, "echo post-b >> LOG; exit 4"]}
      - {pre: [sh, -c, "echo pre-c >> LOG"], post: [sh, -c, "echo post-c >> LOG; exit 5"]}
`)
	res, err := runHookJob(t, j, z)
	if want := "pre-a\npre-b\npre-c\nzfs snapshot\nzfs set\npost-c\npost-b\npost-a\n"; read() != want {
		t.Errorf("ran:\n%s\nwant:\n%s", read(), want)
	}
	if !errors.Is(err, snapshot.ErrHookFailed) || !strings.Contains(err.Error(), `post-hook "hooks[1]"`) ||
		!strings.Contains(err.Error(), `post-hook "hooks[2]"`) {
		t.Errorf("error = %v, want both post-hook failures", err)
	}
	if res == nil || len(res.Snapshots) != 1 || res.Snapshots[0].Snapshot != "tank/data@hotzfs_20261126T011500Z" {
		t.Errorf("snapshot result = %+v, want the snapshot taken", res)
	}
}
