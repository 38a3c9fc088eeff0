package transport

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleMessages has one valid message of every kind.
func sampleMessages() []Message {
	created := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	return []Message{
		&Hello{Name: "hv1", Version: "0.1.0", Capabilities: []string{"zstd", "resume", "raw"}},
		&ListRequest{Datasets: []string{"tank/vm/web1-disk0"}},
		&ListResponse{Datasets: []DatasetInfo{{Name: "tank/vm/web1-disk0", ResumeToken: "1-e604ea4bf-e0-789c63a2",
			Snapshots: []SnapshotInfo{{Name: "hotzfs_20260203T040506Z", GUID: 18446744073709551615, CreateTXG: 1234,
				Creation: created, Consistency: "fs-frozen", Size: 1 << 30, Source: "tank/vm/web1-disk0",
				Guests: []string{"web1"}}}}}, More: true},
		&ReceiveRequest{Dataset: "tank/vm/web1-disk0", Snapshot: "s2", GUID: 2, From: "s1", FromGUID: 1,
			Compression: CompressionDefault, Raw: true, Estimate: 100 << 20, DomainXML: "<domain type='kvm'>\"&</domain>",
			Source: "tank/vm/web1-disk0", Mountpoint: "/var/lib/libvirt/images", Guests: []string{"web1", "db 1"}},
		&SendRequest{Dataset: "tank/vm/web1-disk0", Snapshot: "s2", GUID: 2, Compression: CompressionNone},
		&SendRequest{Dataset: "tank/vm/web1-disk0", ResumeToken: "1-abc-def", Compression: CompressionFastest},
		&Ready{Estimate: 42, DomainXML: "<domain/>"},
		&Result{Dataset: "tank/vm/web1-disk0", Snapshot: "s2", GUID: 2, Bytes: 10, WireBytes: 5},
		&PruneRequest{Dataset: "tank/vm/web1-disk0", Snapshots: []SnapshotRef{{Name: "s1", GUID: 1}}, DryRun: true},
		&PruneResponse{Dataset: "tank/vm/web1-disk0", Destroyed: []SnapshotRef{{Name: "s0", GUID: 9}},
			Kept: []PruneKept{{SnapshotRef: SnapshotRef{Name: "s1", GUID: 1}, Reason: "incremental base"}}},
		&ListResponse{Datasets: []DatasetInfo{{Name: "tank/vm/web1-disk0-failover", Snapshots: []SnapshotInfo{},
			Origin: "tank/vm/web1-disk0@hotzfs_20260203T040506Z", OriginGUID: 18446744073709551615}}},
		&SnapshotRequest{Datasets: []string{"tank/vm/web1-disk0-failover", "tank/vm/web1-disk1-failover"},
			Name: "hotzfs_20260204T000000Z", Consistency: "crash"},
		&SnapshotResponse{Datasets: []DatasetInfo{{Name: "tank/vm/web1-disk0-failover",
			Origin: "tank/vm/web1-disk0@hotzfs_20260203T040506Z", OriginGUID: 5,
			Snapshots: []SnapshotInfo{{Name: "hotzfs_20260204T000000Z", GUID: 7, CreateTXG: 99, Creation: created,
				Consistency: "crash", Size: 4096}}}}},
		&CloneRequest{Datasets: []string{"tank/vm/web1-disk0", "tank/vm/web1-data"}, Snapshot: "hotzfs_20260203T040506Z",
			GUIDs: []uint64{18446744073709551615, 5}, Suffix: "-migrated"},
		&CloneResponse{Clones: []CloneInfo{{Dataset: "tank/vm/web1-disk0", Clone: "tank/vm/web1-disk0-migrated",
			Device: "/dev/zvol/pool/backup/hv1/tank/vm/web1-disk0-migrated"}, {Dataset: "tank/vm/web1-data",
			Clone: "tank/vm/web1-data-migrated", Mountpoint: "/pool/backup/hv1/tank/vm/web1-data-migrated"}}},
		&ErrorMsg{Code: CodeConflict, Message: "target has snapshot s3 the source does not know\nrefusing"},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	var wire bytes.Buffer
	msgs := sampleMessages()
	for _, m := range msgs {
		if err := WriteMessage(&wire, m); err != nil {
			t.Fatalf("write %s: %v", m.Kind(), err)
		}
	}
	for _, want := range msgs {
		got, err := ReadMessage(&wire)
		if err != nil {
			t.Fatalf("read %s: %v", want.Kind(), err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %+v, want %+v", want.Kind(), got, want)
		}
	}
	if _, err := ReadMessage(&wire); err == nil || err.Error() != "EOF" {
		t.Fatalf("after the last message: got %v, want io.EOF", err)
	}
}

func TestDecodeStrict(t *testing.T) {
	cases := map[string]string{
		"not JSON":            `hello`,
		"unknown type":        `{"type":"shell","body":{"cmd":"rm -rf /"}}`,
		"unknown field":       `{"type":"hello","body":{"name":"a","version":"1","admin":true}}`,
		"unknown envelope":    `{"type":"hello","body":{"name":"a","version":"1"},"x":1}`,
		"trailing data":       `{"type":"hello","body":{"name":"a","version":"1"}} {}`,
		"wrong field type":    `{"type":"result","body":{"dataset":"a","snapshot":"s","guid":7}}`,
		"negative number":     `{"type":"ready","body":{"estimate":-1}}`,
		"path escape":         `{"type":"receive-request","body":{"dataset":"../other","snapshot":"s","guid":"1","compression":"none"}}`,
		"absolute dataset":    `{"type":"list-request","body":{"datasets":["/tank"]}}`,
		"option injection":    `{"type":"receive-request","body":{"dataset":"-o/x","snapshot":"s","guid":"1","compression":"none"}}`,
		"snapshot with @":     `{"type":"receive-request","body":{"dataset":"a","snapshot":"s@t","guid":"1","compression":"none"}}`,
		"dataset with @":      `{"type":"prune-request","body":{"dataset":"a@b","snapshots":[{"name":"s","guid":"1"}]}}`,
		"missing guid":        `{"type":"receive-request","body":{"dataset":"a","snapshot":"s","compression":"none"}}`,
		"base without guid":   `{"type":"receive-request","body":{"dataset":"a","snapshot":"s","guid":"1","from":"r","compression":"none"}}`,
		"unknown compression": `{"type":"receive-request","body":{"dataset":"a","snapshot":"s","guid":"1","compression":"lz4"}}`,
		"control character":   `{"type":"hello","body":{"name":"a\u0007","version":"1"}}`,
		"bad resume token":    `{"type":"send-request","body":{"dataset":"a","resume_token":"1-x;reboot","compression":"none"}}`,
		"empty prune":         `{"type":"prune-request","body":{"dataset":"a","snapshots":[]}}`,
		"bad error code":      `{"type":"error","body":{"code":"Bad Code","message":"x"}}`,
		"no type":             `{"body":{}}`,
	}
	for name, payload := range cases {
		m, err := DecodeMessage([]byte(payload))
		if err == nil {
			t.Errorf("%s: accepted as %+v", name, m)
			continue
		}
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: error %v does not wrap ErrProtocol", name, err)
		}
	}
}

// What a client says of a snapshot's origin is checked before the receiver stores it as properties: each
// value below is refused, and the error names the field.
func TestReceiveRequestOriginIsChecked(t *testing.T) {
	base := ReceiveRequest{Dataset: "tank/vm", Snapshot: "s", GUID: 1, Compression: CompressionNone}
	names := func(n int, name string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = name
		}
		return out
	}
	for _, c := range []struct {
		field string
		set   func(*ReceiveRequest)
	}{
		{"source", func(m *ReceiveRequest) { m.Source = "../hv2/tank" }},
		{"source", func(m *ReceiveRequest) { m.Source = "-o/x" }},
		{"source", func(m *ReceiveRequest) { m.Source = "/tank/vm" }},
		{"source", func(m *ReceiveRequest) { m.Source = "tank/vm@s" }},
		{"source", func(m *ReceiveRequest) { m.Source = "tank/" + strings.Repeat("a", 300) }},
		{"mountpoint", func(m *ReceiveRequest) { m.Mountpoint = "var/lib/images" }},
		{"mountpoint", func(m *ReceiveRequest) { m.Mountpoint = "/srv/../etc" }},
		{"mountpoint", func(m *ReceiveRequest) { m.Mountpoint = "/srv//vm" }},
		{"mountpoint", func(m *ReceiveRequest) { m.Mountpoint = "/srv/./vm" }},
		{"mountpoint", func(m *ReceiveRequest) { m.Mountpoint = "/srv/vm/" }},
		{"mountpoint", func(m *ReceiveRequest) { m.Mountpoint = "/srv/vm\n/etc" }},
		{"mountpoint", func(m *ReceiveRequest) { m.Mountpoint = "/srv/\x7f" }},
		{"mountpoint", func(m *ReceiveRequest) { m.Mountpoint = "/srv/\xff" }},
		{"mountpoint", func(m *ReceiveRequest) { m.Mountpoint = "/" + strings.Repeat("a", 1024) }},
		{"guests", func(m *ReceiveRequest) { m.Guests = names(17, "web") }},
		{"guest name", func(m *ReceiveRequest) { m.Guests = []string{"web1", ""} }},
		{"guest name", func(m *ReceiveRequest) { m.Guests = []string{"web1,db1"} }},
		{"guest name", func(m *ReceiveRequest) { m.Guests = []string{"../../etc/libvirt/qemu/x"} }},
		{"guest name", func(m *ReceiveRequest) { m.Guests = []string{"web\x001"} }},
		{"guest name", func(m *ReceiveRequest) { m.Guests = []string{"web\t1"} }},
		{"guest name", func(m *ReceiveRequest) { m.Guests = []string{"\xfe"} }},
		{"guest name", func(m *ReceiveRequest) { m.Guests = []string{strings.Repeat("w", 257)} }},
	} {
		m := base
		c.set(&m)
		err := m.Validate()
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("source %q, mountpoint %q, guests %q: %v, want an error about the %s", m.Source, m.Mountpoint,
				m.Guests, err, c.field)
		}
	}
	// At the bounds, and the root filesystem's mountpoint.
	for _, mp := range []string{"/", "/var/lib/libvirt/images", "/" + strings.Repeat("a", 1023)} {
		m := base
		m.Source, m.Mountpoint, m.Guests = "tank/vm", mp, names(16, strings.Repeat("é", 128))
		if err := m.Validate(); err != nil {
			t.Errorf("mountpoint %.40q with 16 guests of 256 bytes: %v", mp, err)
		}
	}
}

