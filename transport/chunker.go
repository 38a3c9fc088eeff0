package transport

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"sync/atomic"
)

// chunker cuts bytes into data frames of dataChunk bytes. buf holds room for the header in front of the
// payload, so each frame leaves in one Write. With compression it is the zstd encoder's output, possibly
// written from the encoder's goroutine (never concurrently).
//
// Without a queue the frames are written by the goroutine that fills them. With one (startQueue), full frames
// wait in a queue that a goroutine of the chunker writes out, so filling the next frames (reading zfs send,
// compressing) goes on while the carrier is slow or paced by a bandwidth limit. That goroutine sets the
// headers: the checksum chain then follows what was really written, also when frames are dropped after an
// abort.
type chunker struct {
	w       io.Writer
	typ     FrameType // of the data frames (the end and error frames are the others)
	buf     []byte    // HeaderLen + dataChunk at least
	n       int       // payload bytes buffered
	frames  uint64    // data frames made (queued or written)
	wire    atomic.Int64
	discard atomic.Bool  // after an abort: swallow the encoder's remaining output and drop queued data frames
	table   *crc32.Table // nil: frames carry no checksum (authenticated carrier)
	chain   uint32       // checksum of the last frame written: the next frame's seed; the writing goroutine's

	mu  sync.Mutex
	err error // first write error; sticky

	queue chan queuedFrame // nil: no queue
	free  chan []byte      // data-frame buffers back from the queue; nil entries are allocated when needed
	done  chan struct{}    // closed when the queue's goroutine has written (or dropped) everything
}

type queuedFrame struct {
	typ   FrameType
	frame []byte // header space + payload
}

// startQueue lets up to depth full data frames wait for the carrier while the next ones are filled.
func (c *chunker) startQueue(depth int) {
	c.queue = make(chan queuedFrame, depth)
	c.free = make(chan []byte, depth)
	for range depth {
		c.free <- nil
	}
	c.done = make(chan struct{})
	go c.drain()
}

func (c *chunker) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *chunker) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

func (c *chunker) Write(p []byte) (int, error) {
	if c.discard.Load() {
		return len(p), nil
	}
	if err := c.failure(); err != nil {
		return 0, err
	}
	total := len(p)
	for len(p) > 0 {
		m := copy(c.buf[HeaderLen+c.n:HeaderLen+dataChunk], p)
		c.n += m
		p = p[m:]
		if c.n == dataChunk {
			if err := c.flush(); err != nil {
				return total - len(p), err
			}
		}
	}
	return total, nil
}

// fill reads r straight into the frame buffer until r ends, calling count for every read.
func (c *chunker) fill(r io.Reader, count func(int)) (int64, error) {
	var total int64
	for {
		if err := c.failure(); err != nil {
			return total, err
		}
		m, err := r.Read(c.buf[HeaderLen+c.n : HeaderLen+dataChunk])
		c.n += m
		total += int64(m)
		count(m)
		if c.n == dataChunk {
			if ferr := c.flush(); ferr != nil {
				return total, ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// flush sends the buffered payload as one frame, or queues it.
func (c *chunker) flush() error {
	if err := c.failure(); err != nil || c.n == 0 {
		return err
	}
	frame := c.buf[:HeaderLen+c.n]
	c.n = 0
	c.frames++
	if c.queue == nil {
		c.send(c.typ, frame)
		return c.failure()
	}
	c.queue <- queuedFrame{typ: c.typ, frame: frame}
	c.buf = <-c.free // waits while the queue is full
	if c.buf == nil {
		c.buf = newFrameBuffer()
	}
	return c.failure()
}

// writeFrame sends a small frame of another type (end, error trailer) after the data frames.
func (c *chunker) writeFrame(t FrameType, payload []byte) error {
	if err := c.failure(); err != nil {
		return err
	}
	frame := make([]byte, HeaderLen+len(payload))
	copy(frame[HeaderLen:], payload)
	if c.queue == nil {
		c.send(t, frame)
	} else {
		c.queue <- queuedFrame{typ: t, frame: frame}
	}
	return c.failure()
}

// send writes one frame; the queue's goroutine calls it, or the filling goroutine when there is no queue.
func (c *chunker) send(t FrameType, frame []byte) {
	if c.failure() != nil || (c.discard.Load() && t == c.typ) {
		return
	}
	c.chain = putHeader(frame, t, c.table, c.chain)
	n, err := c.w.Write(frame)
	c.wire.Add(int64(n))
	if err != nil {
		c.fail(fmt.Errorf("write %s frame: %w", t, err))
	}
}

func (c *chunker) drain() {
	defer close(c.done)
	for q := range c.queue {
		c.send(q.typ, q.frame)
		if q.typ == c.typ { // a data frame: its buffer is reused
			c.free <- q.frame[:cap(q.frame)]
		}
	}
}

// finish waits until every queued frame was written (or dropped after a failure) and returns the first
// write error. The chunker takes no more frames afterwards.
func (c *chunker) finish() error {
	if c.queue != nil {
		close(c.queue)
		<-c.done
	}
	return c.failure()
}

// release drops the frame buffers, the queue's spare ones included; after finish.
func (c *chunker) release() {
	c.buf = nil
	for c.free != nil {
		select {
		case <-c.free:
		default:
			return
		}
	}
}
