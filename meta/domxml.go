package meta

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// DomXMLChunk is the largest value of one hotzfs:domxml.N property; OpenZFS stores at most 8 KiB per user
// property value.
const DomXMLChunk = 8000

// ErrDomXMLCorrupt: the domain XML properties are incomplete or do not match their checksum.
var ErrDomXMLCorrupt = errors.New("domain XML properties corrupt or incomplete")

// EncodeDomainXML turns a domain XML into user properties that fit OpenZFS's 8 KiB value limit: the XML,
// zstd-compressed and base64-encoded, split into hotzfs:domxml.0, hotzfs:domxml.1, … of at most DomXMLChunk
// bytes, plus hotzfs:domxml.sha256, the hex SHA-256 of the XML itself.
func EncodeDomainXML(xml string) map[string]string {
	return encodeDomainXMLAt(PropDomXML, xml)
}

// DecodeDomainXML reassembles the domain XML from the properties EncodeDomainXML made (other properties are
// ignored) and verifies its checksum. A missing, extra-numbered or damaged chunk gives ErrDomXMLCorrupt.
func DecodeDomainXML(props map[string]string) (string, error) {
	return decodeDomainXMLAt(props, PropDomXML)
}

// domXMLBase is the property base for the i-th guest of a dataset shared by several guests (in hotzfs:guest
// order): hotzfs:domxml for the first, hotzfs:domxml-1, hotzfs:domxml-2, … for the others.
func domXMLBase(i int) string {
	if i == 0 {
		return PropDomXML
	}
	return PropDomXML + "-" + strconv.Itoa(i)
}

// GuestNames returns the guests a snapshot's properties name in hotzfs:guest, in their recorded order.
func GuestNames(props map[string]string) []string {
	if props[PropGuest] == "" {
		return nil
	}
	return strings.Split(props[PropGuest], ",")
}

// GuestDomainXMLs returns the domain XML of every guest a snapshot's properties name in hotzfs:guest.
func GuestDomainXMLs(props map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for i, g := range GuestNames(props) {
		xml, err := decodeDomainXMLAt(props, domXMLBase(i))
		if err != nil {
			return nil, fmt.Errorf("guest %q: %w", g, err)
		}
		out[g] = xml
	}
	return out, nil
}

// EncodeGuestDomainXML is EncodeDomainXML for the i-th guest of a dataset shared by several guests (in
// hotzfs:guest order); GuestDomainXMLs reads them back.
func EncodeGuestDomainXML(i int, xml string) map[string]string {
	return encodeDomainXMLAt(domXMLBase(i), xml)
}

func encodeDomainXMLAt(base, xml string) map[string]string {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
	if err != nil {
		panic(fmt.Sprintf("zstd encoder with static options: %v", err)) // cannot happen
	}
	packed := base64.StdEncoding.EncodeToString(enc.EncodeAll([]byte(xml), nil))
	sum := sha256.Sum256([]byte(xml))
	props := map[string]string{base + ".sha256": hex.EncodeToString(sum[:])}
	for i := 0; i == 0 || len(packed) > 0; i++ {
		n := min(len(packed), DomXMLChunk)
		props[base+"."+strconv.Itoa(i)] = packed[:n]
		packed = packed[n:]
	}
	return props
}

func decodeDomainXMLAt(props map[string]string, base string) (string, error) {
	want, ok := props[base+".sha256"]
	if !ok {
		return "", fmt.Errorf("%s.sha256 missing: %w", base, ErrDomXMLCorrupt)
	}
	var packed strings.Builder
	n := 0
	for ; ; n++ {
		c, ok := props[base+"."+strconv.Itoa(n)]
		if !ok {
			break
		}
		packed.WriteString(c)
	}
	if n == 0 {
		return "", fmt.Errorf("%s.0 missing: %w", base, ErrDomXMLCorrupt)
	}
	raw, err := base64.StdEncoding.DecodeString(packed.String())
	if err != nil {
		return "", fmt.Errorf("%s: %d chunks: base64: %v: %w", base, n, err, ErrDomXMLCorrupt)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		return "", fmt.Errorf("zstd decoder: %w", err)
	}
	defer dec.Close()
	xml, err := dec.DecodeAll(raw, nil)
	if err != nil {
		return "", fmt.Errorf("%s: %d chunks: zstd: %v: %w", base, n, err, ErrDomXMLCorrupt)
	}
	sum := sha256.Sum256(xml)
	if got := hex.EncodeToString(sum[:]); got != strings.ToLower(want) {
		return "", fmt.Errorf("%s: sha256 %s, recorded %s (%d chunks): %w", base, got, want, n, ErrDomXMLCorrupt)
	}
	return string(xml), nil
}