func TestExpect(t *testing.T) {
	var wire bytes.Buffer
	_ = WriteMessage(&wire, &ErrorMsg{Code: CodeNoSpace, Message: "cannot receive: out of space"})
	_ = WriteMessage(&wire, &Ready{})
	_, err := Expect[*Ready](&wire)
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeNoSpace || !strings.Contains(re.Message, "out of space") {
		t.Fatalf("got %v, want the peer's no-space error", err)
	}
	_, err = Expect[*Result](&wire)
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "expected a result message, got ready") {
		t.Fatalf("got %v", err)
	}
}

func TestWriteRefusesInvalidAndOversized(t *testing.T) {
	var wire bytes.Buffer
	if err := WriteMessage(&wire, &ReceiveRequest{Dataset: "../x", Snapshot: "s", GUID: 1, Compression: CompressionNone}); err == nil {
		t.Fatal("invalid message written")
	}
	big := &ListResponse{}
	for i := range 20000 {
		big.Datasets = append(big.Datasets, DatasetInfo{Name: strings.Repeat("d", 40), Snapshots: []SnapshotInfo{{Name: "s", GUID: uint64(i + 1)}}})
	}
	if err := WriteMessage(&wire, big); err == nil || !strings.Contains(err.Error(), "split it") {
		t.Fatalf("oversized message: got %v", err)
	}
	if wire.Len() != 0 {
		t.Fatal("refused messages left bytes on the wire")
	}
}

