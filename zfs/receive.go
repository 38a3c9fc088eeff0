package zfs

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"
)

// ReceiveOptions describes one `zfs receive`.
type ReceiveOptions struct {
	Resumable bool              // -s: an interrupted receive leaves a resume token
	NoMount   bool              // -u
	Force     bool              // -F: roll back the target and destroy snapshots not in the stream
	Set       map[string]string // -o property=value
	Exclude   []string          // -x property
}

func (o ReceiveOptions) args(target string) ([]string, error) {
	if err := ValidateDataset(target); err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	args := []string{"receive"}
	if o.Resumable {
		args = append(args, "-s")
	}
	if o.NoMount {
		args = append(args, "-u")
	}
	if o.Force {
		args = append(args, "-F")
	}
	set, err := propertyArgs(o.Set)
	if err != nil {
		return nil, err
	}
	args = append(args, set...)
	excl := append([]string(nil), o.Exclude...)
	sort.Strings(excl)
	for _, p := range excl {
		if err := validateProperty(p, ""); err != nil {
			return nil, err
		}
		args = append(args, "-x", p)
	}
	return append(args, "--", target), nil
}

// Receive runs `zfs receive` into target, feeding it src. It returns once zfs receive exited and the copy
// from src stopped, so whatever follows the stream can then be read from src; a src whose Read can block
// forever must be given a deadline by the caller. A failure is a typed error that also wraps the error from
// reading src, if any. Cancelling ctx kills zfs receive; with Resumable the target keeps a resume token.
func (r *Runner) Receive(ctx context.Context, target string, opts ReceiveOptions, src io.Reader) error {
	args, err := opts.args(target)
	if err != nil {
		return err
	}
	cmd := command(ctx, r.zfsBin(), args)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	growPipe(stdin)
	stderr := &cappedBuffer{max: stderrCap}
	cmd.Stderr = stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r.commandError(ctx, "zfs", args, "", err)
	}
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(stdin, src)
		_ = stdin.Close()
		copied <- err
	}()
	werr := cmd.Wait() // closes stdin, which unblocks a copy stuck writing
	r.logDone(ctx, "zfs", args, start, werr)
	// Wait for the copy to stop: its next write fails once the pipe is closed, or src ends. Afterwards the
	// caller may read whatever follows the stream from src.
	srcErr := <-copied
	if werr != nil {
		cerr := r.commandError(ctx, "zfs", args, stderr.String(), werr)
		if srcErr != nil && !isPipeClosed(srcErr) {
			return fmt.Errorf("%w (reading the stream: %w)", cerr, srcErr)
		}
		return cerr
	}
	return nil
}

// ResumeToken returns the receive_resume_token of dataset, or "" when it has no partial receive.
func (r *Runner) ResumeToken(ctx context.Context, dataset string) (string, error) {
	props, err := r.GetProps(ctx, dataset, "receive_resume_token")
	if err != nil {
		return "", err
	}
	return dash(props["receive_resume_token"]), nil
}

// AbortReceive discards the partial state of an interrupted resumable receive (`zfs receive -A`).
func (r *Runner) AbortReceive(ctx context.Context, dataset string) error {
	if err := ValidateDataset(dataset); err != nil {
		return err
	}
	_, err := r.zfs(ctx, "receive", "-A", "--", dataset)
	return err
}
