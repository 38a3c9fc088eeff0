package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/hotzfs/hotzfs/transport"
)

// progressPrinter draws one progress line per stream on a terminal (bytes, rate, ETA); elsewhere it stays
// silent, since logs already record each stream's result.
type progressPrinter struct {
	w    io.Writer
	mu   sync.Mutex
	stop chan struct{}
	wg   sync.WaitGroup
}

// newProgressPrinter returns nil when stderr is not a terminal.
func newProgressPrinter() *progressPrinter {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil
	}
	return &progressPrinter{w: os.Stderr, stop: make(chan struct{})}
}

// Track draws p under label until Close. Safe on a nil printer.
func (pp *progressPrinter) Track(label string, p *transport.Progress) {
	if pp == nil {
		return
	}
	pp.wg.Add(1)
	go func() {
		defer pp.wg.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		last := int64(-1)
		for {
			select {
			case <-pp.stop:
				return
			case now := <-tick.C:
				r := p.Report(now)
				if r.Bytes == last && r.Total > 0 && r.Bytes >= r.Total {
					continue
				}
				last = r.Bytes
				pp.mu.Lock()
				fmt.Fprintf(pp.w, "\r\033[K%s", progressLine(label, r))
				pp.mu.Unlock()
			}
		}
	}()
}

// Close stops drawing and ends the line.
func (pp *progressPrinter) Close() {
	if pp == nil {
		return
	}
	close(pp.stop)
	pp.wg.Wait()
	fmt.Fprint(pp.w, "\r\033[K")
}

func progressLine(label string, r transport.ProgressReport) string {
	line := fmt.Sprintf("%s  %s", label, humanBytes(uint64(r.Bytes)))
	if r.Total > 0 {
		line += fmt.Sprintf(" / %s (%.0f%%)", humanBytes(uint64(r.Total)), r.Percent)
	}
	line += fmt.Sprintf("  %s/s", humanBytes(uint64(r.Rate)))
	if r.ETAKnown {
		line += "  ETA " + r.ETA.Round(time.Second).String()
	}
	return line
}

// countingReader counts bytes read into a Progress.
type countingReader struct {
	r io.Reader
	p *transport.Progress
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.Add(int64(n))
	return n, err
}
