package receiver

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// Received filesystems never take effect on the backup host by themselves: a stream can carry any property
// (sent with -p, or crafted), and mountpoint=/root/.ssh or sharenfs=on would apply at the next
// `zfs mount -a` / `zfs share -a`. So a filesystem is received not mounted automatically (canmount=noauto),
// at the mountpoint it inherits inside the client's root, shared only as its parent is, and mounted (when
// an admin mounts it to look inside) without executables, setuid or device nodes. Volumes get no flags: zfs
// receive refuses -o canmount/exec/setuid/devices for a volume and takes -x mountpoint/sharenfs/sharesmb only
// with a warning (2.1 and 2.3 alike, test/vm/scripts/capture-streams-guest.sh, zfs/testdata/streams-*/props.txt).
// Streams that carry properties at all (-p, -R) are refused by checkStream, so none reach a volume either.
var (
	fsReceiveSet = map[string]string{"canmount": "noauto", "exec": "off", "setuid": "off", "devices": "off"}
	// fsReceiveExclude are taken as if the stream did not carry them: inherited from the parent.
	fsReceiveExclude = []string{"mountpoint", "sharenfs", "sharesmb"}
)

// receiveOptions are the zfs receive options for a stream carrying a dataset of kind.
func receiveOptions(kind zfs.ObjsetType, force bool) zfs.ReceiveOptions {
	o := zfs.ReceiveOptions{Resumable: true, NoMount: true, Force: force}
	if kind == zfs.ObjsetFilesystem {
		o.Set, o.Exclude = fsReceiveSet, fsReceiveExclude
	}
	return o
}

// checkStream refuses a stream whose beginning is not what the request announced or not what a hotzfs
// client sends: no clone streams (zfs receive would look the origin up by GUID anywhere in the pool, so a
// client knowing a GUID from another client's tree could clone that data into its own), no replication (-R)
// or property (-p) streams, one dataset of a known kind, the announced snapshot and base.
func checkStream(h zfs.StreamHeader, req *transport.ReceiveRequest) error {
	f := h.First
	switch {
	case f.Clone():
		return refuse(transport.CodeForbidden, "the stream for %s is a clone stream (an incremental from another "+
			"dataset's snapshot, guid %d); the receiver refuses clone streams: send the dataset in full", req.Dataset, f.FromGUID)
	case h.Begin.Compound && h.Begin.PayloadLen != 0:
		return refuse(transport.CodeForbidden, "the stream for %s is a replication (-R) or property (-p) stream; "+
			"the receiver takes one dataset per stream, as hotzfs sends it", req.Dataset)
	case f.Type != zfs.ObjsetFilesystem && f.Type != zfs.ObjsetVolume:
		return refuse(transport.CodeBadRequest, "the stream for %s carries a %s, not a filesystem or volume", req.Dataset, f.Type)
	case req.Resume != f.Resuming():
		return refuse(transport.CodeConflict, "the stream for %s does not match the request: resume requested %t, "+
			"stream resumes %t", req.Dataset, req.Resume, f.Resuming())
	case !h.Begin.Compound && req.GUID != 0 && f.ToGUID != req.GUID:
		return refuse(transport.CodeConflict, "the stream for %s carries snapshot guid %d, the request announced @%s guid %d",
			req.Dataset, f.ToGUID, req.Snapshot, req.GUID)
	case req.Resume: // a resumed stream's base is the interrupted one's
	case req.From == "" && f.FromGUID != 0:
		return refuse(transport.CodeConflict, "the stream for %s is incremental (from guid %d) but was announced as full",
			req.Dataset, f.FromGUID)
	case req.From != "" && f.FromGUID == 0:
		return refuse(transport.CodeConflict, "the stream for %s is full but was announced as incremental from @%s",
			req.Dataset, req.From)
	case req.FromGUID != 0 && f.FromGUID != req.FromGUID:
		return refuse(transport.CodeConflict, "the stream for %s starts from guid %d, the request announced @%s guid %d",
			req.Dataset, f.FromGUID, req.From, req.FromGUID)
	}
	return nil
}

// peekStream reads and checks the beginning of the stream for req; it returns what the stream's header says
// and the whole stream, from its first byte, to give to zfs receive.
func peekStream(sr io.Reader, req *transport.ReceiveRequest) (zfs.StreamHeader, io.Reader, error) {
	h, stream, err := zfs.PeekStream(sr)
	if errors.Is(err, zfs.ErrNotAStream) {
		return h, nil, refuse(transport.CodeBadRequest, "the stream for %s: %v", req.Dataset, err)
	}
	if err != nil {
		return h, nil, fmt.Errorf("read the stream's header: %w", err)
	}
	return h, stream, checkStream(h, req)
}

// refuseClone is the second line of defence against clone streams, after checkStream: a dataset the receive
// just created must not be a clone (of a snapshot of another client, found by GUID). If it is, it is
// destroyed before anyone can read it (the dataset is still reserved for this stream).
func (ss *session) refuseClone(ctx context.Context, target string, req *transport.ReceiveRequest) error {
	props, err := ss.srv.zfs.GetProps(ctx, target, "origin")
	if err != nil {
		return err
	}
	origin := props["origin"]
	if origin == "" || origin == "-" {
		return nil
	}
	ss.log.Warn("a stream created a clone; destroying it", "dataset", target, "origin", origin)
	if err := ss.srv.zfs.Destroy(ctx, target, true); err != nil {
		return fmt.Errorf("destroy %s, received as a clone of %s: %w; destroy it by hand", target, origin, err)
	}
	return refuse(transport.CodeForbidden, "the stream for %s created a clone; the receiver refuses clone streams", req.Dataset)
}
