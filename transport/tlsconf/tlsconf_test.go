package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/certs"
)

type pki struct {
	dir               string
	ca, other         *certs.Pair
	server, client    *certs.Pair
	foreign, expired  *certs.Pair
	serverCfg         *tls.Config
	roots, otherRoots *x509.CertPool
	now               time.Time
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	now := time.Now()
	year := certs.Validity{Now: now, Duration: 365 * 24 * time.Hour}
	p := &pki{dir: t.TempDir(), now: now}
	var err error
	must := func(c *certs.Pair, e error) *certs.Pair {
		t.Helper()
		if e != nil {
			t.Fatal(e)
		}
		return c
	}
	p.ca = must(certs.NewCA("hotzfs test CA", certs.Validity{Now: now.Add(-72 * time.Hour), Duration: 2 * 365 * 24 * time.Hour}))
	p.other = must(certs.NewCA("someone else's CA", year))
	p.server = must(certs.NewServer(p.ca, certs.ServerSpec{Name: "backup", DNSNames: []string{"backup.test"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, year))
	p.client = must(certs.NewClient(p.ca, "hv1", year))
	p.foreign = must(certs.NewClient(p.other, "hv1", year))
	p.expired = must(certs.NewClient(p.ca, "hv1", certs.Validity{Now: now.Add(-48 * time.Hour), Duration: 24 * time.Hour}))
	for name, pair := range map[string]*certs.Pair{"ca": p.ca, "server": p.server, "client": p.client,
		"foreign": p.foreign, "expired": p.expired, "other": p.other} {
		if err := certs.Write(pair, p.path(name+".crt"), p.path(name+".key"), false); err != nil {
			t.Fatal(err)
		}
	}
	p.serverCfg, err = LoadServer(Files{CA: p.path("ca.crt"), Cert: p.path("server.crt"), Key: p.path("server.key")}, now)
	if err != nil {
		t.Fatal(err)
	}
	p.roots = x509.NewCertPool()
	p.roots.AddCert(p.ca.Cert)
	p.otherRoots = x509.NewCertPool()
	p.otherRoots.AddCert(p.other.Cert)
	return p
}

func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

func keyPair(t *testing.T, c *certs.Pair) tls.Certificate {
	t.Helper()
	kp, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// dial connects a client with cfg to a fresh loopback server and returns the server's view (identity or error)
// and the client's (error of handshake plus one read).
func dial(t *testing.T, serverCfg, clientCfg *tls.Config) (string, error, error) {
	t.Helper()
	id, serr, _, cerr := dialState(t, serverCfg, clientCfg)
	return id, serr, cerr
}

// dialState is dial that also returns the client's connection state.
func dialState(t *testing.T, serverCfg, clientCfg *tls.Config) (string, error, tls.ConnectionState, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type outcome struct {
		id  string
		err error
	}
	srv := make(chan outcome, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srv <- outcome{err: err}
			return
		}
		defer c.Close()
		tc := tls.Server(c, serverCfg)
		id, err := Accept(context.Background(), tc, 5*time.Second)
		if err == nil {
			_, err = tc.Write([]byte("k")) // the client reads this to learn it was accepted
		}
		srv <- outcome{id, err}
	}()
	raw, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	c := tls.Client(raw, clientCfg)
	cerr := c.Handshake()
	if cerr == nil {
		// TLS 1.3: the server's verdict on our certificate arrives after the client's handshake is done.
		_, cerr = c.Read(make([]byte, 1))
	}
	o := <-srv
	return o.id, o.err, c.ConnectionState(), cerr
}

func TestValidClientIdentity(t *testing.T) {
	p := newPKI(t)
	cfg, err := LoadClient(Files{CA: p.path("ca.crt"), Cert: p.path("client.crt"), Key: p.path("client.key")}, "backup.test", p.now)
	if err != nil {
		t.Fatal(err)
	}
	id, serr, _ := dial(t, p.serverCfg, cfg)
	if serr != nil {
		t.Fatalf("server refused a valid client: %v", serr)
	}
	if id != "hv1" {
		t.Fatalf("client identity %q, want hv1", id)
	}
	// By IP too: the server certificate carries 127.0.0.1.
	cfg.ServerName = "127.0.0.1"
	if _, serr, _ := dial(t, p.serverCfg, cfg); serr != nil {
		t.Fatalf("dial by IP: %v", serr)
	}
}

func TestRefusedClients(t *testing.T) {
	p := newPKI(t)
	good := ClientConfig(keyPair(t, p.client), p.roots, "backup.test")
	tls12 := good.Clone()
	tls12.MinVersion, tls12.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	noCert := good.Clone()
	noCert.Certificates = nil
	// Go's client withholds a certificate the server's CA list does not cover; force it onto the wire so the
	// server's own verification is what refuses it.
	foreign := ClientConfig(tls.Certificate{}, p.roots, "backup.test")
	foreignPair := keyPair(t, p.foreign)
	foreign.Certificates = nil
	foreign.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreignPair, nil }
	cases := map[string]*tls.Config{
		"no client certificate":    noCert,
		"certificate of other CA":  foreign,
		"expired certificate":      ClientConfig(keyPair(t, p.expired), p.roots, "backup.test"),
		"TLS 1.2 only client":      tls12,
		"server certificate as id": ClientConfig(keyPair(t, p.server), p.roots, "backup.test"),
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			id, serr, cerr := dial(t, p.serverCfg, cfg)
			t.Logf("server: %v; client: %v", serr, cerr)
			if serr == nil {
				t.Fatalf("server accepted the client as %q", id)
			}
			if cerr == nil {
				t.Fatal("client saw no error")
			}
		})
	}
}

