package zfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"time"
)

// The beginning of a `zfs send` stream, as OpenZFS writes it (include/sys/zfs_ioctl.h): a sequence of
// dmu_replay_record_t of RecordSize bytes each, some followed by a payload. The first is a DRR_BEGIN
// record:
//
//	offset  size  field
//	     0     4  drr_type            DRR_BEGIN = 0 (DRR_END = 5)
//	     4     4  drr_payloadlen      bytes of payload after the record (an XDR nvlist, or 0)
//	     8     8  drr_magic           0x2F5bacbac, in the byte order of the sending host
//	    16     8  drr_versioninfo     bits 0–1: DMU_SUBSTREAM 1 / DMU_COMPOUNDSTREAM 2; bits 2–31: features
//	    24     8  drr_creation_time   seconds since 1970
//	    32     4  drr_type            objset type: DMU_OST_ZFS 2 (filesystem), DMU_OST_ZVOL 3 (volume)
//	    36     4  drr_flags           DRR_FLAG_CLONE 1<<0, DRR_FLAG_CI_DATA 1<<1, DRR_FLAG_FREERECORDS 1<<2
//	    40     8  drr_toguid
//	    48     8  drr_fromguid        0 for a full stream
//	    56   256  drr_toname          "pool/fs@snap", NUL-terminated
//
// Every field is in the sender's byte order, which the magic tells. A compound stream (`send -I`, `-p`,
// `-R`) starts with a BEGIN record of type DMU_COMPOUNDSTREAM and no objset, its payload (the -p/-R
// nvlist, empty for -I), a DRR_END record, then one substream per snapshot, each starting with its own
// BEGIN record.

// RecordSize is sizeof(dmu_replay_record_t).
const RecordSize = 312

// StreamMagic is DMU_BACKUP_MAGIC.
const StreamMagic = 0x2F5bacbac

// maxCompoundPayload bounds the nvlist of a compound stream header that PeekStream buffers.
const maxCompoundPayload = 1 << 20

const (
	drrBegin     = 0
	drrEnd       = 5
	hdrSubstream = 1
	hdrCompound  = 2
)

// ObjsetType is the kind of dataset a stream carries (dmu_objset_type_t).
type ObjsetType uint32

// The objset types a stream can carry.
const (
	ObjsetNone       ObjsetType = 0 // a compound stream's own header
	ObjsetFilesystem ObjsetType = 2 // DMU_OST_ZFS
	ObjsetVolume     ObjsetType = 3 // DMU_OST_ZVOL
)

func (t ObjsetType) String() string {
	switch t {
	case ObjsetNone:
		return "none"
	case ObjsetFilesystem:
		return "filesystem"
	case ObjsetVolume:
		return "volume"
	}
	return fmt.Sprintf("objset type %d", uint32(t))
}

// BEGIN record flags (drr_flags).
const (
	StreamFlagClone       = 1 << 0 // DRR_FLAG_CLONE: an incremental from a snapshot of another dataset (the origin)
	StreamFlagCIData      = 1 << 1 // DRR_FLAG_CI_DATA
	StreamFlagFreeRecords = 1 << 2 // DRR_FLAG_FREERECORDS
	StreamFlagSpillBlock  = 1 << 3 // DRR_FLAG_SPILL_BLOCK
)

// Stream feature flags (DMU_BACKUP_FEATURE_*, bits 2–31 of drr_versioninfo, shifted down).
const (
	FeatureEmbedData  = 1 << 16
	FeatureLZ4        = 1 << 17
	FeatureLargeBlock = 1 << 19
	FeatureResuming   = 1 << 20
	FeatureRedacted   = 1 << 21
	FeatureCompressed = 1 << 22
	FeatureLargeDnode = 1 << 23
	FeatureRaw        = 1 << 24
	FeatureZstd       = 1 << 25
)

// ErrNotAStream is a stream whose first bytes are not a send stream's BEGIN record.
var ErrNotAStream = errors.New("not a zfs send stream")

// BeginRecord is one DRR_BEGIN record of a send stream.
type BeginRecord struct {
	BigEndian  bool // written by a big-endian host
	Compound   bool // DMU_COMPOUNDSTREAM: the header of a -I, -p or -R stream; substreams follow
	Features   uint64
	Created    time.Time
	Type       ObjsetType
	Flags      uint32
	ToGUID     uint64
	FromGUID   uint64
	ToName     string
	PayloadLen uint32
}

// Clone reports whether the stream is a clone stream: an incremental whose base is a snapshot of another
// dataset, which zfs receive looks up by GUID anywhere in the pool.
func (b BeginRecord) Clone() bool { return b.Flags&StreamFlagClone != 0 }

