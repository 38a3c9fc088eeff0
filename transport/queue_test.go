package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// With a queue the frames leave from another goroutine, but the bytes on the wire are the same.
func TestQueuedStreamSameWire(t *testing.T) {
	data := mixedData(3<<20+321, 21)
	for _, c := range allCompressions {
		for _, auth := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/authenticated=%v", c, auth), func(t *testing.T) {
				direct := wireBytesWith(t, data, StreamOptions{Compression: c, Authenticated: auth})
				queued := wireBytesWith(t, data, StreamOptions{Compression: c, Authenticated: auth, Queue: 1 << 20})
				if !bytes.Equal(direct, queued) {
					t.Fatalf("queued stream differs on the wire (%d bytes vs %d written directly)", len(queued), len(direct))
				}
				got, err := readAllWith(queued, ReaderOptions{Authenticated: auth})
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read back: %d bytes, err %v", len(got), err)
				}
			})
		}
	}
}

func readAllWith(wire []byte, opts ReaderOptions) ([]byte, error) {
	sr := NewStreamReader(bytes.NewReader(wire), opts)
	defer sr.Close()
	var got bytes.Buffer
	_, err := io.Copy(&got, sr)
	return got.Bytes(), err
}

// gate is a carrier that takes nothing until opened.
type gate struct {
	open chan struct{}
	w    io.Writer
	once sync.Once
}

func newGate(w io.Writer) *gate { return &gate{open: make(chan struct{}), w: w} }

func (g *gate) Write(p []byte) (int, error) {
	<-g.open
	return g.w.Write(p)
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// within fails the test when f has not returned after a generous while (it would otherwise hang forever).
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not return while the carrier took nothing", what)
	}
}

// The producer goes on while the carrier is stalled, up to the queue's size, and nothing is lost.
func TestQueuedStreamProducerRunsAhead(t *testing.T) {
	var wire bytes.Buffer
	g := newGate(&wire)
	defer g.release()
	sw, err := NewStreamWriter(g, StreamOptions{Queue: 4 * dataChunk})
	if err != nil {
		t.Fatal(err)
	}
	data := randomData(4*dataChunk+100, 22) // four frames wait in the queue, the rest stays in the frame buffer
	within(t, "ReadFrom", func() {
		if _, err := sw.ReadFrom(bytes.NewReader(data)); err != nil {
			t.Errorf("ReadFrom: %v", err)
		}
	})
	if wire.Len() != 0 {
		t.Fatalf("%d bytes reached the stalled carrier", wire.Len())
	}
	g.release()
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := readAllWith(wire.Bytes(), ReaderOptions{})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %d bytes of %d, err %v", len(got), len(data), err)
	}
	if sw.WireBytes() != int64(wire.Len()) {
		t.Fatalf("writer counted %d wire bytes, wrote %d", sw.WireBytes(), wire.Len())
	}
}

// An abort drops what is still queued and the reader gets the sender's message, not a damaged stream; with
// checksummed frames too, whose chain must follow what was really written.
func TestQueuedStreamAbortDropsQueue(t *testing.T) {
	for _, auth := range []bool{false, true} {
		for _, c := range []Compression{CompressionNone, CompressionFastest} {
			t.Run(fmt.Sprintf("%s/authenticated=%v", c, auth), func(t *testing.T) {
				var wire bytes.Buffer
				g := newGate(&wire)
				defer g.release()
				sw, err := NewStreamWriter(g, StreamOptions{Compression: c, Authenticated: auth, Queue: 8 * dataChunk})
				if err != nil {
					t.Fatal(err)
				}
				within(t, "Write", func() { _, _ = sw.Write(randomData(5*dataChunk, 23)) })
				closed := make(chan error, 1)
				go func() { closed <- sw.CloseWithError(errors.New("zfs send: killed")) }()
				within(t, "CloseWithError's start", func() {
					for !sw.chunk.discard.Load() { // the abort has begun while the carrier still takes nothing
						time.Sleep(time.Millisecond)
					}
				})
				g.release()
				if err := <-closed; err != nil {
					t.Fatalf("CloseWithError: %v", err)
				}
				_, err = readAllWith(wire.Bytes(), ReaderOptions{Authenticated: auth})
				var re *RemoteError
				if !errors.As(err, &re) || re.Message != "zfs send: killed" {
					t.Fatalf("reader got %v, want the sender's message", err)
				}
				if wire.Len() > 2*(HeaderLen+dataChunk) {
					t.Fatalf("%d bytes written after the abort: the queue was not dropped", wire.Len())
				}
			})
		}
	}
}

// failAfter is a carrier that breaks after n bytes.
type failAfter struct {
	n   int
	err error
}

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		m := f.n
		f.n = 0
		return m, f.err
	}
	f.n -= len(p)
	return len(p), nil
}

// A carrier failure reaches the producer (a later write or Close) instead of being lost in the queue, and
// the producer is not left waiting on a full queue.
func TestQueuedStreamCarrierFailure(t *testing.T) {
	broken := errors.New("connection reset by peer")
	sw, err := NewStreamWriter(&failAfter{n: 3 * dataChunk, err: broken}, StreamOptions{Queue: 2 * dataChunk})
	if err != nil {
		t.Fatal(err)
	}
	var rerr, cerr error
	within(t, "ReadFrom and Close", func() {
		_, rerr = sw.ReadFrom(bytes.NewReader(randomData(64*dataChunk, 24)))
		cerr = sw.Close()
	})
	if !errors.Is(rerr, broken) && !errors.Is(cerr, broken) {
		t.Fatalf("ReadFrom: %v, Close: %v; want the carrier's error", rerr, cerr)
	}
	if rerr != nil && !strings.Contains(rerr.Error(), "write data frame") {
		t.Fatalf("error %q does not say what failed", rerr)
	}
}
