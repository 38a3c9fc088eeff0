package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Timeouts bound how long a connection may go without progress. Zero disables one.
type Timeouts struct {
	Read  time.Duration // no byte arrived for this long: idle (between messages) or stalled (in a stream)
	Write time.Duration // the peer accepted no byte for this long
}

// Conn is a carrier connection guarded by per-operation deadlines and a context: every Read and Write gets a
// fresh deadline from the current Timeouts, so an idle or stalled peer is dropped, and cancelling the context
// interrupts any blocked operation. Endpoints switch timeouts with SetTimeouts, e.g. a short one for the
// banner, an idle one while waiting for a request, a stall one during a stream.
type Conn struct {
	net.Conn
	ctx      context.Context
	read     atomic.Int64
	write    atomic.Int64
	mu       sync.Mutex // orders deadline updates against cancellation; guards the fields below
	canceled bool
	readCap  time.Time // absolute deadlines set through SetDeadline and friends; zero: none
	writeCap time.Time
	// A minimum rate (SetMinRate): each direction has a budget of time it may spend waiting for the peer.
	minRate     int64 // bytes per second; 0: none
	rateWindow  time.Duration
	readBudget  time.Duration
	writeBudget time.Duration
	stop        func() bool
	batcher     *bufferedConn // under a TLS connection made with Buffered: batches large writes; else nil
}

// tlsRecord is the most plaintext one TLS record carries: a write of more becomes several records.
const tlsRecord = 16 << 10

// Guard wraps c. Close the returned Conn (it closes c) to release the context watch.
func Guard(ctx context.Context, c net.Conn, t Timeouts) *Conn {
	g := &Conn{Conn: c, ctx: ctx}
	if tc, ok := c.(*tls.Conn); ok {
		if g.batcher, _ = tc.NetConn().(*bufferedConn); g.batcher != nil {
			g.batcher.bufferReads() // the handshake is over: the session's traffic starts
		}
	}
	g.SetTimeouts(t)
	g.stop = context.AfterFunc(ctx, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.canceled = true
		_ = c.SetDeadline(time.Unix(1, 0))
	})
	return g
}

// Authenticated reports whether the carrier authenticates every byte and its order: a TLS connection, whose
// AEAD records make a per-frame checksum redundant. Both ends of a session derive it from their own carrier,
// so they agree: mTLS on both sides, or ssh stdio on both.
func (g *Conn) Authenticated() bool {
	_, ok := g.Conn.(*tls.Conn)
	return ok
}

// SetTimeouts replaces the timeouts; it applies from the next Read or Write.
func (g *Conn) SetTimeouts(t Timeouts) {
	g.read.Store(int64(t.Read))
	g.write.Store(int64(t.Write))
}

// SetMinRate makes the connection fail an operation once the peer moves less than bytesPerSecond, averaged
// over window: the time each direction spends blocked in Read or Write draws on a budget of at most window
// (full when set), and every byte moved earns 1/bytesPerSecond s back. A peer that trickles bytes therefore
// runs out of budget within about window however often a byte arrives, unlike a per-operation timeout, while
// time this side spends elsewhere (zfs busy on disk) is not held against the peer. 0 turns it off.
func (g *Conn) SetMinRate(bytesPerSecond int64, window time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if bytesPerSecond <= 0 || window <= 0 {
		g.minRate = 0
		return
	}
	g.minRate, g.rateWindow = bytesPerSecond, window
	g.readBudget, g.writeBudget = window, window
}

// Earn credits n bytes that the peer's data carried once decoded (a stream's raw bytes) to the read budget of
// SetMinRate, on top of the wire bytes Read counts: a well-compressed stream moves the receiver at its raw rate.
func (g *Conn) Earn(n int) { g.spend(&g.readBudget, 0, n) }

// spend charges an operation that took elapsed and moved n bytes to budget, and reports whether the budget
// ran out.
func (g *Conn) spend(budget *time.Duration, elapsed time.Duration, n int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.minRate == 0 {
		return false
	}
	earned := time.Duration(int64(n) * int64(time.Second) / g.minRate)
	*budget = min(*budget-elapsed+earned, g.rateWindow)
	return *budget <= 0
}

