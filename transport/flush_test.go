package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
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
		fr := NewFrameReader(bytes.NewReader(wire.Bytes()))
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

// Decoded bytes earn read budget: a peer whose few wire bytes carry much raw data is not cut by the minimum
// rate, while the same wait without them runs the budget out.
func TestEarnKeepsAWellCompressedStream(t *testing.T) {
	g := &Conn{}
	g.SetMinRate(1<<20, 100*time.Millisecond) // 1 MiB/s over 100 ms
	if g.spend(&g.readBudget, 80*time.Millisecond, 0) {
		t.Fatal("budget out after 80 ms of a 100 ms window")
	}
	g.Earn(1 << 20) // one second's worth of raw data, capped at the window
	if g.spend(&g.readBudget, 80*time.Millisecond, 0) {
		t.Fatal("budget out although the decoded data earned a full window")
	}
	if !g.spend(&g.readBudget, 80*time.Millisecond, 0) {
		t.Fatal("budget not out after 160 ms of waiting with nothing earned")
	}
}
