package receiver

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// spyZFS is a zfs binary that records each call and fails: the refusals below must happen before any
// zfs command runs.
func spyZFS(t *testing.T) (*zfs.Runner, func() string) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	bin := filepath.Join(dir, "zfs")
	script := "#!/bin/sh\necho \"$@\" >> " + log + "\necho 'cannot open: dataset does not exist' >&2\nexit 1\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	calls := func() string { b, _ := os.ReadFile(log); return string(b) }
	return &zfs.Runner{ZFS: bin, Zpool: bin}, calls
}

// openSession starts a server session for client on one end of a pipe and returns the other end, after the
// handshake and hello.
func openSession(t *testing.T, client string, opts Options) (net.Conn, chan error, func() string) {
	z, calls := spyZFS(t)
	opts.Root = "pool/backup"
	if opts.Clients == nil {
		opts.Clients = map[string]Client{"hv1": {}}
	}
	srv, err := New(z, opts)
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close() })
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	go func() { done <- srv.ServeConn(ctx, b, client) }()
	if client != "hv1" {
		return a, done, calls
	}
	if err := transport.Handshake(ctx, a, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := transport.WriteMessage(a, &transport.Hello{Name: "t", Version: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := transport.Expect[*transport.Hello](a); err != nil {
		t.Fatal(err)
	}
	return a, done, calls
}

// rawControl writes a control frame with any payload, bypassing the client-side validation.
func rawControl(t *testing.T, c net.Conn, payload []byte) {
	hdr := make([]byte, 9)
	hdr[0] = byte(transport.FrameControl)
	binary.BigEndian.PutUint32(hdr[1:5], uint32(len(payload)))
	crc := crc32.Update(0, crc32.MakeTable(crc32.Castagnoli), hdr[:5])
	crc = crc32.Update(crc, crc32.MakeTable(crc32.Castagnoli), payload)
	binary.BigEndian.PutUint32(hdr[5:9], crc)
	if _, err := c.Write(append(hdr, payload...)); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownClientIsRefusedBeforeAnything(t *testing.T) {
	_, done, calls := openSession(t, "intruder", Options{})
	if err := <-done; err == nil {
		t.Fatal("session for an unknown client ended without error")
	}
	if c := calls(); c != "" {
		t.Fatalf("zfs ran for an unknown client: %s", c)
	}
}

func TestHostileRequestsAreRefusedWithoutTouchingZFS(t *testing.T) {
	const receive = `{"type":"receive-request","body":{"dataset":"tank/a","snapshot":"a","guid":"1","compression":"none",`
	cases := map[string]string{
		"path escape":       `{"type":"receive-request","body":{"dataset":"../hv2/tank","snapshot":"a","guid":"1","compression":"none"}}`,
		"option injection":  `{"type":"receive-request","body":{"dataset":"-o/x","snapshot":"a","guid":"1","compression":"none"}}`,
		"absolute name":     `{"type":"list-request","body":{"datasets":["/pool/backup/hv2"]}}`,
		"snapshot in name":  `{"type":"prune-request","body":{"dataset":"tank@x","snapshots":[]}}`,
		"unknown field":     `{"type":"list-request","body":{"datasets":[],"root":"pool"}}`,
		"unknown type":      `{"type":"exec","body":{"cmd":"rm -rf /"}}`,
		"source option":     receive + `"source":"-o/x"}}`,
		"mountpoint escape": receive + `"mountpoint":"/srv/../root/.ssh"}}`,
		"guest with comma":  receive + `"guests":["a,b"]}}`,
		"not json":          `rm -rf /`,
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			c, done, calls := openSession(t, "hv1", Options{})
			rawControl(t, c, []byte(payload))
			_, err := transport.Expect[*transport.Result](c)
			var remote *transport.RemoteError
			if !errors.As(err, &remote) || remote.Code != transport.CodeBadRequest {
				t.Fatalf("answer %v, want a bad-request error", err)
			}
			if err := <-done; err == nil {
				t.Error("the session went on after a protocol violation")
			}
			if c := calls(); c != "" {
				t.Fatalf("zfs ran: %s", c)
			}
		})
	}
}

func TestOversizedFrameClosesTheConnection(t *testing.T) {
	c, done, calls := openSession(t, "hv1", Options{})
	hdr := []byte{byte(transport.FrameControl), 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0}
	if _, err := c.Write(hdr); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = transport.ReadMessage(c) }()
	if err := <-done; err == nil {
		t.Fatal("a 2 GiB frame header did not end the session")
	}
	if c := calls(); c != "" {
		t.Fatalf("zfs ran: %s", c)
	}
}

func TestForbiddenRollbackAndPrune(t *testing.T) {
	c, _, calls := openSession(t, "hv1", Options{Clients: map[string]Client{"hv1": {AllowRollback: false, AllowPrune: false}}})
	err := transport.WriteMessage(c, &transport.ReceiveRequest{Dataset: "tank/web", Snapshot: "a", GUID: 1, Force: true,
		Compression: transport.CompressionNone})
	if err != nil {
		t.Fatal(err)
	}
	_, err = transport.Expect[*transport.Ready](c)
	var remote *transport.RemoteError
	if !errors.As(err, &remote) || remote.Code != transport.CodeForbidden {
		t.Fatalf("rollback request: %v, want forbidden", err)
	}
	if err := transport.WriteMessage(c, &transport.PruneRequest{Dataset: "tank/web",
		Snapshots: []transport.SnapshotRef{{Name: "a", GUID: 1}}}); err != nil {
		t.Fatal(err)
	}
	_, err = transport.Expect[*transport.PruneResponse](c)
	if !errors.As(err, &remote) || remote.Code != transport.CodeForbidden {
		t.Fatalf("prune request: %v, want forbidden", err)
	}
	if c := calls(); c != "" {
		t.Fatalf("zfs ran: %s", c)
	}
}

func TestIdleConnectionIsClosed(t *testing.T) {
	c, done, _ := openSession(t, "hv1", Options{IdleTimeout: 300 * time.Millisecond})
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("idle session ended without an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("idle session not closed")
	}
	if _, err := transport.ReadMessage(c); err == nil {
		t.Fatal("connection still open after the idle timeout")
	}
}
