package tlsconf

import (
	"crypto/tls"
	"strings"
	"testing"
)

func TestChaChaPreferenceIsNegotiated(t *testing.T) {
	p := newPKI(t)
	for _, chacha := range []bool{true, false} {
		_, serr, cs, err := dialState(t, p.serverCfg, clientConfig(keyPair(t, p.client), p.roots, "backup.test", chacha))
		if err != nil || serr != nil {
			t.Fatalf("chacha %v: client %v, server %v", chacha, err, serr)
		}
		if cs.Version != tls.VersionTLS13 {
			t.Errorf("chacha %v: negotiated %s, want TLS 1.3", chacha, tls.VersionName(cs.Version))
		}
		if chacha && cs.CipherSuite != tls.TLS_CHACHA20_POLY1305_SHA256 {
			t.Errorf("asked for ChaCha20-Poly1305, got %s", tls.CipherSuiteName(cs.CipherSuite))
		}
	}
}

func TestChaChaPreferenceStillRefusesTLS12(t *testing.T) {
	p := newPKI(t)
	old := p.serverCfg.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	_, _, err := dial(t, old, clientConfig(keyPair(t, p.client), p.roots, "backup.test", true))
	if err == nil {
		t.Fatal("the client accepted a TLS 1.2 session")
	}
	if !strings.Contains(err.Error(), "did not negotiate TLS 1.3") {
		t.Errorf("error %v, want the client's own refusal", err)
	}
}

func TestTimeAEADs(t *testing.T) {
	gcm, chacha := timeAEADs()
	if gcm <= 0 || chacha <= 0 {
		t.Fatalf("times %v %v", gcm, chacha)
	}
	t.Logf("4 x 16 KiB: AES-128-GCM %v, ChaCha20-Poly1305 %v; prefer ChaCha20-Poly1305: %v", gcm, chacha, preferChaCha())
}
