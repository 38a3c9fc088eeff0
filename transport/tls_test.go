package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/internal/testpki"
	"github.com/hotzfs/hotzfs/transport/tlsconf"
)

// tlsPair returns both ends of a real mTLS connection over loopback, and the client identity the server saw.
func tlsPair(t testing.TB) (client, server net.Conn, identity string) {
	t.Helper()
	serverConf, clientConf := testpki.Configs(t, "hv1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		id  string
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- accepted{err: err}
			return
		}
		tc := tls.Server(Buffered(c), serverConf)
		id, err := tlsconf.Accept(context.Background(), tc, 5*time.Second)
		ch <- accepted{tc, id, err}
	}()
	raw, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(Buffered(raw), clientConf)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	client = tc
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	t.Cleanup(func() { client.Close(); a.c.Close() })
	return client, a.c, a.id
}

func TestStreamRoundTripOverTLS(t *testing.T) {
	client, server, id := tlsPair(t)
	if id != "hv1" {
		t.Fatalf("identity %q", id)
	}
	gc := Guard(t.Context(), client, Timeouts{Read: 10 * time.Second, Write: 10 * time.Second})
	gs := Guard(t.Context(), server, Timeouts{Read: 10 * time.Second, Write: 10 * time.Second})
	errs := make(chan error, 1)
	go func() { errs <- Handshake(t.Context(), gc, 5*time.Second) }()
	if err := Handshake(t.Context(), gs, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if !gc.Authenticated() || !gs.Authenticated() {
		t.Fatal("TLS connections do not count as authenticated carriers")
	}
	inputs := []struct {
		name string
		data []byte
	}{{"random", randomData(3<<20, 21)}, {"mixed", mixedData(4<<20, 22)}}
	for _, c := range allCompressions {
		for _, in := range inputs {
			t.Run(fmt.Sprintf("%s/%s", c, in.name), func(t *testing.T) {
				// Several streams in turn on one connection, each followed by a result message.
				done := sendStream(gc, in.data, StreamOptions{Compression: c, Authenticated: gc.Authenticated()})
				sr := NewStreamReader(gs, ReaderOptions{Authenticated: gs.Authenticated()})
				got := make([]byte, 0, len(in.data))
				w := &sliceWriter{b: &got}
				if _, err := io.Copy(w, sr); err != nil {
					t.Fatal(err)
				}
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				if err := WriteMessage(gs, &Result{Dataset: "d", Snapshot: "s", GUID: 1, Bytes: uint64(sr.RawBytes()),
					WireBytes: uint64(sr.WireBytes())}); err != nil {
					t.Fatal(err)
				}
				res, err := Expect[*Result](gc)
				if err != nil {
					t.Fatal(err)
				}
				if sum(got) != sum(in.data) || res.Bytes != uint64(len(in.data)) {
					t.Fatalf("received %d bytes that differ from the %d sent", res.Bytes, len(in.data))
				}
				t.Logf("%d raw bytes, %d on the wire", res.Bytes, res.WireBytes)
			})
		}
	}
}
