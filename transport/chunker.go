package transport

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync/atomic"
)

// chunker cuts bytes into data frames of dataChunk bytes. buf holds room for the header in front of the
// payload, so each frame leaves in one Write. With compression it is the zstd encoder's output, possibly
// written from the encoder's goroutine (never concurrently).
type chunker struct {
	w       io.Writer
	typ     FrameType
	buf     []byte // HeaderLen + dataChunk at least
	n       int    // payload bytes buffered
	frames  uint64
	wire    atomic.Int64
	discard atomic.Bool  // after CloseWithError: swallow the encoder's remaining output
	err     error        // first write error; sticky
	table   *crc32.Table // nil: frames carry no checksum (authenticated carrier)
	chain   uint32       // checksum of the last frame written: the next frame's seed
}

func (c *chunker) Write(p []byte) (int, error) {
	if c.discard.Load() {
		return len(p), nil
	}
	if c.err != nil {
		return 0, c.err
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
		if c.err != nil {
			return total, c.err
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

// flush writes the buffered payload as one frame.
func (c *chunker) flush() error {
	if c.err != nil || c.n == 0 {
		return c.err
	}
	frame := c.buf[:HeaderLen+c.n]
	c.chain = putHeader(frame, c.typ, c.table, c.chain)
	n, err := c.w.Write(frame)
	c.wire.Add(int64(n))
	c.n = 0
	c.frames++
	if err != nil {
		c.err = fmt.Errorf("write %s frame: %w", c.typ, err)
	}
	return c.err
}

// writeFrame writes a small control-type frame (end, error trailer) after the data frames.
func (c *chunker) writeFrame(t FrameType, payload []byte) error {
	if c.err != nil {
		return c.err
	}
	frame := make([]byte, HeaderLen+len(payload))
	copy(frame[HeaderLen:], payload)
	c.chain = putHeader(frame, t, c.table, c.chain)
	n, err := c.w.Write(frame)
	c.wire.Add(int64(n))
	if err != nil {
		c.err = fmt.Errorf("write %s frame: %w", t, err)
	}
	return c.err
}
