package snapshot

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hotzfs/hotzfs/guest"
)

// defaultGuardThawTimeout bounds how long the watchdog keeps thawing.
const defaultGuardThawTimeout = 10 * time.Minute

// IsGuardProcess reports whether this process was started as the watchdog (GuardEnv is set).
func IsGuardProcess() bool { return os.Getenv(GuardEnv) == "1" }

// RunGuard is the watchdog process's main: it reads its configuration from in, connects to libvirt, answers
// "ready" on out, and then thaws the guests if in reaches EOF without "done", if the freeze timeout passes
// after "freeze", or if ctx ends (e.g. SIGTERM). SIGINT, SIGHUP and SIGPIPE are ignored: only the parent's
// death or a clear request ends its watch. It returns nil after "done" or after a confirmed thaw.
func RunGuard(ctx context.Context, in io.Reader, out io.Writer, log *slog.Logger) error {
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "watchdog", "pid", os.Getpid())
	lines := make(chan string)
	go readLines(in, lines)
	var cfg guardConfig
	line, ok := <-lines
	if !ok {
		return fmt.Errorf("watchdog: no configuration on stdin")
	}
	if err := json.Unmarshal([]byte(line), &cfg); err != nil {
		return fmt.Errorf("watchdog: configuration %q: %w", line, err)
	}
	if cfg.ThawTimeout <= 0 {
		cfg.ThawTimeout = defaultGuardThawTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := guest.Connect(cctx, guest.Options{URI: cfg.URI, Logger: log})
	cancel()
	if err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	defer c.Close()
	if _, err := io.WriteString(out, "ready\n"); err != nil {
		return fmt.Errorf("watchdog: tell the parent it is ready: %w", err)
	}
	g := &guardian{cfg: cfg, q: c, log: log}
	return g.watch(ctx, lines)
}

// readLines sends each line of r (without the newline) and closes lines at EOF or on a read error.
func readLines(r io.Reader, lines chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines <- strings.TrimSpace(sc.Text())
	}
	close(lines)
}

type guardian struct {
	cfg guardConfig
	q   Quiescer
	log *slog.Logger
}

// watch waits for the parent's messages, its death, the freeze timeout or ctx, and thaws when needed.
func (g *guardian) watch(ctx context.Context, lines <-chan string) error {
	var timer <-chan time.Time
	armed := false
	for {
		select {
		case line, ok := <-lines:
			switch {
			case !ok && !armed:
				g.log.Debug("parent went away before freezing; nothing to thaw")
				return nil
			case !ok:
				g.log.Warn("parent went away while guests may be frozen; thawing them", "guests", g.cfg.Guests)
				return g.thaw(ctx)
			case line == "freeze":
				armed, timer = true, time.After(g.cfg.FreezeTimeout)
			case line == "done":
				g.log.Debug("parent thawed the guests; watchdog done")
				return nil
			default:
				g.log.Warn("unexpected message from the parent", "message", line)
			}
		case <-timer:
			g.log.Warn("freeze_timeout passed; thawing the guests", "freeze_timeout", g.cfg.FreezeTimeout,
				"guests", g.cfg.Guests)
			timer = nil
			if err := g.thaw(ctx); err != nil {
				return err
			}
		case <-ctx.Done():
			if !armed {
				return nil
			}
			g.log.Warn("watchdog told to stop; thawing the guests first", "guests", g.cfg.Guests)
			return g.thaw(ctx)
		}
	}
}

// thaw thaws all guests until confirmed (or the thaw timeout) and then drops the record if its run is gone.
func (g *guardian) thaw(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	if err := thawByName(ctx, g.q, g.cfg.Guests, g.cfg.ThawTimeout, g.log); err != nil {
		g.log.Error("watchdog could not confirm every guest thawed; the next hotzfs start retries", "error", err)
		return fmt.Errorf("watchdog: %w", err)
	}
	g.log.Info("watchdog thawed the guests", "guests", g.cfg.Guests)
	if g.cfg.StateFile != "" {
		if err := removeIfStale(g.cfg.StateFile); err != nil {
			g.log.Warn("cannot remove the frozen-guest record", "record", g.cfg.StateFile, "error", err)
		}
	}
	return nil
}
