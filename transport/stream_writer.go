package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
)

// StreamOptions configures a StreamWriter.
type StreamOptions struct {
	Compression Compression // empty means none
	// EncoderConcurrency: 0 (default) compresses one block in the background while the next is filled; 1
	// compresses on the writing goroutine only; n >= 2 splits the input into jobs that n goroutines compress in
	// parallel (more CPU and ~n x 8 MiB of memory for throughput on a fast link).
	EncoderConcurrency int
	Progress           *Progress // optional: counts raw bytes as they are written
	// Authenticated says the carrier authenticates every byte and its order (TLS, see [Conn.Authenticated]):
	// the data frames then carry no checksum. The reader must be told the same.
	Authenticated bool
	// Queue is how many bytes of full frames may wait for the carrier while the next ones are made (at least
	// one frame); a goroutine of the writer writes them out. 0: frames are written by the writing goroutine.
	Queue int
}

// DefaultQueue is the Queue the sending sides use on an unlimited link: eight frames.
const DefaultQueue = 8 * dataChunk

// StreamWriter turns a byte stream into data frames: raw, or one zstd stream spread over zstd frames.
// Close ends the stream with an end frame; CloseWithError ends it with an error trailer instead. Exactly one of
// them must be called. It is not safe for concurrent use, except RawBytes and WireBytes.
type StreamWriter struct {
	chunk    *chunker
	enc      *zstd.Encoder
	raw      atomic.Int64
	progress *Progress
	closed   bool
	unsent   int64 // raw bytes given to the encoder since the last frame was flushed
}

// flushEvery is how many raw bytes a compressed stream takes at most before its data goes out in a frame,
// however well it compresses: 64 MiB of zeros fill no frame, and a receiver that sees nothing for long cuts
// the stream (its minimum rate counts the decoded bytes each frame carries).
const flushEvery = 64 << 20

// NewStreamWriter returns a writer of one data stream to w.
func NewStreamWriter(w io.Writer, opts StreamOptions) (*StreamWriter, error) {
	c := opts.Compression
	if c == "" {
		c = CompressionNone
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s := &StreamWriter{progress: opts.Progress}
	s.chunk = &chunker{w: w, typ: FrameData, buf: newFrameBuffer()}
	if !opts.Authenticated {
		s.chunk.table = crc32.MakeTable(crc32.Castagnoli)
	}
	if c != CompressionNone {
		s.chunk.typ = FrameZstd
		enc, err := zstd.NewWriter(s.chunk, encoderOptions(c, opts.EncoderConcurrency)...)
		if err != nil {
			return nil, fmt.Errorf("zstd encoder: %w", err)
		}
		s.enc = enc
	}
	if opts.Queue > 0 {
		s.chunk.startQueue(max(1, opts.Queue/dataChunk))
	}
	return s, nil
}

// encoderWindow is the zstd window: what `zstd -3` uses, and what bounds each receiving stream's decoder memory.
const encoderWindow = 2 << 20

func encoderOptions(c Compression, concurrency int) []zstd.EOption {
	opts := []zstd.EOption{zstd.WithEncoderLevel(c.zstdLevel()), zstd.WithEncoderCRC(true),
		zstd.WithWindowSize(encoderWindow)}
	switch {
	case concurrency == 1:
		return append(opts, zstd.WithEncoderConcurrency(1))
	case concurrency > 1:
		return append(opts, zstd.WithEncoderConcurrency(concurrency), zstd.WithConcurrentBlocks(true))
	}
	return append(opts, zstd.WithEncoderConcurrency(2))
}

var errClosed = errors.New("stream already closed")

// Write adds p to the stream.
func (s *StreamWriter) Write(p []byte) (int, error) {
	if s.closed {
		return 0, errClosed
	}
	var n int
	var err error
	if s.enc != nil {
		n, err = s.enc.Write(p)
		if s.unsent += int64(n); err == nil && s.unsent >= flushEvery {
			err = s.flushCompressed()
		}
	} else {
		n, err = s.chunk.Write(p)
	}
	s.count(n)
	if err != nil {
		return n, fmt.Errorf("write data stream: %w", err)
	}
	return n, nil
}

// flushCompressed sends what the encoder holds as a frame, full or not.
func (s *StreamWriter) flushCompressed() error {
	s.unsent = 0
	if err := s.enc.Flush(); err != nil {
		return err
	}
	return s.chunk.flush()
}

// ReadFrom copies r into the stream until r ends; io.Copy uses it. Without compression it reads straight into
// the frame buffer. A failing r returns r's error unchanged; the caller then calls CloseWithError.
func (s *StreamWriter) ReadFrom(r io.Reader) (int64, error) {
	if s.closed {
		return 0, errClosed
	}
	if s.enc != nil {
		return s.compressFrom(r)
	}
	return s.chunk.fill(r, s.count)
}

// compressFrom reads r into the encoder in blocks, so that a frame leaves at least every flushEvery raw bytes.
func (s *StreamWriter) compressFrom(r io.Reader) (int64, error) {
	buf := make([]byte, readBlock)
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			m, werr := s.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
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

// readBlock is how much compressFrom reads from its source at a time.
const readBlock = 1 << 20

func (s *StreamWriter) count(n int) {
	s.raw.Add(int64(n))
	if s.progress != nil {
		s.progress.Add(int64(n))
	}
}

// Close flushes the stream and writes the end frame, which carries the raw byte count and frame count so the
// reader can check that nothing was lost.
func (s *StreamWriter) Close() error {
	if s.closed {
		return errClosed
	}
	s.closed = true
	defer s.release()
	err := s.end()
	if ferr := s.chunk.finish(); err == nil {
		err = ferr
	}
	return err
}

func (s *StreamWriter) end() error {
	if s.enc != nil {
		if err := s.enc.Close(); err != nil {
			return fmt.Errorf("finish zstd stream: %w", err)
		}
	}
	if err := s.chunk.flush(); err != nil {
		return err
	}
	var end [endPayloadLen]byte
	binary.BigEndian.PutUint64(end[0:8], uint64(s.raw.Load()))
	binary.BigEndian.PutUint64(end[8:16], s.chunk.frames)
	return s.chunk.writeFrame(FrameEnd, end[:])
}

// CloseWithError abandons the stream and sends cause's message as the error trailer, so the reader fails with
// a *RemoteError naming it instead of waiting or mistaking the cut for an end. Buffered and queued data is
// dropped.
func (s *StreamWriter) CloseWithError(cause error) error {
	if s.closed {
		return errClosed
	}
	s.closed = true
	defer s.release()
	s.chunk.discard.Store(true)
	if s.enc != nil {
		_ = s.enc.Close() // stops the encoder's goroutines; its output is discarded
	}
	if cause == nil {
		cause = errors.New("sender aborted the stream")
	}
	payload, err := marshal(&ErrorMsg{Code: CodeSource, Message: truncateMessage(cause.Error())})
	if err != nil {
		err = fmt.Errorf("encode error trailer: %w", err)
	} else {
		err = s.chunk.writeFrame(FrameError, payload)
	}
	if ferr := s.chunk.finish(); err == nil {
		err = ferr
	}
	return err
}

func (s *StreamWriter) release() { s.chunk.release() }

// RawBytes returns how many stream bytes were written so far; safe from any goroutine.
func (s *StreamWriter) RawBytes() int64 { return s.raw.Load() }

// WireBytes returns how many bytes went to the carrier so far, frame headers included; safe from any goroutine.
func (s *StreamWriter) WireBytes() int64 { return s.chunk.wire.Load() }
