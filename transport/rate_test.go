package transport

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// trickle writes chunk bytes to c every interval until ctx ends or a write fails.
func trickle(ctx context.Context, c net.Conn, chunk int, interval time.Duration) {
	buf := make([]byte, chunk)
	for ctx.Err() == nil {
		if _, err := c.Write(buf); err != nil {
			return
		}
		time.Sleep(interval)
	}
}

func TestMinRateCutsATrickle(t *testing.T) {
	a, b := pipe(t)
	g := Guard(t.Context(), b, Timeouts{Read: time.Second}) // every byte arrives well within the timeout
	g.SetMinRate(1000, 300*time.Millisecond)
	go trickle(t.Context(), a, 1, 20*time.Millisecond) // 50 bytes/s
	start := time.Now()
	buf := make([]byte, 64)
	var err error
	for err == nil && time.Since(start) < 5*time.Second {
		_, err = g.Read(buf)
	}
	if err == nil || !strings.Contains(err.Error(), "minimum rate") {
		t.Fatalf("a 50 bytes/s trickle against a 1000 bytes/s minimum: %v after %v", err, time.Since(start))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("cut after %v, want about the 300ms window", took)
	}
}

func TestMinRateKeepsAFastEnoughPeer(t *testing.T) {
	a, b := pipe(t)
	g := Guard(t.Context(), b, Timeouts{Read: time.Second})
	g.SetMinRate(1000, 200*time.Millisecond)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go trickle(ctx, a, 100, 20*time.Millisecond) // 5000 bytes/s
	buf := make([]byte, 64)
	for start := time.Now(); time.Since(start) < time.Second; {
		if _, err := g.Read(buf); err != nil {
			t.Fatalf("a peer at 5x the minimum rate was cut: %v", err)
		}
	}
	g.SetMinRate(0, 0)
	cancel()
}
