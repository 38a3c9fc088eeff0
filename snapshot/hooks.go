package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// defaultHookTimeout applies to a hook without a Timeout.
const defaultHookTimeout = time.Minute

// hookOutputCap bounds the output of a hook kept for its error message.
const hookOutputCap = 4096

// runPreHooks runs the pre commands in order and stops at the first failure. It returns how many hooks
// succeeded (their post commands are due).
func runPreHooks(ctx context.Context, hooks []Hook, log *slog.Logger, res *Result) (int, error) {
	for i, h := range hooks {
		if len(h.Pre) == 0 {
			continue
		}
		out := runHook(ctx, h, "pre", h.Pre, log)
		res.Hooks = append(res.Hooks, out)
		if out.Err != nil {
			return i, out.Err
		}
	}
	return len(hooks), nil
}

// runPostHooks runs the post commands of hooks[:n] in reverse order, all of them even if some fail, on a context
// that the caller's cancellation cannot end (each hook still has its own timeout).
func runPostHooks(ctx context.Context, hooks []Hook, n int, log *slog.Logger, res *Result) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for i := n - 1; i >= 0; i-- {
		if len(hooks[i].Post) == 0 {
			continue
		}
		out := runHook(ctx, hooks[i], "post", hooks[i].Post, log)
		res.Hooks = append(res.Hooks, out)
		errs = append(errs, out.Err)
	}
	return errors.Join(errs...)
}

// runHook runs one hook command in its own process group and kills the group on timeout or ctx end.
func runHook(ctx context.Context, h Hook, phase string, argv []string, log *slog.Logger) HookOutcome {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = defaultHookTimeout
	}
	name := h.Name
	if name == "" {
		name = argv[0]
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out tailBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	res := HookOutcome{Name: name, Phase: phase, Duration: time.Since(start)}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (killed after %v)", err, timeout)
		}
		res.Err = fmt.Errorf("%s-hook %q (%s): %w: %w; output: %q", phase, name, strings.Join(argv, " "),
			ErrHookFailed, err, out.String())
		log.Error("hook failed", "hook", name, "phase", phase, "duration", res.Duration, "error", res.Err)
		return res
	}
	log.Info("hook done", "hook", name, "phase", phase, "duration", res.Duration)
	return res
}

// tailBuffer keeps the last hookOutputCap bytes written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if over := len(t.b) - hookOutputCap; over > 0 {
		t.b = t.b[over:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(bytes.TrimSpace(t.b)) }
