package transport

import (
	"context"
	"fmt"
	"io"

	"golang.org/x/time/rate"
)

// burstFor sizes the token bucket: a tenth of a second of traffic, at least 4 KiB, at most 1 MiB, so the
// limit holds over short windows and writes are cut into pieces no larger than the burst.
func burstFor(bytesPerSecond int64) int {
	return int(min(max(bytesPerSecond/10, 4<<10), 1<<20))
}

// LimitWriter returns w limited to bytesPerSecond on average (a token bucket); 0 or less returns w unchanged.
// A wait ends early with ctx's error.
func LimitWriter(ctx context.Context, w io.Writer, bytesPerSecond int64) io.Writer {
	if bytesPerSecond <= 0 {
		return w
	}
	burst := burstFor(bytesPerSecond)
	return &limitedWriter{ctx: ctx, w: w, lim: rate.NewLimiter(rate.Limit(bytesPerSecond), burst), burst: burst}
}

type limitedWriter struct {
	ctx   context.Context
	w     io.Writer
	lim   *rate.Limiter
	burst int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	var done int
	for done < len(p) {
		n := min(len(p)-done, l.burst)
		if err := l.lim.WaitN(l.ctx, n); err != nil {
			return done, fmt.Errorf("bandwidth limit: %w", err)
		}
		m, err := l.w.Write(p[done : done+n])
		done += m
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
