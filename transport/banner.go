package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// ProtocolVersion is the wire protocol version this package speaks. Peers must speak the same version.
// Version 2: data-stream frames on a TLS carrier carry no checksum (see the package doc).
const ProtocolVersion = 3 // 3: receive requests and listings carry the source dataset, mountpoint and guests

// BannerLen is the fixed length of the banner: "HOTZFS/" + four decimal digits + "\n".
const BannerLen = 12

const bannerPrefix = "HOTZFS/"

func banner(version int) []byte {
	return fmt.Appendf(nil, "%s%04d\n", bannerPrefix, version)
}

// parseBanner returns the version in a banner, or an error quoting what the peer sent instead.
func parseBanner(b []byte) (int, error) {
	if string(b[:len(bannerPrefix)]) != bannerPrefix || b[BannerLen-1] != '\n' {
		return 0, protocolErrorf("the peer is not a hotzfs endpoint: it sent %q instead of a %q banner "+
			"(for ssh: does the remote shell print something on login?)", b, bannerPrefix+"NNNN")
	}
	v, err := strconv.Atoi(string(b[len(bannerPrefix) : BannerLen-1]))
	if err != nil || v < 0 {
		return 0, protocolErrorf("malformed banner %q", b)
	}
	return v, nil
}

type deadlineSetter interface {
	SetDeadline(time.Time) error
}

// Handshake exchanges version banners on rw: both sides send theirs and read the peer's at the same time, so
// it works on unbuffered carriers such as net.Pipe. It fails with a *VersionError when the peer speaks another
// version. When rw has SetDeadline (a net.Conn), the whole exchange is bounded by timeout and by ctx, and the
// deadline is cleared afterwards; on other carriers only the write and read themselves bound it.
func Handshake(ctx context.Context, rw io.ReadWriter, timeout time.Duration) error {
	if ds, ok := rw.(deadlineSetter); ok {
		if err := ds.SetDeadline(time.Now().Add(timeout)); err != nil {
			return fmt.Errorf("handshake: set deadline: %w", err)
		}
		stop := context.AfterFunc(ctx, func() { _ = ds.SetDeadline(time.Unix(1, 0)) })
		defer func() {
			stop()
			_ = ds.SetDeadline(time.Time{})
		}()
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := rw.Write(banner(ProtocolVersion))
		wrote <- err
	}()
	var got [BannerLen]byte
	_, rerr := io.ReadFull(rw, got[:])
	err := handshakeError(ctx, rerr, got[:])
	if ds, ok := rw.(deadlineSetter); ok && err != nil {
		_ = ds.SetDeadline(time.Unix(1, 0)) // a failed peer may never read: unblock our own write
	}
	werr := <-wrote
	if err != nil {
		return err
	}
	if werr != nil {
		return fmt.Errorf("handshake: send banner: %w", werr)
	}
	return nil
}

func handshakeError(ctx context.Context, rerr error, got []byte) error {
	switch {
	case rerr != nil && ctx.Err() != nil:
		return fmt.Errorf("handshake: %w", ctx.Err())
	case errors.Is(rerr, io.EOF), errors.Is(rerr, io.ErrUnexpectedEOF):
		return fmt.Errorf("handshake: the peer closed the connection before sending its banner "+
			"(wrong port, or the peer refused us): %w", rerr)
	case rerr != nil:
		return fmt.Errorf("handshake: read banner: %w", rerr)
	}
	v, err := parseBanner(got)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if v != ProtocolVersion {
		return &VersionError{Local: ProtocolVersion, Remote: v}
	}
	return nil
}
