package zfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SendOptions describes one `zfs send`.
type SendOptions struct {
	Snapshot      string // full name of the snapshot to send, "pool/a@s"; empty with ResumeToken
	From          string // incremental base: "pool/a@s", "pool/a#mark", "@s" or "#mark"; empty for a full send
	Intermediates bool   // -I (all snapshots between From and Snapshot) instead of -i
	ResumeToken   string // -t: resume a partial receive; excludes Snapshot and From
	Raw           bool   // -w: encrypted data as is, the receiver needs no keys
	Compressed    bool   // -c
	LargeBlocks   bool   // -L
	Embedded      bool   // -e
	Props         bool   // -p
}

func (o SendOptions) args() ([]string, error) {
	if o.ResumeToken != "" {
		if o.Snapshot != "" || o.From != "" {
			return nil, fmt.Errorf("send: a resume token excludes a snapshot and an incremental base")
		}
		if strings.ContainsAny(o.ResumeToken, " \t\n") || o.ResumeToken[0] == '-' {
			return nil, fmt.Errorf("send: malformed resume token")
		}
		// The token carries the original flags; only -e is accepted alongside it.
		args := []string{"-t", o.ResumeToken}
		if o.Embedded {
			args = append([]string{"-e"}, args...)
		}
		return args, nil
	}
	if err := ValidateSnapshot(o.Snapshot); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	var args []string
	for _, f := range []struct {
		on   bool
		flag string
	}{{o.Raw, "-w"}, {o.Compressed, "-c"}, {o.LargeBlocks, "-L"}, {o.Embedded, "-e"}, {o.Props, "-p"}} {
		if f.on {
			args = append(args, f.flag)
		}
	}
	if o.From != "" {
		from, err := o.fullFrom()
		if err != nil {
			return nil, err
		}
		flag := "-i"
		if o.Intermediates {
			flag = "-I"
		}
		args = append(args, flag, from)
	} else if o.Intermediates {
		return nil, fmt.Errorf("send: -I needs an incremental base")
	}
	return append(args, "--", o.Snapshot), nil
}

// fullFrom expands a short base ("@s", "#m") against the sent snapshot's dataset and validates it.
func (o SendOptions) fullFrom() (string, error) {
	ds, _, _ := strings.Cut(o.Snapshot, "@")
	from := o.From
	if from[0] == '@' || from[0] == '#' {
		from = ds + from
	}
	if strings.Contains(from, "#") {
		if o.Intermediates {
			return "", fmt.Errorf("send: -I cannot start at bookmark %s; use -i", from)
		}
		return from, ValidateBookmark(from)
	}
	return from, ValidateSnapshot(from)
}

// Send starts `zfs send` and returns its stream. Read returns the command's error, not io.EOF, when zfs send
// fails, so a truncated stream is never mistaken for a complete one. Close kills the command if it is still
// running, closes the pipe and reaps it; it is safe to call more than once.
func (r *Runner) Send(ctx context.Context, opts SendOptions) (io.ReadCloser, error) {
	args, err := opts.args()
	if err != nil {
		return nil, err
	}
	args = append([]string{"send"}, args...)
	cmd := command(ctx, r.zfsBin(), args)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	growPipe(stdout)
	stderr := &cappedBuffer{max: stderrCap}
	cmd.Stderr = stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, r.commandError(ctx, "zfs", args, "", err)
	}
	s := &sendStream{r: r, ctx: ctx, args: args, stdout: stdout, start: start, stderr: stderr}
	s.wait = func() error { return cmd.Wait() }
	s.kill = func() { _ = cmd.Cancel() }
	return s, nil
}

type sendStream struct {
	r      *Runner
	ctx    context.Context
	args   []string
	stdout io.ReadCloser
	stderr *cappedBuffer
	start  time.Time
	wait   func() error
	kill   func()

	once    sync.Once
	waitErr error
}

func (s *sendStream) Read(p []byte) (int, error) {
	n, err := s.stdout.Read(p)
	if errors.Is(err, io.EOF) {
		if werr := s.reap(); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// reap waits for the command once and turns a failure into a typed error.
func (s *sendStream) reap() error {
	s.once.Do(func() {
		err := s.wait()
		s.r.logDone(s.ctx, "zfs", s.args, s.start, err)
		if err != nil {
			s.waitErr = s.r.commandError(s.ctx, "zfs", s.args, s.stderr.String(), err)
		}
	})
	return s.waitErr
}

func (s *sendStream) Close() error {
	s.once.Do(func() {
		s.kill()
		_ = s.stdout.Close()
		_ = s.wait()
		s.r.logDone(s.ctx, "zfs", s.args, s.start, errors.New("closed before end of stream"))
	})
	return nil
}

// Estimate returns the size in bytes `zfs send` would produce for opts (`zfs send -n -v -P`).
func (r *Runner) Estimate(ctx context.Context, opts SendOptions) (uint64, error) {
	out, err := r.dryRun(ctx, opts)
	if err != nil {
		return 0, err
	}
	return parseEstimate(out)
}

// dryRun runs `zfs send -n -v -P` and returns stdout and stderr together: OpenZFS prints the figures on one
// or the other depending on the version.
func (r *Runner) dryRun(ctx context.Context, opts SendOptions) (string, error) {
	args, err := opts.args()
	if err != nil {
		return "", err
	}
	stderr := &cappedBuffer{max: stderrCap}
	var stdout strings.Builder
	cmd := command(ctx, r.zfsBin(), append([]string{"send", "-n", "-v", "-P"}, args...))
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	start := time.Now()
	err = cmd.Run()
	r.logDone(ctx, "zfs", cmd.Args[1:], start, err)
	if err != nil {
		return "", r.commandError(ctx, "zfs", cmd.Args[1:], stderr.String(), err)
	}
	return stdout.String() + "\n" + stderr.String(), nil
}

// parseEstimate finds the "size\tN" line of `zfs send -nvP`; OpenZFS prints it on stdout or stderr
// depending on the version, so callers pass both.
func parseEstimate(out string) (uint64, error) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "size" {
			return strconv.ParseUint(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("zfs send -nvP printed no size line")
}
