package main

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// nativeNVList packs pairs the way OpenZFS's nvlist_pack(NV_ENCODE_NATIVE) does on a little-endian host.
func nativeNVList(pairs ...any) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 1, 0, 0}) // native, little-endian
	b.Write(make([]byte, 8))    // the list's version and flags
	for i := 0; i < len(pairs); i += 2 {
		name := pairs[i].(string) + "\x00"
		var typ uint32
		var val []byte
		switch v := pairs[i+1].(type) {
		case uint64:
			typ, val = 8, binary.LittleEndian.AppendUint64(nil, v)
		case string:
			typ, val = 9, []byte(v+"\x00")
		case bool:
			typ = 1
		}
		valOff := (16 + len(name) + 7) &^ 7
		size := (valOff + len(val) + 7) &^ 7
		pair := make([]byte, size)
		binary.LittleEndian.PutUint32(pair[0:], uint32(size))
		binary.LittleEndian.PutUint16(pair[4:], uint16(len(name)))
		binary.LittleEndian.PutUint32(pair[8:], 1)
		binary.LittleEndian.PutUint32(pair[12:], typ)
		copy(pair[16:], name)
		copy(pair[valOff:], val)
		b.Write(pair)
	}
	b.Write(make([]byte, 4))
	return b.Bytes()
}

func token(packed []byte) string {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(packed)
	w.Close()
	return fmt.Sprintf("1-e604ea4bf-%x-%s", len(packed), hex.EncodeToString(z.Bytes()))
}

func TestResumeTokenTarget(t *testing.T) {
	packed := nativeNVList("object", uint64(1), "offset", uint64(0), "bytes", uint64(131072),
		"toguid", uint64(0xa1b2c3d4e5f60718), "toname", "backup/hv1/tank/data@hotzfs_2024", "compressok", true)
	name, guid, err := resumeTokenTarget(token(packed))
	if err != nil || name != "backup/hv1/tank/data@hotzfs_2024" || guid != 0xa1b2c3d4e5f60718 {
		t.Fatalf("decoded %q %x %v", name, guid, err)
	}
	// A token OpenZFS 2.3 left on an interrupted restore (TestRealRestoreInterruptedThenRunAgain, which checks
	// the GUID against the snapshot's).
	real := "1-12667eae30-e0-789c636064000310a500c4ec50360710e72765a5269740f80cd8e4d3d28a534b18e00024cf86249f5459925acc" +
		"802a8facbf243fbd34338581c1dab7edfac6f00bcb0290e439c1f27989b9a90c0c1955c6161646fa4989c9d9a505fa196586fa601143" +
		"fd94c49244878cfc92aab4e2782303233343201162686c64686a1905b513007e9c21b3"
	name, guid, err = resumeTokenTarget(real)
	if err != nil || name != "hz3882/backup/hv1/hz3881/data@hotzfs_20261202T132159Z" || guid != 0xa6d057b1d7864d3b {
		t.Errorf("real token decoded to %q %x %v", name, guid, err)
	}
	for _, bad := range []string{"", "2-1-2-00", "1-x-zz-00", "1-0-10-00ff", token(packed[:40]),
		token(nativeNVList("toname", "a@b")), strings.Replace(token(packed), "-", "-1", 2)} {
		if _, _, err := resumeTokenTarget(bad); err == nil {
			t.Errorf("token %.40q accepted", bad)
		}
	}
}
