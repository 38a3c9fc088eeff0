package transport

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"testing"
)

// sendStream writes data through a StreamWriter on w in its own goroutine and reports the outcome.
func sendStream(w io.Writer, data []byte, opts StreamOptions) <-chan error {
	done := make(chan error, 1)
	go func() {
		sw, err := NewStreamWriter(w, opts)
		if err != nil {
			done <- err
			return
		}
		if _, err := sw.ReadFrom(bytes.NewReader(data)); err != nil {
			done <- err
			return
		}
		done <- sw.Close()
	}()
	return done
}

// roundTrip sends data over the pair of connections and returns what the reader produced.
func roundTrip(t *testing.T, w io.Writer, r io.Reader, data []byte, opts StreamOptions) []byte {
	t.Helper()
	done := sendStream(w, data, opts)
	sr := NewStreamReader(r, ReaderOptions{})
	defer sr.Close()
	var got bytes.Buffer
	if _, err := io.Copy(&got, sr); err != nil {
		t.Fatalf("read stream: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("write stream: %v", err)
	}
	if sr.RawBytes() != int64(len(data)) {
		t.Errorf("reader counted %d raw bytes, want %d", sr.RawBytes(), len(data))
	}
	return got.Bytes()
}

func TestStreamRoundTripOverPipe(t *testing.T) {
	inputs := map[string][]byte{
		"random": randomData(3<<20+123, 1),
		"mixed":  mixedData(5<<20+7, 2),
		"empty":  nil,
		"tiny":   []byte("x"),
	}
	for _, c := range allCompressions {
		for name, data := range inputs {
			t.Run(fmt.Sprintf("%s/%s", c, name), func(t *testing.T) {
				a, b := pipe(t)
				got := roundTrip(t, a, b, data, StreamOptions{Compression: c})
				if sum(got) != sum(data) {
					t.Fatalf("received %d bytes that differ from the %d sent", len(got), len(data))
				}
			})
		}
	}
}

func TestStreamParallelEncoder(t *testing.T) {
	data := mixedData(9<<20, 3)
	a, b := pipe(t)
	got := roundTrip(t, a, b, data, StreamOptions{Compression: CompressionDefault, EncoderConcurrency: 2})
	if sum(got) != sum(data) {
		t.Fatal("data differs after a round trip with a parallel encoder")
	}
}

// Read (not WriteTo) with small buffers must give the same bytes.
func TestStreamReadSmallBuffers(t *testing.T) {
	data := mixedData(1<<20, 4)
	for _, c := range []Compression{CompressionNone, CompressionFastest} {
		a, b := pipe(t)
		done := sendStream(a, data, StreamOptions{Compression: c})
		sr := NewStreamReader(b, ReaderOptions{})
		var got []byte
		buf := make([]byte, 1000)
		for {
			n, err := sr.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: read: %v", c, err)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%s: data differs", c)
		}
	}
}

// Messages and streams alternate on one connection: nothing is read beyond a stream's end frame.
func TestStreamThenMessage(t *testing.T) {
	a, b := pipe(t)
	data := mixedData(600<<10, 5)
	go func() {
		<-sendStream(a, data, StreamOptions{Compression: CompressionDefault})
		_ = WriteMessage(a, &Result{Dataset: "vm/disk0", Snapshot: "s1", GUID: 42, Bytes: uint64(len(data))})
	}()
	sr := NewStreamReader(b, ReaderOptions{})
	if _, err := io.Copy(io.Discard, sr); err != nil {
		t.Fatal(err)
	}
	res, err := Expect[*Result](b)
	if err != nil {
		t.Fatalf("message after the stream: %v", err)
	}
	if res.GUID != 42 {
		t.Fatalf("result guid %d, want 42", res.GUID)
	}
}

// A sender whose source fails sends a trailer; the receiver sees the sender's message, not an end.
func TestStreamErrorTrailer(t *testing.T) {
	for _, c := range allCompressions {
		t.Run(string(c), func(t *testing.T) {
			a, b := pipe(t)
			go func() {
				sw, _ := NewStreamWriter(a, StreamOptions{Compression: c})
				_, _ = sw.Write(mixedData(700<<10, 6))
				_ = sw.CloseWithError(errors.New("zfs send: cannot open 'tank/vm@s2': dataset does not exist"))
			}()
			sr := NewStreamReader(b, ReaderOptions{})
			_, err := io.Copy(io.Discard, sr)
			var re *RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a *RemoteError", err)
			}
			if re.Code != CodeSource || re.Message != "zfs send: cannot open 'tank/vm@s2': dataset does not exist" {
				t.Fatalf("remote error %q/%q does not carry the sender's message", re.Code, re.Message)
			}
		})
	}
}

// wireBytes captures the exact bytes a StreamWriter puts on the wire.
func wireBytes(t *testing.T, data []byte, c Compression) []byte {
	t.Helper()
	return wireBytesWith(t, data, StreamOptions{Compression: c})
}

