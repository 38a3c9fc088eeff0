package main

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hotzfs/hotzfs/job"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// prepareRestoreTarget makes into ready for a restore of dataset@snap, so that a restore the user (or a
// crash) interrupted can simply be run again. Nothing there: go on. The partial state of an interrupted
// receive of that same snapshot (by GUID): a restore stream cannot be resumed (the receiver does not take
// resume tokens from clients), so the partial state is discarded (zfs receive -A) and the restore starts
// again. The snapshot already complete there: done is true, nothing needs receiving. Anything else is refused
// with what is there and what to do.
func prepareRestoreTarget(ctx context.Context, env job.Env, w io.Writer, into, dataset string, snap transport.SnapshotInfo) (done bool, err error) {
	ok, err := env.ZFS.Exists(ctx, into)
	if err != nil || !ok {
		return false, err
	}
	what := fmt.Sprintf("%s@%s (guid %d)", dataset, snap.Name, snap.GUID)
	token, err := env.ZFS.ResumeToken(ctx, into)
	if err != nil {
		return false, err
	}
	if token != "" {
		toname, toguid, err := resumeTokenTarget(token)
		switch {
		case err != nil:
			return false, usagef("%s holds the partial state of an interrupted receive whose resume token hotzfs "+
				"cannot read (%v): discard it (zfs receive -A %s) and run the restore again, or choose another name "+
				"with --into", into, err, into)
		case toguid != snap.GUID:
			return false, usagef("%s holds the partial state of an interrupted receive of %s (guid %d), not of %s: "+
				"discard it (zfs receive -A %s) and run the restore again, or choose another name with --into",
				into, toname, toguid, what, into)
		}
		fmt.Fprintf(w, "%s holds the partial state of an interrupted restore of %s@%s: discarding it (zfs receive -A; "+
			"a restore cannot resume) and restoring from the start\n", into, dataset, snap.Name)
		env.Log.Info("discarding an interrupted restore", "dataset", into, "snapshot", what)
		if err := env.ZFS.AbortReceive(ctx, into); err != nil {
			return false, fmt.Errorf("discard the partial restore in %s: %w", into, err)
		}
		if ok, err := env.ZFS.Exists(ctx, into); err != nil || !ok {
			return false, err // the interrupted restore had created into: it is gone
		}
	}
	snaps, err := env.ZFS.List(ctx, []string{into}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
	if err != nil {
		return false, err
	}
	names := make([]string, 0, len(snaps))
	for _, s := range snaps {
		if s.GUID == snap.GUID {
			fmt.Fprintf(w, "%s already holds %s as @%s: already restored, nothing to receive\n", into, what, s.Short())
			return true, nil
		}
		names = append(names, "@"+s.Short())
	}
	kind := "dataset"
	if props, err := env.ZFS.GetProps(ctx, into, "type"); err == nil && props["type"] != "" {
		kind = props["type"]
	}
	holds := "no snapshots"
	if len(names) > 0 {
		holds = "snapshots " + strings.Join(names, " ") + ", none of them " + what
	}
	return false, usagef("%s exists and is not a restore of %s: it is a %s with %s; destroy it (zfs destroy -r %s) "+
		"and run the restore again, or choose another name with --into", into, what, kind, holds, into)
}

// resumeTokenTarget reads the snapshot name and GUID a receive_resume_token continues. The token is
// "VERSION-CHECKSUM-PACKEDSIZE-HEX", HEX the zlib-compressed nvlist of the send, packed in the native
// encoding. `zfs send -nvP -t` cannot tell it here: it looks the snapshot up, which is on the receiver.
func resumeTokenTarget(token string) (string, uint64, error) {
	f := strings.SplitN(token, "-", 4)
	if len(f) != 4 || f[0] != "1" {
		return "", 0, fmt.Errorf("not a version 1 resume token")
	}
	size, err := strconv.ParseUint(f[2], 16, 32)
	if err != nil {
		return "", 0, fmt.Errorf("resume token size %q: %w", f[2], err)
	}
	compressed, err := hex.DecodeString(f[3])
	if err != nil {
		return "", 0, fmt.Errorf("resume token: %w", err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return "", 0, fmt.Errorf("resume token: %w", err)
	}
	packed, err := io.ReadAll(io.LimitReader(zr, int64(size)+1))
	if err != nil {
		return "", 0, fmt.Errorf("resume token: %w", err)
	}
	if uint64(len(packed)) != size {
		return "", 0, fmt.Errorf("resume token: %d bytes unpacked, the token says %d", len(packed), size)
	}
	return nativeNVListTarget(packed)
}

// nativeNVListTarget finds toname and toguid in a native-encoded nvlist: a 4-byte header (encoding 0 =
// native, endianness 1 = little), the list's int32 version and uint32 flags, then pairs of {int32 size, int16 name size,
// int16 reserved, int32 element count, int32 type, name with its NUL padded to 8, value}, ended by a size 0.
func nativeNVListTarget(b []byte) (string, uint64, error) {
	const (
		typeUint64 = 8
		typeString = 9
	)
	if len(b) < 12 || b[0] != 0 {
		return "", 0, fmt.Errorf("resume token: not a native nvlist")
	}
	var bo binary.ByteOrder = binary.BigEndian
	if b[1] == 1 {
		bo = binary.LittleEndian
	}
	var name string
	var guid uint64
	for off := 12; off+16 <= len(b); {
		size := int(int32(bo.Uint32(b[off:])))
		if size == 0 {
			break
		}
		nameSize := int(bo.Uint16(b[off+4:]))
		typ := bo.Uint32(b[off+12:])
		if size < 16 || off+size > len(b) || 16+nameSize > size || nameSize == 0 {
			return "", 0, fmt.Errorf("resume token: damaged nvlist at byte %d", off)
		}
		key := string(bytes.TrimRight(b[off+16:off+16+nameSize], "\x00"))
		val := b[off+(16+nameSize+7)&^7 : off+size]
		switch {
		case key == "toguid" && typ == typeUint64 && len(val) >= 8:
			guid = bo.Uint64(val)
		case key == "toname" && typ == typeString:
			name, _, _ = strings.Cut(string(val), "\x00")
		}
		if name != "" && guid != 0 {
			return name, guid, nil
		}
		off += size
	}
	return "", 0, fmt.Errorf("resume token names no toname/toguid")
}
