package zfs

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// A receive_resume_token is written by the receiving kernel as "1-<checksum>-<packed length>-<hex>": the hex
// of a zlib-compressed nvlist in native encoding, the checksum the first word of its Fletcher-4 sum. The token
// comes from the receiver, which a sender must not trust: ParseResumeToken decodes it in Go, strictly and
// within fixed bounds, so the sender can check what it names before it passes it to `zfs send -t`.

// Bounds on a token. Real tokens are a few hundred characters; these leave room for any legitimate one.
const (
	MaxResumeTokenLen = 64 << 10 // characters of the whole token
	maxPackedLen      = 64 << 10 // bytes of the decompressed nvlist
)

// ErrResumeTokenMalformed is returned for a token that does not decode; errors.Is also matches
// ErrResumeTokenInvalid.
var ErrResumeTokenMalformed = fmt.Errorf("malformed resume token (%w)", ErrResumeTokenInvalid)

// ResumeToken is the content of a receive_resume_token: what an interrupted receive was receiving and with
// which stream flags.
type ResumeToken struct {
	ToName                string // the snapshot being received, "pool/a@s", as named on the sending side
	ToGUID                uint64
	FromGUID              uint64 // incremental base (snapshot or bookmark); 0 for a full stream
	Object, Offset, Bytes uint64 // where the receive stopped
	EmbedOK, CompressOK   bool   // the stream was sent with -e, -c (raw streams set both)
	LargeBlockOK, RawOK   bool   // -L (only when the dataset has large blocks), -w
	SavedOK               bool   // a resume of saved partial data (send -S)
	Other                 []string
}

// nvpair data types (sys/nvpair.h) that a resume token uses.
const (
	nvBoolean = 1
	nvUint64  = 8
	nvString  = 9
)

// ParseResumeToken decodes a receive_resume_token. It refuses anything a well-formed token written by OpenZFS
// does not contain: other versions, bad checksums, lengths that disagree, trailing bytes, nested or array
// values, duplicate names, a known field of the wrong type. Fields it does not know are listed in Other.
func ParseResumeToken(token string) (ResumeToken, error) {
	packed, err := unpackToken(token)
	if err != nil {
		return ResumeToken{}, err
	}
	pairs, err := decodeNVList(packed)
	if err != nil {
		return ResumeToken{}, fmt.Errorf("%w: %v", ErrResumeTokenMalformed, err)
	}
	var t ResumeToken
	for _, p := range pairs {
		if err := t.set(p); err != nil {
			return ResumeToken{}, fmt.Errorf("%w: %v", ErrResumeTokenMalformed, err)
		}
	}
	if t.ToName == "" || t.ToGUID == 0 {
		return ResumeToken{}, fmt.Errorf("%w: no toname or toguid", ErrResumeTokenMalformed)
	}
	if err := ValidateSnapshot(t.ToName); err != nil {
		return ResumeToken{}, fmt.Errorf("%w: toname: %v", ErrResumeTokenMalformed, err)
	}
	return t, nil
}

// unpackToken checks the token's frame and checksum and returns the decompressed nvlist.
func unpackToken(token string) ([]byte, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrResumeTokenMalformed, fmt.Sprintf(format, a...))
	}
	if len(token) > MaxResumeTokenLen {
		return nil, bad("%d characters, more than %d", len(token), MaxResumeTokenLen)
	}
	f := strings.Split(token, "-")
	if len(f) != 4 || f[0] != "1" {
		return nil, bad("not of the form 1-<checksum>-<length>-<data>")
	}
	for _, part := range f[1:] {
		if part == "" || strings.Trim(part, "0123456789abcdef") != "" {
			return nil, bad("%.20q is not lowercase hex", part)
		}
	}
	if len(f[1]) > 16 || len(f[2]) > 8 {
		return nil, bad("checksum or length too long")
	}
	sum, _ := strconv.ParseUint(f[1], 16, 64)
	packedLen, _ := strconv.ParseUint(f[2], 16, 64)
	if packedLen == 0 || packedLen > maxPackedLen {
		return nil, bad("packed length %d out of bounds", packedLen)
	}
	compressed, err := hex.DecodeString(f[3])
	if err != nil {
		return nil, bad("data: %v", err)
	}
	if got := fletcher4First(compressed); got != sum {
		return nil, bad("checksum %x, the data sums to %x", sum, got)
	}
	zr, err := zlib.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, bad("zlib: %v", err)
	}
	packed, err := io.ReadAll(io.LimitReader(zr, int64(packedLen)+1))
	if err != nil {
		return nil, bad("zlib: %v", err)
	}
	if uint64(len(packed)) != packedLen {
		return nil, bad("decompresses to %d bytes, the token says %d", len(packed), packedLen)
	}
	return packed, nil
}

// fletcher4First is the first word of the Fletcher-4 checksum (native, little-endian words) of b, as
// fletcher_4_native_varsize computes it: the sum of the 32-bit words; a trailing partial word is not summed.
func fletcher4First(b []byte) uint64 {
	var a uint64
	for i := 0; i+4 <= len(b); i += 4 {
		a += uint64(binary.LittleEndian.Uint32(b[i:]))
	}
	return a
}

