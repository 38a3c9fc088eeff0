package receiver

import (
	"context"
	"errors"
	"fmt"

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
