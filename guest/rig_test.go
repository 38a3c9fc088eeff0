package guest

// The real-guest test rig: boots the tiny guest built by test/guest/build-guest.sh as a transient libvirt
// domain (TCG, 256 MiB, direct kernel boot, an ext4 data disk, the agent channel) and drives it through the agent.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"
)

const (
	envLibvirt  = "HOTZFS_TEST_LIBVIRT"
	envGuestDir = "HOTZFS_TEST_GUEST_DIR"
	// testDomainPrefix names every domain the tests create; test/guest/run-tests.sh removes leftovers by it.
	testDomainPrefix = "hotzfs-guesttest-"
	agentBootTimeout = 120 * time.Second // TCG on a loaded 2-core host; measured 3-4 s when idle
)

type rig struct {
	c        *Client
	guestDir string
}

// newRig connects to the libvirt daemon named by HOTZFS_TEST_LIBVIRT, or skips the test telling how to enable it.
func newRig(t *testing.T) *rig {
	t.Helper()
	uri, dir := os.Getenv(envLibvirt), os.Getenv(envGuestDir)
	if uri == "" || dir == "" {
		t.Skipf("real-guest test: set %s=qemu:///system and %s=<dir printed by test/guest/build-guest.sh> "+
			"(after test/guest/setup-libvirt.sh), or run test/guest/run-tests.sh", envLibvirt, envGuestDir)
	}
	for _, f := range []string{"vmlinuz", "initrd.img", "data.img"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("%s=%s: %v — run test/guest/build-guest.sh", envGuestDir, dir, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := Connect(ctx, Options{URI: uri, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rig{c: c, guestDir: dir}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// bootOptions shape a test guest.
type bootOptions struct {
	noAgentChannel bool // leave out the org.qemu.guest_agent.0 channel
	noWait         bool // return right after DomainCreate, before the agent answers
}

// boot starts a transient test domain and destroys it when the test ends. Its console goes to console.log in
// the test's temp dir and is printed if the test fails.
func (r *rig) boot(t *testing.T, opts bootOptions) Domain {
	t.Helper()
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data.img")
	if err := copyFile(filepath.Join(r.guestDir, "data.img"), data); err != nil {
		t.Fatal(err)
	}
	console := filepath.Join(tmp, "console.log")
	name := testDomainPrefix + sanitize(t.Name()) + "-" + randomHex(3)
	xml, err := domainXMLFor(name, r.guestDir, data, console, !opts.noAgentChannel)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := bounded(ctx, func() (Domain, error) {
		d, err := r.c.lv.DomainCreateXML(xml, 0)
		return newDomain(d), err
	}, nil)
	if err != nil {
		t.Fatalf("create domain %s: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(console); err == nil {
				t.Logf("console of %s:\n%s", name, b)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := bounded(ctx, func() (int, error) { return 0, r.c.lv.DomainDestroy(d.ref) }, nil); err != nil {
			t.Errorf("destroy domain %s: %v", name, err)
		}
	})
	if opts.noWait {
		return d
	}
	start := time.Now()
	r.waitAgent(t, d)
	// The ticker starts before the agent; make sure it has written a few ticks.
	waitFor(t, 30*time.Second, "ticker writing /data/ticks", func() bool { return len(r.ticks(t, d)) >= 3 })
	t.Logf("guest %s: agent and ticker up %v after create", name, time.Since(start).Round(time.Millisecond))
	return d
}

func (r *rig) waitAgent(t *testing.T, d Domain) {
	t.Helper()
	waitFor(t, agentBootTimeout, "guest agent answering guest-ping", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := r.c.AgentCommand(ctx, d, "guest-ping", nil, 2*time.Second)
		return err == nil
	})
}

func domainXMLFor(name, guestDir, dataImg, console string, agent bool) (string, error) {
	dom := libvirtxml.Domain{
		Type:   "qemu",
		Name:   name,
		Memory: &libvirtxml.DomainMemory{Value: 256, Unit: "MiB"},
		VCPU:   &libvirtxml.DomainVCPU{Value: 1},
		OS: &libvirtxml.DomainOS{
			Type:    &libvirtxml.DomainOSType{Arch: "x86_64", Machine: "pc", Type: "hvm"},
			Kernel:  filepath.Join(guestDir, "vmlinuz"),
			Initrd:  filepath.Join(guestDir, "initrd.img"),
			Cmdline: "console=ttyS0 panic=-1 quiet",
		},
		Features:   &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}},
		OnReboot:   "destroy",
		OnCrash:    "destroy",
		OnPoweroff: "destroy",
		Devices: &libvirtxml.DomainDeviceList{
			Disks: []libvirtxml.DomainDisk{{
				Device: "disk",
				Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
				Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: dataImg}},
				Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"},
			}},
			Serials: []libvirtxml.DomainSerial{{
				Source: &libvirtxml.DomainChardevSource{File: &libvirtxml.DomainChardevSourceFile{Path: console}},
				Target: &libvirtxml.DomainSerialTarget{Port: new(uint)},
			}},
			MemBalloon: &libvirtxml.DomainMemBalloon{Model: "none"},
		},
	}
	if agent {
		dom.Devices.Channels = []libvirtxml.DomainChannel{{
			Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{Mode: "bind"}},
			Target: &libvirtxml.DomainChannelTarget{
				VirtIO: &libvirtxml.DomainChannelTargetVirtIO{Name: "org.qemu.guest_agent.0"},
			},
		}}
	}
	return dom.Marshal()
}

