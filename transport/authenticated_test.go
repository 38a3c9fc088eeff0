package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// On an authenticated carrier data frames carry no checksum; the stream still round-trips, ends with its
// counts checked, and both sides must agree on the mode.
func TestStreamAuthenticatedCarrier(t *testing.T) {
	data := mixedData(2<<20+77, 11)
	for _, c := range allCompressions {
		a, b := pipe(t)
		done := sendStream(a, data, StreamOptions{Compression: c, Authenticated: true})
		sr := NewStreamReader(b, ReaderOptions{Authenticated: true})
		var got bytes.Buffer
		if _, err := io.Copy(&got, sr); err != nil {
			t.Fatalf("%s: read: %v", c, err)
		}
		sr.Close()
		if err := <-done; err != nil {
			t.Fatalf("%s: write: %v", c, err)
		}
		if sum(got.Bytes()) != sum(data) {
			t.Fatalf("%s: received bytes differ", c)
		}
	}
}

func TestStreamAuthenticatedModeMismatch(t *testing.T) {
	data := mixedData(600<<10, 12)
	wire := wireBytesWith(t, data, StreamOptions{Authenticated: true})
	for off := 0; off < len(wire); {
		if sum := binary.BigEndian.Uint32(wire[off+5 : off+9]); sum != 0 {
			t.Fatalf("frame at %d carries checksum %#x on an authenticated carrier", off, sum)
		}
		off += HeaderLen + int(binary.BigEndian.Uint32(wire[off+1:off+5]))
	}
	if _, err := readAll(wire); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a checking reader took frames without checksums: %v", err)
	}
	checked := wireBytes(t, data, CompressionNone)
	sr := NewStreamReader(bytes.NewReader(checked), ReaderOptions{Authenticated: true})
	defer sr.Close()
	if _, err := io.Copy(io.Discard, sr); !errors.Is(err, ErrProtocol) {
		t.Errorf("a reader on an authenticated carrier took checksummed frames: %v", err)
	}
}

// Without checksums the frame layer still refuses what it can see: lengths over the limit, unknown types,
// a missing or miscounted end.
func TestStreamAuthenticatedStructureChecked(t *testing.T) {
	data := mixedData(600<<10, 13)
	wire := wireBytesWith(t, data, StreamOptions{Authenticated: true})
	read := func(w []byte) error {
		sr := NewStreamReader(bytes.NewReader(w), ReaderOptions{Authenticated: true})
		defer sr.Close()
		_, err := io.Copy(io.Discard, sr)
		return err
	}
	if err := read(wire); err != nil {
		t.Fatalf("intact stream: %v", err)
	}
	if err := read(wire[:len(wire)-1]); !errors.Is(err, ErrTruncated) {
		t.Errorf("cut stream: %v", err)
	}
	bad := bytes.Clone(wire)
	bad[0] = 99
	if err := read(bad); !errors.Is(err, ErrProtocol) {
		t.Errorf("unknown frame type: %v", err)
	}
	bad = bytes.Clone(wire)
	bad[len(bad)-1] ^= 1 // the end frame's data frame count
	if err := read(bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("miscounted end: %v", err)
	}
}
