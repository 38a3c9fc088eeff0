package receiver

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// scriptZFS is a zfs binary that runs script (a shell fragment that sees the zfs arguments as "$@").
func scriptZFS(t *testing.T, script string) *zfs.Runner {
	bin := filepath.Join(t.TempDir(), "zfs")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &zfs.Runner{ZFS: bin, Zpool: bin}
}

// acceptingZFS lists nothing (every target is new) and receives by reading the whole stream.
const acceptingZFS = `case "$1" in receive) cat >/dev/null ;; esac; exit 0`

// testServer returns a server on root pool/backup with clients hv1 and hv2 (unless opts names clients).
func testServer(t *testing.T, z *zfs.Runner, opts Options) *Server {
	opts.Root = "pool/backup"
	if opts.Clients == nil {
		opts.Clients = map[string]Client{"hv1": {}, "hv2": {}}
	}
	srv, err := New(z, opts)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// pipeSession serves one session of client on a pipe and returns the client's end, before the handshake.
func pipeSession(t *testing.T, srv *Server, client string) (net.Conn, chan error) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close() })
	done := make(chan error, 1)
	go func() { done <- srv.ServeConn(t.Context(), b, client) }()
	return a, done
}

// hello does the client's half of the banner and hello exchange.
func hello(t *testing.T, c net.Conn) error {
	t.Helper()
	if err := transport.Handshake(t.Context(), c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := transport.WriteMessage(c, &transport.Hello{Name: "t", Version: "test"}); err != nil {
		t.Fatal(err)
	}
	_, err := transport.Expect[*transport.Hello](c)
	return err
}

// frameOf returns the control frame of m.
func frameOf(t *testing.T, m transport.Message) []byte {
	var b strings.Builder
	if err := transport.WriteMessage(&b, m); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}

// dribble writes data one byte at a time, every interval, until it is written or a write fails.
func dribble(c net.Conn, data []byte, interval time.Duration) {
	for i := range data {
		if _, err := c.Write(data[i : i+1]); err != nil {
			return
		}
		time.Sleep(interval)
	}
}

// endsWithin waits up to d for the session to end and returns how long it took.
func endsWithin(t *testing.T, done chan error, d time.Duration, what string) {
	t.Helper()
	start := time.Now()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("%s: the session ended without an error", what)
		}
		t.Logf("%s: cut after %v: %v", what, time.Since(start).Round(time.Millisecond), err)
	case <-time.After(d):
		t.Fatalf("%s: the session was still open after %v", what, d)
	}
}

