package transport

import (
	"sync/atomic"
	"time"
)

// Progress counts the bytes of one transfer. Add is cheap and safe from the data path's goroutine; Report is
// safe from any goroutine. Time is always passed in: the start at creation, now at each Report.
type Progress struct {
	start time.Time
	bytes atomic.Int64
	total atomic.Int64
}

// NewProgress starts counting at start; total is the estimated size (from zfs send -nvP), 0 when unknown.
func NewProgress(start time.Time, total int64) *Progress {
	p := &Progress{start: start}
	p.total.Store(total)
	return p
}

// Add counts n more bytes.
func (p *Progress) Add(n int64) { p.bytes.Add(n) }

// SetTotal replaces the size estimate.
func (p *Progress) SetTotal(n int64) { p.total.Store(n) }

// Bytes returns the bytes counted so far.
func (p *Progress) Bytes() int64 { return p.bytes.Load() }

// ProgressReport is a point-in-time view of a Progress.
type ProgressReport struct {
	Bytes    int64
	Total    int64         // estimate; 0 when unknown
	Elapsed  time.Duration //
	Rate     float64       // bytes per second, averaged since the start
	ETA      time.Duration // time left at Rate; valid only when ETAKnown
	ETAKnown bool          // false without an estimate or before any byte moved
	Percent  float64       // of Total, capped at 100; 0 without an estimate
}

// Report computes rate, percentage and ETA at now.
func (p *Progress) Report(now time.Time) ProgressReport {
	r := ProgressReport{Bytes: p.bytes.Load(), Total: p.total.Load(), Elapsed: now.Sub(p.start)}
	if r.Elapsed > 0 {
		r.Rate = float64(r.Bytes) / r.Elapsed.Seconds()
	}
	if r.Total <= 0 {
		return r
	}
	r.Percent = min(100, 100*float64(r.Bytes)/float64(r.Total))
	if r.Rate > 0 {
		left := max(0, r.Total-r.Bytes)
		r.ETA = time.Duration(float64(left) / r.Rate * float64(time.Second))
		r.ETAKnown = true
	}
	return r
}
