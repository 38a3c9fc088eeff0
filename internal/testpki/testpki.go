// Package testpki makes the TLS configurations of a fresh test CA in memory: a server certificate for
// 127.0.0.1 and a client certificate, as tests of the TLS carrier and the receiver need them.
package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/certs"
	"github.com/hotzfs/hotzfs/transport/tlsconf"
)

// Configs returns the server config (name "backup", IP 127.0.0.1) and a client config with CN client, both
// of one new CA valid for an hour.
func Configs(t testing.TB, client string) (server, cli *tls.Config) {
	t.Helper()
	v := certs.Validity{Now: time.Now(), Duration: time.Hour}
	ca, err := certs.NewCA("test CA", v)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := certs.NewServer(ca, certs.ServerSpec{Name: "backup", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, v)
	if err != nil {
		t.Fatal(err)
	}
	c, err := certs.NewClient(ca, client, v)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	pair := func(p *certs.Pair) tls.Certificate {
		kp, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	return tlsconf.ServerConfig(pair(srv), pool), tlsconf.ClientConfig(pair(c), pool, "127.0.0.1")
}