func wireBytesWith(t *testing.T, data []byte, opts StreamOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	sw, err := NewStreamWriter(&buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	if sw.WireBytes() != int64(buf.Len()) {
		t.Fatalf("writer counted %d wire bytes, wrote %d", sw.WireBytes(), buf.Len())
	}
	return buf.Bytes()
}

// readAll reads a whole stream from wire and returns the bytes and the final error (nil at a clean end).
func readAll(wire []byte) ([]byte, error) {
	sr := NewStreamReader(bytes.NewReader(wire), ReaderOptions{})
	defer sr.Close()
	var got bytes.Buffer
	_, err := io.Copy(&got, sr)
	return got.Bytes(), err
}

// offsets returns up to n offsets spread over [0, size), always including the edges around frame headers.
func offsets(size, n int) []int {
	seen := map[int]bool{}
	var out []int
	add := func(o int) {
		if o >= 0 && o < size && !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	for _, o := range []int{0, 1, 4, 5, 8, 9, 10, size - 1, size - 8, size - 9, size - 16, size - 17, size - 25} {
		add(o)
	}
	for i := 0; i < n; i++ {
		add(int(uint64(i) * 2654435761 % uint64(size)))
	}
	return out
}

func TestStreamTruncatedAnywhere(t *testing.T) {
	data := mixedData(1<<20+333, 7)
	for _, c := range allCompressions {
		wire := wireBytes(t, data, c)
		for _, cut := range offsets(len(wire), 150) {
			got, err := readAll(wire[:cut])
			if err == nil {
				t.Fatalf("%s: wire cut at %d of %d read as a clean end (%d bytes)", c, cut, len(wire), len(got))
			}
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("%s: cut at %d: got %v, want ErrTruncated", c, cut, err)
			}
		}
	}
}

func TestStreamFlippedByteAnywhere(t *testing.T) {
	data := mixedData(1<<20+333, 8)
	for _, c := range allCompressions {
		wire := wireBytes(t, data, c)
		for _, at := range offsets(len(wire), 150) {
			for _, mask := range []byte{0x01, 0x80} {
				bad := bytes.Clone(wire)
				bad[at] ^= mask
				got, err := readAll(bad)
				if err == nil {
					t.Fatalf("%s: flipped byte at %d of %d went unnoticed (data equal: %v)", c, at, len(wire),
						bytes.Equal(got, data))
				}
				if !bytes.HasPrefix(data, got) {
					t.Fatalf("%s: flipped byte at %d: the reader yielded wrong bytes before failing", c, at)
				}
			}
		}
	}
}

// A frame header that claims a huge payload is refused before anything is allocated for it.
func TestStreamOversizedFrame(t *testing.T) {
	hdr := []byte{byte(FrameData), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}
	allocs := testing.AllocsPerRun(20, func() {
		_, err := readAll(hdr)
		if !errors.Is(err, ErrProtocol) {
			t.Fatalf("got %v, want ErrProtocol", err)
		}
	})
	if allocs > 30 {
		t.Fatalf("%v allocations to refuse an oversized frame", allocs)
	}
}

func TestStreamConnectionCutMidStream(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	go func() {
		sw, _ := NewStreamWriter(a, StreamOptions{Compression: CompressionFastest})
		_, _ = sw.Write(mixedData(2<<20, 9))
		a.Close() // the sender dies without end frame or trailer
	}()
	_, err := io.Copy(io.Discard, NewStreamReader(b, ReaderOptions{}))
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v, want ErrTruncated", err)
	}
}

// frameBounds returns the offset of every frame start in wire, and the end.
func frameBounds(t *testing.T, wire []byte) []int {
	t.Helper()
	var out []int
	for off := 0; off < len(wire); {
		out = append(out, off)
		if off+HeaderLen > len(wire) {
			t.Fatalf("partial header at %d", off)
		}
		off += HeaderLen + int(uint32(wire[off+1])<<24|uint32(wire[off+2])<<16|uint32(wire[off+3])<<8|uint32(wire[off+4]))
	}
	return append(out, len(wire))
}

// A cut exactly between two frames is the case a naive reader mistakes for a clean end.
func TestStreamCutAtFrameBoundary(t *testing.T) {
	data := mixedData(1<<20+5, 12)
	for _, c := range allCompressions {
		wire := wireBytes(t, data, c)
		bounds := frameBounds(t, wire)
		for _, cut := range bounds[:len(bounds)-1] {
			if _, err := readAll(wire[:cut]); !errors.Is(err, ErrTruncated) {
				t.Fatalf("%s: cut at frame boundary %d: got %v, want ErrTruncated", c, cut, err)
			}
		}
	}
}

// Whole frames dropped, repeated or swapped (each frame's checksum still fine) are caught by the end frame's
// counts or by zstd.
func TestStreamFrameEdits(t *testing.T) {
	data := mixedData(1<<20+5, 13)
	for _, c := range allCompressions {
		wire := wireBytes(t, data, c)
		b := frameBounds(t, wire)
		if len(b) < 4 {
			t.Fatalf("%s: only %d frames", c, len(b)-1)
		}
		frame := func(i int) []byte { return wire[b[i]:b[i+1]] }
		rest := wire[b[1]:]
		edits := map[string][]byte{
			"drop first":   rest,
			"repeat first": append(bytes.Clone(frame(0)), wire...),
			"swap 0 and 1": append(append(append([]byte{}, frame(1)...), frame(0)...), wire[b[2]:]...),
		}
		for name, bad := range edits {
			if got, err := readAll(bad); err == nil {
				t.Errorf("%s: %s went unnoticed (%d bytes, equal: %v)", c, name, len(got), bytes.Equal(got, data))
			}
		}
	}
}

func TestStreamForeignFrames(t *testing.T) {
	var ctl bytes.Buffer
	_ = WriteMessage(&ctl, &Ready{})
	mixed := &chunker{w: new(bytes.Buffer), table: crc32.MakeTable(crc32.Castagnoli)}
	_ = mixed.writeFrame(FrameData, []byte("raw"))
	_ = mixed.writeFrame(FrameZstd, []byte("zstd"))
	cases := map[string][]byte{
		"control frame in a stream": ctl.Bytes(),
		"raw and zstd mixed":        mixed.w.(*bytes.Buffer).Bytes(),
		"unknown type":              {0x42, 0, 0, 0, 0, 0, 0, 0, 0},
	}
	for name, wire := range cases {
		if _, err := readAll(wire); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: got %v, want ErrProtocol", name, err)
		}
	}
}
