package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
)

// ReaderOptions configures a StreamReader.
type ReaderOptions struct {
	// DecoderConcurrency: 0 or 1 decodes on the reading goroutine; n > 1 lets zstd decode ahead with n
	// goroutines.
	DecoderConcurrency int
	// MaxWindow bounds the zstd window a sender may make this side allocate; 0 means DefaultMaxWindow.
	MaxWindow uint64
	Progress  *Progress // optional: counts raw bytes as they are read
	// Authenticated says the carrier authenticates every byte and its order (TLS, see [Conn.Authenticated]):
	// data frames then carry no checksum, and one that has one is refused. The writer must be told the same.
	Authenticated bool
}

// DefaultMaxWindow is the largest zstd window a StreamReader accepts unless told otherwise, which bounds the
// memory a sender can make a receiver spend per stream. Our writers use 2 MiB.
const DefaultMaxWindow = 8 << 20

// StreamReader reads one data stream and yields its raw bytes. It returns io.EOF only after a valid end frame
// whose counts match what arrived; a connection cut before it gives ErrTruncated, damage gives ErrCorrupt, an
// error trailer gives a *RemoteError carrying the sender's message. It is not safe for concurrent use, except
// RawBytes and WireBytes. After an error the connection is unusable.
type StreamReader struct {
	fr      *FrameReader
	opts    ReaderOptions
	mode    FrameType // FrameData or FrameZstd once the first frame arrived
	started bool
	cur     []byte // unread part of the current FrameData payload
	dec     *zstd.Decoder
	src     zstdSource
	frames  uint64
	raw     atomic.Int64
	endRaw  uint64
	ended   bool
	err     error // sticky
}

// NewStreamReader returns a reader of the data stream that comes next on r. It reads nothing beyond the
// stream's last frame.
func NewStreamReader(r io.Reader, opts ReaderOptions) *StreamReader {
	s := &StreamReader{fr: NewFrameReader(r), opts: opts}
	s.fr.authenticated = opts.Authenticated
	s.src.s = s
	return s
}

// start reads the first frame, which tells raw from zstd.
func (s *StreamReader) start() error {
	s.started = true
	payload, err := s.nextData()
	if err != nil {
		return err // io.EOF: an empty stream
	}
	if s.mode == FrameData {
		s.cur = payload
		return nil
	}
	s.src.pending = payload
	maxWindow := s.opts.MaxWindow
	if maxWindow == 0 {
		maxWindow = DefaultMaxWindow
	}
	dec, err := zstd.NewReader(&s.src, zstd.WithDecoderConcurrency(max(1, s.opts.DecoderConcurrency)),
		zstd.WithDecoderMaxWindow(maxWindow), zstd.WithDecoderLowmem(true))
	if err != nil {
		return fmt.Errorf("zstd decoder: %w", err)
	}
	s.dec = dec
	return nil
}

// nextData returns the next data payload, io.EOF at a valid end frame, or the stream's failure.
func (s *StreamReader) nextData() ([]byte, error) {
	t, p, err := s.fr.Next()
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w (%d bytes received)", ErrTruncated, s.fr.WireBytes())
	case err != nil:
		return nil, fmt.Errorf("read data stream: %w", err)
	}
	switch t {
	case FrameData, FrameZstd:
		if s.mode == 0 {
			s.mode = t
		} else if s.mode != t {
			return nil, protocolErrorf("%s frame inside a %s stream", t, s.mode)
		}
		s.frames++
		return p, nil
	case FrameEnd:
		return nil, s.parseEnd(p)
	case FrameError:
		var m ErrorMsg
		if err := strictUnmarshal(p, &m); err != nil {
			return nil, protocolErrorf("malformed error trailer: %v", err)
		}
		if err := m.Validate(); err != nil {
			return nil, protocolErrorf("invalid error trailer: %v", err)
		}
		return nil, m.Err()
	}
	return nil, protocolErrorf("%s frame inside a data stream", t)
}