// exec runs a shell script in the guest through guest-exec and returns its stdout; a non-zero exit fails the test.
func (r *rig) exec(t *testing.T, d Domain, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := map[string]any{"path": "/bin/sh", "arg": []string{"-c", script}, "capture-output": true}
	raw, err := r.c.AgentCommand(ctx, d, "guest-exec", args, 10*time.Second)
	if err != nil {
		t.Fatalf("guest-exec %q: %v", script, err)
	}
	var started struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal(raw, &started); err != nil {
		t.Fatalf("guest-exec %q: answer %s: %v", script, raw, err)
	}
	var st struct {
		Exited   bool   `json:"exited"`
		ExitCode int    `json:"exitcode"`
		Out      string `json:"out-data"`
		Err      string `json:"err-data"`
	}
	for !st.Exited {
		if ctx.Err() != nil {
			t.Fatalf("guest-exec %q: still running after 60 s", script)
		}
		time.Sleep(20 * time.Millisecond)
		raw, err := r.c.AgentCommand(ctx, d, "guest-exec-status", map[string]int{"pid": started.PID}, 10*time.Second)
		if err != nil {
			t.Fatalf("guest-exec-status %q: %v", script, err)
		}
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatalf("guest-exec-status %q: answer %s: %v", script, raw, err)
		}
	}
	out, _ := base64.StdEncoding.DecodeString(st.Out)
	if st.ExitCode != 0 {
		serr, _ := base64.StdEncoding.DecodeString(st.Err)
		t.Fatalf("guest-exec %q: exit %d: %s%s", script, st.ExitCode, out, serr)
	}
	return string(out)
}

// ticks returns the guest uptimes (seconds) the ticker wrote to /data/ticks.
func (r *rig) ticks(t *testing.T, d Domain) []float64 {
	t.Helper()
	return parseFloats(t, r.exec(t, d, "cat /data/ticks"))
}

// uptime returns the guest's uptime in seconds, the clock of ticks and hook log.
func (r *rig) uptime(t *testing.T, d Domain) float64 {
	t.Helper()
	f := strings.Fields(r.exec(t, d, "cat /proc/uptime"))
	return parseFloats(t, f[0])[0]
}

// hookCall is one line of the guest's /run/hook.log: which call, in which mode, at which guest uptime.
type hookCall struct {
	Action string // "freeze" or "thaw"
	Mode   string
	Uptime float64
}

func (r *rig) hookLog(t *testing.T, d Domain) []hookCall {
	t.Helper()
	var out []hookCall
	sc := bufio.NewScanner(strings.NewReader(r.exec(t, d, "cat /run/hook.log 2>/dev/null; true")))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			t.Fatalf("hook log line %q", sc.Text())
		}
		up, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("hook log line %q: %v", sc.Text(), err)
		}
		out = append(out, hookCall{Action: f[0], Mode: strings.Join(f[1:len(f)-1], " "), Uptime: up})
	}
	return out
}

func parseFloats(t *testing.T, s string) []float64 {
	t.Helper()
	var out []float64
	for _, f := range strings.Fields(s) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			t.Fatalf("parse %q: %v", f, err)
		}
		out = append(out, v)
	}
	return out
}

// ticksBetween counts ticks with from < tick < to.
func ticksBetween(ticks []float64, from, to float64) int {
	n := 0
	for _, v := range ticks {
		if v > from && v < to {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
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

// libvirtCode describes the libvirt error inside err, for the test log.
func libvirtCode(err error) string {
	var le libvirt.Error
	if errors.As(err, &le) {
		return fmt.Sprintf("libvirt error %d %q", le.Code, le.Message)
	}
	return "no libvirt error"
}
