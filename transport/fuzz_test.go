package transport

import (
	"bytes"
	"io"
	"testing"
)

// FuzzFrameReader feeds arbitrary bytes to the frame reader and to a stream reader: neither may panic, hang,
// read more than it was given, or return a payload over its type's limit. Seeds: testdata/fuzz/FuzzFrameReader.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte{byte(FrameData), 0, 0, 0, 1, 0, 0, 0, 0, 'x'})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := NewFrameReader(bytes.NewReader(data))
		for range 1000 {
			typ, payload, err := fr.Next()
			if err != nil {
				break
			}
			if limit, ok := MaxPayload(typ); !ok || len(payload) > limit {
				t.Fatalf("%s frame of %d bytes returned", typ, len(payload))
			}
		}
		if fr.WireBytes() > int64(len(data)) {
			t.Fatalf("read %d bytes from %d", fr.WireBytes(), len(data))
		}
		sr := NewStreamReader(bytes.NewReader(data), ReaderOptions{})
		defer sr.Close()
		n, err := io.Copy(io.Discard, io.LimitReader(sr, 16<<20))
		if err == nil && sr.WireBytes() > int64(len(data)) {
			t.Fatalf("clean stream of %d bytes from %d wire bytes, read %d", n, len(data), sr.WireBytes())
		}
	})
}

// FuzzDecodeMessage feeds arbitrary payloads to the control message decoder. Whatever it accepts must be
// valid and survive an encode/decode round trip unchanged (compared by canonical encoding, so an empty list
// and a missing one count as equal). Seeds: testdata/fuzz/FuzzDecodeMessage.
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(`{"type":"hello","body":{"name":"hv1","version":"0.1.0"}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := DecodeMessage(payload)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded an invalid %s: %v", m.Kind(), err)
		}
		again, err := EncodeMessage(m)
		if err != nil {
			t.Fatalf("cannot re-encode an accepted %s: %v", m.Kind(), err)
		}
		m2, err := DecodeMessage(again)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", m.Kind(), err)
		}
		third, err := EncodeMessage(m2)
		if err != nil || !bytes.Equal(again, third) {
			t.Fatalf("round trip changed %s: %s became %s (%v)", m.Kind(), again, third, err)
		}
	})
}
