package snapshot

// Signals during the freeze window, against the real guest: a child process (this test binary in child mode,
// see TestMain) runs Take with a snapshot step that blocks, and the test signals it mid-window.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/guest"
	"github.com/hotzfs/hotzfs/internal/guesttest"
)

type child struct {
	cmd    *exec.Cmd
	lines  chan string // stdout, line by line (read before Wait closes the pipe)
	mu     sync.Mutex
	stderr bytes.Buffer
	waited chan error
}

// startChild runs Take on the guest in a child process and returns once the child is inside the freeze window.
func startChild(t *testing.T, e *realEnv, d guest.Domain, freezeTimeout time.Duration, stateDir string) *child {
	t.Helper()
	cfg, _ := json.Marshal(childConfig{URI: e.gt.URI, Guest: d.Name, FreezeTimeout: freezeTimeout, StateDir: stateDir})
	c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$"), waited: make(chan error, 1)}
	c.cmd.Env = append(os.Environ(), envChild+"="+string(cfg))
	c.cmd.Stderr = &lockedWriter{mu: &c.mu, w: &c.stderr}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.lines = make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.waited <- c.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.waited
		if t.Failed() {
			t.Logf("child stderr:\n%s", c.log())
		}
	})
	select {
	case l := <-c.lines:
		if l != "in-window" {
			t.Fatalf("child said %q, want in-window; stderr:\n%s", l, c.log())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("child not in the freeze window after 60 s; stderr:\n%s", c.log())
	}
	return c
}

func (c *child) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// guardPID returns the pid of the child's watchdog process (its child whose environment has GuardEnv).
func guardPID(t *testing.T, parent int) int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 2 && f[1] == strconv.Itoa(parent) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(s)))
			env, _ := os.ReadFile(filepath.Join(filepath.Dir(s), "environ"))
			if bytes.Contains(env, []byte(GuardEnv+"=1")) {
				return pid
			}
		}
	}
	t.Fatalf("no watchdog process under pid %d", parent)
	return 0
}

// gone reports whether pid has exited (no such process, or a zombie nobody reaped).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}

// waitThawed polls the guest's status until thawed and returns how long that took.
func waitThawed(t *testing.T, e *realEnv, d guest.Domain, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		st, err := e.c.Status(guesttest.Ctx(t, 10*time.Second), d, 2*time.Second)
		if err == nil && st == guest.Thawed {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("guest still %q (%v) %v after the signal", st, err, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRealSIGTERMDuringWindowThawsBeforeExit(t *testing.T) {
	e := newReal(t)
	d := e.boot(t, guesttest.BootOptions{})
	dir := t.TempDir()
	c := startChild(t, e, d, 60*time.Second, dir) // the watchdog's deadline is far away: the child must thaw
	if st := e.status(t, d); st != guest.Frozen {
		t.Fatalf("status in the window = %s, want frozen", st)
	}
	guard := guardPID(t, c.cmd.Process.Pid)
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.waited:
		c.waited <- err
		if err != nil {
			t.Errorf("child exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("child did not exit 30 s after SIGTERM")
	}
	rest := <-c.lines
	if !strings.Contains(rest, "thaw_err=<nil>") || !strings.Contains(rest, "context canceled") {
		t.Errorf("child result %q, want a cancelled run with a confirmed thaw", rest)
	}
	// Thawed by the child itself before it exited: checked at once, long before the watchdog's deadline.
	if st := e.status(t, d); st != guest.Thawed {
		t.Fatalf("status right after the child exited = %s, want thawed", st)
	}
	guesttest.WaitFor(t, 10*time.Second, "watchdog exit after done", func() bool { return gone(guard) })
	if strings.Contains(c.log(), "thawing them") || strings.Contains(c.log(), "freeze_timeout passed") {
		t.Errorf("the watchdog thawed, not the child:\n%s", c.log())
	}
	assertNoRecords(t, dir)
	e.assertThawed(t, d)
}

func TestRealSIGKILLDuringWindowWatchdogThaws(t *testing.T) {
	e := newReal(t)
	d := e.boot(t, guesttest.BootOptions{})
	dir := t.TempDir()
	const freezeTimeout = 20 * time.Second
	c := startChild(t, e, d, freezeTimeout, dir)
	if st := e.status(t, d); st != guest.Frozen {
		t.Fatalf("status in the window = %s, want frozen", st)
	}
	guard := guardPID(t, c.cmd.Process.Pid)
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	took := waitThawed(t, e, d, freezeTimeout)
	t.Logf("thawed %v after SIGKILL of the snapshotting process (freeze timeout %v)", took.Round(time.Millisecond), freezeTimeout)
	guesttest.WaitFor(t, 30*time.Second, "watchdog exit", func() bool { return gone(guard) })
	if !strings.Contains(c.log(), "parent went away while guests may be frozen") {
		t.Errorf("watchdog log does not show the EOF thaw:\n%s", c.log())
	}
	guesttest.WaitFor(t, 10*time.Second, "record removed by the watchdog", func() bool {
		left, _ := filepath.Glob(filepath.Join(dir, stateGlob))
		return len(left) == 0
	})
	e.assertThawed(t, d)
}

// A snapshotting process that hangs (SIGSTOP) inside the window: the watchdog thaws when freeze_timeout passes.
func TestRealStuckProcessWatchdogThawsAtFreezeTimeout(t *testing.T) {
	e := newReal(t)
	d := e.boot(t, guesttest.BootOptions{})
	dir := t.TempDir()
	const freezeTimeout = 4 * time.Second
	start := time.Now()
	c := startChild(t, e, d, freezeTimeout, dir)
	guard := guardPID(t, c.cmd.Process.Pid)
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitThawed(t, e, d, 3*freezeTimeout)
	took := time.Since(start)
	t.Logf("thawed %v after the child started (freeze timeout %v)", took.Round(time.Millisecond), freezeTimeout)
	if took < freezeTimeout {
		t.Errorf("thawed after %v, before the freeze timeout %v: not by the timeout", took, freezeTimeout)
	}
	if !strings.Contains(c.log(), "freeze_timeout passed") {
		t.Errorf("watchdog log does not show the timeout thaw:\n%s", c.log())
	}
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	guesttest.WaitFor(t, 30*time.Second, "watchdog exit", func() bool { return gone(guard) })
	e.assertThawed(t, d)
}
