package guesttest

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"
)

// Agent runs one qemu-guest-agent command on the named domain and returns its "return" value. The agent has
// timeout to answer (whole seconds).
func (r *Rig) Agent(name, command string, args any, timeout time.Duration) (json.RawMessage, error) {
	req := map[string]any{"execute": command}
	if args != nil {
		req["arguments"] = args
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	secs := int32(max(1, math.Ceil(timeout.Seconds())))
	res, err := within(timeout+10*time.Second, func() (libvirt.OptString, error) {
		d, err := r.lv.DomainLookupByName(name)
		if err != nil {
			return nil, err
		}
		return r.lv.QEMUDomainAgentCommand(d, string(body), secs, 0)
	})
	if err != nil {
		return nil, fmt.Errorf("agent command %s on %s: %w", command, name, err)
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("agent command %s on %s: empty answer", command, name)
	}
	var reply struct {
		Return json.RawMessage `json:"return"`
	}
	if err := json.Unmarshal([]byte(res[0]), &reply); err != nil {
		return nil, fmt.Errorf("agent command %s on %s: answer %q: %w", command, name, res[0], err)
	}
	return reply.Return, nil
}

// FreezeStatus asks the agent for guest-fsfreeze-status ("frozen" or "thawed").
func (r *Rig) FreezeStatus(name string, timeout time.Duration) (string, error) {
	raw, err := r.Agent(name, "guest-fsfreeze-status", nil, timeout)
	if err != nil {
		return "", err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("fsfreeze status of %s: answer %s: %w", name, raw, err)
	}
	return s, nil
}

// Exec runs a shell script in the guest through guest-exec and returns its stdout; a non-zero exit fails the test.
func (r *Rig) Exec(t testing.TB, name, script string) string {
	t.Helper()
	args := map[string]any{"path": "/bin/sh", "arg": []string{"-c", script}, "capture-output": true}
	raw, err := r.Agent(name, "guest-exec", args, 10*time.Second)
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
	deadline := time.Now().Add(60 * time.Second)
	for !st.Exited {
		if time.Now().After(deadline) {
			t.Fatalf("guest-exec %q: still running after 60 s", script)
		}
		time.Sleep(20 * time.Millisecond)
		raw, err := r.Agent(name, "guest-exec-status", map[string]int{"pid": started.PID}, 10*time.Second)
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

// Ticks returns the guest uptimes (seconds) the ticker wrote to /data/ticks.
func (r *Rig) Ticks(t testing.TB, name string) []float64 {
	t.Helper()
	return parseFloats(t, r.Exec(t, name, "cat /data/ticks"))
}

// Uptime returns the guest's uptime in seconds, the clock of ticks and hook log.
func (r *Rig) Uptime(t testing.TB, name string) float64 {
	t.Helper()
	f := strings.Fields(r.Exec(t, name, "cat /proc/uptime"))
	return parseFloats(t, f[0])[0]
}

// HookCall is one line of the guest's /run/hook.log: which call, in which mode, at which guest uptime.
type HookCall struct {
	Action string // "freeze" or "thaw"
	Mode   string
	Uptime float64
}

// HookLog reads the guest's fsfreeze hook log.
func (r *Rig) HookLog(t testing.TB, name string) []HookCall {
	t.Helper()
	var out []HookCall
	sc := bufio.NewScanner(strings.NewReader(r.Exec(t, name, "cat /run/hook.log 2>/dev/null; true")))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			t.Fatalf("hook log line %q", sc.Text())
		}
		up, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("hook log line %q: %v", sc.Text(), err)
		}
		out = append(out, HookCall{Action: f[0], Mode: strings.Join(f[1:len(f)-1], " "), Uptime: up})
	}
	return out
}

// TicksBetween counts ticks with from < tick < to.
func TicksBetween(ticks []float64, from, to float64) int {
	n := 0
	for _, v := range ticks {
		if v > from && v < to {
			n++
		}
	}
	return n
}

func parseFloats(t testing.TB, s string) []float64 {
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

func domainXML(name, guestDir string, disk *libvirtxml.DomainDiskSource, console string, agent bool) (string, error) {
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
				Source: disk,
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
