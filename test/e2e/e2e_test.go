// Package e2e is the end-to-end test of hotzfs: a real guest on the libvirt host whose disk is a zvol on real
// OpenZFS, backed up hot while it writes, restored, and booted again. It runs inside the OpenZFS test VM,
// started by test/e2e/run.sh, and drives the host's libvirtd over TCP; docs/e2e.md explains the set-up.
package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/hotzfs/hotzfs/internal/guesttest"
	"github.com/hotzfs/hotzfs/internal/zfstest"
)

// The environment test/e2e/run.sh gives the test inside the VM.
const (
	envE2E      = "HOTZFS_E2E"              // 1 to run
	envLibvirt  = "HOTZFS_E2E_LIBVIRT"      // the host's libvirtd as seen from the VM: qemu+tcp://10.0.2.2:16509/system
	envGuestDir = "HOTZFS_E2E_GUEST_DIR"    // test/guest/build-guest.sh's output, a path on the host
	envNBDPorts = "HOTZFS_E2E_NBD_PORTS"    // "HOSTPORT1 HOSTPORT2": host ports forwarded to the VM's ports 10809, 10810
	envConsole  = "HOTZFS_E2E_CONSOLE"      // directory on the host for the guests' console logs
	envHotzfs   = "HOTZFS_E2E_HOTZFS"       // the hotzfs binary
	envRounds   = "HOTZFS_E2E_ROUNDS"       // backups taken while the guest writes (default 4)
	envCrash    = "HOTZFS_E2E_CRASH_ROUNDS" // crash-consistent snapshots for the comparison (default 8)
)

// VM-side NBD ports; run.sh forwards the host ports in HOTZFS_E2E_NBD_PORTS to them.
const (
	nbdPortSource   = 10809
	nbdPortRestored = 10810
)

type setup struct {
	libvirt, guestDir, console, hotzfs string
	hostPorts                          [2]int
	rounds, crashRounds                int
}

func loadSetup(t *testing.T) setup {
	t.Helper()
	if os.Getenv(envE2E) != "1" {
		t.Skip("end-to-end test: runs inside the OpenZFS test VM against the host's libvirtd; run test/e2e/run.sh")
	}
	zfstest.Require(t)
	s := setup{
		libvirt:  os.Getenv(envLibvirt),
		guestDir: os.Getenv(envGuestDir),
		console:  os.Getenv(envConsole),
		hotzfs:   os.Getenv(envHotzfs),
	}
	ports := strings.Fields(os.Getenv(envNBDPorts))
	if s.libvirt == "" || s.guestDir == "" || s.console == "" || s.hotzfs == "" || len(ports) != 2 {
		t.Fatalf("%s=1 needs %s, %s, %s, %s and two ports in %s (test/e2e/run.sh sets them)",
			envE2E, envLibvirt, envGuestDir, envConsole, envHotzfs, envNBDPorts)
	}
	for i, p := range ports {
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Fatalf("%s: %q is not a port", envNBDPorts, p)
		}
		s.hostPorts[i] = n
	}
	s.rounds = intEnv(t, envRounds, 4)
	s.crashRounds = intEnv(t, envCrash, 8)
	return s
}

