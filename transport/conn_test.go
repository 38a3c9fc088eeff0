package transport

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// An idle peer is dropped after the read timeout, with an error that says so.
func TestGuardIdleTimeout(t *testing.T) {
	a, _ := pipe(t)
	g := Guard(t.Context(), a, Timeouts{Read: 50 * time.Millisecond})
	defer g.Close()
	_, err := ReadMessage(g)
	if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "no data from the peer for 50ms") {
		t.Fatalf("got %v, want an idle timeout", err)
	}
}

func TestPlainCarrierIsNotAuthenticated(t *testing.T) {
	a, _ := pipe(t)
	if Guard(t.Context(), a, Timeouts{}).Authenticated() {
		t.Error("a pipe counts as an authenticated carrier: its frames would go without checksums")
	}
	r, w := io.Pipe()
	if Guard(t.Context(), NewStdioConn(r, w), Timeouts{}).Authenticated() {
		t.Error("ssh stdio counts as an authenticated carrier: its frames would go without checksums")
	}
}

// A stream that stalls mid-way fails with the stall timeout, not a clean end.
func TestGuardStallMidStream(t *testing.T) {
	a, b := pipe(t)
	go func() {
		sw, _ := NewStreamWriter(a, StreamOptions{})
		_, _ = sw.Write(make([]byte, 3*dataChunk+10)) // three frames, then silence
	}()
	g := Guard(t.Context(), b, Timeouts{Read: 100 * time.Millisecond})
	defer g.Close()
	_, err := io.Copy(io.Discard, NewStreamReader(g, ReaderOptions{}))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want a stall timeout", err)
	}
}

// Traffic that keeps flowing is not cut by a timeout shorter than the whole transfer.
func TestGuardTimeoutIsPerOperation(t *testing.T) {
	a, b := pipe(t)
	go func() {
		for range 5 {
			time.Sleep(20 * time.Millisecond)
			_ = WriteMessage(a, &Ready{})
		}
	}()
	g := Guard(t.Context(), b, Timeouts{Read: time.Second})
	defer g.Close()
	for range 5 {
		if _, err := Expect[*Ready](g); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGuardCancel(t *testing.T) {
	a, _ := pipe(t)
	ctx, cancel := context.WithCancel(t.Context())
	g := Guard(ctx, a, Timeouts{})
	defer g.Close()
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := g.Read(make([]byte, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("blocked read: got %v, want context.Canceled", err)
	}
	if _, err := g.Write([]byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("write after cancel: got %v, want context.Canceled", err)
	}
}

func TestStdioConnCarriesProtocol(t *testing.T) {
	// Two OS pipes, like ssh gives a forced command.
	clientR, serverW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	serverR, clientW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	server := NewStdioConn(serverR, serverW)
	client := NewStdioConn(clientR, clientW)
	defer server.Close()
	defer client.Close()

	data := mixedData(2<<20, 11)
	errs := make(chan error, 1)
	go func() {
		if err := Handshake(t.Context(), client, 5*time.Second); err != nil {
			errs <- err
			return
		}
		errs <- <-sendStream(client, data, StreamOptions{Compression: CompressionFastest})
	}()
	if err := Handshake(t.Context(), server, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	got := roundTripRead(t, server)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if sum(got) != sum(data) {
		t.Fatal("data differs over the stdio carrier")
	}
}

func roundTripRead(t *testing.T, r io.Reader) []byte {
	t.Helper()
	var out []byte
	w := &sliceWriter{b: &out}
	if _, err := io.Copy(w, NewStreamReader(r, ReaderOptions{})); err != nil {
		t.Fatal(err)
	}
	return out
}

type sliceWriter struct{ b *[]byte }

func (s *sliceWriter) Write(p []byte) (int, error) { *s.b = append(*s.b, p...); return len(p), nil }

// The emulated read deadline drops an idle ssh client, and data that arrives after a timeout is not lost.
func TestStdioReadDeadline(t *testing.T) {
	r, w := io.Pipe()
	c := NewStdioConn(r, nopWriteCloser{io.Discard})
	defer c.Close()
	g := Guard(t.Context(), c, Timeouts{Read: 30 * time.Millisecond})
	_, err := g.Read(make([]byte, 4))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want a timeout", err)
	}
	go func() { _, _ = w.Write([]byte("late")) }()
	g.SetTimeouts(Timeouts{Read: 5 * time.Second})
	buf := make([]byte, 4)
	if _, err := io.ReadFull(g, buf); err != nil || string(buf) != "late" {
		t.Fatalf("after a timeout: read %q, %v", buf, err)
	}
	// Cancellation reaches a read blocked on the emulated deadline.
	ctx, cancel := context.WithCancel(t.Context())
	g2 := Guard(ctx, c, Timeouts{})
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := g2.Read(buf); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// The banner's absolute deadline holds through a guarded connection whose per-read timeout is longer.
func TestGuardHonoursHandshakeDeadline(t *testing.T) {
	a, _ := pipe(t)
	g := Guard(t.Context(), a, Timeouts{Read: time.Minute, Write: time.Minute})
	defer g.Close()
	start := time.Now()
	if err := Handshake(t.Context(), g, 50*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("the per-read timeout overrode the handshake deadline")
	}
}
