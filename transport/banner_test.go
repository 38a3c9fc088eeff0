package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestHandshake(t *testing.T) {
	a, b := pipe(t)
	errs := make(chan error, 2)
	for _, c := range []net.Conn{a, b} {
		go func() { errs <- Handshake(t.Context(), c, 5*time.Second) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("handshake: %v", err)
		}
	}
	// The deadline is cleared afterwards: a later exchange is not cut by it.
	if err := a.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
}

func TestHandshakeVersionMismatch(t *testing.T) {
	a, b := pipe(t)
	go func() {
		_, _ = b.Write([]byte("HOTZFS/0001\n"))
		_, _ = io.ReadFull(b, make([]byte, BannerLen))
	}()
	err := Handshake(t.Context(), a, 5*time.Second)
	var ve *VersionError
	if !errors.As(err, &ve) || ve.Local != ProtocolVersion || ve.Remote != 1 {
		t.Fatalf("got %v, want a VersionError naming %d and 1", err, ProtocolVersion)
	}
	if !strings.Contains(err.Error(), "HOTZFS/1") || !strings.Contains(err.Error(), fmt.Sprintf("HOTZFS/%d", ProtocolVersion)) {
		t.Fatalf("message %q does not name both versions", err)
	}
}

func TestHandshakeNotHotzfs(t *testing.T) {
	a, b := pipe(t)
	go func() { _, _ = b.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n")) }()
	err := Handshake(t.Context(), a, 5*time.Second)
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "SSH-2.0-Ope") {
		t.Fatalf("got %v, want a protocol error quoting what the peer sent", err)
	}
}

// A peer that connects and says nothing is dropped after the banner timeout.
func TestHandshakeSilentPeer(t *testing.T) {
	a, _ := pipe(t)
	start := time.Now()
	err := Handshake(t.Context(), a, 50*time.Millisecond)
	if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("silent peer held the handshake far beyond its timeout")
	}
}

func TestHandshakeCanceled(t *testing.T) {
	a, _ := pipe(t)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(20*time.Millisecond, cancel)
	if err := Handshake(ctx, a, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestHandshakePeerCloses(t *testing.T) {
	a, b := pipe(t)
	go func() { _, _ = io.ReadFull(b, make([]byte, BannerLen)); b.Close() }()
	err := Handshake(t.Context(), a, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "closed the connection") {
		t.Fatalf("got %v", err)
	}
}