func TestWriteErrorSanitises(t *testing.T) {
	var wire bytes.Buffer
	msg := "zfs: \x00bad\xff bytes\n" + strings.Repeat("é", 10000)
	if err := WriteError(&wire, CodeInternal, errors.New(msg)); err != nil {
		t.Fatal(err)
	}
	m, err := ReadMessage(&wire)
	if err != nil {
		t.Fatalf("sanitised error did not decode: %v", err)
	}
	if got := m.(*ErrorMsg).Message; len(got) > messageLen || !strings.HasPrefix(got, "zfs: ?bad? bytes\n") {
		t.Fatalf("message %d bytes, starts %q", len(got), got[:20])
	}
}

func TestControlFrameLimits(t *testing.T) {
	hdr := []byte{byte(FrameControl), 0x00, 0x10, 0x00, 0x01, 0, 0, 0, 0} // 1 MiB + 1
	if _, err := ReadMessage(bytes.NewReader(hdr)); !errors.Is(err, ErrProtocol) {
		t.Fatalf("oversized control frame: got %v", err)
	}
	unknown := []byte{0x7f, 0, 0, 0, 0, 0, 0, 0, 0}
	if _, err := ReadMessage(bytes.NewReader(unknown)); !errors.Is(err, ErrProtocol) {
		t.Fatalf("unknown frame type: got %v", err)
	}
	var data bytes.Buffer
	_ = WriteFrame(&data, FrameData, []byte("x"))
	if _, err := ReadMessage(&data); !errors.Is(err, ErrProtocol) {
		t.Fatalf("data frame where a message was expected: got %v", err)
	}
}

func TestDecodeRefusesKeyTricks(t *testing.T) {
	for name, payload := range map[string]string{
		"case-folded key":   `{"tYpe":"hello","body":{"name":"a","version":"1"}}`,
		"case-folded field": `{"type":"hello","body":{"Name":"a","version":"1"}}`,
		"repeated key":      `{"type":"hello","body":{"name":"a","name":"b","version":"1"}}`,
		"nested repeat":     `{"type":"prune-request","body":{"dataset":"a","snapshots":[{"name":"s","guid":"1","guid":"2"}]}}`,
	} {
		if m, err := DecodeMessage([]byte(payload)); err == nil {
			t.Errorf("%s: accepted as %+v", name, m)
		}
	}
	// Repeated keys in different objects are fine.
	ok := `{"type":"prune-request","body":{"dataset":"a","snapshots":[{"name":"s","guid":"1"},{"name":"t","guid":"2"}]}}`
	if _, err := DecodeMessage([]byte(ok)); err != nil {
		t.Fatal(err)
	}
}
