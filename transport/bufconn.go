package transport

import (
	"bufio"
	"net"
	"sync"
)

// bufferSize is how much a Buffered connection reads from the kernel at once, and how much a batch of writes
// collects before it goes out.
const bufferSize = 256 << 10

// Buffered returns c with buffered reads and batched writes; put it under a TLS connection, which otherwise
// makes one system call per 16 KiB record each way. Reads fill a 256 KiB buffer once the session starts: a
// Guard around the TLS connection, made after the TLS handshake, allocates it (before, reads go straight to
// c), so a connection that never completes a handshake costs no buffer. Writes go straight through, except
// inside a batch: a Guard around the TLS connection batches each Write larger than one record, so the
// records TLS makes of it leave in 256 KiB writes, flushed before that Write returns. Deadlines and Close go
// to c unchanged.
func Buffered(c net.Conn) net.Conn {
	return &bufferedConn{Conn: c}
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader // nil until bufferReads

	mu       sync.Mutex // one writer at a time: TLS's own records, and alerts from a reading goroutine
	batching bool
	pending  []byte // written in this batch, not yet sent; allocated at the first batch
}

// bufferReads makes later reads go through a read buffer. Nothing was read ahead before, so nothing is lost;
// it must not run concurrently with a Read.
func (c *bufferedConn) bufferReads() {
	if c.r == nil {
		c.r = bufio.NewReaderSize(c.Conn, bufferSize)
	}
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.r == nil {
		return c.Conn.Read(p)
	}
	return c.r.Read(p)
}

func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batching && len(c.pending)+len(p) <= cap(c.pending) {
		c.pending = append(c.pending, p...)
		return len(p), nil
	}
	if err := c.flushLocked(); err != nil {
		return 0, err
	}
	if c.batching && len(p) < cap(c.pending) {
		c.pending = append(c.pending, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// batch runs write with the connection's writes collected, then sends what is left.
func (c *bufferedConn) batch(write func() (int, error)) (int, error) {
	c.mu.Lock()
	if c.pending == nil {
		c.pending = make([]byte, 0, bufferSize)
	}
	c.batching = true
	c.mu.Unlock()
	n, err := write()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching = false
	if ferr := c.flushLocked(); err == nil {
		err = ferr
	}
	return n, err
}

func (c *bufferedConn) flushLocked() error {
	if len(c.pending) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.pending)
	c.pending = c.pending[:0]
	return err
}
