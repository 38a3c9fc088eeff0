package main

import (
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/transport"
)

func TestProgressLine(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := transport.NewProgress(start, 100<<20)
	p.Add(25 << 20)
	got := progressLine("tank/a", p.Report(start.Add(5*time.Second)))
	want := "tank/a  25.0 MiB / 100.0 MiB (25%)  5.0 MiB/s  ETA 15s"
	if got != want {
		t.Errorf("progress line %q, want %q", got, want)
	}
	p = transport.NewProgress(start, 0)
	if got := progressLine("x", p.Report(start)); got != "x  0 B  0 B/s" {
		t.Errorf("no estimate, no bytes: %q", got)
	}
}