func TestClientRefusesServer(t *testing.T) {
	p := newPKI(t)
	cases := map[string]*tls.Config{
		"wrong server name":  ClientConfig(keyPair(t, p.client), p.roots, "other.test"),
		"server of other CA": ClientConfig(keyPair(t, p.client), p.otherRoots, "backup.test"),
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			_, serr, cerr := dial(t, p.serverCfg, cfg)
			if cerr == nil {
				t.Fatal("client accepted the server")
			}
			var verr *tls.CertificateVerificationError
			if !errors.As(cerr, &verr) {
				t.Fatalf("client error %v is not a certificate verification error", cerr)
			}
			if serr == nil {
				t.Fatal("server completed a handshake the client rejected")
			}
		})
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	p := newPKI(t)
	notPEM := p.path("junk.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := func(ca, cert, key string) Files { return Files{CA: p.path(ca), Cert: p.path(cert), Key: p.path(key)} }
	cases := []struct {
		name  string
		files Files
		want  []string
	}{
		{"missing CA", f("nope.crt", "client.crt", "client.key"), []string{"nope.crt", "no such file"}},
		{"CA not PEM", f("junk.crt", "client.crt", "client.key"), []string{"junk.crt", "no PEM"}},
		{"CA is a leaf", f("client.crt", "client.crt", "client.key"), []string{"client.crt", "not a CA"}},
		{"cert not PEM", f("ca.crt", "junk.crt", "client.key"), []string{"junk.crt", "no PEM"}},
		{"key not PEM", f("ca.crt", "client.crt", "junk.crt"), []string{"junk.crt", "no PEM"}},
		{"key mismatch", f("ca.crt", "client.crt", "server.key"), []string{"key " + p.path("server.key") +
			" does not belong to certificate " + p.path("client.crt")}},
		{"swapped", f("ca.crt", "client.key", "client.crt"), []string{"client.key holds a private key, not a certificate", "swapped"}},
		{"certificate as key", f("ca.crt", "client.crt", "server.crt"), []string{"server.crt holds a certificate, not a private key"}},
		{"expired", f("ca.crt", "expired.crt", "expired.key"), []string{"expired.crt", "expired on"}},
		{"other CA", f("ca.crt", "foreign.crt", "foreign.key"), []string{"foreign.crt was issued by \"someone else's CA\", not by the CA"}},
		{"server cert as client", f("ca.crt", "server.crt", "server.key"), []string{"server.crt is not a client certificate",
			"hotzfs certs client NAME makes a client certificate"}},
	}
	for _, c := range cases {
		_, err := LoadClient(c.files, "backup.test", p.now)
		if err == nil {
			t.Errorf("%s: loaded", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
	_, err := LoadServer(f("ca.crt", "client.crt", "client.key"), p.now)
	if want := "client.crt is not a server certificate"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("client certificate as the receiver's: %v; want it to say %q", err, want)
	}
	if _, err := LoadClient(f("ca.crt", "client.crt", "client.key"), "", p.now); err == nil {
		t.Error("empty server name accepted")
	}
}
