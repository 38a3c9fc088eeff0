package receiver

import (
	"context"
	"crypto/tls"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/internal/testpki"
	"github.com/hotzfs/hotzfs/transport"
)

// testTLS returns a server config and a client config (CN hv1) of a fresh CA.
func testTLS(t *testing.T) (server, client *tls.Config) { return testpki.Configs(t, "hv1") }

// serveTLS runs srv.ServeTLS on ln until the test ends; the channel gets what ServeTLS returned.
func serveTLS(t *testing.T, srv *Server, ln net.Listener, conf *tls.Config) chan error {
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ctx, ln, conf) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Error("ServeTLS did not return after cancel")
		}
	})
	return served
}

// session dials addr and completes TLS, banner and hello within timeout.
func dialSession(addr string, conf *tls.Config, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := tls.Dialer{Config: conf}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	g := transport.Guard(ctx, c, transport.Timeouts{})
	if err := transport.Handshake(ctx, g, timeout); err != nil {
		return err
	}
	if err := transport.WriteMessage(g, &transport.Hello{Name: "t", Version: "test"}); err != nil {
		return err
	}
	_, err = transport.Expect[*transport.Hello](g)
	return err
}

// failingListener fails its first n Accepts with err.
type failingListener struct {
	net.Listener
	n   atomic.Int32
	err error
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.n.Add(-1) >= 0 {
		return nil, l.err
	}
	return l.Listener.Accept()
}

func TestAcceptErrorsDoNotEndTheServer(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED} {
		t.Run(errno.Error(), func(t *testing.T) {
			serverConf, clientConf := testTLS(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			fl := &failingListener{Listener: ln, err: &net.OpError{Op: "accept", Net: "tcp", Err: errno}}
			fl.n.Store(4)
			served := serveTLS(t, testServer(t, scriptZFS(t, "exit 1"), Options{}), fl, serverConf)
			if err := dialSession(ln.Addr().String(), clientConf, 5*time.Second); err != nil {
				t.Fatalf("no session after %d failed accepts: %v", 4, err)
			}
			select {
			case err := <-served:
				t.Fatalf("ServeTLS returned: %v", err)
			default:
			}
		})
	}
}

func TestMaxConnectionsHoldsBackNewConnections(t *testing.T) {
	serverConf, clientConf := testTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveTLS(t, testServer(t, scriptZFS(t, "exit 1"), Options{MaxConnections: 2, HelloTimeout: 5 * time.Second}), ln, serverConf)
	addr := ln.Addr().String()
	var silent []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		silent = append(silent, c)
	}
	time.Sleep(100 * time.Millisecond) // both accepted, waiting for a TLS hello that never comes
	if err := dialSession(addr, clientConf, 500*time.Millisecond); err == nil {
		t.Fatal("a third connection was served with max_connections 2 taken")
	}
	silent[0].Close()
	if err := dialSession(addr, clientConf, 5*time.Second); err != nil {
		t.Fatalf("no session once a connection closed: %v", err)
	}
}

// TestSilentConnectionsCostNoStreamBuffer: connections that never finish a TLS handshake hold no 256 KiB
// read buffer each (they used to: 3,000 of them took 268 MiB).
func TestSilentConnectionsCostNoStreamBuffer(t *testing.T) {
	const n = 200
	serverConf, _ := testTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingListener{Listener: ln}
	serveTLS(t, testServer(t, scriptZFS(t, "exit 1"), Options{MaxConnections: n + 10, HelloTimeout: time.Minute}),
		counted, serverConf)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	for deadline := time.Now().Add(10 * time.Second); counted.n.Load() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d connections accepted", counted.n.Load(), n)
		}
	}
	time.Sleep(200 * time.Millisecond) // each waits in its TLS handshake
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d silent connections: heap grew by %d KiB (%d KiB each)", n, grown>>10, grown/n>>10)
	if limit := int64(n) * 64 << 10; grown > limit {
		t.Fatalf("%d silent connections grew the heap by %d MiB, want under %d MiB", n, grown>>20, limit>>20)
	}
}

type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// TestTLSHandshakeTrickleIsCut: the TLS handshake has one absolute deadline (hello_timeout), which bytes
// arriving one by one do not extend.
func TestTLSHandshakeTrickleIsCut(t *testing.T) {
	serverConf, _ := testTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveTLS(t, testServer(t, scriptZFS(t, "exit 1"), Options{HelloTimeout: 400 * time.Millisecond}), ln, serverConf)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The start of a TLS record holding a 512-byte ClientHello, then its body, a byte every 50ms.
	go dribble(c, append([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc}, make([]byte, 508)...), 50*time.Millisecond)
	start := time.Now()
	if err := c.SetReadDeadline(start.Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = c.Read(make([]byte, 1))
	if took := time.Since(start); err == nil || took > 1500*time.Millisecond {
		t.Fatalf("a TLS hello at 20 bytes/s: read %v after %v, want the connection closed after about 400ms", err, took)
	}
}