func intEnv(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// TestE2EHotBackupRestoreBoot: a guest appends a counter to its zvol-backed disk and fsyncs continuously;
// hotzfs backs it up (quiesce required) several times, restores the latest snapshot into a new zvol, and a
// second guest boots from it. The restored filesystem must be clean without repairs, the counter file a
// complete prefix of the running guest's, every snapshot recorded fs-frozen and the guest thawed after each
// run. Then crash-consistent snapshots (quiesce off) of the same writing guest are checked the same way and
// the share needing journal replay is reported (a figure, not an assertion).
func TestE2EHotBackupRestoreBoot(t *testing.T) {
	s := loadSetup(t)
	src, dst := zfstest.Pool(t, 1024), zfstest.Pool(t, 1024)
	disk, restored := src+"/vm/disk0", src+"/vm/restored"
	zfstest.Run(t, "zfs", "create", src+"/vm")
	zfstest.Run(t, "zfs", "create", "-V", "64M", disk)
	zfstest.WaitDevice(t, "/dev/zvol/"+disk)
	zfstest.Run(t, "mkfs.ext4", "-q", "-L", "data", "-E", "lazy_itable_init=0,lazy_journal_init=0", "/dev/zvol/"+disk)
	stopSourceNBD := serveNBD(t, disk, "disk0", nbdPortSource)

	rig := guesttest.Connect(t, s.libvirt, s.guestDir)
	name := rig.Boot(t, guesttest.BootOptions{
		Name:    "e2e-source",
		Disk:    nbdDisk(s.hostPorts[0], "disk0"),
		Console: filepath.Join(s.console, "e2e-source.log"),
	})
	// The writer: one line per record, each fsynced, as fast as the disk allows with a 10 ms pause.
	rig.Exec(t, name, `setsid sh -c 'i=0; while :; do i=$((i+1)); echo "$i" >>/data/counter; `+
		`sync -d /data/counter; usleep 10000; done' </dev/null >/dev/null 2>&1 &`)
	guesttest.WaitFor(t, 60*time.Second, "the counter writer", func() bool {
		return len(strings.Fields(rig.Exec(t, name, "cat /data/counter 2>/dev/null || true"))) >= 20
	})

	h := newHotzfs(t, s, dst, name, disk)
	for round := 1; round <= s.rounds; round++ {
		before := countLines(rig.Exec(t, name, "cat /data/counter"))
		start := time.Now()
		h.run(t, "backup", "frozen")
		if st, err := rig.FreezeStatus(name, 10*time.Second); err != nil || st != "thawed" {
			t.Fatalf("round %d: guest fsfreeze status after the backup = %q, %v; want thawed", round, st, err)
		}
		after := countLines(rig.Exec(t, name, "cat /data/counter"))
		t.Logf("round %d: backup in %v, guest thawed, counter %d → %d (still writing)", round,
			time.Since(start).Round(time.Millisecond), before, after)
		if after <= before {
			t.Errorf("round %d: the counter did not advance across the backup (%d → %d)", round, before, after)
		}
		time.Sleep(2 * time.Second)
	}

	// Every snapshot, here and on the receiver, is recorded fs-frozen.
	local := ownSnapshots(t, disk, "hotzfs_")
	remote := ownSnapshots(t, h.targetDataset(t), "hotzfs_")
	if len(local) != s.rounds || len(remote) != s.rounds {
		t.Fatalf("snapshots: %d here, %d on the receiver; want %d each", len(local), len(remote), s.rounds)
	}
	for _, sn := range append(local, remote...) {
		if sn.consistency != "fs-frozen" {
			t.Errorf("%s: hotzfs:consistency = %q, want fs-frozen", sn.name, sn.consistency)
		}
	}
	latest := local[len(local)-1]

	// Restore the latest backup into a new zvol: the same bytes as the snapshot taken on the source.
	h.run(t, "restore", "--job", "frozen", disk, "--into", restored)
	zfstest.WaitDevice(t, "/dev/zvol/"+restored)
	if got, want := zfstest.DeviceSum(t, "/dev/zvol/"+restored), zfstest.SnapshotSum(t, latest.name, src+"/vm/check"); got != want {
		t.Fatalf("restored zvol sha256 %s, source snapshot %s: not equal", got, want)
	}
	fsck := checkExt4(t, "/dev/zvol/"+restored)
	t.Logf("restored %s (from %s): sha256 equal to the source snapshot; %s", restored, latest.name, fsck)
	if fsck.needsRecovery || fsck.exit != 0 {
		t.Fatalf("restored filesystem is not clean: %s", fsck)
	}

	// Boot a second guest from the restored zvol and read its counter through its agent.
	serveNBD(t, restored, "restored", nbdPortRestored)
	name2 := rig.Boot(t, guesttest.BootOptions{
		Name:    "e2e-restored",
		Disk:    nbdDisk(s.hostPorts[1], "restored"),
		Console: filepath.Join(s.console, "e2e-restored.log"),
	})
	restoredCounter := rig.Exec(t, name2, "cat /data/counter")
	n, err := completePrefix(restoredCounter)
	if err != nil {
		t.Fatalf("restored counter file: %v", err)
	}
	sourceCounter := rig.Exec(t, name, "cat /data/counter")
	if !strings.HasPrefix(sourceCounter, restoredCounter) {
		t.Fatalf("restored counter (%d records) is not a prefix of the running guest's (%d records)",
			n, countLines(sourceCounter))
	}
	t.Logf("restored guest %s booted; its counter has records 1..%d, a prefix of the running guest's %d",
		name2, n, countLines(sourceCounter))

	// Every backup on the receiver holds a clean filesystem with a complete counter file.
	for i, sn := range remote {
		clone := fmt.Sprintf("%s/check%d", dst, i)
		zfstest.Run(t, "zfs", "clone", sn.name, clone)
		zfstest.WaitDevice(t, "/dev/zvol/"+clone)
		r := checkExt4(t, "/dev/zvol/"+clone)
		n, err := completePrefix(readCounterFile(t, "/dev/zvol/"+clone))
		t.Logf("%s: %s; counter records 1..%d %s", sn.name, r, n, errText(err))
		if r.needsRecovery || r.exit != 0 || err != nil {
			t.Errorf("%s (quiesce required) is not clean: %s; counter: %s", sn.name, r, errText(err))
		}
	}

	// For comparison: crash-consistent snapshots of the same writing guest (quiesce off).
	var replay, broken, torn int
	for round := 1; round <= s.crashRounds; round++ {
		h.run(t, "snapshot", "crash")
		time.Sleep(time.Second)
	}
	crash := ownSnapshots(t, disk, "crash_")
	if len(crash) != s.crashRounds {
		t.Fatalf("%d crash snapshots, want %d", len(crash), s.crashRounds)
	}
	for i, sn := range crash {
		if sn.consistency != "crash" {
			t.Errorf("%s: hotzfs:consistency = %q, want crash", sn.name, sn.consistency)
		}
		clone := fmt.Sprintf("%s/vm/crash%d", src, i)
		zfstest.Run(t, "zfs", "clone", sn.name, clone)
		zfstest.WaitDevice(t, "/dev/zvol/"+clone)
		r := checkExt4(t, "/dev/zvol/"+clone)
		replayJournal(t, "/dev/zvol/"+clone)
		after := checkExt4(t, "/dev/zvol/"+clone)
		content := readCounterFile(t, "/dev/zvol/"+clone)
		_, cerr := completePrefix(content)
		t.Logf("%s: %s; after the replay: e2fsck -fn exit %d; counter: %v", sn.name, r, after.exit, errText(cerr))
		if r.needsRecovery {
			replay++
		}
		if after.exit != 0 {
			broken++
		}
		if cerr != nil {
			torn++
		}
		zfstest.Destroy(t, clone)
	}
	t.Logf("FIGURE quiesce off: %d of %d crash-consistent snapshots needed journal replay, %d still had errors "+
		"after it, %d had a torn counter file; quiesce required: all %d clean (no replay, e2fsck -fn exit 0, "+
		"counter complete)", replay, len(crash), broken, torn, len(remote))

	// restore --define and failover: the stored XML's disk is a network disk that hotzfs cannot point at a
	// restored zvol; a copy defined from it would write to the original's disk. Both must refuse, before
	// restoring or cloning anything.
	restored2 := src + "/vm/restored2"
	out, err := h.try(t, "restore", "--job", "frozen", disk, "--into", restored2, "--define")
	if err == nil || !strings.Contains(out, "vda (network disk nbd:disk0)") {
		t.Errorf("restore --define of a guest on a network disk: err %v, output %q; want a refusal naming vda", err, out)
	}
	if exists(t, restored2) || rig.Defined(t, name+"-restored") {
		t.Errorf("a refused restore --define left %s or the domain %s-restored behind", restored2, name)
	}
	out, err = h.tryRaw(t, "failover", name, "--client", "e2e-host", "--config", h.receiver, "--libvirt", s.libvirt, "--yes")
	if err == nil || !strings.Contains(out, "vda (network disk nbd:disk0)") {
		t.Errorf("failover of a guest on a network disk: err %v, output %q; want a refusal naming vda", err, out)
	}
	if clones := strings.TrimSpace(zfstest.Run(t, "zfs", "list", "-H", "-o", "name", "-r", dst+"/backup")); strings.Contains(clones, "-failover") {
		t.Errorf("a refused failover cloned: %s", clones)
	}

	// restore --in-place: refused while the guest runs, then, with the guest shut off, rolls the zvol back to
	// the first backup.
	first := local[0]
	short := first.name[strings.Index(first.name, "@")+1:]
	before := len(ownSnapshots(t, disk, ""))
	out, err = h.try(t, "restore", "--job", "frozen", disk, "--in-place", "--snapshot", short, "--yes")
	if err == nil || !strings.Contains(out, "guest "+name+" is running") {
		t.Errorf("restore --in-place under a running guest: err %v, output %q; want a refusal", err, out)
	}
	if n := len(ownSnapshots(t, disk, "")); n != before {
		t.Fatalf("a refused in-place restore changed the snapshots: %d → %d", before, n)
	}
	rig.Destroy(t, name)
	stopSourceNBD()
	h.run(t, "restore", "--job", "frozen", disk, "--in-place", "--snapshot", short, "--yes")
	if got, want := zfstest.DeviceSum(t, "/dev/zvol/"+disk), zfstest.SnapshotSum(t, first.name, src+"/vm/check"); got != want {
		t.Fatalf("after the in-place restore %s has sha256 %s, %s has %s", disk, got, first.name, want)
	}
	if n := len(ownSnapshots(t, disk, "")); n != 1 {
		t.Errorf("after rolling back to the first snapshot %d snapshots remain, want 1", n)
	}
	r := checkExt4(t, "/dev/zvol/"+disk)
	n, err = completePrefix(readCounterFile(t, "/dev/zvol/"+disk))
	if r.needsRecovery || r.exit != 0 || err != nil {
		t.Errorf("after the in-place restore: %s; counter: %s", r, errText(err))
	}
	t.Logf("in-place restore to %s: refused while the guest ran; after it was shut off: sha256 equal to the "+
		"snapshot, filesystem clean, counter records 1..%d", first.name, n)
}

// tryRaw runs a hotzfs command as given (no sender config) that is expected to fail, and returns its output.
func (h *hotzfsRig) tryRaw(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(h.bin, args...).CombinedOutput()
	t.Logf("hotzfs %s: %v\n%s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	return string(out), err
}

func exists(t *testing.T, dataset string) bool {
	t.Helper()
	return exec.Command("zfs", "list", "-H", "-o", "name", dataset).Run() == nil
}

// nbdDisk is a disk source reaching an NBD export through the host's forwarded port.
func nbdDisk(port int, export string) *libvirtxml.DomainDiskSource {
	return &libvirtxml.DomainDiskSource{Network: &libvirtxml.DomainDiskSourceNetwork{
		Protocol: "nbd", Name: export,
		Hosts: []libvirtxml.DomainDiskSourceHost{{Name: "127.0.0.1", Port: strconv.Itoa(port)}},
	}}
}

// serveNBD exports a zvol over NBD on port (all addresses of the VM) until stop is called or the test ends.
func serveNBD(t *testing.T, zvol, export string, port int) (stop func()) {
	t.Helper()
	cmd := exec.Command("qemu-nbd", "--persistent", "--shared=4", "--format=raw", "--cache=none",
		"--export-name="+export, "--bind=0.0.0.0", "--port="+strconv.Itoa(port), "/dev/zvol/"+zvol)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("qemu-nbd: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stop = func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("qemu-nbd for %s exited: %v\n%s", zvol, waitErr, stderr.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			return stop
		}
		if time.Now().After(deadline) {
			t.Fatalf("qemu-nbd for %s: port %d not open after 30 s\n%s", zvol, port, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hotzfsRig is a receiver on loopback and a sender config with the two jobs of the test.
type hotzfsRig struct {
	bin, config, receiver, dst string
	pki, addr                  string // the certificates' directory; the receiver's address
}

func newHotzfs(t *testing.T, s setup, dst, guestName, disk string) *hotzfsRig {
	t.Helper()
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	h := &hotzfsRig{bin: s.hotzfs, dst: dst}
	h.exec(t, "certs", "ca", "--dir", pki)
	h.exec(t, "certs", "server", "localhost", "--ip", "127.0.0.1", "--dir", pki)
	h.exec(t, "certs", "client", "e2e-host", "--dir", pki)
	receiver := filepath.Join(dir, "receiver.yaml")
	h.receiver = receiver
	writeFile(t, receiver, fmt.Sprintf(`listen: 127.0.0.1:17390
tls: {ca: %[1]s/ca.crt, cert: %[1]s/localhost.crt, key: %[1]s/localhost.key}
root: %[2]s/backup
clients:
  e2e-host: {}
`, pki, dst))
	zfstest.Run(t, "zfs", "create", "-p", dst+"/backup") // serve does not start without its root
	ready := filepath.Join(dir, "addr")
	serve := exec.Command(h.bin, "serve", "--config", receiver, "--log-format", "text", "--log-level", "warn",
		"--ready-file", ready)
	serve.Stdout, serve.Stderr = testLog{t, "serve"}, testLog{t, "serve"}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var serveErr error
	go func() { serveErr = serve.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = serve.Process.Signal(os.Interrupt)
		<-exited
	})
	var addr []byte
	guesttest.WaitFor(t, 30*time.Second, "the receiver", func() bool {
		select {
		case <-exited:
			t.Fatalf("hotzfs serve exited: %v", serveErr)
		default:
		}
		addr, _ = os.ReadFile(ready)
		return len(addr) > 0
	})
	h.pki, h.addr = pki, strings.TrimSpace(string(addr))
	h.config = filepath.Join(dir, "hotzfs.yaml")
	writeFile(t, h.config, fmt.Sprintf(`state_dir: %[1]s/state
libvirt: {uri: "%[2]s"}
targets:
  backup: {address: "%[3]s", ca: %[4]s/ca.crt, cert: %[4]s/e2e-host.crt, key: %[4]s/e2e-host.key, server_name: localhost}
jobs:
  - name: frozen
    guests: [%[5]s]
    disk_map: {%[5]s: {vda: %[6]s}}
    quiesce: required
    freeze_timeout: 60s
    target: backup
    retention:
      source: {keep_last: 20}
      target: {keep_last: 20}
  - name: crash
    guests: [%[5]s]
    disk_map: {%[5]s: {vda: %[6]s}}
    quiesce: "off"
    snapshot_prefix: crash
    target: backup
    target_root: crash
`, dir, s.libvirt, strings.TrimSpace(string(addr)), pki, guestName, disk))
	h.exec(t, "config", "check", h.config)
	return h
}

// run runs a hotzfs command with the sender config.
func (h *hotzfsRig) run(t *testing.T, args ...string) string {
	t.Helper()
	return h.exec(t, h.withConfig(args, "--log-format", "text")...)
}

// try runs a hotzfs command with the sender config that is expected to fail, and returns its output.
func (h *hotzfsRig) try(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return h.tryRaw(t, h.withConfig(args)...)
}

// withConfig puts --config (and extra flags) after the command name in args.
func (h *hotzfsRig) withConfig(args []string, extra ...string) []string {
	out := append([]string{args[0], "--config", h.config}, extra...)
	return append(out, args[1:]...)
}

func (h *hotzfsRig) exec(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(h.bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if stderr.Len() > 0 {
		t.Logf("hotzfs %s:\n%s", strings.Join(args, " "), strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		t.Fatalf("hotzfs %s: %v\n%s", strings.Join(args, " "), err, stdout.String())
	}
	return stdout.String()
}

// targetDataset finds where the receiver keeps the guest's disk: the one zvol under its root.
func (h *hotzfsRig) targetDataset(t *testing.T) string {
	t.Helper()
	out := zfstest.Run(t, "zfs", "list", "-H", "-o", "name", "-t", "volume", "-r", h.dst+"/backup")
	vols := strings.Fields(out)
	if len(vols) != 1 {
		t.Fatalf("volumes on the receiver: %q, want one", vols)
	}
	return vols[0]
}

type snap struct{ name, consistency string }

// ownSnapshots lists dataset's snapshots whose short name starts with prefix, oldest first.
func ownSnapshots(t *testing.T, dataset, prefix string) []snap {
	t.Helper()
	out := zfstest.Run(t, "zfs", "list", "-H", "-p", "-t", "snapshot", "-s", "createtxg", "-d", "1",
		"-o", "name,hotzfs:consistency", dataset)
	var list []snap
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) == 2 && strings.HasPrefix(f[0], dataset+"@"+prefix) {
			list = append(list, snap{f[0], f[1]})
		}
	}
	return list
}

// ext4Check is what a read-only check of an ext4 filesystem found.
type ext4Check struct {
	needsRecovery bool // the journal has to be replayed before the filesystem is consistent
	exit          int  // e2fsck -fn's exit code: 0 clean, 4 errors left uncorrected
	summary       string
}

func (c ext4Check) String() string {
	return fmt.Sprintf("needs journal replay: %v, e2fsck -fn exit %d (%s)", c.needsRecovery, c.exit, c.summary)
}

// checkExt4 reads an ext4 filesystem's journal state and runs e2fsck -fn (no changes).
func checkExt4(t *testing.T, dev string) ext4Check {
	t.Helper()
	var c ext4Check
	for _, line := range strings.Split(zfstest.Run(t, "dumpe2fs", "-h", dev), "\n") {
		if strings.HasPrefix(line, "Filesystem features:") && strings.Contains(line, "needs_recovery") {
			c.needsRecovery = true
		}
	}
	out, err := exec.Command("e2fsck", "-fn", dev).CombinedOutput()
	c.exit = exitCode(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	c.summary = lines[len(lines)-1]
	return c
}

// replayJournal replays an ext4 journal (on a clone) as a mount would, and nothing else.
func replayJournal(t *testing.T, dev string) {
	t.Helper()
	out, err := exec.Command("e2fsck", "-E", "journal_only", "-y", dev).CombinedOutput()
	if code := exitCode(t, err); code > 1 {
		t.Fatalf("e2fsck -E journal_only %s: exit %d\n%s", dev, code, out)
	}
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("e2fsck: %v", err)
	}
	return ee.ExitCode()
}

// readCounterFile reads /counter from an ext4 filesystem image without mounting it (debugfs).
func readCounterFile(t *testing.T, dev string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", "cat /counter", dev).Output()
	if err != nil {
		t.Fatalf("debugfs cat /counter on %s: %v", dev, err)
	}
	return string(out)
}

// completePrefix checks that content is the records "1\n2\n…n\n" with nothing torn or missing, and returns n.
func completePrefix(content string) (int, error) {
	if content == "" {
		return 0, fmt.Errorf("empty")
	}
	if !strings.HasSuffix(content, "\n") {
		return 0, fmt.Errorf("the last record is torn (no newline): %q", tail(content))
	}
	lines := strings.Split(strings.TrimSuffix(content, "\n"), "\n")
	for i, l := range lines {
		if l != strconv.Itoa(i+1) {
			return 0, fmt.Errorf("record %d is %q, want %d (missing or torn records)", i+1, l, i+1)
		}
	}
	return len(lines), nil
}

func tail(s string) string {
	if len(s) > 40 {
		return "…" + s[len(s)-40:]
	}
	return s
}

func countLines(s string) int { return strings.Count(s, "\n") }

func errText(err error) string {
	if err == nil {
		return "complete"
	}
	return err.Error()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// testLog writes a child process's output to the test log, line by line.
type testLog struct {
	t      *testing.T
	prefix string
}

func (w testLog) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Logf("%s: %s", w.prefix, line)
	}
	return len(p), nil
}
