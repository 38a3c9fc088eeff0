// Package certs creates the hotzfs mTLS certificates: a CA, server certificates (DNS and IP SANs) and client
// certificates whose CommonName is the client's name, as PEM files with private keys readable by owner only.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// clockSkew backdates NotBefore so a peer whose clock is a little behind accepts a fresh certificate.
const clockSkew = 5 * time.Minute

// Validity is when a certificate is valid: from Now (minus a few minutes for clock skew) for Duration.
type Validity struct {
	Now      time.Time
	Duration time.Duration
}

// Pair is a certificate and its private key.
type Pair struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte // PKCS#8
}

// NewCA creates a self-signed CA that can sign server and client certificates only (path length 0).
func NewCA(name string, v Validity) (*Pair, error) {
	if name == "" {
		return nil, errors.New("CA name is empty")
	}
	tmpl, err := template(name, v)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.MaxPathLenZero = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	return issue(tmpl, nil)
}

// ServerSpec names a receiver: its CommonName and the DNS names and IP addresses clients dial.
type ServerSpec struct {
	Name     string
	DNSNames []string
	IPs      []net.IP
}

// NewServer issues a server certificate signed by ca.
func NewServer(ca *Pair, s ServerSpec, v Validity) (*Pair, error) {
	if s.Name == "" {
		return nil, errors.New("server certificate: empty name")
	}
	if len(s.DNSNames) == 0 && len(s.IPs) == 0 {
		return nil, errors.New("server certificate: give at least one DNS name or IP address clients will dial")
	}
	tmpl, err := template(s.Name, v)
	if err != nil {
		return nil, err
	}
	tmpl.DNSNames = s.DNSNames
	tmpl.IPAddresses = s.IPs
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	return issue(tmpl, ca)
}

// NewClient issues a client certificate for name, signed by ca. The name becomes the client's dataset under
// the receiver's root, so it must be one dataset component: letters, digits, '_', '-', '.', ':', not
// starting with '-' or '.', at most 64 bytes.
func NewClient(ca *Pair, name string, v Validity) (*Pair, error) {
	if err := CheckClientName(name); err != nil {
		return nil, err
	}
	tmpl, err := template(name, v)
	if err != nil {
		return nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return issue(tmpl, ca)
}

// CheckClientName reports whether name can be a client's certificate CommonName.
func CheckClientName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("client name %q must be 1 to 64 bytes", name)
	}
	if name[0] == '-' || name[0] == '.' {
		return fmt.Errorf("client name %q must not start with '-' or '.'", name)
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' ||
			c == '.' || c == ':'
		if !ok {
			return fmt.Errorf("client name %q: only letters, digits, '_', '-', '.' and ':' are allowed", name)
		}
	}
	return nil
}

func template(cn string, v Validity) (*x509.Certificate, error) {
	if v.Duration <= 0 {
		return nil, fmt.Errorf("certificate %q: validity must be positive, got %s", cn, v.Duration)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"hotzfs"}},
		NotBefore:    v.Now.Add(-clockSkew).Truncate(time.Second), // certificates carry whole seconds
		NotAfter:     v.Now.Add(v.Duration).Truncate(time.Second),
	}, nil
}

// issue creates a key for tmpl and signs it with parent, or self-signs when parent is nil.
func issue(tmpl *x509.Certificate, parent *Pair) (*Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	signerCert, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		if tmpl.NotAfter.After(parent.Cert.NotAfter) {
			return nil, fmt.Errorf("certificate %q would outlive its CA (valid until %s); shorten it or renew the CA",
				tmpl.Subject.CommonName, parent.Cert.NotAfter.UTC().Format(time.RFC3339))
		}
		signerCert, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		return nil, fmt.Errorf("sign certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Pair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// Load reads a pair written by Write, e.g. the CA when issuing more client certificates later.
func Load(certPath, keyPath string) (*Pair, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE block", certPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil || kb.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no PEM PRIVATE KEY block", keyPath)
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: key cannot sign", keyPath)
	}
	if !publicKeysEqual(cert.PublicKey, signer.Public()) {
		return nil, fmt.Errorf("key %s does not belong to certificate %s", keyPath, certPath)
	}
	return &Pair{Cert: cert, Key: signer, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}
