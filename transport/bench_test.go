package transport

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

const benchSize = 64 << 20

// discard is io.Discard without ReadFrom, so every copy below moves data in the same large chunks.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkStream measures StreamWriter→StreamReader throughput over net.Pipe on 64 MiB of mixed data against
// a plain copy through the same kind of pipe. wire-ratio is wire bytes / raw bytes.
//
//	go test -run '^$' -bench BenchmarkStream -benchtime 5x ./transport/
func BenchmarkStream(b *testing.B) {
	data := mixedData(benchSize, 42)
	b.Run("raw-pipe", func(b *testing.B) { benchCopy(b, data, net.Pipe) })
	for _, c := range []struct {
		name string
		opts StreamOptions
	}{
		{"none", StreamOptions{Compression: CompressionNone}},
		{"fastest", StreamOptions{Compression: CompressionFastest}},
		{"default", StreamOptions{Compression: CompressionDefault}},
		{"default-sync", StreamOptions{Compression: CompressionDefault, EncoderConcurrency: 1}},
		{"default-parallel2", StreamOptions{Compression: CompressionDefault, EncoderConcurrency: 2}},
		{"better", StreamOptions{Compression: CompressionBetter}},
	} {
		b.Run(c.name, func(b *testing.B) { benchStream(b, data, c.opts, net.Pipe) })
	}
}

// BenchmarkStreamTLS is the same over real mTLS on loopback, frames without checksums as on any TLS
// carrier: the P1a overhead.
func BenchmarkStreamTLS(b *testing.B) {
	data := mixedData(benchSize, 42)
	conns := func() (net.Conn, net.Conn) { // guarded as in a session: large writes leave in batches
		c, s, _ := tlsPair(b)
		return Guard(b.Context(), c, Timeouts{}), Guard(b.Context(), s, Timeouts{})
	}
	b.Run("raw-tls", func(b *testing.B) { benchCopy(b, data, conns) })
	b.Run("none", func(b *testing.B) {
		benchStream(b, data, StreamOptions{Compression: CompressionNone, Authenticated: true}, conns)
	})
	b.Run("fastest", func(b *testing.B) {
		benchStream(b, data, StreamOptions{Compression: CompressionFastest, Authenticated: true}, conns)
	})
}

func benchCopy(b *testing.B, data []byte, conns func() (net.Conn, net.Conn)) {
	w, r := conns()
	defer w.Close()
	defer r.Close()
	buf := make([]byte, dataChunk)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		go func() {
			for off := 0; off < len(data); off += dataChunk {
				_, _ = w.Write(data[off:min(off+dataChunk, len(data))])
			}
		}()
		if _, err := io.CopyBuffer(discard{}, io.LimitReader(r, int64(len(data))), buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(1, "wire-ratio")
}

func benchStream(b *testing.B, data []byte, opts StreamOptions, conns func() (net.Conn, net.Conn)) {
	w, r := conns()
	defer w.Close()
	defer r.Close()
	b.SetBytes(int64(len(data)))
	var wire int64
	for b.Loop() {
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
		sr := NewStreamReader(r, ReaderOptions{Authenticated: opts.Authenticated})
		if _, err := io.Copy(discard{}, sr); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		wire = sr.WireBytes()
		sr.Close()
	}
	b.ReportMetric(float64(wire)/float64(len(data)), "wire-ratio")
}

// BenchmarkReceiverMemory feeds 16 compressed streams at once into stream readers, as a receiver serving 16
// clients would, and reports the peak Go heap in use (PERF P5 budgets 256 MiB RSS for the whole receiver).
// The wire bytes are prepared once, so the senders' encoders do not count.
func BenchmarkReceiverMemory(b *testing.B) {
	const streams = 16
	var wire bytes.Buffer
	sw, _ := NewStreamWriter(&wire, StreamOptions{Compression: CompressionDefault})
	_, _ = sw.Write(mixedData(32<<20, 43))
	_ = sw.Close()
	for b.Loop() {
		stop := make(chan struct{})
		peak := samplePeakHeap(stop)
		var wg sync.WaitGroup
		for range streams {
			w, r := net.Pipe()
			wg.Go(func() {
				defer w.Close()
				for off := 0; off < wire.Len(); off += 64 << 10 {
					_, _ = w.Write(wire.Bytes()[off:min(off+64<<10, wire.Len())])
				}
			})
			wg.Go(func() {
				defer r.Close()
				sr := NewStreamReader(r, ReaderOptions{})
				defer sr.Close()
				if _, err := io.Copy(discard{}, sr); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		close(stop)
		b.ReportMetric(float64(<-peak)/(1<<20), "peak-heap-MiB")
	}
}

// samplePeakHeap samples HeapInuse every 10 ms until stop is closed, then sends the peak.
func samplePeakHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var ms runtime.MemStats
		var peak uint64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}
