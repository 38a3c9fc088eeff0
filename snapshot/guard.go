package snapshot

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// The watchdog ("guard") is a second hotzfs process that thaws the guests if this one cannot: it is started
// before the first freeze, in its own process group (a Ctrl-C or a kill of our group does not reach it) and,
// through GuardSpec.Wrap, in its own cgroup when a service manager would kill it with us; it reads a pipe from us:
//
//	parent → guard (stdin):  {config JSON}\n   … guard connects to libvirt, answers "ready\n" on stdout
//	                         freeze\n          sent just before the first freeze: the freeze timeout starts
//	                         done\n            every guest is confirmed thawed: the guard exits quietly
//
// EOF without "done" (we died, even by SIGKILL, or gave up thawing) makes the guard thaw every guest, as does
// the freeze timeout passing after "freeze". The guard thaws with guest.ThawUntilThawed, for up to its thaw
// timeout, then removes the frozen-guest record if no live run holds it.

// GuardEnv is set to "1" in the environment of the watchdog process. A binary that embeds the watchdog checks
// it at start (or registers GuardSpec.Args as a hidden command) and then calls RunGuard.
const GuardEnv = "HOTZFS_SNAPSHOT_GUARD"

// GuardSpec says how to start the watchdog process.
type GuardSpec struct {
	URI  string   // libvirt URI the watchdog connects to (its own connection)
	Exe  string   // binary to run; "" means os.Executable(): this binary again
	Args []string // arguments selecting guard mode (e.g. a hidden subcommand); GuardEnv=1 is always set
	// Wrap, when set, returns for each start a command that starts the watchdog with its argv appended and then
	// becomes it (exec), so that the pipes stay the same: `systemd-run --scope --unit=NAME …`, which puts it in a
	// cgroup of its own, outside the unit that a service manager kills when this process dies. Nil or an empty
	// command: the watchdog is started directly.
	Wrap func() []string
	// ReadyTimeout bounds the watchdog's start (connecting to libvirt). Zero: 30 s.
	ReadyTimeout time.Duration
	// ThawTimeout bounds how long the watchdog keeps thawing once it has to. Zero: 10 minutes.
	ThawTimeout time.Duration
}

// guardConfig is the first line the watchdog reads.
type guardConfig struct {
	URI           string        `json:"uri"`
	Guests        []string      `json:"guests"`
	FreezeTimeout time.Duration `json:"freeze_timeout"`
	ThawTimeout   time.Duration `json:"thaw_timeout"`
	StateFile     string        `json:"state_file,omitempty"`
}

// watch is the watchdog process and the frozen-guest record of one run; the zero value (no watchdog, no
// record) is valid.
type watch struct {
	cmd   *exec.Cmd
	pipe  io.WriteCloser
	state *stateFile
	done  chan error // the watchdog's exit
}

// arm writes the frozen-guest record, starts the watchdog, waits until it is ready and starts its timer.
func (r *run) arm(ctx context.Context, ms []*member) (*watch, error) {
	names := guestNames(ms)
	w := &watch{}
	if r.req.StateDir != "" {
		st, err := writeState(r.req.StateDir, stateRecord{Job: r.req.Job, PID: os.Getpid(), Written: time.Now(), Guests: names})
		if err != nil {
			return nil, err
		}
		w.state = st
	}
	if r.req.Guard == nil {
		r.log.Warn("no watchdog process: a guest stays frozen if this process is killed while frozen")
		return w, nil
	}
	cfg := guardConfig{URI: r.req.Guard.URI, Guests: names, FreezeTimeout: r.req.FreezeTimeout,
		ThawTimeout: r.req.Guard.ThawTimeout}
	if w.state != nil {
		cfg.StateFile = w.state.path
	}
	if err := w.start(ctx, *r.req.Guard, cfg); err != nil {
		return nil, errors.Join(fmt.Errorf("start the watchdog process: %w", err), w.state.remove())
	}
	r.log.Debug("watchdog armed", "pid", w.cmd.Process.Pid, "freeze_timeout", r.req.FreezeTimeout)
	return w, nil
}

func (w *watch) start(ctx context.Context, spec GuardSpec, cfg guardConfig) error {
	exe := spec.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	var wrap []string
	if spec.Wrap != nil {
		wrap = spec.Wrap()
	}
	argv := append(append(append([]string(nil), wrap...), exe), spec.Args...)
	cmd := exec.Command(argv[0], argv[1:]...) // not CommandContext: it must outlive a cancelled ctx and us
	cmd.Env = append(os.Environ(), GuardEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	w.cmd, w.pipe, w.done = cmd, in, make(chan error, 1)
	go func() { w.done <- cmd.Wait() }()
	if err := w.handshake(ctx, spec, cfg, in, out); err != nil {
		_ = in.Close() // the watchdog exits on EOF; nothing is frozen yet
		if len(wrap) > 0 {
			return fmt.Errorf("%w (started through %q: see its message above)", err, strings.Join(wrap, " "))
		}
		return err
	}
	return nil
}

// exitedBeforeReady says how the watchdog exited when it did so during the handshake (err is what the pipe
// said); err itself if it is still running a second later.
func (w *watch) exitedBeforeReady(err error) error {
	select {
	case exit := <-w.done:
		w.done <- exit // release and the caller may still wait for it
		return fmt.Errorf("exited before it was ready: %v", exit)
	case <-time.After(time.Second):
		return err
	}
}

func (w *watch) handshake(ctx context.Context, spec GuardSpec, cfg guardConfig, in io.Writer, out io.Reader) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	if _, err := in.Write(append(b, '\n')); err != nil {
		return w.exitedBeforeReady(err) // a closed pipe: it exited at once (a wrapper that failed, say)
	}
	timeout := spec.ReadyTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("unexpected answer %q", line)
		}
		ready <- err
	}()
	select {
	case err = <-ready:
		// EOF: it exited or closed stdout; ErrClosed: Wait, which runs meanwhile, closed the pipe after it exited.
		if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
			err = w.exitedBeforeReady(err)
		}
	case err = <-w.done:
		err = fmt.Errorf("exited before it was ready: %v", err)
	case <-time.After(timeout):
		err = fmt.Errorf("not ready after %v", timeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		return err
	}
	_, err = io.WriteString(in, "freeze\n")
	return err
}

// release ends the watchdog's duty. With all guests thawed it says "done", waits briefly for the watchdog to
// exit and removes the record; otherwise it closes the pipe, which makes the watchdog thaw (and outlive us),
// and unlocks the record, which the watchdog removes after its thaw, or RecoverFrozen picks up.
func (w *watch) release(thawed bool) error {
	var errs []error
	if w.cmd != nil {
		if thawed {
			_, err := io.WriteString(w.pipe, "done\n")
			errs = append(errs, err)
		}
		errs = append(errs, w.pipe.Close())
		if thawed {
			select {
			case err := <-w.done:
				errs = append(errs, err)
			case <-time.After(5 * time.Second):
				errs = append(errs, fmt.Errorf("watchdog process %d did not exit 5 s after done", w.cmd.Process.Pid))
			}
		}
	}
	if thawed {
		errs = append(errs, w.state.remove())
	} else {
		errs = append(errs, w.state.unlock()) // left for the watchdog and RecoverFrozen
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("release the watchdog: %w", err)
	}
	return nil
}
