// Package nested tests the way back with real guests where libvirt and ZFS share a host, as users run them:
// inside the OpenZFS test VM (test/vm/build-nested.sh adds libvirt and qemu to it), guests run nested under
// kvm on their hosts' pools. Two simulated hosts share the VM: hv1 (the VM's libvirtd) with the guest, and
// backup1 (a second libvirtd in its own mount namespace, test/nested/hosts.sh) running the receiver. Started
// by test/nested/run.sh.
package nested

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

	"libvirt.org/go/libvirtxml"

	"github.com/hotzfs/hotzfs/internal/guesttest"
	"github.com/hotzfs/hotzfs/internal/zfstest"
)

// The environment test/nested/run.sh gives the test inside the VM.
const (
	envNested   = "HOTZFS_NESTED"           // 1 to run
	envGuestDir = "HOTZFS_NESTED_GUEST_DIR" // test/guest/build-guest.sh's output, in the VM
	envHotzfs   = "HOTZFS_NESTED_HOTZFS"    // the hotzfs binary
	uriHV1      = "qemu+tcp://127.0.0.1:16509/system"
	uriBackup1  = "qemu+tcp://127.0.0.1:16510/system"
)

type setup struct{ guestDir, hotzfs string }

func loadSetup(t *testing.T) setup {
	t.Helper()
	if os.Getenv(envNested) != "1" {
		t.Skip("nested-guest test: runs inside the OpenZFS test VM with libvirt; run test/nested/run.sh")
	}
	zfstest.Require(t)
	s := setup{guestDir: os.Getenv(envGuestDir), hotzfs: os.Getenv(envHotzfs)}
	if s.guestDir == "" || s.hotzfs == "" {
		t.Fatalf("%s=1 needs %s and %s (test/nested/run.sh sets them)", envNested, envGuestDir, envHotzfs)
	}
	// Nested kvm on TCG's emulated SVM: a guest takes minutes to reach its agent on a loaded machine.
	guesttest.AgentBootTimeout = 10 * time.Minute
	return s
}

// guestStorage is the guest's storage on hv1: vda on a zvol, and a filesystem with a mountpoint of its own
// holding the kernel, the initrd and vdb's image file.
type guestStorage struct {
	zvol, images, mountpoint string
}

func makeGuestStorage(t *testing.T, s setup, pool string) guestStorage {
	t.Helper()
	g := guestStorage{zvol: pool + "/vm/web-disk0", images: pool + "/images", mountpoint: "/srv/" + pool + "-images"}
	zfstest.Run(t, "zfs", "create", pool+"/vm")
	zfstest.Run(t, "zfs", "create", "-V", "48M", g.zvol)
	zfstest.WaitDevice(t, "/dev/zvol/"+g.zvol)
	zfstest.Run(t, "mkfs.ext4", "-q", "-L", "data", "-E", "lazy_itable_init=0,lazy_journal_init=0", "/dev/zvol/"+g.zvol)
	zfstest.Run(t, "zfs", "create", "-o", "mountpoint="+g.mountpoint, g.images)
	for _, f := range []string{"vmlinuz", "initrd.img"} {
		zfstest.Run(t, "cp", filepath.Join(s.guestDir, f), g.mountpoint+"/"+f)
	}
	zfstest.Run(t, "truncate", "-s", "32M", g.mountpoint+"/web-data2.img")
	zfstest.Run(t, "mkfs.ext4", "-q", "-F", "-L", "data2", g.mountpoint+"/web-data2.img")
	return g
}

