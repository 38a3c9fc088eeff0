package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/hotzfs/hotzfs/transport"
)

// retryPolicy bounds the attempts at one dataset (or connection) within a run when failures are transient.
type retryPolicy struct {
	attempts int           // in all, the first included
	delay    time.Duration // before the second attempt
	factor   int           // each further delay is factor times the one before
}

// defaultRetry: four attempts, 2 s, 8 s and 32 s apart (about 40 s in all).
var defaultRetry = retryPolicy{attempts: 4, delay: 2 * time.Second, factor: 4}

// do runs op until it succeeds, fails for good, or the attempts are used up; between attempts it waits, as long
// as ctx lets it. Each retry is logged with its attempt number and the error that caused it.
func (p retryPolicy) do(ctx context.Context, log *slog.Logger, what string, op func(attempt int) error) error {
	delay := p.delay
	for attempt := 1; ; attempt++ {
		err := op(attempt)
		switch {
		case err == nil:
			if attempt > 1 {
				log.Info(what+" succeeded after a retry", "attempt", attempt)
			}
			return nil
		case !transient(err) || ctx.Err() != nil:
			return err
		case attempt >= p.attempts:
			return fmt.Errorf("%w (transient; gave up after %d attempts: the next run tries again)", err, attempt)
		}
		log.Warn(what+" failed; retrying", "attempt", attempt, "attempts", p.attempts, "retry_in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, fmt.Errorf("no retry: %w", context.Cause(ctx)))
		case <-t.C:
		}
		delay *= time.Duration(max(p.factor, 1))
	}
}

// transient reports a failure that may well not recur moments later: the receiver is busy (all stream slots
// taken, or another stream into the dataset), it timed out or shut down, or the connection dropped, was
// refused or timed out. What the receiver refuses for cause (forbidden, conflict, a diverged target, no
// space) and our own cancellation are not transient.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var remote, permanent bool
	walk(err, func(e error) {
		if re, ok := e.(*transport.RemoteError); ok {
			switch re.Code {
			case transport.CodeBusy, transport.CodeTimeout, transport.CodeCanceled:
				remote = true
			default:
				permanent = true
			}
		}
	})
	if permanent {
		return false
	}
	if remote {
		return true
	}
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, transport.ErrTruncated) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ETIMEDOUT) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &ne) && ne.Timeout()
}

// walk calls fn on err and every error it wraps, through joins too.
func walk(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), fn)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, fn)
		}
	}
}