func TestHelloTrickleIsCutByTheHelloDeadline(t *testing.T) {
	srv := testServer(t, scriptZFS(t, "exit 1"), Options{HelloTimeout: 400 * time.Millisecond})
	c, done := pipeSession(t, srv, "hv1")
	if err := transport.Handshake(t.Context(), c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	hello := frameOf(t, &transport.Hello{Name: "slow", Version: "test"}) // ~60 bytes: 3 s at this pace
	go dribble(c, hello, 50*time.Millisecond)                            // each byte well within the timeout
	endsWithin(t, done, 1500*time.Millisecond, "hello at 20 bytes/s")
}

func TestRequestTrickleIsCutByTheRequestDeadline(t *testing.T) {
	srv := testServer(t, scriptZFS(t, "exit 1"), Options{IdleTimeout: time.Second, RequestTimeout: 400 * time.Millisecond})
	c, done := pipeSession(t, srv, "hv1")
	if err := hello(t, c); err != nil {
		t.Fatal(err)
	}
	req := frameOf(t, &transport.ListRequest{Datasets: []string{"tank/vm/web1-disk0"}}) // ~70 bytes
	go dribble(c, req, 50*time.Millisecond)                                             // a byte every 50ms, idle_timeout 1s
	endsWithin(t, done, 1500*time.Millisecond, "request at 20 bytes/s")
}

// startReceive sends a receive request into dataset on a new session of client and returns the connection
// and the receiver's answer to the request: nil for Ready.
func startReceive(t *testing.T, srv *Server, client, dataset string) (net.Conn, chan error, error) {
	c, done := pipeSession(t, srv, client)
	if err := hello(t, c); err != nil {
		t.Fatal(err)
	}
	if err := transport.WriteMessage(c, &transport.ReceiveRequest{Dataset: dataset, Snapshot: "s1", GUID: 1,
		Compression: transport.CompressionNone}); err != nil {
		t.Fatal(err)
	}
	_, err := transport.Expect[*transport.Ready](c)
	return c, done, err
}

func TestOneClientCannotTakeEveryStreamSlot(t *testing.T) {
	srv := testServer(t, scriptZFS(t, acceptingZFS), Options{MaxStreams: 3, MaxStreamsPerClient: 2})
	for i, ds := range []string{"vm/a", "vm/b"} {
		if _, _, err := startReceive(t, srv, "hv1", ds); err != nil {
			t.Fatalf("hv1's stream %d: %v", i+1, err)
		}
	}
	_, _, err := startReceive(t, srv, "hv1", "vm/c")
	var remote *transport.RemoteError
	if !errors.As(err, &remote) || remote.Code != transport.CodeBusy || !strings.Contains(remote.Message, "max_streams_per_client") {
		t.Fatalf("hv1's third stream: %v, want busy (max_streams_per_client)", err)
	}
	if _, _, err := startReceive(t, srv, "hv2", "vm/a"); err != nil {
		t.Fatalf("hv2 got no stream slot while hv1 holds its maximum: %v", err)
	}
}

func TestStalledStreamIsCutByTheMinimumRate(t *testing.T) {
	srv := testServer(t, scriptZFS(t, acceptingZFS), Options{StallTimeout: 10 * time.Second, MinRate: 64 << 10,
		RateWindow: 400 * time.Millisecond})
	c, done, err := startReceive(t, srv, "hv1", "vm/a")
	if err != nil {
		t.Fatal(err)
	}
	go func() { // a valid data frame of 1 byte every 50ms: within the stall timeout, far below the rate
		table := crc32.MakeTable(crc32.Castagnoli)
		var chain uint32
		for ; ; time.Sleep(50 * time.Millisecond) {
			frame := []byte{byte(transport.FrameData), 0, 0, 0, 1, 0, 0, 0, 0, 'x'}
			chain = crc32.Update(crc32.Update(chain, table, frame[:5]), table, frame[9:])
			binary.BigEndian.PutUint32(frame[5:9], chain)
			if _, err := c.Write(frame); err != nil {
				return
			}
		}
	}()
	endsWithin(t, done, 3*time.Second, "stream at 200 bytes/s")
	if _, _, err := startReceive(t, srv, "hv1", "vm/a"); err != nil {
		t.Fatalf("the cut stream still holds its slot or dataset: %v", err)
	}
}

func TestConnectionsPerClientAreLimited(t *testing.T) {
	srv := testServer(t, scriptZFS(t, "exit 1"), Options{MaxConnectionsPerClient: 1})
	first, _ := pipeSession(t, srv, "hv1")
	if err := hello(t, first); err != nil {
		t.Fatal(err)
	}
	second, done := pipeSession(t, srv, "hv1")
	err := hello(t, second)
	var remote *transport.RemoteError
	if !errors.As(err, &remote) || remote.Code != transport.CodeBusy {
		t.Fatalf("hv1's second connection: %v, want busy", err)
	}
	<-done
	if other, _ := pipeSession(t, srv, "hv2"); hello(t, other) != nil {
		t.Fatal("hv2 was refused because of hv1's connections")
	}
}

// TestClientErrorsCarryNoReceiverDetail: a failed zfs receive whose stderr names the receiver's root is
// reported to the client as a short reason; the argv and stderr stay in the receiver's log.
func TestClientErrorsCarryNoReceiverDetail(t *testing.T) {
	z := scriptZFS(t, `case "$1" in
receive) cat >/dev/null; for a; do last=$a; done
  echo "cannot receive new filesystem stream: $last: invalid backup stream" >&2; exit 1 ;;
esac; exit 0`)
	srv := testServer(t, z, Options{})
	stream := fixtureStream(t, "fs-full.zst") // a real stream: the begin record passes, zfs receive fails
	hdr, err := zfs.ParseBeginRecord(stream)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := pipeSession(t, srv, "hv1")
	if err := hello(t, c); err != nil {
		t.Fatal(err)
	}
	if err := transport.WriteMessage(c, &transport.ReceiveRequest{Dataset: "vm/disk0", Snapshot: "s1", GUID: hdr.ToGUID,
		Compression: transport.CompressionNone}); err != nil {
		t.Fatal(err)
	}
	if _, err := transport.Expect[*transport.Ready](c); err != nil {
		t.Fatal(err)
	}
	w, err := transport.NewStreamWriter(c, transport.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(stream); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = transport.Expect[*transport.Result](c)
	var remote *transport.RemoteError
	if !errors.As(err, &remote) {
		t.Fatalf("got %v, want the receiver's error", err)
	}
	t.Logf("the client was told: %s: %s", remote.Code, remote.Message)
	if remote.Code != transport.CodeCorrupt {
		t.Errorf("code %s, want %s", remote.Code, transport.CodeCorrupt)
	}
	for _, secret := range []string{"pool/backup", "zfs receive", "receive -s", "stderr", "invalid backup stream"} {
		if strings.Contains(remote.Message, secret) {
			t.Errorf("the client's error text %q contains %q", remote.Message, secret)
		}
	}
	if want := "receive into vm/disk0 failed: the stream is invalid"; remote.Message != want {
		t.Errorf("the client's error text %q, want %q", remote.Message, want)
	}
}

// TestBigHelloIsRefusedByTheHelloLimit: a hello padded past MaxHelloPayload (valid JSON, well under the
// ordinary control limit) ends the session before anything is answered: the hello has the small limit.
func TestBigHelloIsRefusedByTheHelloLimit(t *testing.T) {
	srv := testServer(t, scriptZFS(t, "exit 1"), Options{})
	c, done := pipeSession(t, srv, "hv1")
	if err := transport.Handshake(t.Context(), c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	payload, err := transport.EncodeMessage(&transport.Hello{Name: "t", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	padded := append(append([]byte{}, payload[:len(payload)-1]...), []byte(strings.Repeat(" ", transport.MaxHelloPayload)+"}")...)
	if _, err := transport.DecodeMessage(padded); err != nil {
		t.Fatalf("the padded hello must be a valid message for this test to mean anything: %v", err)
	}
	go func() { _ = transport.WriteFrame(c, transport.FrameControl, padded) }()
	go func() { _, _ = transport.Expect[*transport.Hello](c) }() // an answer would come here
	endsWithin(t, done, 5*time.Second, "a hello of "+strconv.Itoa(len(padded))+" bytes")
}