// domainXML is a kvm guest booted directly from the kernel on its filesystem dataset, vda on the zvol, vdb the
// image file, with the agent channel.
func (g guestStorage) domainXML(t *testing.T, name string) string {
	t.Helper()
	dom := libvirtxml.Domain{
		Type:   "kvm",
		Name:   name,
		Memory: &libvirtxml.DomainMemory{Value: 256, Unit: "MiB"},
		VCPU:   &libvirtxml.DomainVCPU{Value: 1},
		OS: &libvirtxml.DomainOS{
			Type:    &libvirtxml.DomainOSType{Arch: "x86_64", Machine: "pc", Type: "hvm"},
			Kernel:  g.mountpoint + "/vmlinuz",
			Initrd:  g.mountpoint + "/initrd.img",
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
				Source: &libvirtxml.DomainDiskSource{Block: &libvirtxml.DomainDiskSourceBlock{Dev: "/dev/zvol/" + g.zvol}},
				Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"},
			}, {
				Device: "disk",
				Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
				Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: g.mountpoint + "/web-data2.img"}},
				Target: &libvirtxml.DomainDiskTarget{Dev: "vdb", Bus: "virtio"},
			}},
			Serials: []libvirtxml.DomainSerial{{Target: &libvirtxml.DomainSerialTarget{Port: new(uint)}}},
			Channels: []libvirtxml.DomainChannel{{
				Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{Mode: "bind"}},
				Target: &libvirtxml.DomainChannelTarget{
					VirtIO: &libvirtxml.DomainChannelTargetVirtIO{Name: "org.qemu.guest_agent.0"},
				},
			}},
			MemBalloon: &libvirtxml.DomainMemBalloon{Model: "none"},
		},
	}
	x, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// writers start, in the guest, an fsynced counter on each of its two disks (file counter), going on from
// what the file holds.
func writers(t *testing.T, rig *guesttest.Rig, name string) {
	t.Helper()
	counterWriters(t, rig, name, "counter")
}

func counterWriters(t *testing.T, rig *guesttest.Rig, name, file string) {
	t.Helper()
	have := 0
	for _, dir := range []string{"/data", "/data2"} {
		f := dir + "/" + file
		n := countLines(rig.Exec(t, name, "cat "+f+" 2>/dev/null || true"))
		have = max(have, n)
		rig.Exec(t, name, `setsid sh -c 'i=`+strconv.Itoa(n)+`; while :; do i=$((i+1)); echo "$i" >>`+f+`; `+
			`sync -d `+f+`; usleep 20000; done' </dev/null >/dev/null 2>&1 &`)
	}
	guesttest.WaitFor(t, 120*time.Second, "the "+file+" writers", func() bool {
		return countLines(rig.Exec(t, name, "cat /data/"+file+" 2>/dev/null || true")) >= have+10 &&
			countLines(rig.Exec(t, name, "cat /data2/"+file+" 2>/dev/null || true")) >= have+10
	})
}

// counters reads both counter files of a guest and checks each is the complete records 1..n.
func counters(t *testing.T, rig *guesttest.Rig, name string) (data, data2 int) {
	t.Helper()
	var n [2]int
	for i, dir := range []string{"/data", "/data2"} {
		c, err := completePrefix(rig.Exec(t, name, "cat "+dir+"/counter"))
		if err != nil {
			t.Fatalf("guest %s: %s/counter: %v", name, dir, err)
		}
		n[i] = c
	}
	return n[0], n[1]
}

// hotzfs runs the binary; the receiver runs as "hotzfs serve" in the background.
type hotzfs struct {
	bin, dir, sender, receiver string
}

