package zfs

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeZFS writes a shell script that stands in for the zfs binary. It is used only for faults real zfs cannot
// be made to produce on demand: a send that dies mid-stream, a child that never ends.
func fakeZFS(t *testing.T, script string) *Runner {
	t.Helper()
	p := filepath.Join(t.TempDir(), "zfs")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Runner{ZFS: p}
}

func TestSendFailureMidStreamIsAnErrorNotEOF(t *testing.T) {
	r := fakeZFS(t, `printf 'partial'; echo "cannot open 'p/a@s': dataset does not exist" >&2; exit 1`)
	stream, err := r.Send(context.Background(), SendOptions{Snapshot: "p/a@s"})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	data, err := io.ReadAll(stream)
	if string(data) != "partial" {
		t.Errorf("data %q", data)
	}
	if !errors.Is(err, ErrDatasetNotFound) {
		t.Fatalf("read error %v, want ErrDatasetNotFound", err)
	}
	var ce *CommandError
	if !errors.As(err, &ce) || ce.ExitCode != 1 {
		t.Fatalf("error %#v is not a CommandError with exit code 1", err)
	}
}

func TestSendCloseKillsAWritingChild(t *testing.T) {
	r := fakeZFS(t, `exec cat /dev/zero`)
	stream, err := r.Send(context.Background(), SendOptions{Snapshot: "p/a@s"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, stream, 1<<20); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- stream.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return: child not killed")
	}
}

func TestCancelKillsTheProcessGroup(t *testing.T) {
	// The child starts a grandchild that holds stdout open; killing only the child would leave Wait hanging
	// until WaitDelay. The group kill ends both at once.
	r := fakeZFS(t, `sleep 60 & sleep 60`)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.zfs(ctx, "list")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("returned after %v: process group not killed", d)
	}
}

func TestReceiveReportsStreamReadError(t *testing.T) {
	r := fakeZFS(t, `cat >/dev/null; echo "cannot receive: invalid backup stream" >&2; exit 1`)
	src := io.MultiReader(io.LimitReader(zeroReader{}, 1000), errReader{errors.New("connection reset")})
	err := r.Receive(context.Background(), "p/dst", ReceiveOptions{Resumable: true}, src)
	if !errors.Is(err, ErrStreamCorrupt) {
		t.Fatalf("err %v, want ErrStreamCorrupt", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// Without zfs installed every way of running it fails with ErrNoZFS, which says what to install.
func TestNoZFSBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	ctx := context.Background()
	for name, r := range map[string]*Runner{"on PATH": NewRunner(nil), "configured": {ZFS: "/nonexistent/zfs"}} {
		_, listErr := r.List(ctx, []string{"p/a"}, ListOptions{})
		_, sendErr := r.Send(ctx, SendOptions{Snapshot: "p/a@s"})
		recvErr := r.Receive(ctx, "p/b", ReceiveOptions{}, strings.NewReader(""))
		for op, err := range map[string]error{"list": listErr, "send": sendErr, "receive": recvErr} {
			if !errors.Is(err, ErrNoZFS) || !strings.Contains(err.Error(), "install zfsutils-linux") {
				t.Errorf("%s, %s: %v; want ErrNoZFS saying to install zfsutils-linux", name, op, err)
			}
		}
	}
}
