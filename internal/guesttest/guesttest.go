// Package guesttest boots the tiny real guest built by test/guest/build-guest.sh as a libvirt domain and drives
// it through qemu-guest-agent (guest-exec, ticks, hook log), for the real-guest tests of guest and snapshot.
package guesttest

// It talks to libvirt through go-libvirt directly (not through package guest) so that guest's own tests can use it.

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"
)

const (
	// EnvLibvirt names the libvirt URI of the real-guest tests (e.g. qemu:///system).
	EnvLibvirt = "HOTZFS_TEST_LIBVIRT"
	// EnvGuestDir names the directory printed by test/guest/build-guest.sh.
	EnvGuestDir = "HOTZFS_TEST_GUEST_DIR"
	// DomainPrefix names every domain the tests create; test/guest/run-tests.sh removes leftovers by it.
	DomainPrefix = "hotzfs-guesttest-"
)

// AgentBootTimeout bounds the wait for the agent after start: TCG on a loaded 2-core host (3-4 s idle). The
// nested guests of test/nested, under kvm on TCG's emulated SVM, take minutes and set it higher.
var AgentBootTimeout = 120 * time.Second

// Rig is a connection to the test libvirt daemon plus the guest image directory.
type Rig struct {
	URI      string
	GuestDir string
	lv       *libvirt.Libvirt
}

// New connects to the libvirt daemon named by HOTZFS_TEST_LIBVIRT, or skips the test telling how to enable it.
func New(t testing.TB) *Rig {
	t.Helper()
	uri, dir := os.Getenv(EnvLibvirt), os.Getenv(EnvGuestDir)
	if uri == "" || dir == "" {
		t.Skipf("real-guest test: set %s=qemu:///system and %s=<dir printed by test/guest/build-guest.sh> "+
			"(after test/guest/setup-libvirt.sh), or run test/guest/run-tests.sh", EnvLibvirt, EnvGuestDir)
	}
	for _, f := range []string{"vmlinuz", "initrd.img", "data.img"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("%s=%s: %v — run test/guest/build-guest.sh", EnvGuestDir, dir, err)
		}
	}
	return Connect(t, uri, dir)
}

// Connect connects to the libvirt daemon at uri, whose host has the test guest's files in guestDir. The
// directory is not checked here: the daemon may run on another host (the end-to-end test reaches the host's
// libvirtd over TCP from the OpenZFS VM). Boot then needs BootOptions.Disk and BootOptions.Console.
func Connect(t testing.TB, uri, guestDir string) *Rig {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatalf("libvirt URI %q: %v", uri, err)
	}
	lv, err := within(30*time.Second, func() (*libvirt.Libvirt, error) { return libvirt.ConnectToURI(u) })
	if err != nil {
		t.Fatalf("connect to libvirt at %s: %v", uri, err)
	}
	t.Cleanup(func() { _ = lv.Disconnect() })
	return &Rig{URI: uri, GuestDir: guestDir, lv: lv}
}

// Logger returns a debug-level slog logger that writes to the test log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// BootOptions shape a test guest.
type BootOptions struct {
	NoAgentChannel bool // leave out the org.qemu.guest_agent.0 channel
	NoWait         bool // return right after the start, before the agent answers
	DefineOnly     bool // define a persistent domain and leave it shut off (implies NoWait)
	// Disk is the source of the data disk (vda, mounted at /data); nil means a copy of the guest's data.img.
	Disk *libvirtxml.DomainDiskSource
	// Console is the console log's path on the libvirt host; "" means console.log in the test's temp dir.
	Console string
	Name    string // domain name suffix after DomainPrefix; "" means one made from the test name
}

