package transport

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// stdioReadChunk is the most one underlying read takes; the reading goroutine owns a buffer of this size.
const stdioReadChunk = 64 << 10

// StdioConn makes a reader and a writer (an ssh forced command's stdin and stdout) into a net.Conn, so
// `hotzfs serve --stdio` runs the same server loop as the TLS listener. Read deadlines are emulated: a
// goroutine does the blocking reads, and a Read that times out leaves the data it was waiting for to the next
// Read, so nothing is lost or reordered. Write deadlines are accepted and ignored (ssh detects a dead peer).
type StdioConn struct {
	r io.Reader
	w io.WriteCloser

	startOnce sync.Once
	requests  chan int
	results   chan stdioResult
	closed    chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex // guards deadline and changed
	deadline time.Time
	changed  chan struct{} // closed and replaced when the deadline moves, to wake a waiting Read

	readMu  sync.Mutex // one Read at a time; guards the fields below
	pending bool       // the goroutine is reading for an earlier Read that timed out
	rest    []byte     // bytes read but not yet returned
	restErr error      // error to return once rest is drained
}

type stdioResult struct {
	data []byte
	err  error
}

// NewStdioConn returns a connection reading r and writing w. Close closes w, and r when it is an io.Closer.
func NewStdioConn(r io.Reader, w io.WriteCloser) *StdioConn {
	return &StdioConn{r: r, w: w, requests: make(chan int), results: make(chan stdioResult),
		closed: make(chan struct{}), changed: make(chan struct{})}
}

func (c *StdioConn) reader() {
	buf := make([]byte, stdioReadChunk)
	for {
		var want int
		select {
		case want = <-c.requests:
		case <-c.closed:
			return
		}
		n, err := c.r.Read(buf[:min(want, len(buf))])
		select {
		case c.results <- stdioResult{data: buf[:n], err: err}:
		case <-c.closed:
			return
		}
	}
}

// Read reads from r, honouring the read deadline, including one moved while Read waits.
func (c *StdioConn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if len(c.rest) > 0 || c.restErr != nil {
		return c.drain(p), c.takeErr()
	}
	c.startOnce.Do(func() { go c.reader() })
	if !c.pending {
		select {
		case c.requests <- max(len(p), 1):
			c.pending = true
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	for {
		c.mu.Lock()
		deadline, changed := c.deadline, c.changed
		c.mu.Unlock()
		var timeout <-chan time.Time
		if !deadline.IsZero() {
			wait := time.Until(deadline)
			if wait <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			timer := time.NewTimer(wait)
			defer timer.Stop() // at most one per deadline change
			timeout = timer.C
		}
		select {
		case res := <-c.results:
			c.pending = false
			c.rest, c.restErr = res.data, res.err // the goroutine's buffer stays untouched until rest is drained
			return c.drain(p), c.takeErr()
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		case <-changed:
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
}

func (c *StdioConn) drain(p []byte) int {
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	return n
}

// takeErr returns the read error once all data before it was returned.
func (c *StdioConn) takeErr() error {
	if len(c.rest) > 0 {
		return nil
	}
	err := c.restErr
	if err != io.EOF {
		c.restErr = nil // a transient error is reported once; EOF stays
	}
	return err
}

// Write writes to w.
func (c *StdioConn) Write(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	return c.w.Write(p)
}

// Close closes w and, if it can, r. A read blocked in the goroutine ends when r does.
func (c *StdioConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.w.Close()
		if rc, ok := c.r.(io.Closer); ok {
			_ = rc.Close()
		}
	})
	return err
}

// SetDeadline sets the read deadline; writes have none.
func (c *StdioConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline sets the deadline for current and future Reads; a zero time means none.
func (c *StdioConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	return nil
}

// SetWriteDeadline is accepted and ignored.
func (c *StdioConn) SetWriteDeadline(time.Time) error { return nil }

// LocalAddr returns a placeholder address.
func (c *StdioConn) LocalAddr() net.Addr { return stdioAddr{} }

// RemoteAddr returns a placeholder address.
func (c *StdioConn) RemoteAddr() net.Addr { return stdioAddr{} }

type stdioAddr struct{}

func (stdioAddr) Network() string { return "stdio" }
func (stdioAddr) String() string  { return "stdio" }
