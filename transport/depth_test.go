package transport

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestDeeplyNestedFrameIsRefusedCheaply: a control frame of 1 MiB of '[' (what a hostile client sends before
// it is authorised for anything) is refused as a protocol violation, in little time and memory.
func TestDeeplyNestedFrameIsRefusedCheaply(t *testing.T) {
	for name, payload := range map[string][]byte{
		"arrays":  bytes.Repeat([]byte("["), MaxControlPayload),
		"objects": append([]byte(`{"type":"hello","body":`), bytes.Repeat([]byte(`{"a":`), MaxControlPayload/6)...),
		"wide":    append([]byte(`{"type":"list-request","body":{"datasets":[`), bytes.Repeat([]byte(`"",`), MaxControlPayload/3-20)...),
	} {
		t.Run(name, func(t *testing.T) {
			var frame bytes.Buffer
			if err := WriteFrame(&frame, FrameControl, payload); err != nil {
				t.Fatal(err)
			}
			wire := frame.Bytes()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := ReadMessage(bytes.NewReader(wire))
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("got %v, want a protocol violation", err)
			}
			// The frame itself is 1 MiB; decoding it as JSON cost over 100 MiB.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
				t.Errorf("refusing a nested frame allocated %d MiB, want under 4 MiB", alloc>>20)
			}
			t.Logf("refused in %v: %v", elapsed, err)
		})
	}
}

func TestShapeOfRealMessagesIsAllowed(t *testing.T) {
	big := &ListRequest{}
	for i := range maxNames {
		big.Datasets = append(big.Datasets, fmt.Sprintf("d%d", i))
	}
	for _, m := range append(sampleMessages(), big) {
		payload, err := EncodeMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeMessage(payload); err != nil {
			t.Errorf("%s: %v", m.Kind(), err)
		}
	}
	for in, ok := range map[string]bool{
		`{}`: true, `[[1],{"a":[2]}]`: true, `"[[[[[[[[[["`: true, `["\"[[[[[[[[[[", [ ]]`: true, `{"a":"\\"}`: true,
		`[[[[[[[[1]]]]]]]]`: true, `[[[[[[[[[1]]]]]]]]]`: false, `"` + strings.Repeat(",", 2*maxElements) + `"`: true,
		"[" + strings.Repeat("1,", maxElements-1) + "1]": true, "[" + strings.Repeat("1,", maxElements) + "1]": false,
	} {
		if err := checkShape([]byte(in)); (err == nil) != ok {
			t.Errorf("%.40s: %v, want ok=%v", in, err, ok)
		}
	}
}

func TestHelloFrameLimit(t *testing.T) {
	var wire bytes.Buffer
	caps := make([]string, maxCapabilities)
	for i := range caps {
		caps[i] = strings.Repeat("c", capabilityLen-2) + fmt.Sprintf("%02d", i)
	}
	largest := &Hello{Name: strings.Repeat("n", shortTextLen), Version: strings.Repeat("v", shortTextLen), Capabilities: caps}
	if err := WriteMessage(&wire, largest); err != nil {
		t.Fatal(err)
	}
	if _, err := ExpectLimit[*Hello](&wire, MaxHelloPayload); err != nil {
		t.Fatalf("the largest valid hello: %v", err)
	}
	hdr := []byte{byte(FrameControl), 0, 0, 0x20, 1, 0, 0, 0, 0} // 8 KiB + 1
	_, err := ExpectLimit[*Hello](bytes.NewReader(hdr), MaxHelloPayload)
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("a hello frame over %d bytes: %v, want a protocol violation", MaxHelloPayload, err)
	}
}