// startHotzfs starts the receiver on dstPool with client hv1's policy (YAML flow mapping) and writes hv1's
// config backing up guestName.
func startHotzfs(t *testing.T, s setup, dstPool, guestName, policy string) *hotzfs {
	t.Helper()
	dir := t.TempDir()
	h := &hotzfs{bin: s.hotzfs, dir: dir, sender: filepath.Join(dir, "hotzfs.yaml"), receiver: filepath.Join(dir, "receiver.yaml")}
	pki := filepath.Join(dir, "pki")
	h.run(t, "certs", "ca", "--dir", pki)
	h.run(t, "certs", "server", "localhost", "--ip", "127.0.0.1", "--dir", pki)
	h.run(t, "certs", "client", "hv1", "--dir", pki)
	writeFile(t, h.receiver, fmt.Sprintf(`listen: 127.0.0.1:17390
tls: {ca: %[1]s/ca.crt, cert: %[1]s/localhost.crt, key: %[1]s/localhost.key}
root: %[2]s/backup
clients:
  hv1: %[3]s
`, pki, dstPool, policy))
	zfstest.Run(t, "zfs", "create", "-p", dstPool+"/backup") // serve does not start without its root
	ready := filepath.Join(dir, "addr")
	serve := exec.Command(h.bin, "serve", "--config", h.receiver, "--log-format", "text", "--log-level", "warn",
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
	// target_root set, as in examples/hotzfs.yaml: the received names keep the prefix.
	writeFile(t, h.sender, fmt.Sprintf(`state_dir: %[1]s/state
libvirt: {uri: "%[2]s"}
targets:
  backup1: {address: "%[3]s", ca: %[4]s/ca.crt, cert: %[4]s/hv1.crt, key: %[4]s/hv1.key, server_name: localhost}
jobs:
  - name: web
    guests: [%[5]s]
    quiesce: required
    freeze_timeout: 60s
    target: backup1
    target_root: hosts/hv1
    retention:
      source: {keep_last: 10}
      target: {keep_last: 10}
`, dir, uriHV1, strings.TrimSpace(string(addr)), pki, guestName))
	h.run(t, "config", "check", h.sender)
	return h
}

func (h *hotzfs) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := h.try(t, args...)
	if err != nil {
		t.Fatalf("hotzfs %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// try runs hotzfs and returns its stdout and stderr together, and how it exited.
func (h *hotzfs) try(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(h.bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("hotzfs %s:\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
	return stdout.String() + stderr.String(), err
}

// TestNestedBackupRestoreGuestFailover: a guest with two disks on two datasets (a zvol, and an image file on a
// filesystem with its own mountpoint, which also holds the kernel it boots) writes fsynced counters on both;
// hotzfs backs it up hot to backup1 with target_root set. restore --guest --define brings the whole guest back
// on hv1 under a new name, and it boots with both disks; hv1 then "fails" and failover --start brings the guest
// up on backup1 from the received copies. Each copy's counters are complete prefixes of what the guest wrote.
// The standby then writes on both disks, and failback (run on hv1) brings the guest home: it boots on hv1 with
// the standby's writes, the standby is shut off, hv1's own writes after the set are kept aside, and the next
// backup goes on incrementally from the set (the same GUIDs on both sides).
func TestNestedBackupRestoreGuestFailover(t *testing.T) {
	s := loadSetup(t)
	hv1 := guesttest.Connect(t, uriHV1, s.guestDir)
	backup1 := guesttest.Connect(t, uriBackup1, s.guestDir)
	src, dst := zfstest.Pool(t, 768), zfstest.Pool(t, 768)
	g := makeGuestStorage(t, s, src)
	name := guesttest.DomainPrefix + "nested-web"
	start := time.Now()
	hv1.DefineAndStart(t, g.domainXML(t, name))
	hv1.WaitAgent(t, name)
	t.Logf("FIGURE nested guest boot to agent: %v", time.Since(start).Round(time.Second))
	writers(t, hv1, name)

	h := startHotzfs(t, s, dst, name, "{}")
	for round := 1; round <= 2; round++ {
		before, _ := counters(t, hv1, name)
		h.run(t, "backup", "--config", h.sender, "web")
		if st, err := hv1.FreezeStatus(name, 10*time.Second); err != nil || st != "thawed" {
			t.Fatalf("round %d: fsfreeze status after the backup = %q, %v; want thawed", round, st, err)
		}
		after, _ := counters(t, hv1, name)
		if after <= before {
			t.Errorf("round %d: the counter did not advance across the backup (%d → %d)", round, before, after)
		}
	}
	snapSet := latestSet(t, g.zvol)
	for _, ds := range []string{g.zvol, g.images} {
		if c := zfstest.Run(t, "zfs", "get", "-H", "-o", "value", "hotzfs:consistency", ds+"@"+snapSet); strings.TrimSpace(c) != "fs-frozen" {
			t.Fatalf("%s@%s: consistency %q, want fs-frozen", ds, snapSet, strings.TrimSpace(c))
		}
	}

	// hv1's guest stops at once, as in a power cut.
	wrote1, wrote2 := counters(t, hv1, name)
	hv1.Destroy(t, name)

	// restore --guest on hv1: every disk from one snapshot set, next to the originals, defined under a new name.
	h.run(t, "restore", "--config", h.sender, "--guest", name, "--define", "--yes")
	restored := name + "-restored"
	hv1.RemoveAtEnd(t, restored)
	vda := "/dev/zvol/" + g.zvol + "-restore-" + snapSet
	zfstest.WaitDevice(t, vda)
	if got, want := zfstest.DeviceSum(t, vda), zfstest.SnapshotSum(t, g.zvol+"@"+snapSet, src+"/check"); got != want {
		t.Fatalf("restored vda %s: sha256 %s, snapshot %s", vda, got, want)
	}
	vdb := zfstest.Mountpoint(t, g.images+"-restore-"+snapSet) + "/web-data2.img"
	if got, want := fileSum(t, vdb), fileSum(t, g.mountpoint+"/.zfs/snapshot/"+snapSet+"/web-data2.img"); got != want {
		t.Fatalf("restored vdb %s: sha256 %s, snapshot %s", vdb, got, want)
	}
	notOriginal(t, hv1.DomainXML(t, restored), g, 2)
	start = time.Now()
	hv1.Start(t, restored)
	hv1.WaitAgent(t, restored)
	t.Logf("FIGURE restored guest, start to agent: %v", time.Since(start).Round(time.Second))
	r1, r2 := counters(t, hv1, restored)
	if r1 > wrote1 || r2 > wrote2 {
		t.Fatalf("restored counters 1..%d and 1..%d, but the guest wrote only %d and %d", r1, r2, wrote1, wrote2)
	}
	t.Logf("restored guest %s: both disks equal the snapshot set %s; counters 1..%d and 1..%d, complete",
		restored, snapSet, r1, r2)
	hv1.Destroy(t, restored)

	// hv1 fails. On backup1, failover brings the guest up from the received copies.
	start = time.Now()
	h.run(t, "failover", "--config", h.receiver, "--client", "hv1", "--libvirt", uriBackup1, "--start", "--yes", name)
	backup1.RemoveAtEnd(t, name)
	backup1.WaitAgent(t, name)
	t.Logf("FIGURE failover, command to agent-ready guest: %v", time.Since(start).Round(time.Second))
	n1, n2 := counters(t, backup1, name)
	if n1 > wrote1 || n2 > wrote2 {
		t.Fatalf("failed-over counters 1..%d and 1..%d, but the guest wrote only %d and %d", n1, n2, wrote1, wrote2)
	}
	t.Logf("failed-over guest on backup1: counters 1..%d (of %d) and 1..%d (of %d), complete", n1, wrote1, n2, wrote2)
	onCopies(t, backup1.DomainXML(t, name), dst+"/backup/hv1/hosts/hv1/", 2)

	// The standby writes on both disks; hv1 comes back, and failback brings the guest home with those writes.
	standbyWrites(t, backup1, name, "standby-"+snapSet)
	s1, s2 := standbyCounters(t, backup1, name)
	start = time.Now()
	out := h.run(t, "failback", "--config", h.sender, "--standby", uriBackup1, "--shutdown-timeout", "10s", "--yes", name)
	hv1.WaitAgent(t, name)
	t.Logf("FIGURE failback, command to agent-ready guest on hv1: %v (%s)", time.Since(start).Round(time.Second),
		lineWith(out, "here: down for"))
	if st := backup1.State(t, name); st != "shutoff" {
		t.Errorf("the standby is %s after the failback, want shutoff", st)
	}
	cameHome(t, hv1, name, "standby-"+snapSet, s1, s2)
	// hv1 had written after the set before it failed: those writes are kept aside, not lost.
	for _, ds := range []string{g.zvol, g.images} {
		if aside := zfstest.Run(t, "zfs", "list", "-H", "-o", "name", "-d", "1", ds[:strings.LastIndexByte(ds, '/')]); !strings.Contains(aside, ds+"-before-failback-") {
			t.Errorf("no %s-before-failback-* kept aside; datasets:\n%s", ds, aside)
		}
	}

	// The next backup is an incremental from the set: the receiver's copy gets the failback's snapshots.
	failbackSnap := latestSet(t, g.zvol)
	h.run(t, "backup", "--config", h.sender, "web")
	if st, err := hv1.FreezeStatus(name, 10*time.Second); err != nil || st != "thawed" {
		t.Fatalf("fsfreeze status after the backup = %q, %v; want thawed", st, err)
	}
	for _, ds := range []string{g.zvol, g.images} {
		sameGUIDs(t, ds, dst+"/backup/hv1/hosts/hv1/"+ds, snapSet, failbackSnap, latestSet(t, ds))
	}

	// This receiver does not let hv1 clone there (no allow_clone): migrate refuses before anything is done,
	// and the guest runs on.
	last := latestSet(t, g.zvol)
	out, err := h.try(t, "migrate", "--config", h.sender, "--to", uriBackup1, "--yes", name)
	if err == nil || !strings.Contains(out, "allow_clone: true") {
		t.Errorf("migrate without allow_clone on the receiver: %v, output without the policy's name", err)
	}
	if st := hv1.State(t, name); st != "running" {
		t.Errorf("the guest is %s on hv1 after the refused migrate, want running", st)
	}
	if now := latestSet(t, g.zvol); now != last {
		t.Errorf("the refused migrate took a snapshot (@%s after @%s)", now, last)
	}
}

// TestNestedMigrate: hotzfs migrate moves a running guest with two disks from hv1 to backup1, where the
// receiver lets hv1 clone (allow_clone): backups while it runs, then a last small incremental with it stopped,
// and it boots on backup1 on clones of that set with everything it wrote before the migrate began. Before
// that, a migrate to a libvirt that does not answer is refused with nothing done, and a migrate whose clone
// the receiver refuses after the guest was stopped (a dataset in the way) starts the guest on hv1 again;
// neither defines anything on backup1. While the guest runs on backup1, hv1's backups
// leave it out, and failback --sync-only brings its writes to hv1 incrementally with the guest running;
// failback then moves it home, and hv1's backups take it again, incrementally from the migration's set.
func TestNestedMigrate(t *testing.T) {
	s := loadSetup(t)
	hv1 := guesttest.Connect(t, uriHV1, s.guestDir)
	backup1 := guesttest.Connect(t, uriBackup1, s.guestDir)
	src, dst := zfstest.Pool(t, 768), zfstest.Pool(t, 768)
	g := makeGuestStorage(t, s, src)
	name := guesttest.DomainPrefix + "nested-mig"
	hv1.DefineAndStart(t, g.domainXML(t, name))
	hv1.WaitAgent(t, name)
	writers(t, hv1, name)
	h := startHotzfs(t, s, dst, name, "{allow_clone: true}")
	h.run(t, "backup", "--config", h.sender, "web")
	received := func(ds string) string { return dst + "/backup/hv1/hosts/hv1/" + ds }
	migrate := []string{"migrate", "--config", h.sender, "--to", uriBackup1, "--shutdown-timeout", "10s", "--yes", name}

	// The target's libvirt does not answer: migrate refuses before anything is done, and the guest runs on.
	seeded := latestSet(t, g.zvol)
	out, err := h.try(t, "migrate", "--config", h.sender, "--to", "qemu+tcp://127.0.0.1:16599/system", "--yes", name)
	if err == nil || !strings.Contains(out, "nothing done") {
		t.Errorf("migrate to a libvirt that does not answer: %v; want a refusal that says nothing was done", err)
	}
	if st := hv1.State(t, name); st != "running" {
		t.Fatalf("the guest is %s on hv1 after the refused migrate, want running", st)
	}
	if now := latestSet(t, g.zvol); now != seeded {
		t.Errorf("the refused migrate took a snapshot (@%s after @%s)", now, seeded)
	}

	// A dataset in the way of the zvol's clone: the receiver refuses the clone, after the guest was stopped
	// for the last incremental, and migrate starts the guest on hv1 again.
	obstacle := received(g.zvol) + "-migrated"
	zfstest.Run(t, "zfs", "create", obstacle)
	out, err = h.try(t, migrate...)
	if err == nil || !strings.Contains(out, "runs here again") {
		t.Fatalf("migrate with a dataset in the way of a clone: %v; want a failure that says the guest runs here again", err)
	}
	if st := hv1.State(t, name); st != "running" {
		t.Fatalf("the guest is %s on hv1 after the failed migrate, want running", st)
	}
	if backup1.Defined(t, name) {
		t.Errorf("the failed migrate defined %s on backup1", name)
	}
	if clones := zfstest.Run(t, "zfs", "list", "-H", "-o", "name", "-r", dst); strings.Contains(clones, received(g.images)+"-migrated") {
		t.Errorf("the refused clone request left a clone:\n%s", clones)
	}
	hv1.WaitAgent(t, name)
	zfstest.Run(t, "zfs", "destroy", obstacle)
	writers(t, hv1, name) // they stopped with the guest: on from where they were
	w1, w2 := counters(t, hv1, name)
	zfstest.Run(t, "virsh", "-c", uriHV1, "autostart", name) // migrate must turn it off

	out = h.run(t, migrate...)
	backup1.RemoveAtEnd(t, name)
	backup1.WaitAgent(t, name)
	t.Logf("FIGURE migrate: %s", lineWith(out, "migrated "+name+": down for"))
	if st := hv1.State(t, name); st != "shutoff" {
		t.Errorf("the guest is %s on hv1 after the migrate, want shutoff", st)
	}
	if info := zfstest.Run(t, "virsh", "-c", uriHV1, "dominfo", name); !strings.Contains(strings.Join(strings.Fields(lineWith(info, "Autostart:")), " "), "Autostart: disable") {
		t.Errorf("the guest left on hv1 keeps its autostart (it would boot there too with the host):\n%s", info)
	}
	m1, m2 := counters(t, backup1, name)
	if m1 < w1 || m2 < w2 {
		t.Fatalf("the migrated guest has counters 1..%d and 1..%d, but the guest had written 1..%d and 1..%d "+
			"before the migrate began", m1, m2, w1, w2)
	}
	t.Logf("migrated guest on backup1: counters 1..%d (≥ %d) and 1..%d (≥ %d), complete", m1, w1, m2, w2)
	onCopies(t, backup1.DomainXML(t, name), dst+"/backup/hv1/hosts/hv1/", 2)
	set := latestSet(t, g.zvol)

	// hv1's backups leave the migrated guest out: its datasets here keep the set as their newest snapshot.
	out = h.run(t, "backup", "--config", h.sender, "web")
	if now := latestSet(t, g.zvol); now != set {
		t.Errorf("a backup on hv1 snapshotted the migrated guest's disk (@%s after @%s)", now, set)
	}

	// While the guest runs on backup1, failback --sync-only brings its writes to hv1, incrementally.
	standbyWrites(t, backup1, name, "migrated-"+set)
	sync := []string{"failback", "--config", h.sender, "--standby", uriBackup1, "--sync-only", "--yes", name}
	h.run(t, sync...)
	first := latestSet(t, g.zvol+"-failback")
	out = h.run(t, sync...)
	if !strings.Contains(out, "(since @"+first+")") {
		t.Errorf("the second sync did not go on from the first's @%s", first)
	}
	for _, ds := range []string{g.zvol, g.images} {
		sameGUIDs(t, ds+"-failback", received(ds)+"-migrated", latestSet(t, ds+"-failback"))
	}
	if st := backup1.State(t, name); st != "running" {
		t.Errorf("the guest is %s on backup1 after failback --sync-only, want running", st)
	}

	// failback moves it home, with what it wrote on backup1.
	s1, s2 := standbyCounters(t, backup1, name)
	out = h.run(t, "failback", "--config", h.sender, "--standby", uriBackup1, "--shutdown-timeout", "10s", "--yes", name)
	hv1.WaitAgent(t, name)
	t.Logf("FIGURE failback after migrate: %s", lineWith(out, "here: down for"))
	if st := backup1.State(t, name); st != "shutoff" {
		t.Errorf("the guest is %s on backup1 after the failback, want shutoff", st)
	}
	cameHome(t, hv1, name, "migrated-"+set, s1, s2)
	for _, ds := range []string{g.zvol, g.images} {
		parent := ds[:strings.LastIndexByte(ds, '/')]
		if list := zfstest.Run(t, "zfs", "list", "-H", "-o", "name", "-d", "1", parent); strings.Contains(list, "-before-failback-") {
			t.Errorf("hv1 held nothing after the migration's set, yet something was kept aside:\n%s", list)
		}
	}
	h.run(t, "backup", "--config", h.sender, "web")
	newest := latestSet(t, g.zvol)
	if newest == set {
		t.Fatalf("the backup after the failback took no snapshot of the guest")
	}
	for _, ds := range []string{g.zvol, g.images} {
		sameGUIDs(t, ds, received(ds), set, latestSet(t, ds))
	}
}

// sameGUIDs checks that each snapshot of here is on there with the same GUID: the chain goes on.
func sameGUIDs(t *testing.T, here, there string, snaps ...string) {
	t.Helper()
	for _, snap := range snaps {
		a := strings.TrimSpace(zfstest.Run(t, "zfs", "get", "-H", "-o", "value", "guid", here+"@"+snap))
		b := strings.TrimSpace(zfstest.Run(t, "zfs", "get", "-H", "-o", "value", "guid", there+"@"+snap))
		if a != b {
			t.Errorf("%s@%s: guid %s, but %s@%s has %s: the chain did not go on", here, snap, a, there, snap, b)
		}
	}
}

// standbyWrites has the guest on the standby write tag to a file on each disk, and start an fsynced counter
// (standby-counter) on each.
func standbyWrites(t *testing.T, rig *guesttest.Rig, name, tag string) {
	t.Helper()
	for _, dir := range []string{"/data", "/data2"} {
		rig.Exec(t, name, `echo `+tag+` >`+dir+`/standby && sync -d `+dir+`/standby`)
	}
	counterWriters(t, rig, name, "standby-counter")
}

// cameHome checks that the guest on hv1 has what the standby wrote: the tag on each disk, and at least the
// standby's counters 1..s1 and 1..s2, complete.
func cameHome(t *testing.T, hv1 *guesttest.Rig, name, tag string, s1, s2 int) {
	t.Helper()
	for _, dir := range []string{"/data", "/data2"} {
		if got := strings.TrimSpace(hv1.Exec(t, name, "cat "+dir+"/standby")); got != tag {
			t.Errorf("hv1's guest: %s/standby = %q, want %q: the standby's write did not come home", dir, got, tag)
		}
	}
	h1, h2 := standbyCounters(t, hv1, name)
	if h1 < s1 || h2 < s2 {
		t.Errorf("hv1's guest has the standby's counters 1..%d and 1..%d, but the standby had written 1..%d and 1..%d "+
			"before the failback began", h1, h2, s1, s2)
	}
	t.Logf("guest home on hv1: the standby's counters 1..%d (≥ %d) and 1..%d (≥ %d), complete", h1, s1, h2, s2)
}

// standbyCounters reads the counters the standby wrote and checks each is the complete records 1..n.
func standbyCounters(t *testing.T, rig *guesttest.Rig, name string) (data, data2 int) {
	t.Helper()
	var n [2]int
	for i, dir := range []string{"/data", "/data2"} {
		c, err := completePrefix(rig.Exec(t, name, "cat "+dir+"/standby-counter"))
		if err != nil {
			t.Fatalf("guest %s: %s/standby-counter: %v", name, dir, err)
		}
		n[i] = c
	}
	return n[0], n[1]
}

// lineWith returns the first line of out that contains s.
func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// onCopies checks that the domain's disks (and direct-boot kernel and initrd) are all on datasets under prefix:
// the copies, never the original's storage.
func onCopies(t *testing.T, domXML, prefix string, disks int) {
	t.Helper()
	for _, p := range domainPaths(t, domXML, disks) {
		ds := strings.TrimPrefix(p, "/dev/zvol/")
		if ds == p { // a file: find its dataset by its mountpoint
			out, err := exec.Command("findmnt", "-n", "-o", "SOURCE", "--target", p).Output()
			if err != nil {
				t.Fatalf("findmnt %s: %v", p, err)
			}
			ds = strings.TrimSpace(string(out))
		}
		if !strings.HasPrefix(ds, prefix) {
			t.Errorf("%s is on %s, not on a copy under %s", p, ds, prefix)
		}
	}
}

// notOriginal checks that none of the domain's disks, kernel or initrd is the original guest's.
func notOriginal(t *testing.T, domXML string, g guestStorage, disks int) {
	t.Helper()
	for _, p := range domainPaths(t, domXML, disks) {
		if p == "/dev/zvol/"+g.zvol || strings.HasPrefix(p, g.mountpoint+"/") {
			t.Errorf("the restored domain still uses the original's %s:\n%s", p, domXML)
		}
	}
}

// domainPaths returns the paths of the domain's disks, checked to be disks many, then its kernel and initrd.
func domainPaths(t *testing.T, domXML string, disks int) []string {
	t.Helper()
	var d libvirtxml.Domain
	if err := d.Unmarshal(domXML); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, disk := range d.Devices.Disks {
		switch {
		case disk.Source != nil && disk.Source.Block != nil:
			paths = append(paths, disk.Source.Block.Dev)
		case disk.Source != nil && disk.Source.File != nil:
			paths = append(paths, disk.Source.File.File)
		}
	}
	if len(paths) != disks {
		t.Fatalf("domain has disks %q, want %d", paths, disks)
	}
	return append(paths, d.OS.Kernel, d.OS.Initrd)
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	sum, err := zfstest.FileSum(path)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// latestSet is the newest hotzfs snapshot's short name on dataset.
func latestSet(t *testing.T, dataset string) string {
	t.Helper()
	out := zfstest.Run(t, "zfs", "list", "-H", "-t", "snapshot", "-s", "createtxg", "-d", "1", "-o", "name", dataset)
	names := strings.Fields(out)
	if len(names) == 0 {
		t.Fatalf("no snapshots of %s", dataset)
	}
	_, short, _ := strings.Cut(names[len(names)-1], "@")
	return short
}

// completePrefix checks that content is the records "1\n2\n…n\n" with nothing torn or missing, and returns n.
func completePrefix(content string) (int, error) {
	if content == "" {
		return 0, fmt.Errorf("empty")
	}
	if !strings.HasSuffix(content, "\n") {
		return 0, fmt.Errorf("the last record is torn (no newline)")
	}
	lines := strings.Split(strings.TrimSuffix(content, "\n"), "\n")
	for i, l := range lines {
		if l != strconv.Itoa(i+1) {
			return 0, fmt.Errorf("record %d is %q, want %d (missing or torn records)", i+1, l, i+1)
		}
	}
	return len(lines), nil
}

func countLines(s string) int { return strings.Count(s, "\n") }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// testLog writes a child process's output to the test log.
type testLog struct {
	t   *testing.T
	tag string
}

func (w testLog) Write(p []byte) (int, error) {
	w.t.Logf("%s: %s", w.tag, bytes.TrimRight(p, "\n"))
	return len(p), nil
}
