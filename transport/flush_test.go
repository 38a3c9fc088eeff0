package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// A stream that compresses to almost nothing (zeros) still sends a frame at least every flushEvery raw
// bytes, before Close: a receiver counting its minimum rate sees the stream move. The stream reads back whole.
func TestCompressedStreamFlushesOnRawVolume(t *testing.T) {
	for _, c := range []Compression{CompressionFastest, CompressionDefault, CompressionBetter} {
		var wire bytes.Buffer
		w, err := NewStreamWriter(&wire, StreamOptions{Compression: c, Authenticated: true})
		if err != nil {
			t.Fatal(err)
		}
		const size = 3*flushEvery + 12345
		if _, err := io.Copy(w, io.LimitReader(zeros{}, size)); err != nil {
			t.Fatal(err)
		}
		frames := 0
		fr := NewFrameReader(bytes.NewReader(wire.Bytes()), nil)
		fr.authenticated = true
		for {
			typ, _, err := fr.Next()
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: frame %d: %v", c, frames, err)
			}
			if typ == FrameZstd {
				frames++
			}
		}
		if frames < 3 {
			t.Errorf("%s: %d data frames sent for %d raw bytes of zeros before Close, want at least 3", c, frames, size)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, NewStreamReader(bytes.NewReader(wire.Bytes()), ReaderOptions{Authenticated: true}))
		if err != nil || n != size {
			t.Fatalf("%s: read back %d bytes, %v; want %d", c, n, err, size)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
