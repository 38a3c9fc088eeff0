package transport

import (
	"sync"
	"testing"
	"time"
)

func TestProgressReport(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := NewProgress(start, 1000)
	if r := p.Report(start); r.ETAKnown || r.Rate != 0 {
		t.Fatalf("before any byte: %+v", r)
	}
	p.Add(250)
	r := p.Report(start.Add(5 * time.Second))
	if r.Rate != 50 || r.Percent != 25 || !r.ETAKnown || r.ETA != 15*time.Second {
		t.Fatalf("at 250 of 1000 after 5 s: %+v", r)
	}
	p.Add(1000) // the estimate was low
	r = p.Report(start.Add(10 * time.Second))
	if r.Percent != 100 || r.ETA != 0 {
		t.Fatalf("past the estimate: %+v", r)
	}
	p.SetTotal(0)
	if r := p.Report(start.Add(10 * time.Second)); r.ETAKnown || r.Percent != 0 {
		t.Fatalf("without estimate: %+v", r)
	}
}

// Add from the data path and Report from a metrics goroutine may run at once (go test -race).
func TestProgressConcurrent(t *testing.T) {
	p := NewProgress(time.Unix(0, 0), 1<<20)
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 1000 {
			p.Add(1)
		}
	})
	wg.Go(func() {
		for i := range 1000 {
			_ = p.Report(time.Unix(int64(i), 0))
		}
	})
	wg.Wait()
	if p.Bytes() != 1000 {
		t.Fatalf("counted %d", p.Bytes())
	}
}
