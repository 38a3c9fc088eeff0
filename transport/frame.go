package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync/atomic"
)

// FrameType is the first byte of a frame.
type FrameType uint8

// Frame types. Numbers are part of the wire format: never reuse or renumber them.
const (
	FrameControl FrameType = 1 // one JSON control message
	FrameData    FrameType = 2 // a piece of an uncompressed data stream
	FrameZstd    FrameType = 3 // a piece of one zstd stream that spans all FrameZstd frames of a data stream
	FrameEnd     FrameType = 4 // end of a data stream: raw byte count and data frame count, uint64 each
	FrameError   FrameType = 5 // error trailer of a data stream: a JSON [ErrorMsg] with the sender's error
)

// Size limits. A reader rejects a frame whose length field exceeds its type's limit before it reads or
// allocates anything for the payload.
const (
	HeaderLen         = 9       // type, length, crc32c
	MaxControlPayload = 1 << 20 // JSON control messages
	// MaxHelloPayload is the control frame limit while a hello is expected: the largest valid Hello (64
	// capabilities and the longest name and version) takes under 5 KiB.
	MaxHelloPayload   = 8 << 10
	MaxDataPayload    = 1 << 20 // FrameData and FrameZstd
	MaxErrorPayload   = 64 << 10
	endPayloadLen     = 16
	dataChunk         = 256 << 10 // payload size of the data frames a StreamWriter writes
	maxTrailerMessage = 8 << 10   // an error trailer's message is cut to this many bytes
	readGrowStep      = 64 << 10  // a frame reader grows its buffer in steps as payload bytes arrive
)

func (t FrameType) String() string {
	switch t {
	case FrameControl:
		return "control"
	case FrameData:
		return "data"
	case FrameZstd:
		return "zstd-data"
	case FrameEnd:
		return "end"
	case FrameError:
		return "error-trailer"
	}
	return fmt.Sprintf("unknown(%d)", uint8(t))
}

// MaxPayload returns the largest payload a frame of type t may carry, and false for an unknown type.
func MaxPayload(t FrameType) (int, bool) {
	switch t {
	case FrameControl:
		return MaxControlPayload, true
	case FrameData, FrameZstd:
		return MaxDataPayload, true
	case FrameEnd:
		return endPayloadLen, true
	case FrameError:
		return MaxErrorPayload, true
	}
	return 0, false
}

// FrameReader reads frames from r. It reads exactly one frame per call and nothing beyond it, so other readers
// may continue on r afterwards. It reuses one payload buffer.
type FrameReader struct {
	r     io.Reader
	hdr   [HeaderLen]byte
	buf   []byte
	table *crc32.Table
	chain uint32 // running CRC of this stream's frames so far
	// authenticated: the carrier authenticates every byte (TLS), so data-stream frames carry a zero checksum
	// field, which is required to be zero and not computed.
	authenticated bool
	controlLimit  int // if > 0, replaces MaxControlPayload
	wire          atomic.Int64
}

// NewFrameReader returns a reader of frames from r. pool may be nil.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: r, table: crc32.MakeTable(crc32.Castagnoli)}
}

