package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/internal/guesttest"
	"github.com/hotzfs/hotzfs/internal/zfstest"
)

// envUnits names the directory holding the shipped systemd units (examples/systemd), copied by run.sh.
const envUnits = "HOTZFS_E2E_UNITS"

// The unit under test, installed as shipped (paths adapted) into systemd's runtime directory.
const (
	backupUnit    = "hotzfs-backup.service"
	unitDir       = "/run/systemd/system"
	systemdFreeze = 20 * time.Second // the job's freeze_timeout
)

// TestE2ESystemdWatchdogSurvivesSIGKILL: the shipped hotzfs-backup.service (KillMode=mixed) runs a backup of
// a real guest; while the guest is frozen (a zfs wrapper on the unit's PATH holds `zfs snapshot`), the unit's
// main process is SIGKILLed, and systemd kills what is left in the unit's cgroup. The guest agent must report
// the guest thawed within freeze_timeout, the unit must end with nothing left running in it, and the watchdog's
// scope must go away after the thaw.
func TestE2ESystemdWatchdogSurvivesSIGKILL(t *testing.T) {
	s := loadSetup(t)
	units := os.Getenv(envUnits)
	if units == "" {
		t.Fatalf("%s is not set (test/e2e/run.sh sets it)", envUnits)
	}
	if fi, err := os.Stat("/run/systemd/system"); err != nil || !fi.IsDir() {
		t.Fatalf("systemd is not PID 1 here (%v); this test runs in the OpenZFS test VM", err)
	}
	src, dst := zfstest.Pool(t, 512), zfstest.Pool(t, 512)
	disk := src + "/vm/disk0"
	zfstest.Run(t, "zfs", "create", src+"/vm")
	zfstest.Run(t, "zfs", "create", "-V", "64M", disk)
	zfstest.WaitDevice(t, "/dev/zvol/"+disk)
	zfstest.Run(t, "mkfs.ext4", "-q", "-L", "data", "/dev/zvol/"+disk)
	serveNBD(t, disk, "disk0", nbdPortSource)
	rig := guesttest.Connect(t, s.libvirt, s.guestDir)
	name := rig.Boot(t, guesttest.BootOptions{
		Name:    "e2e-systemd",
		Disk:    nbdDisk(s.hostPorts[0], "disk0"),
		Console: filepath.Join(s.console, "e2e-systemd.log"),
	})
	t.Cleanup(func() { // a guest left frozen by a failed run: thaw it so that the next test finds it usable
		if st, _ := rig.FreezeStatus(name, 5*time.Second); st == "frozen" {
			_, err := rig.Agent(name, "guest-fsfreeze-thaw", nil, 10*time.Second)
			t.Logf("cleanup: the guest was still frozen; thawed it: %v", err)
		}
	})
	h := newHotzfs(t, s, dst, name, disk)

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "in-window")
	config := filepath.Join(dir, "hotzfs.yaml")
	writeFile(t, config, fmt.Sprintf(`state_dir: %[1]s/state
libvirt: {uri: "%[2]s"}
targets:
  backup: {address: "%[3]s", ca: %[4]s/ca.crt, cert: %[4]s/e2e-host.crt, key: %[4]s/e2e-host.key, server_name: localhost}
jobs:
  - name: frozen
    guests: [%[5]s]
    disk_map: {%[5]s: {vda: %[6]s}}
    quiesce: required
    freeze_timeout: %[7]s
    target: backup
`, dir, s.libvirt, h.addr, h.pki, name, disk, systemdFreeze))
	installBackupUnit(t, units, dir, config, marker, h.bin)

	systemctl(t, "start", "--no-block", backupUnit)
	guesttest.WaitFor(t, 120*time.Second, "hotzfs inside the freeze window (zfs snapshot held)", func() bool {
		_, err := os.Stat(marker)
		return err == nil
	})
	if st, err := rig.FreezeStatus(name, 10*time.Second); err != nil || st != "frozen" {
		t.Fatalf("in the freeze window the guest is %q (%v), want frozen", st, err)
	}
	main, _ := strconv.Atoi(systemctl(t, "show", "-p", "MainPID", "--value", backupUnit))
	if main <= 0 {
		t.Fatalf("%s has no main process", backupUnit)
	}
	for _, p := range watchdogs(main) {
		t.Logf("watchdog pid %d, cgroup %s", p, cgroupOf(p))
	}
	t.Logf("main process %d, cgroup %s; sending it SIGKILL", main, cgroupOf(main))
	killed := time.Now()
	systemctl(t, "kill", "--kill-who=main", "--signal=SIGKILL", backupUnit)

	var st string
	for {
		var err error
		st, err = rig.FreezeStatus(name, 5*time.Second)
		if err == nil && st == "thawed" {
			break
		}
		if time.Since(killed) > systemdFreeze {
			t.Fatalf("guest still %q (%v) %v after the SIGKILL of %s's main process (freeze_timeout %v); "+
				"the unit's state: %s", st, err, time.Since(killed).Round(time.Millisecond), backupUnit,
				systemdFreeze, systemctl(t, "show", "-p", "ActiveState,Result", backupUnit))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("guest thawed %v after the SIGKILL of the main process (freeze_timeout %v)",
		time.Since(killed).Round(time.Millisecond), systemdFreeze)

	guesttest.WaitFor(t, 30*time.Second, "the unit to end", func() bool {
		return systemctl(t, "show", "-p", "ActiveState", "--value", backupUnit) == "failed"
	})
	if left := unitProcesses(t, backupUnit); left != "" {
		t.Errorf("processes left in %s after it failed: %s", backupUnit, left)
	}
	guesttest.WaitFor(t, 30*time.Second, "the watchdog's scope to go away", func() bool {
		return systemctl(t, "list-units", "--all", "--plain", "--no-legend", "hotzfs-guard-*") == ""
	})
	if st, err := rig.FreezeStatus(name, 10*time.Second); err != nil || st != "thawed" {
		t.Errorf("after the watchdog exited the guest is %q (%v), want thawed", st, err)
	}
}

// installBackupUnit installs the shipped hotzfs-backup.service into /run/systemd/system with its paths adapted
// (the binary, the config), and a drop-in whose PATH puts a zfs wrapper first: `zfs snapshot` touches marker
// and sleeps, holding hotzfs inside the freeze window; every other zfs command runs the real zfs.
func installBackupUnit(t *testing.T, units, dir, config, marker, bin string) {
	t.Helper()
	shipped, err := os.ReadFile(filepath.Join(units, backupUnit))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(shipped)
	for _, r := range [][2]string{{"/usr/bin/hotzfs", bin}, {"/etc/hotzfs/hotzfs.yaml", config}} {
		if !strings.Contains(unit, r[0]) {
			t.Fatalf("the shipped %s no longer names %s; adapt this test", backupUnit, r[0])
		}
		unit = strings.ReplaceAll(unit, r[0], r[1])
	}
	realZFS, err := exec.LookPath("zfs")
	if err != nil {
		t.Fatal(err)
	}
	wrapDir := filepath.Join(dir, "bin")
	if err := os.MkdirAll(wrapDir, 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = snapshot ]; then : >%s; sleep 600; fi\nexec %s \"$@\"\n", marker, realZFS)
	if err := os.WriteFile(filepath.Join(wrapDir, "zfs"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	dropIn := filepath.Join(unitDir, backupUnit+".d")
	if err := os.MkdirAll(dropIn, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("systemctl", "stop", backupUnit).Run()
		_ = exec.Command("systemctl", "reset-failed", backupUnit).Run()
		_ = os.RemoveAll(dropIn)
		_ = os.Remove(filepath.Join(unitDir, backupUnit))
		_ = exec.Command("systemctl", "daemon-reload").Run()
	})
	writeUnitFile(t, filepath.Join(unitDir, backupUnit), unit)
	writeUnitFile(t, filepath.Join(dropIn, "e2e.conf"),
		"[Service]\nEnvironment=PATH="+wrapDir+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")
	systemctl(t, "daemon-reload")
	t.Logf("installed %s (KillMode %s)", backupUnit, systemctl(t, "show", "-p", "KillMode", "--value", backupUnit))
}

func writeUnitFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// systemctl runs systemctl and returns its trimmed output.
func systemctl(t *testing.T, args ...string) string {
	t.Helper()
	var out, stderr bytes.Buffer
	cmd := exec.Command("systemctl", args...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("systemctl %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), stderr.String())
	}
	return strings.TrimSpace(out.String())
}

// unitProcesses lists the processes still in a unit's cgroup ("" when none, or the cgroup is gone).
func unitProcesses(t *testing.T, unit string) string {
	t.Helper()
	cg := systemctl(t, "show", "-p", "ControlGroup", "--value", unit)
	if cg == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", cg, "cgroup.procs"))
	if err != nil {
		return ""
	}
	var procs []string
	for _, pid := range strings.Fields(string(b)) {
		cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		procs = append(procs, pid+" "+strings.ReplaceAll(strings.TrimSpace(string(cmdline)), "\x00", " "))
	}
	return strings.Join(procs, "; ")
}

// watchdogs returns the children of parent that run as the freeze watchdog (HOTZFS_SNAPSHOT_GUARD=1).
func watchdogs(parent int) []int {
	var pids []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 3 || f[1] != strconv.Itoa(parent) {
			continue
		}
		env, _ := os.ReadFile(filepath.Join(filepath.Dir(st), "environ"))
		if bytes.Contains(env, []byte("HOTZFS_SNAPSHOT_GUARD=1")) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
			pids = append(pids, pid)
		}
	}
	return pids
}

// cgroupOf is a process's cgroup (v2), for the log.
func cgroupOf(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(b))
}
