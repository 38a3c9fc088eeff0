package certs

import (
	"bytes"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func valid(d time.Duration) Validity { return Validity{Now: now, Duration: d} }

func TestChainVerifies(t *testing.T) {
	ca, err := NewCA("hotzfs test CA", valid(10*365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(ca, ServerSpec{Name: "backup", DNSNames: []string{"backup.example.net"},
		IPs: []net.IP{net.ParseIP("127.0.0.1")}}, valid(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := NewClient(ca, "hv1", valid(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := srv.Cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "backup.example.net", CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("server certificate does not verify by DNS name: %v", err)
	}
	if err := srv.Cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatalf("server certificate does not cover its IP: %v", err)
	}
	chains, err := cli.Cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		t.Fatalf("client certificate does not verify: %v", err)
	}
	if cn := chains[0][0].Subject.CommonName; cn != "hv1" {
		t.Fatalf("client CN %q, want hv1", cn)
	}
	// A client certificate must not pass as a server's, nor a server's as a client's.
	if _, err := cli.Cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("client certificate verified for server use")
	}
	if _, err := srv.Cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Fatal("server certificate verified for client use")
	}
	// A CA with path length 0 cannot be used to mint an intermediate CA that signs anything.
	if !ca.Cert.MaxPathLenZero {
		t.Fatal("CA allows intermediate CAs")
	}
}

func TestRefusals(t *testing.T) {
	ca, err := NewCA("ca", valid(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "-rf", "../etc", "a/b", "a b", ".hidden", strings.Repeat("x", 65)} {
		if _, err := NewClient(ca, name, valid(time.Hour)); err == nil {
			t.Errorf("client name %q accepted", name)
		}
	}
	if _, err := NewClient(ca, "hv1", valid(48*time.Hour)); err == nil {
		t.Error("client certificate that outlives its CA accepted")
	}
	if _, err := NewServer(ca, ServerSpec{Name: "s"}, valid(time.Hour)); err == nil {
		t.Error("server certificate without DNS names or IPs accepted")
	}
	if _, err := NewCA("ca", valid(0)); err == nil {
		t.Error("zero validity accepted")
	}
}

func TestWriteModesAndNoOverwrite(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("ca", valid(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if err := Write(ca, certPath, keyPath, false); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{keyPath: 0o600, certPath: 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", filepath.Base(path), fi.Mode().Perm(), want)
		}
	}

	other, err := NewCA("other", valid(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(other, certPath, keyPath, false); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("overwrite without force: got %v, want an 'already exists' error", err)
	}
	// Only the key exists: nothing is written, not even the missing certificate.
	os.Remove(certPath)
	if err := Write(other, certPath, keyPath, false); err == nil {
		t.Fatal("wrote over an existing key")
	}
	if _, err := os.Stat(certPath); err == nil {
		t.Fatal("certificate written although the key was refused")
	}
	loaded, err := Load(filepath.Join(dir, "missing"), keyPath)
	if err == nil {
		t.Fatalf("loaded %v from a missing file", loaded)
	}

	if err := Write(other, certPath, keyPath, true); err != nil {
		t.Fatalf("forced overwrite: %v", err)
	}
	got, err := Load(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Cert.Raw, other.Cert.Raw) {
		t.Fatal("forced overwrite did not replace the certificate")
	}
	if fi, _ := os.Stat(keyPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("replaced key has mode %v", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("directory holds %d files, want 2 (temporary files left behind?)", len(entries))
	}
}

func TestLoadRejectsMismatchedKey(t *testing.T) {
	dir := t.TempDir()
	a, _ := NewCA("a", valid(time.Hour))
	b, _ := NewCA("b", valid(time.Hour))
	mixed := &Pair{Cert: a.Cert, CertPEM: a.CertPEM, KeyPEM: b.KeyPEM}
	if err := Write(mixed, filepath.Join(dir, "c"), filepath.Join(dir, "k"), false); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join(dir, "c"), filepath.Join(dir, "k")); err == nil {
		t.Fatal("a key that does not belong to the certificate was accepted")
	}
}