// Next reads one frame. The payload is valid until the next call. It returns io.EOF only when r ends exactly
// at a frame boundary; a frame cut short gives io.ErrUnexpectedEOF; a bad checksum gives ErrCorrupt; an
// unknown type or a length over the type's limit gives ErrProtocol.
func (fr *FrameReader) Next() (FrameType, []byte, error) {
	n, err := io.ReadFull(fr.r, fr.hdr[:])
	fr.wire.Add(int64(n))
	if err != nil {
		return 0, nil, err
	}
	t := FrameType(fr.hdr[0])
	length := binary.BigEndian.Uint32(fr.hdr[1:5])
	limit, ok := MaxPayload(t)
	if !ok {
		return 0, nil, protocolErrorf("unknown frame type %d", uint8(t))
	}
	if t == FrameControl && fr.controlLimit > 0 {
		limit = fr.controlLimit
	}
	if int64(length) > int64(limit) {
		return 0, nil, protocolErrorf("%s frame of %d bytes exceeds the limit of %d", t, length, limit)
	}
	payload, err := fr.readPayload(int(length))
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	if t.inStream() && fr.authenticated {
		if binary.BigEndian.Uint32(fr.hdr[5:9]) != 0 {
			return 0, nil, protocolErrorf("%s frame with a checksum on an authenticated carrier", t)
		}
		return t, payload, nil
	}
	var seed uint32
	if t.inStream() {
		seed = fr.chain
	}
	sum := crc32.Update(crc32.Update(seed, fr.table, fr.hdr[:5]), fr.table, payload)
	if sum != binary.BigEndian.Uint32(fr.hdr[5:9]) {
		return 0, nil, corruptErrorf("checksum mismatch in a %s frame of %d bytes", t, length)
	}
	if t.inStream() {
		fr.chain = sum
	}
	return t, payload, nil
}

// readPayload reads n bytes into the reused buffer, growing it only as bytes actually arrive, so a length
// field that promises more than the peer sends costs at most one growth step.
func (fr *FrameReader) readPayload(n int) ([]byte, error) {
	got := 0
	for got < n {
		want := min(n, got+max(readGrowStep, got))
		if cap(fr.buf) < want {
			grown := make([]byte, want)
			copy(grown, fr.buf[:got])
			fr.buf = grown
		}
		fr.buf = fr.buf[:cap(fr.buf)]
		m, err := io.ReadFull(fr.r, fr.buf[got:want])
		got += m
		fr.wire.Add(int64(m))
		if err != nil {
			return nil, err
		}
	}
	return fr.buf[:n], nil
}

// WireBytes returns how many bytes the reader has consumed from r. Safe to call from any goroutine.
func (fr *FrameReader) WireBytes() int64 { return fr.wire.Load() }

// Release drops the payload buffer; the reader must not be used afterwards.
func (fr *FrameReader) Release() { fr.buf = nil }

// inStream reports whether frames of type t belong to a data stream, whose checksums are chained.
func (t FrameType) inStream() bool { return t != FrameControl }

// putHeader fills frame[:HeaderLen] for the payload in frame[HeaderLen:] and returns the checksum, computed
// from seed: 0 for a control frame, the previous frame's checksum inside a data stream. A nil table leaves
// the checksum field zero (a data frame on an authenticated carrier).
func putHeader(frame []byte, t FrameType, table *crc32.Table, seed uint32) uint32 {
	frame[0] = byte(t)
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(frame)-HeaderLen))
	if table == nil {
		binary.BigEndian.PutUint32(frame[5:9], 0)
		return 0
	}
	sum := crc32.Update(crc32.Update(seed, table, frame[:5]), table, frame[HeaderLen:])
	binary.BigEndian.PutUint32(frame[5:9], sum)
	return sum
}

// WriteFrame writes one frame on its own (checksum seeded with 0) with a single Write call, such as a control
// frame; data streams go through a StreamWriter. It refuses payloads over the type's limit.
func WriteFrame(w io.Writer, t FrameType, payload []byte) error {
	limit, ok := MaxPayload(t)
	if !ok {
		return fmt.Errorf("write frame: unknown frame type %d", uint8(t))
	}
	if len(payload) > limit {
		return fmt.Errorf("write frame: %s payload of %d bytes exceeds the limit of %d", t, len(payload), limit)
	}
	frame := make([]byte, HeaderLen+len(payload))
	copy(frame[HeaderLen:], payload)
	putHeader(frame, t, crc32.MakeTable(crc32.Castagnoli), 0)
	if _, err := w.Write(frame); err != nil {
		return fmt.Errorf("write %s frame: %w", t, err)
	}
	return nil
}
