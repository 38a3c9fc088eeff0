package main

import (
	"bufio"
	"context"
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
	"github.com/hotzfs/hotzfs/transport/tlsconf"
	"github.com/hotzfs/hotzfs/zfs"
)

// The test binary runs as the real hotzfs command when this is set, so tests can exercise the CLI, signals
// and exit codes in a process of its own.
const envExecMain = "HOTZFS_TEST_EXEC_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envExecMain) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestRealDaemonRunsScheduledJobAndStopsOnSIGTERM(t *testing.T) {
	p := newPools(t, 4, 128<<10)
	ctx, z, dst, ds := p.ctx, p.z, p.dst, p.ds
	recv, files := startReceiver(t, ctx, z, dst, receiver.Client{AllowPrune: true})
	state := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "hotzfs.yaml")
	yaml := fmt.Sprintf(`state_dir: %s
targets:
  t: {address: "%s", ca: %s, cert: %s, key: %s, server_name: localhost}
jobs:
  - name: j
    schedule: "*/4 * * * * *"
    datasets: [%s]
    target: t
    retention:
      source: {keep_last: 1}
      target: {keep_last: 2}
`, state, recv.Addr, files.CA, files.Cert, files.Key, ds)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "daemon", "--config", cfg, "--log-format", "json")
	cmd.Env = append(os.Environ(), envExecMain+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	runs := 0
	sc := bufio.NewScanner(stderr)
	for runs < 3 && sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, `"msg":"job failed"`) {
			t.Fatalf("scheduled run failed: %s", line)
		}
		if strings.Contains(line, `"msg":"job done"`) {
			runs++
		}
	}
	if runs < 3 {
		t.Fatalf("the daemon ran the job %d times before its output ended", runs)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() {
		for sc.Scan() {
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon exit after SIGTERM: %v, want 0", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("daemon still running 60 s after SIGTERM")
	}
	local := snapshotsOf(t, ctx, z, ds)
	remote := snapshotsOf(t, ctx, z, dst+"/backup/hv1/"+ds)
	if len(remote) == 0 || len(remote) > 2 {
		t.Fatalf("target holds %d snapshots, want 1 or 2 (keep_last 2)", len(remote))
	}
	found := false
	for _, s := range local {
		found = found || s.GUID == remote[len(remote)-1].GUID
	}
	if !found {
		t.Fatalf("the target's newest snapshot is not on the source any more: the base was pruned")
	}
}

// pools is what the real command tests start from: two throwaway pools and SRC/data, a filesystem filled with
// a tree of files.
type pools struct {
	ctx      context.Context // bounded: 5 minutes
	z        *zfs.Runner
	src, dst string
	ds, mnt  string // SRC/data and its mountpoint
}

func newPools(t *testing.T, files, size int) pools {
	t.Helper()
	zfstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	p := pools{ctx: ctx, z: zfs.NewRunner(loopback.Logger()), src: zfstest.Pool(t, 256), dst: zfstest.Pool(t, 256)}
	p.ds = p.src + "/data"
	if err := p.z.CreateFilesystem(ctx, p.ds, nil); err != nil {
		t.Fatal(err)
	}
	p.mnt = zfstest.Mountpoint(t, p.ds)
	zfstest.WriteTree(t, p.mnt, 1, files, size)
	return p
}

// startReceiver starts a receiver on DST/backup, with a PKI of its own, for client hv1 with policy, and
// returns it (stopped when the test ends) and hv1's TLS files.
func startReceiver(t *testing.T, ctx context.Context, z *zfs.Runner, dst string, policy receiver.Client) (*loopback.Receiver, tlsconf.Files) {
	t.Helper()
	pki, err := loopback.NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files, err := pki.Client("hv1")
	if err != nil {
		t.Fatal(err)
	}
	recv, err := loopback.StartReceiver(ctx, z, pki, receiver.Options{Root: dst + "/backup", Logger: loopback.Logger(),
		Clients: map[string]receiver.Client{"hv1": policy}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = recv.Stop() })
	return recv, files
}

func snapshotsOf(t *testing.T, ctx context.Context, z *zfs.Runner, ds string) []zfs.Dataset {
	list, err := z.List(ctx, []string{ds}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
	if err != nil {
		t.Fatal(err)
	}
	return list
}
