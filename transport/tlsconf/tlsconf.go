// Package tlsconf owns hotzfs's mTLS settings: TLS 1.3 only with the cipher that is faster on this CPU, client
// certificates required and verified against the hotzfs CA, the identity taken from the certificate's CN.
package tlsconf

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Files names the PEM files of one side.
type Files struct {
	CA   string // the hotzfs CA certificate
	Cert string // this side's certificate
	Key  string // this side's private key
}

// LoadCA reads a PEM file of one or more CA certificates.
func LoadCA(path string, now time.Time) (*x509.CertPool, error) {
	_, certs, err := readCertificates(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		if !c.IsCA {
			return nil, fmt.Errorf("CA file %s: certificate %q is not a CA certificate; name the CA's certificate "+
				"(ca.crt, made by hotzfs certs ca)", path, c.Subject.CommonName)
		}
		if err := checkValidity(c, now); err != nil {
			return nil, fmt.Errorf("CA file %s: %w", path, err)
		}
		pool.AddCert(c)
	}
	return pool, nil
}

// LoadKeyPair reads a certificate and its key and checks that the key matches, the certificate is valid at now
// and was signed by the CA in roots for the given usage (x509.ExtKeyUsageServerAuth or ClientAuth). Each
// error names the file and says what to do.
func LoadKeyPair(certPath, keyPath string, roots *x509.CertPool, usage x509.ExtKeyUsage, now time.Time) (tls.Certificate, error) {
	certPEM, certs, err := readCertificates(certPath)
	if errors.Is(err, errKeyNotCertificate) {
		return tls.Certificate{}, fmt.Errorf("%w: are the certificate and the key swapped?", err)
	}
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("key file: %w", err)
	}
	key, err := parseKey(keyPath, keyPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf := certs[0]
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(leaf.PublicKey) {
		return tls.Certificate{}, fmt.Errorf("key %s does not belong to certificate %s: give the key made with "+
			"it (hotzfs certs writes NAME.crt and NAME.key together)", keyPath, certPath)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate %s with key %s: %w", certPath, keyPath, err)
	}
	if err := checkValidity(leaf, now); err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate %s: %w", certPath, err)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}}
	if _, err := leaf.Verify(opts); err != nil {
		return tls.Certificate{}, verifyError(certPath, leaf, usage, err)
	}
	pair.Leaf = leaf
	return pair, nil
}

// verifyError says why a certificate failed verification, and what to do about it.
func verifyError(path string, leaf *x509.Certificate, usage x509.ExtKeyUsage, err error) error {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("certificate %s was issued by %q, not by the CA it is checked against: make it with "+
			"that CA (hotzfs certs, --dir of its ca.crt and ca.key), or name the CA that issued it", path,
			leaf.Issuer.CommonName)
	case errors.As(err, &invalid) && invalid.Reason == x509.IncompatibleUsage && usage == x509.ExtKeyUsageClientAuth:
		return fmt.Errorf("certificate %s is not a client certificate (no clientAuth key usage; a receiver's?): "+
			"hotzfs certs client NAME makes a client certificate", path)
	case errors.As(err, &invalid) && invalid.Reason == x509.IncompatibleUsage && usage == x509.ExtKeyUsageServerAuth:
		return fmt.Errorf("certificate %s is not a server certificate (no serverAuth key usage; a client's?): "+
			"hotzfs certs server HOST makes the receiver's certificate", path)
	}
	return fmt.Errorf("certificate %s is not usable with this CA: %w", path, err)
}

// parseKey returns the private key in a PEM file, in any of the encodings crypto/tls reads.
func parseKey(path string, data []byte) (crypto.Signer, error) {
	sawCert := false
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			sawCert = true
			continue
		}
		if !strings.HasSuffix(b.Type, "PRIVATE KEY") {
			continue
		}
		var key any
		var err error
		switch b.Type {
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		}
		if err != nil {
			return nil, fmt.Errorf("key file %s: %w", path, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("key file %s: a %T cannot sign", path, key)
		}
		return signer, nil
	}
	if sawCert {
		return nil, fmt.Errorf("key file %s holds a certificate, not a private key: are the certificate and the "+
			"key swapped?", path)
	}
	return nil, fmt.Errorf("key file %s: no PEM block found (is it a key file?)", path)
}

