package meta

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestDomainXMLRoundTrip(t *testing.T) {
	small := "<domain type='kvm'><name>web1</name></domain>"
	// Random hex does not compress below 50%: 40 KiB of it needs several 8000-byte chunks.
	noise := make([]byte, 20<<10)
	_, _ = rand.Read(noise)
	big := "<domain><description>" + hex.EncodeToString(noise) + "</description></domain>"
	for _, xml := range []string{small, big, ""} {
		props := EncodeDomainXML(xml)
		for k, v := range props {
			if !strings.HasPrefix(k, PropDomXML+".") || len(v) > DomXMLChunk {
				t.Errorf("property %s: %d bytes", k, len(v))
			}
		}
		props["hotzfs:other"] = "ignored"
		got, err := DecodeDomainXML(props)
		if err != nil || got != xml {
			t.Errorf("round trip of %d bytes (%d props): %v, equal %v", len(xml), len(props), err, got == xml)
		}
	}
	if n := len(EncodeDomainXML(big)); n < 4 {
		t.Errorf("big XML in %d properties, want several chunks", n)
	}
}

func TestDomainXMLCorruption(t *testing.T) {
	noise := make([]byte, 12<<10)
	_, _ = rand.Read(noise)
	props := EncodeDomainXML("<domain>" + hex.EncodeToString(noise) + "</domain>")
	cases := map[string]func(map[string]string){
		"flipped byte in chunk 1": func(p map[string]string) {
			b := []byte(p[PropDomXML+".1"])
			b[100] ^= 1
			if b[100] == '=' || b[100] == '+' { // keep it base64
				b[100] = 'A'
			}
			p[PropDomXML+".1"] = string(b)
		},
		"chunk 1 missing":  func(p map[string]string) { delete(p, PropDomXML+".1") },
		"last chunk lost":  func(p map[string]string) { delete(p, PropDomXML+".2") },
		"checksum missing": func(p map[string]string) { delete(p, PropDomXML+".sha256") },
		"checksum wrong":   func(p map[string]string) { p[PropDomXML+".sha256"] = strings.Repeat("0", 64) },
		"no chunks":        func(p map[string]string) { delete(p, PropDomXML+".0") },
	}
	for name, damage := range cases {
		p := maps.Clone(props)
		damage(p)
		if _, err := DecodeDomainXML(p); !errors.Is(err, ErrDomXMLCorrupt) {
			t.Errorf("%s: error = %v, want ErrDomXMLCorrupt", name, err)
		}
	}
}