type nvPair struct {
	name string
	typ  int32
	u64  uint64
	str  string
}

// decodeNVList decodes a native-encoded, little-endian nvlist of boolean, uint64 and string pairs: a 4-byte
// header, version and flags, pairs of {size, name size, reserved, element count, type, name, value} padded to
// 8 bytes, and a zero size at the end.
func decodeNVList(b []byte) ([]nvPair, error) {
	le := binary.LittleEndian
	if len(b) < 16 {
		return nil, fmt.Errorf("nvlist of %d bytes is too short", len(b))
	}
	if b[0] != 0 || b[1] != 1 || b[2] != 0 || b[3] != 0 {
		return nil, fmt.Errorf("nvlist header % x: want native little-endian encoding", b[:4])
	}
	if v, flag := le.Uint32(b[4:]), le.Uint32(b[8:]); v != 0 || flag != 1 {
		return nil, fmt.Errorf("nvlist version %d flags %#x: want version 0 with unique names", v, flag)
	}
	var pairs []nvPair
	seen := map[string]bool{}
	off := 12
	for {
		if len(b)-off < 4 {
			return nil, errors.New("nvlist ends without its end marker")
		}
		size := int(int32(le.Uint32(b[off:])))
		if size == 0 {
			off += 4
			break
		}
		if size < 16 || size%8 != 0 || size > len(b)-off {
			return nil, fmt.Errorf("nvpair at %d: size %d", off, size)
		}
		p, err := decodePair(b[off : off+size])
		if err != nil {
			return nil, fmt.Errorf("nvpair at %d: %w", off, err)
		}
		if seen[p.name] {
			return nil, fmt.Errorf("nvpair %q appears twice", p.name)
		}
		seen[p.name] = true
		pairs = append(pairs, p)
		off += size
	}
	if off != len(b) {
		return nil, fmt.Errorf("%d bytes after the end of the nvlist", len(b)-off)
	}
	return pairs, nil
}

func decodePair(b []byte) (nvPair, error) {
	le := binary.LittleEndian
	nameSize := int(int16(le.Uint16(b[4:])))
	reserved, elems, typ := le.Uint16(b[6:]), int32(le.Uint32(b[8:])), int32(le.Uint32(b[12:]))
	if nameSize < 2 || 16+nameSize > len(b) || reserved != 0 {
		return nvPair{}, fmt.Errorf("name size %d, reserved %d", nameSize, reserved)
	}
	name := b[16 : 16+nameSize]
	if name[nameSize-1] != 0 || bytes.IndexByte(name[:nameSize-1], 0) >= 0 {
		return nvPair{}, errors.New("name is not one NUL-terminated string")
	}
	p := nvPair{name: string(name[:nameSize-1]), typ: typ}
	if !zero(b[16+nameSize : align8(16+nameSize)]) {
		return nvPair{}, fmt.Errorf("%q: padding after the name is not zero", p.name)
	}
	value := b[align8(16+nameSize):]
	switch {
	case typ == nvBoolean && elems == 0 && len(value) == 0:
	case typ == nvUint64 && elems == 1 && len(value) == 8:
		p.u64 = le.Uint64(value)
	case typ == nvString && elems == 1 && len(value) > 0:
		end := bytes.IndexByte(value, 0)
		if end < 0 || align8(end+1) != len(value) || !zero(value[end:]) {
			return nvPair{}, fmt.Errorf("%q: string value of %d bytes is not NUL-terminated and padded", p.name, len(value))
		}
		p.str = string(value[:end])
	default:
		return nvPair{}, fmt.Errorf("%q: type %d with %d elements in %d bytes is not a boolean, uint64 or string",
			p.name, typ, elems, len(value))
	}
	return p, nil
}

func align8(n int) int { return (n + 7) &^ 7 }

func zero(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }

// set stores one pair in t, checking a known field's type.
func (t *ResumeToken) set(p nvPair) error {
	u64 := map[string]*uint64{"toguid": &t.ToGUID, "fromguid": &t.FromGUID, "object": &t.Object,
		"offset": &t.Offset, "bytes": &t.Bytes}
	flags := map[string]*bool{"embedok": &t.EmbedOK, "compressok": &t.CompressOK, "largeblockok": &t.LargeBlockOK,
		"rawok": &t.RawOK, "savedok": &t.SavedOK}
	want := int32(nvString)
	switch {
	case u64[p.name] != nil:
		want = nvUint64
		*u64[p.name] = p.u64
	case flags[p.name] != nil:
		want = nvBoolean
		*flags[p.name] = true
	case p.name == "toname":
		t.ToName = p.str
	default:
		t.Other = append(t.Other, p.name)
		return nil
	}
	if p.typ != want {
		return fmt.Errorf("%q has type %d, want %d", p.name, p.typ, want)
	}
	return nil
}
