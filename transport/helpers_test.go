package transport

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"net"
	"testing"
)

// mixedData returns n deterministic bytes: a third random, a third text-like, a third mostly zero with
// binary-looking records, like a guest disk image.
func mixedData(n int, seed uint64) []byte {
	rng := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}))
	b := make([]byte, n)
	third := n / 3
	for i := 0; i < third; i++ {
		b[i] = byte(rng.Uint32())
	}
	words := []string{"the ", "zfs ", "snapshot ", "guest ", "backup ", "receive ", "stream\n", "error: ", "ok "}
	var text bytes.Buffer
	for text.Len() < third {
		text.WriteString(words[rng.IntN(len(words))])
		if rng.IntN(8) == 0 {
			text.WriteString(string(rune('0' + rng.IntN(10))))
		}
	}
	copy(b[third:2*third], text.Bytes())
	for i := 2 * third; i < n; i += 512 {
		if rng.IntN(4) == 0 { // a sparse binary record every few sectors, zeros elsewhere
			for j := i; j < min(i+64, n); j++ {
				b[j] = byte(rng.IntN(16))
			}
		}
	}
	return b
}

func randomData(n int, seed uint64) []byte {
	rng := rand.New(rand.NewChaCha8([32]byte{byte(seed), 0xff}))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func sum(b []byte) [32]byte { return sha256.Sum256(b) }

// pipe returns both ends of a net.Pipe and closes them when the test ends.
func pipe(t testing.TB) (net.Conn, net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

var allCompressions = []Compression{CompressionNone, CompressionFastest, CompressionDefault, CompressionBetter}