// Boot starts a transient test domain (or defines a persistent one, DefineOnly) and removes it when the test
// ends. It returns the domain's name. Its console goes to console.log in the test's temp dir and is printed if
// the test fails. Unless NoWait, it returns once the agent answers and the ticker has written a few ticks.
func (r *Rig) Boot(t testing.TB, opts BootOptions) string {
	t.Helper()
	tmp := t.TempDir()
	disk := opts.Disk
	if disk == nil {
		data := filepath.Join(tmp, "data.img")
		if err := copyFile(filepath.Join(r.GuestDir, "data.img"), data); err != nil {
			t.Fatal(err)
		}
		disk = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: data}}
	}
	console := cmp.Or(opts.Console, filepath.Join(tmp, "console.log"))
	name := DomainPrefix + cmp.Or(opts.Name, sanitize(t.Name())+"-"+randomHex(3))
	xml, err := domainXML(name, r.GuestDir, disk, console, !opts.NoAgentChannel)
	if err != nil {
		t.Fatal(err)
	}
	d, err := within(60*time.Second, func() (libvirt.Domain, error) {
		if opts.DefineOnly {
			return r.lv.DomainDefineXML(xml)
		}
		return r.lv.DomainCreateXML(xml, 0)
	})
	if err != nil {
		t.Fatalf("create domain %s: %v", name, err)
	}
	t.Cleanup(func() { r.remove(t, d, console, opts.DefineOnly) })
	if opts.NoWait || opts.DefineOnly {
		return name
	}
	start := time.Now()
	r.WaitAgent(t, name)
	// The ticker starts before the agent; make sure it has written a few ticks.
	WaitFor(t, 30*time.Second, "ticker writing /data/ticks", func() bool { return len(r.Ticks(t, name)) >= 3 })
	t.Logf("guest %s: agent and ticker up %v after create", name, time.Since(start).Round(time.Millisecond))
	return name
}

func (r *Rig) remove(t testing.TB, d libvirt.Domain, console string, persistent bool) {
	if t.Failed() {
		if b, err := os.ReadFile(console); err == nil {
			t.Logf("console of %s:\n%s", d.Name, b)
		}
	}
	_, err := within(30*time.Second, func() (int, error) { return 0, r.lv.DomainDestroy(d) })
	if err != nil && !persistent && !libvirt.IsNotFound(err) { // a test may have destroyed it already
		t.Errorf("destroy domain %s: %v", d.Name, err)
	}
	if persistent {
		if _, err := within(30*time.Second, func() (int, error) { return 0, r.lv.DomainUndefine(d) }); err != nil {
			t.Errorf("undefine domain %s: %v", d.Name, err)
		}
	}
}

// Destroy stops a domain at once, as pulling the plug does; a transient test domain is gone afterwards.
func (r *Rig) Destroy(t testing.TB, name string) {
	t.Helper()
	d := r.lookup(t, name)
	if _, err := within(30*time.Second, func() (int, error) { return 0, r.lv.DomainDestroy(d) }); err != nil {
		t.Fatalf("destroy %s: %v", name, err)
	}
}

// Defined reports whether libvirt knows a domain of that name.
func (r *Rig) Defined(t testing.TB, name string) bool {
	t.Helper()
	_, err := within(30*time.Second, func() (libvirt.Domain, error) { return r.lv.DomainLookupByName(name) })
	if err != nil && !libvirt.IsNotFound(err) {
		t.Fatalf("look up domain %s: %v", name, err)
	}
	return err == nil
}

// WaitAgent waits until the domain's agent answers guest-ping.
func (r *Rig) WaitAgent(t testing.TB, name string) {
	t.Helper()
	WaitFor(t, AgentBootTimeout, "guest agent answering guest-ping", func() bool {
		_, err := r.Agent(name, "guest-ping", nil, 2*time.Second)
		return err == nil
	})
}

func (r *Rig) lookup(t testing.TB, name string) libvirt.Domain {
	t.Helper()
	d, err := within(30*time.Second, func() (libvirt.Domain, error) { return r.lv.DomainLookupByName(name) })
	if err != nil {
		t.Fatalf("look up domain %s: %v", name, err)
	}
	return d
}

// Suspend pauses the domain's vCPUs.
func (r *Rig) Suspend(t testing.TB, name string) {
	t.Helper()
	d := r.lookup(t, name)
	if _, err := within(30*time.Second, func() (int, error) { return 0, r.lv.DomainSuspend(d) }); err != nil {
		t.Fatalf("suspend %s: %v", name, err)
	}
}

