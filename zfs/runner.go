package zfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// stderrCap bounds how much of a command's stderr is kept for error messages.
const stderrCap = 64 << 10

// Runner executes zfs and zpool. Every call goes through it, so every call is logged with its arguments and
// duration, bounded by a context, and turned into a typed error on failure.
type Runner struct {
	ZFS    string       // path of the zfs binary; "zfs" when empty
	Zpool  string       // path of the zpool binary; "zpool" when empty
	Logger *slog.Logger // nil discards
}

// NewRunner returns a runner for the zfs and zpool binaries found on PATH.
func NewRunner(logger *slog.Logger) *Runner {
	return &Runner{ZFS: "zfs", Zpool: "zpool", Logger: logger}
}

func (r *Runner) log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func (r *Runner) zfsBin() string {
	if r.ZFS == "" {
		return "zfs"
	}
	return r.ZFS
}

func (r *Runner) zpoolBin() string {
	if r.Zpool == "" {
		return "zpool"
	}
	return r.Zpool
}

// command builds an exec.Cmd in its own process group, so a Ctrl-C on the terminal reaches hotzfs first and
// hotzfs decides when the child dies. Cancelling ctx kills the whole group.
func command(ctx context.Context, bin string, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// zfs runs the zfs binary and returns its stdout.
func (r *Runner) zfs(ctx context.Context, args ...string) ([]byte, error) {
	return r.run(ctx, r.zfsBin(), args, nil)
}

// zpool runs the zpool binary and returns its stdout.
func (r *Runner) zpool(ctx context.Context, args ...string) ([]byte, error) {
	return r.run(ctx, r.zpoolBin(), args, nil)
}

func (r *Runner) run(ctx context.Context, bin string, args []string, stdin io.Reader) ([]byte, error) {
	var stdout bytes.Buffer
	stderr := &cappedBuffer{max: stderrCap}
	cmd := command(ctx, bin, args)
	cmd.Stdin = stdin
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	start := time.Now()
	err := cmd.Run()
	r.logDone(ctx, bin, args, start, err)
	if err != nil {
		return stdout.Bytes(), r.commandError(ctx, bin, args, stderr.String(), err)
	}
	return stdout.Bytes(), nil
}

func (r *Runner) logDone(ctx context.Context, bin string, args []string, start time.Time, err error) {
	level := slog.LevelDebug
	if err != nil {
		level = slog.LevelDebug + 1
	}
	r.log().Log(ctx, level, "exec", "cmd", bin, "args", strings.Join(args, " "),
		"duration", time.Since(start).Round(time.Millisecond), "err", err)
}

// commandError turns a failed command into a *CommandError classified from its stderr, or as ErrNoZFS when it
// could not be started for want of the binary. A context that ended is reported as such: the command's stderr
// then says nothing about the cause.
func (r *Runner) commandError(ctx context.Context, bin string, args []string, stderr string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s %s: %w", bin, firstArg(args), ctxErr)
	}
	ce := &CommandError{Cmd: bin, Args: args, Stderr: strings.TrimSpace(stderr), Err: err}
	ce.Kind = classify(ce.Stderr)
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		ce.ExitCode = exitErr.ExitCode()
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist):
		ce.Kind = ErrNoZFS // not on PATH, or a configured path that does not exist
	}
	return ce
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// cappedBuffer keeps the first max bytes written to it and drops the rest, so a chatty child cannot make
// hotzfs hold unbounded memory.
type cappedBuffer struct {
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	room := c.max - c.buf.Len()
	if room <= 0 {
		c.truncated = c.truncated || len(p) > 0
		return len(p), nil
	}
	if len(p) > room {
		c.buf.Write(p[:room])
		c.truncated = true
		return len(p), nil
	}
	return c.buf.Write(p)
}

func (c *cappedBuffer) String() string {
	if c.truncated {
		return c.buf.String() + "\n[stderr truncated]"
	}
	return c.buf.String()
}
