package transport

import (
	"errors"
	"fmt"
)

// Kinds of failure, usable with errors.Is on errors returned by this package.
var (
	// ErrProtocol: the peer broke the protocol (unknown or unexpected frame, oversized frame, malformed or
	// invalid control message). The connection cannot be used further.
	ErrProtocol = errors.New("protocol violation")
	// ErrCorrupt: bytes were damaged in transit (checksum or decompression failure, counts that do not match).
	ErrCorrupt = errors.New("stream corrupt")
	// ErrTruncated: the connection ended before a data stream's end frame; the stream is incomplete.
	ErrTruncated = errors.New("stream truncated: the connection ended before the end of the stream")
)

// RemoteError is an error the peer reported: an error control message, or the error trailer of a data stream
// (then Code is usually "source" and Message the sender's error, such as a failed zfs send).
type RemoteError struct {
	Code    string
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("peer reported %s: %s", e.Code, e.Message)
}

// VersionError is a banner exchange between peers that speak different protocol versions.
type VersionError struct {
	Local, Remote int
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("protocol version mismatch: this side speaks HOTZFS/%d, the peer speaks HOTZFS/%d; "+
		"run the same hotzfs release on both hosts", e.Local, e.Remote)
}

func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

func corruptErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}
