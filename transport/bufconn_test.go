package transport

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"testing"
)

// countingConn records each Write it gets.
type countingConn struct {
	net.Conn
	writes []int
	data   bytes.Buffer
	err    error
}

func (c *countingConn) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.writes = append(c.writes, len(p))
	return c.data.Write(p)
}

func TestBufferedBatchesWrites(t *testing.T) {
	under := &countingConn{}
	b := Buffered(under).(*bufferedConn)
	if _, err := b.Write([]byte("alert")); err != nil {
		t.Fatal(err)
	}
	if len(under.writes) != 1 {
		t.Fatalf("a write outside a batch was held back: %v", under.writes)
	}
	record := bytes.Repeat([]byte{7}, tlsRecord+21)
	n, err := b.batch(func() (int, error) {
		for range 40 { // 40 records: ~660 KiB, three batch buffers' worth
			if _, err := b.Write(record); err != nil {
				return 0, err
			}
		}
		return 40 * len(record), nil
	})
	if err != nil || n != 40*len(record) {
		t.Fatalf("batch wrote %d, %v", n, err)
	}
	if got := len(under.writes) - 1; got != 3 {
		t.Errorf("40 records left in %d writes %v, want 3 of up to %d bytes", got, under.writes[1:], bufferSize)
	}
	if under.data.Len() != 5+40*len(record) {
		t.Errorf("%d bytes reached the connection, want %d", under.data.Len(), 5+40*len(record))
	}
}

func TestBufferedBatchReportsFlushError(t *testing.T) {
	under := &countingConn{}
	b := Buffered(under).(*bufferedConn)
	broken := errors.New("broken pipe")
	_, err := b.batch(func() (int, error) {
		_, _ = b.Write([]byte("record"))
		under.err = broken
		return 6, nil
	})
	if !errors.Is(err, broken) {
		t.Fatalf("a failed flush at the end of a batch gave %v", err)
	}
}

// TestBufferedAllocatesAfterTheHandshake: the 256 KiB read buffer comes with the Guard (made once the TLS
// handshake is over), not with the accepted connection.
func TestBufferedAllocatesAfterTheHandshake(t *testing.T) {
	client, server, _ := tlsPair(t)
	for _, c := range []net.Conn{client, server} {
		b := c.(*tls.Conn).NetConn().(*bufferedConn)
		if b.r != nil {
			t.Fatal("the read buffer exists before the session started")
		}
		g := Guard(t.Context(), c, Timeouts{})
		if b.r == nil {
			t.Fatal("Guard did not give the connection its read buffer")
		}
		g.stop()
	}
}