// Resuming reports whether the stream continues an interrupted receive (`zfs send -t`).
func (b BeginRecord) Resuming() bool { return b.Features&FeatureResuming != 0 }

// Raw reports whether the stream is raw (`zfs send -w`).
func (b BeginRecord) Raw() bool { return b.Features&FeatureRaw != 0 }

// ParseBeginRecord decodes a DRR_BEGIN record (RecordSize bytes, or more: the rest is ignored).
func ParseBeginRecord(rec []byte) (BeginRecord, error) {
	if len(rec) < RecordSize {
		return BeginRecord{}, fmt.Errorf("%w: a begin record is %d bytes, got %d", ErrNotAStream, RecordSize, len(rec))
	}
	var order binary.ByteOrder = binary.LittleEndian
	var b BeginRecord
	switch magic := binary.LittleEndian.Uint64(rec[8:16]); magic {
	case StreamMagic:
	case bits.ReverseBytes64(StreamMagic):
		order, b.BigEndian = binary.BigEndian, true
	default:
		return BeginRecord{}, fmt.Errorf("%w: bad magic %#x", ErrNotAStream, magic)
	}
	if t := order.Uint32(rec[0:4]); t != drrBegin {
		return BeginRecord{}, fmt.Errorf("%w: first record has type %d, not BEGIN", ErrNotAStream, t)
	}
	b.PayloadLen = order.Uint32(rec[4:8])
	vi := order.Uint64(rec[16:24])
	switch vi & 3 {
	case hdrSubstream:
	case hdrCompound:
		b.Compound = true
	default:
		return BeginRecord{}, fmt.Errorf("%w: unknown stream header type %d", ErrNotAStream, vi&3)
	}
	b.Features = (vi >> 2) & (1<<30 - 1)
	b.Created = time.Unix(int64(order.Uint64(rec[24:32])), 0).UTC()
	b.Type = ObjsetType(order.Uint32(rec[32:36]))
	b.Flags = order.Uint32(rec[36:40])
	b.ToGUID = order.Uint64(rec[40:48])
	b.FromGUID = order.Uint64(rec[48:56])
	name := rec[56:RecordSize]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	b.ToName = string(name)
	return b, nil
}

// StreamHeader is what the beginning of a send stream says.
type StreamHeader struct {
	Begin BeginRecord // the first record
	First BeginRecord // the first substream's BEGIN record: Begin itself unless Begin.Compound
}

// PeekStream reads the beginning of a send stream from r, up to and including the BEGIN record of its first
// substream (for a plain stream that is the first record, for a compound one the header, its payload and
// its END record come first), and returns what it says with a reader that yields the whole stream again
// from its first byte. An error from r is returned wrapped; a stream that is not a send stream is
// ErrNotAStream.
func PeekStream(r io.Reader) (StreamHeader, io.Reader, error) {
	var buf bytes.Buffer
	read := func(n int, what string) ([]byte, error) {
		start := buf.Len()
		if _, err := io.CopyN(&buf, r, int64(n)); err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w: the stream ends inside its %s", ErrNotAStream, what)
			}
			return nil, err
		}
		return buf.Bytes()[start:], nil
	}
	var h StreamHeader
	rec, err := read(RecordSize, "begin record")
	if err != nil {
		return h, nil, err
	}
	if h.Begin, err = ParseBeginRecord(rec); err != nil {
		return h, nil, err
	}
	h.First = h.Begin
	if h.Begin.Compound {
		if h.Begin.PayloadLen > maxCompoundPayload {
			return h, nil, fmt.Errorf("%w: compound stream header payload of %d bytes (at most %d)",
				ErrNotAStream, h.Begin.PayloadLen, maxCompoundPayload)
		}
		if _, err := read(int(h.Begin.PayloadLen), "compound header"); err != nil {
			return h, nil, err
		}
		end, err := read(RecordSize, "compound header")
		if err != nil {
			return h, nil, err
		}
		order := binary.ByteOrder(binary.LittleEndian)
		if h.Begin.BigEndian {
			order = binary.BigEndian
		}
		if t := order.Uint32(end[0:4]); t != drrEnd {
			return h, nil, fmt.Errorf("%w: compound header is followed by a record of type %d, not END", ErrNotAStream, t)
		}
		sub, err := read(RecordSize, "first substream's begin record")
		if err != nil {
			return h, nil, err
		}
		if h.First, err = ParseBeginRecord(sub); err != nil {
			return h, nil, fmt.Errorf("first substream: %w", err)
		}
		if h.First.Compound || h.First.BigEndian != h.Begin.BigEndian {
			return h, nil, fmt.Errorf("%w: the first substream is itself compound or in another byte order", ErrNotAStream)
		}
	}
	return h, io.MultiReader(bytes.NewReader(buf.Bytes()), r), nil
}
