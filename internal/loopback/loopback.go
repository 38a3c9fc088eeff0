// Package loopback runs a receiver on 127.0.0.1 with freshly made certificates, for tests and the demo.
// It wires receiver, transport and replication together exactly as the hotzfs commands do.
package loopback

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hotzfs/hotzfs/certs"
	"github.com/hotzfs/hotzfs/receiver"
	"github.com/hotzfs/hotzfs/replication"
	"github.com/hotzfs/hotzfs/transport/tlsconf"
	"github.com/hotzfs/hotzfs/zfs"
)

// PKI is a CA with a server certificate for 127.0.0.1/localhost and client certificates, as PEM files in Dir.
type PKI struct {
	Dir string
	ca  *certs.Pair
}

// NewPKI makes a CA and a server certificate in dir.
func NewPKI(dir string) (*PKI, error) {
	v := certs.Validity{Now: time.Now(), Duration: 24 * time.Hour}
	ca, err := certs.NewCA("hotzfs test CA", certs.Validity{Now: v.Now, Duration: 48 * time.Hour})
	if err != nil {
		return nil, err
	}
	srv, err := certs.NewServer(ca, certs.ServerSpec{Name: "localhost", DNSNames: []string{"localhost"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, v)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	if err := certs.Write(srv, filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), true); err != nil {
		return nil, err
	}
	return &PKI{Dir: dir, ca: ca}, nil
}

// Client makes a client certificate with CN name and returns its files.
func (p *PKI) Client(name string) (tlsconf.Files, error) {
	c, err := certs.NewClient(p.ca, name, certs.Validity{Now: time.Now(), Duration: 24 * time.Hour})
	if err != nil {
		return tlsconf.Files{}, err
	}
	f := tlsconf.Files{CA: filepath.Join(p.Dir, "ca.crt"), Cert: filepath.Join(p.Dir, name+".crt"),
		Key: filepath.Join(p.Dir, name+".key")}
	return f, certs.Write(c, f.Cert, f.Key, true)
}

// ServerFiles are the receiver's TLS files.
func (p *PKI) ServerFiles() tlsconf.Files {
	return tlsconf.Files{CA: filepath.Join(p.Dir, "ca.crt"), Cert: filepath.Join(p.Dir, "server.crt"),
		Key: filepath.Join(p.Dir, "server.key")}
}

// Receiver is a running receiver.
type Receiver struct {
	Addr   string
	Server *receiver.Server
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// StartReceiver serves opts on 127.0.0.1 (a free port) until Stop.
func StartReceiver(ctx context.Context, z *zfs.Runner, pki *PKI, opts receiver.Options) (*Receiver, error) {
	conf, err := tlsconf.LoadServer(pki.ServerFiles(), time.Now())
	if err != nil {
		return nil, err
	}
	srv, err := receiver.New(z, opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &Receiver{Addr: ln.Addr().String(), Server: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv.ServeTLS(ctx, ln, conf) }()
	return r, nil
}

// Stop shuts the receiver down and waits for its sessions; a second Stop returns the first one's result.
func (r *Receiver) Stop() error {
	r.once.Do(func() {
		r.cancel()
		r.err = <-r.done
	})
	return r.err
}

// Dial connects a client with the given certificate files to addr over TLS and runs the handshake.
func Dial(ctx context.Context, addr string, files tlsconf.Files, name string) (*replication.Client, error) {
	conf, err := tlsconf.LoadClient(files, "localhost", time.Now())
	if err != nil {
		return nil, err
	}
	d := tls.Dialer{Config: conf, NetDialer: &net.Dialer{Timeout: 10 * time.Second}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return replication.NewClient(ctx, c, name, "test")
}

// Logger is a quiet logger for tests: warnings and errors to stderr.
func Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