// errKeyNotCertificate is a certificate file that holds a private key instead.
var errKeyNotCertificate = errors.New("holds a private key, not a certificate")

// readCertificates returns a PEM file's contents and the certificates in it, leaf first.
func readCertificates(path string) ([]byte, []*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate file: %w", err)
	}
	var certs []*x509.Certificate
	sawKey := false
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			sawKey = sawKey || strings.HasSuffix(b.Type, "PRIVATE KEY")
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("certificate file %s: %w", path, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 && sawKey {
		return nil, nil, fmt.Errorf("certificate file %s %w", path, errKeyNotCertificate)
	}
	if len(certs) == 0 {
		return nil, nil, fmt.Errorf("certificate file %s: no PEM CERTIFICATE block found", path)
	}
	return data, certs, nil
}

func checkValidity(c *x509.Certificate, now time.Time) error {
	if now.After(c.NotAfter) {
		return fmt.Errorf("certificate %q expired on %s", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(c.NotBefore) {
		return fmt.Errorf("certificate %q is not valid before %s (is the clock right?)", c.Subject.CommonName,
			c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// ServerConfig is the receiver's TLS configuration: TLS 1.3 only, client certificate required and verified.
func ServerConfig(cert tls.Certificate, clientCAs *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
	}
}

// ClientConfig is the sender's TLS configuration: TLS 1.3 only, the server verified against roots as
// serverName, this side's certificate presented, and ChaCha20-Poly1305 asked for where it is the faster
// cipher (see preferChaCha).
func ClientConfig(cert tls.Certificate, roots *x509.CertPool, serverName string) *tls.Config {
	return clientConfig(cert, roots, serverName, preferChaCha())
}

func clientConfig(cert tls.Certificate, roots *x509.CertPool, serverName string, chacha bool) *tls.Config {
	conf := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      roots,
		ServerName:   serverName,
	}
	if chacha {
		chachaFirst(conf)
	}
	return conf
}

// LoadServer reads the receiver's files and returns its configuration.
func LoadServer(f Files, now time.Time) (*tls.Config, error) {
	roots, err := LoadCA(f.CA, now)
	if err != nil {
		return nil, err
	}
	cert, err := LoadKeyPair(f.Cert, f.Key, roots, x509.ExtKeyUsageServerAuth, now)
	if err != nil {
		return nil, err
	}
	return ServerConfig(cert, roots), nil
}

// LoadClient reads the sender's files and returns its configuration for serverName.
func LoadClient(f Files, serverName string, now time.Time) (*tls.Config, error) {
	if serverName == "" {
		return nil, errors.New("TLS client: empty server name; set the target's address to a host name or IP")
	}
	roots, err := LoadCA(f.CA, now)
	if err != nil {
		return nil, err
	}
	cert, err := LoadKeyPair(f.Cert, f.Key, roots, x509.ExtKeyUsageClientAuth, now)
	if err != nil {
		return nil, err
	}
	return ClientConfig(cert, roots, serverName), nil
}

// ClientIdentity returns the CommonName of the client's verified certificate.
func ClientIdentity(cs tls.ConnectionState) (string, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", errors.New("client presented no verified certificate")
	}
	cn := cs.VerifiedChains[0][0].Subject.CommonName
	if cn == "" {
		return "", errors.New("client certificate has an empty CommonName")
	}
	return cn, nil
}

// Accept completes the server side of the TLS handshake within timeout and returns the client's identity.
func Accept(ctx context.Context, c *tls.Conn, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		return "", fmt.Errorf("TLS handshake with %s: %w", c.RemoteAddr(), err)
	}
	return ClientIdentity(c.ConnectionState())
}