func (s *StreamReader) parseEnd(p []byte) error {
	if len(p) != endPayloadLen {
		return protocolErrorf("end frame of %d bytes, want %d", len(p), endPayloadLen)
	}
	frames := binary.BigEndian.Uint64(p[8:16])
	if frames != s.frames {
		return corruptErrorf("received %d data frames, the sender wrote %d", s.frames, frames)
	}
	s.endRaw = binary.BigEndian.Uint64(p[0:8])
	s.ended = true
	return io.EOF
}

// fail records err as the stream's outcome; io.EOF becomes an error unless the byte count matches.
func (s *StreamReader) fail(err error) error {
	if err == io.EOF {
		if got := uint64(s.raw.Load()); !s.ended || got != s.endRaw {
			err = corruptErrorf("stream ended after %d bytes, the sender wrote %d", got, s.endRaw)
		}
	}
	s.err = err
	return err
}

// Read reads decompressed stream bytes.
func (s *StreamReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if !s.started {
		if err := s.start(); err != nil {
			return 0, s.fail(err)
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if s.dec != nil {
		n, err := s.dec.Read(p)
		s.count(n)
		if err != nil {
			return n, s.fail(s.zstdError(err))
		}
		return n, nil
	}
	for len(s.cur) == 0 {
		payload, err := s.nextData()
		if err != nil {
			return 0, s.fail(err)
		}
		s.cur = payload
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	s.count(n)
	return n, nil
}

// zstdError explains a decoder error: the frame layer's failure if there was one (the decoder may wrap or
// replace it), else damage inside the compressed stream.
func (s *StreamReader) zstdError(err error) error {
	if s.src.err != nil {
		return s.src.err
	}
	if err == io.EOF {
		return io.EOF
	}
	return corruptErrorf("zstd: %v", err)
}

// WriteTo copies the stream's bytes to w until the end frame; io.Copy uses it. It returns nil after a valid
// end, the stream's failure, or w's error.
func (s *StreamReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if s.started && s.dec != nil {
			cw := &countingWriter{w: w, count: s.count}
			n, err := s.dec.WriteTo(cw)
			total += n
			if cw.err != nil {
				return total, cw.err
			}
			if err == nil {
				err = io.EOF
			}
			return total, eofIsNil(s.fail(s.zstdError(err)))
		}
		if len(s.cur) > 0 {
			m, err := w.Write(s.cur)
			s.cur = s.cur[m:]
			s.count(m)
			total += int64(m)
			if err != nil {
				return total, err
			}
		}
		if s.err != nil {
			return total, eofIsNil(s.err)
		}
		var err error
		if !s.started {
			err = s.start()
		} else {
			s.cur, err = s.nextData()
		}
		if err != nil {
			return total, eofIsNil(s.fail(err))
		}
	}
}

func eofIsNil(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}

func (s *StreamReader) count(n int) {
	s.raw.Add(int64(n))
	if s.opts.Progress != nil {
		s.opts.Progress.Add(int64(n))
	}
}

// Close releases the decoder and the frame buffer. It does not read the rest of a stream: after closing an
// unfinished stream, close the connection too.
func (s *StreamReader) Close() error {
	if s.dec != nil {
		s.dec.Close()
	}
	s.fr.Release()
	if s.err == nil {
		s.err = errClosed
	}
	return nil
}

// RawBytes returns the stream bytes yielded so far; safe from any goroutine.
func (s *StreamReader) RawBytes() int64 { return s.raw.Load() }

// WireBytes returns the bytes read from the carrier so far; safe from any goroutine.
func (s *StreamReader) WireBytes() int64 { return s.fr.WireBytes() }

// zstdSource feeds the zstd decoder the payloads of the stream's zstd frames and ends at the end frame.
type zstdSource struct {
	s       *StreamReader
	pending []byte
	err     error // the frame layer's failure, other than the clean end
}

func (z *zstdSource) Read(p []byte) (int, error) {
	for len(z.pending) == 0 {
		payload, err := z.s.nextData()
		if err != nil {
			if err != io.EOF {
				z.err = err
			}
			return 0, err
		}
		z.pending = payload
	}
	n := copy(p, z.pending)
	z.pending = z.pending[n:]
	return n, nil
}

type countingWriter struct {
	w     io.Writer
	count func(int)
	err   error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.count(n)
	if err != nil {
		c.err = err
	}
	return n, err
}
