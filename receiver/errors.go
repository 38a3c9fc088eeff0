package receiver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// requestError is a refusal with a protocol error code.
type requestError struct {
	code string
	err  error
}

func (e *requestError) Error() string { return e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

func refuse(code, format string, args ...any) error {
	return &requestError{code: code, err: fmt.Errorf(format, args...)}
}

// errorCode picks the protocol code for err.
func errorCode(err error) string {
	var re *requestError
	var remote *transport.RemoteError
	switch {
	case errors.As(err, &re):
		return re.code
	case errors.As(err, &remote):
		return transport.CodeSource
	case errors.Is(err, transport.ErrCorrupt), errors.Is(err, transport.ErrTruncated), errors.Is(err, zfs.ErrStreamCorrupt):
		return transport.CodeCorrupt
	case errors.Is(err, zfs.ErrNoSpace):
		return transport.CodeNoSpace
	case errors.Is(err, zfs.ErrDatasetNotFound):
		return transport.CodeNotFound
	case errors.Is(err, zfs.ErrDestinationModified), errors.Is(err, zfs.ErrIncrementalMismatch),
		errors.Is(err, zfs.ErrDestinationExists), errors.Is(err, zfs.ErrPartialReceive), errors.Is(err, zfs.ErrExists):
		return transport.CodeConflict
	case errors.Is(err, zfs.ErrBusy), errors.Is(err, zfs.ErrHeld):
		return transport.CodeBusy
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return transport.CodeCanceled
	}
	return transport.CodeInternal
}

// writeError tells the client that what (a request, as requestLabel names it) failed: the code and a short
// reason. The detail — zfs's argv and stderr, which name the receiver's pool and root — is for the receiver's
// log only; whatever the text, dataset names in it are made relative to the client's root.
func (ss *session) writeError(what string, err error) error {
	msg := clientMessage(what, err)
	msg = replaceName(msg, ss.root+"/", "")
	msg = replaceName(msg, ss.root, "the client's root")
	msg = replaceName(msg, ss.srv.opts.Root, "the receiver's root")
	return transport.WriteError(ss.conn, errorCode(err), errors.New(msg))
}

// clientMessage is what the client is told of err, a failure of what, before names are made relative.
func clientMessage(what string, err error) string {
	var re *requestError
	var remote *transport.RemoteError
	switch {
	case errors.As(err, &re):
		return re.Error() // written by the receiver for the client
	case errors.As(err, &remote):
		return fmt.Sprintf("%s failed: the client's stream failed: %s", what, remote.Message)
	}
	return fmt.Sprintf("%s failed: %s", what, publicReason(err))
}

// requestLabel names a request for an error message: "receive into vm/disk0".
func requestLabel(m transport.Message) string {
	switch req := m.(type) {
	case *transport.ListRequest:
		return "list"
	case *transport.ReceiveRequest:
		return "receive into " + req.Dataset
	case *transport.SendRequest:
		return "restore of " + req.Dataset
	case *transport.PruneRequest:
		return "prune of " + req.Dataset
	case *transport.SnapshotRequest:
		return "snapshot @" + req.Name
	case *transport.CloneRequest:
		return "clone of @" + req.Snapshot
	}
	return m.Kind()
}

// publicReasons are the short reasons a client is given, by kind of failure, first match wins.
var publicReasons = []struct {
	kind error
	text string
}{
	{transport.ErrCorrupt, "the stream arrived damaged"},
	{transport.ErrTruncated, "the stream ended before its end frame"},
	{transport.ErrProtocol, "the stream broke the protocol"},
	{zfs.ErrStreamCorrupt, "the stream is invalid"},
	{zfs.ErrNoSpace, "out of space (the client's quota or the receiver's pool is full)"},
	{zfs.ErrPartialReceive, "the target holds an interrupted receive"},
	{zfs.ErrDestinationModified, "the target was modified since its newest snapshot"},
	{zfs.ErrIncrementalMismatch, "the incremental base does not match the target's newest snapshot"},
	{zfs.ErrDestinationExists, "the target exists; a full stream cannot replace it"},
	{zfs.ErrResumeTokenInvalid, "the resume token is invalid or stale"},
	{zfs.ErrHeld, "the snapshot is held"},
	{zfs.ErrBusy, "the dataset is busy"},
	{zfs.ErrExists, "it already exists"},
	{zfs.ErrDatasetNotFound, "the dataset or snapshot does not exist"},
	{zfs.ErrPermissionDenied, "the receiver's zfs denied permission"},
	{context.Canceled, "the receiver is shutting down"},
	{context.DeadlineExceeded, "the receiver timed out"},
}

// publicReason is the short reason for err that a client is told.
func publicReason(err error) string {
	for _, r := range publicReasons {
		if errors.Is(err, r.kind) {
			return r.text
		}
	}
	return "the receiver failed; its log has the details"
}

// replaceName replaces name in msg where it stands as a whole dataset name or a prefix ending in "/": a client
// root pool/backup/hv1 is not the start of pool/backup/hv10.
func replaceName(msg, name, with string) string {
	var b strings.Builder
	for {
		i := strings.Index(msg, name)
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		end := i + len(name)
		b.WriteString(msg[:i])
		if strings.HasSuffix(name, "/") || end == len(msg) || !isNameByte(msg[end]) {
			b.WriteString(with)
		} else {
			b.WriteString(name)
		}
		msg = msg[end:]
	}
}

// isNameByte reports a byte that continues a name component (a "." or ":" after a name is read as punctuation).
func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}