// Resume resumes a paused domain.
func (r *Rig) Resume(t testing.TB, name string) {
	t.Helper()
	d := r.lookup(t, name)
	if _, err := within(30*time.Second, func() (int, error) { return 0, r.lv.DomainResume(d) }); err != nil {
		t.Fatalf("resume %s: %v", name, err)
	}
}

// within runs f and gives up after d (go-libvirt calls cannot be cancelled; f keeps running).
func within[T any](d time.Duration, f func() (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("libvirt call still running after %v", d)
	}
}

// WaitFor polls ok every 200 ms until it holds, failing the test after timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Ctx returns a context that ends after d or when the test ends.
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// LibvirtCode describes the libvirt error inside err, for the test log.
func LibvirtCode(err error) string {
	var le libvirt.Error
	if errors.As(err, &le) {
		return fmt.Sprintf("libvirt error %d %q", le.Code, le.Message)
	}
	return "no libvirt error"
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		return errors.Join(err, out.Close())
	}
	return out.Close()
}

func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
	return strings.ToLower(s[:min(len(s), 40)])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// DefineAndStart defines a persistent domain from xml and starts it; when the test ends it is destroyed and
// undefined. It returns the domain's name once it runs (not waiting for the agent).
func (r *Rig) DefineAndStart(t testing.TB, xml string) string {
	t.Helper()
	d, err := within(60*time.Second, func() (libvirt.Domain, error) { return r.lv.DomainDefineXML(xml) })
	if err != nil {
		t.Fatalf("define domain: %v", err)
	}
	r.RemoveAtEnd(t, d.Name)
	if _, err := within(60*time.Second, func() (int, error) { return 0, r.lv.DomainCreate(d) }); err != nil {
		t.Fatalf("start domain %s: %v", d.Name, err)
	}
	return d.Name
}

// RemoveAtEnd destroys and undefines the domain name (defined by the test or by the command it tests) when the
// test ends, if it still exists then.
func (r *Rig) RemoveAtEnd(t testing.TB, name string) {
	t.Cleanup(func() {
		d, err := within(30*time.Second, func() (libvirt.Domain, error) { return r.lv.DomainLookupByName(name) })
		if err != nil {
			return
		}
		_, _ = within(30*time.Second, func() (int, error) { return 0, r.lv.DomainDestroy(d) })
		if _, err := within(30*time.Second, func() (int, error) { return 0, r.lv.DomainUndefine(d) }); err != nil &&
			!libvirt.IsNotFound(err) {
			t.Errorf("undefine domain %s: %v", name, err)
		}
	})
}

// DomainXML returns the domain's current definition.
func (r *Rig) DomainXML(t testing.TB, name string) string {
	t.Helper()
	d := r.lookup(t, name)
	x, err := within(30*time.Second, func() (string, error) { return r.lv.DomainGetXMLDesc(d, 0) })
	if err != nil {
		t.Fatalf("dumpxml %s: %v", name, err)
	}
	return x
}

// Start starts a defined domain (one a command under test defined).
func (r *Rig) Start(t testing.TB, name string) {
	t.Helper()
	d := r.lookup(t, name)
	if _, err := within(60*time.Second, func() (int, error) { return 0, r.lv.DomainCreate(d) }); err != nil {
		t.Fatalf("start domain %s: %v", name, err)
	}
}

// State returns the domain's run state as virsh domstate names it: running, paused, shutoff, …
func (r *Rig) State(t testing.TB, name string) string {
	t.Helper()
	d := r.lookup(t, name)
	st, err := within(30*time.Second, func() (int32, error) {
		st, _, err := r.lv.DomainGetState(d, 0)
		return st, err
	})
	if err != nil {
		t.Fatalf("state of %s: %v", name, err)
	}
	names := map[libvirt.DomainState]string{libvirt.DomainNostate: "nostate", libvirt.DomainRunning: "running",
		libvirt.DomainBlocked: "blocked", libvirt.DomainPaused: "paused", libvirt.DomainShutdown: "shutdown",
		libvirt.DomainShutoff: "shutoff", libvirt.DomainCrashed: "crashed", libvirt.DomainPmsuspended: "pmsuspended"}
	if s, ok := names[libvirt.DomainState(st)]; ok {
		return s
	}
	return fmt.Sprintf("unknown(%d)", st)
}
