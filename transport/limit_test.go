package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// The limiter holds the average rate: 256 KiB at 1 MiB/s cannot take less than ~0.15 s (one burst is free).
// Only a lower bound is asserted, so a slow machine cannot make this flaky.
func TestLimitWriterRate(t *testing.T) {
	const rate = 1 << 20
	var buf bytes.Buffer
	w := LimitWriter(t.Context(), &buf, rate)
	start := time.Now()
	if _, err := w.Write(make([]byte, 256<<10)); err != nil {
		t.Fatal(err)
	}
	least := time.Duration(float64(256<<10-burstFor(rate)) / rate * float64(time.Second))
	if el := time.Since(start); el < least-10*time.Millisecond {
		t.Fatalf("256 KiB at 1 MiB/s took %s, less than %s", el, least)
	}
	if buf.Len() != 256<<10 {
		t.Fatalf("wrote %d bytes", buf.Len())
	}
}

func TestLimitWriterCancelAndZero(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	w := LimitWriter(ctx, io.Discard, 1000)
	if _, err := w.Write(make([]byte, 100<<10)); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if LimitWriter(t.Context(), io.Discard, 0) != io.Discard {
		t.Fatal("a zero limit should not wrap")
	}
}