// Read reads with a fresh read deadline.
func (g *Conn) Read(p []byte) (int, error) {
	timeout := time.Duration(g.read.Load())
	if err := g.arm(timeout, &g.readCap, &g.readBudget, g.Conn.SetReadDeadline); err != nil {
		return 0, err
	}
	start := time.Now()
	n, err := g.Conn.Read(p)
	slow := g.spend(&g.readBudget, time.Since(start), n)
	if err != nil {
		err = g.explain(err, "no data from the peer", timeout, &g.readCap, slow)
	}
	return n, err
}

// Write writes with a fresh write deadline. On TLS over a Buffered connection, the records of a large p leave
// in a few large writes.
func (g *Conn) Write(p []byte) (int, error) {
	timeout := time.Duration(g.write.Load())
	if err := g.arm(timeout, &g.writeCap, &g.writeBudget, g.Conn.SetWriteDeadline); err != nil {
		return 0, err
	}
	start := time.Now()
	var n int
	var err error
	if g.batcher != nil && len(p) > tlsRecord {
		n, err = g.batcher.batch(func() (int, error) { return g.Conn.Write(p) })
	} else {
		n, err = g.Conn.Write(p)
	}
	slow := g.spend(&g.writeBudget, time.Since(start), n)
	if err != nil {
		err = g.explain(err, "the peer accepted no data", timeout, &g.writeCap, slow)
	}
	return n, err
}

// arm sets the operation's deadline: now+timeout, the absolute cap or, with a minimum rate, the end of the
// direction's budget, whichever comes first.
func (g *Conn) arm(timeout time.Duration, limit *time.Time, budget *time.Duration, set func(time.Time) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.canceled {
		return fmt.Errorf("connection: %w", context.Cause(g.ctx))
	}
	now := time.Now()
	var d time.Time
	if timeout > 0 {
		d = now.Add(timeout)
	}
	if !limit.IsZero() && (d.IsZero() || limit.Before(d)) {
		d = *limit
	}
	if g.minRate > 0 {
		if end := now.Add(max(*budget, 0)); d.IsZero() || end.Before(d) {
			d = end
		}
	}
	if err := set(d); err != nil && !errors.Is(err, os.ErrNoDeadline) {
		return fmt.Errorf("set deadline: %w", err)
	}
	return nil
}

// explain turns a deadline error into one that says which timeout fired, or the context's cause; slow says
// the minimum rate's budget ran out.
func (g *Conn) explain(err error, what string, timeout time.Duration, limit *time.Time, slow bool) error {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	g.mu.Lock()
	canceled, rate, window, capped := g.canceled, g.minRate, g.rateWindow, !limit.IsZero() && !time.Now().Before(*limit)
	g.mu.Unlock()
	switch {
	case canceled:
		return fmt.Errorf("connection: %w", context.Cause(g.ctx))
	case capped:
		return fmt.Errorf("the peer did not complete the exchange by its deadline: %w", err)
	case slow:
		return fmt.Errorf("the peer moved less than %d bytes/s over %s (minimum rate): %w", rate, window, err)
	}
	return fmt.Errorf("%s for %s (timeout): %w", what, timeout, err)
}

// SetDeadline sets an absolute deadline on top of the per-operation timeouts (Handshake uses it); a zero
// time removes it.
func (g *Conn) SetDeadline(t time.Time) error {
	if err := g.SetReadDeadline(t); err != nil {
		return err
	}
	return g.SetWriteDeadline(t)
}

// SetReadDeadline sets an absolute read deadline on top of the read timeout.
func (g *Conn) SetReadDeadline(t time.Time) error {
	return g.setCap(&g.readCap, t, g.Conn.SetReadDeadline)
}

// SetWriteDeadline sets an absolute write deadline on top of the write timeout.
func (g *Conn) SetWriteDeadline(t time.Time) error {
	return g.setCap(&g.writeCap, t, g.Conn.SetWriteDeadline)
}

func (g *Conn) setCap(limit *time.Time, t time.Time, set func(time.Time) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	*limit = t
	if g.canceled {
		return nil
	}
	return set(t) // reaches an operation already blocked
}

// Close stops watching the context and closes the connection.
func (g *Conn) Close() error {
	g.stop()
	return g.Conn.Close()
}
