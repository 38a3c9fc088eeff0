package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/internal/loopback"
	"github.com/hotzfs/hotzfs/internal/zfstest"
	"github.com/hotzfs/hotzfs/meta"
	"github.com/hotzfs/hotzfs/receiver"
	"github.com/hotzfs/hotzfs/zfs"
)

// guestRig is a guest's two datasets on a source pool, a zvol and a filesystem holding its image at a
// mountpoint of its own, backed up twice (different data each time) by a job with a target_root to a
// receiver: what restore --guest and failover start from. No libvirt: the guest's snapshots are marked as a
// guest job marks them (hotzfs:guest), and its domain XML is stored on the received snapshots.
type guestRig struct {
	ctx                context.Context
	z                  *zfs.Runner
	src, dst           string
	zvol, images       string // the guest's datasets
	mnt                string // the images filesystem's mountpoint, not its default /SRC/images
	sets               [2]string
	zvolSums           [2]string
	imageSums          [2]map[string]string
	config, recvConfig string // sender and receiver config files
	received           func(ds string, set int) string
}

func newGuestRig(t *testing.T) *guestRig {
	zfstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	r := &guestRig{ctx: ctx, z: zfs.NewRunner(loopback.Logger()), src: zfstest.Pool(t, 512), dst: zfstest.Pool(t, 512)}
	// The mountpoint lies in the pool's own filesystem, so it goes with the pool.
	r.zvol, r.images, r.mnt = r.src+"/vm/web1-disk0", r.src+"/images", "/"+r.src+"/srv/images"
	if err := r.z.CreateVolume(ctx, r.zvol, 16<<20, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.z.CreateFilesystem(ctx, r.images, map[string]string{"mountpoint": r.mnt}); err != nil {
		t.Fatal(err)
	}
	dev := "/dev/zvol/" + r.zvol
	zfstest.WaitDevice(t, dev)
	recv, files := startReceiver(t, ctx, r.z, r.dst, receiver.Client{})
	r.config = filepath.Join(t.TempDir(), "hotzfs.yaml")
	writeTestFile(t, r.config, fmt.Sprintf(`state_dir: %s
libvirt: {uri: "qemu+unix:///system?socket=/nonexistent/libvirt-sock"}
targets:
  t: {address: "%s", ca: %s, cert: %s, key: %s, server_name: localhost}
jobs:
  - name: j
    datasets: [%s, %s]
    target: t
    target_root: offsite
    compression: none
`, t.TempDir(), recv.Addr, files.CA, files.Cert, files.Key, r.zvol, r.images))
	r.recvConfig = filepath.Join(t.TempDir(), "receiver.yaml")
	writeTestFile(t, r.recvConfig, fmt.Sprintf("root: %s/backup\nclients:\n  hv1: {}\n", r.dst))
	r.received = func(ds string, set int) string {
		return r.dst + "/backup/hv1/offsite/" + ds + "@" + r.sets[set]
	}
	for i := range 2 {
		zfstest.WriteFile(t, dev, uint64(10+i), 16<<20)
		zfstest.WriteTree(t, r.mnt, uint64(100*(i+1)), 4, 1<<20)
		sum, err := zfstest.FileSum(dev)
		if err != nil {
			t.Fatal(err)
		}
		r.zvolSums[i] = sum
		r.imageSums[i] = zfstest.TreeSums(t, r.mnt)
		if out, err := r.run("backup"); err != nil {
			t.Fatalf("backup %d: %v\n%s", i+1, err, out)
		}
	}
	for i, s := range snapshotsOf(t, ctx, r.z, r.zvol) {
		r.sets[i] = s.Short()
	}
	// As a job with guests records it on its snapshots; the receiver lists these without the guest (they
	// were not sent by a guest job), so restore --guest finds the guest in them by GUID.
	for _, ds := range []string{r.zvol, r.images} {
		for _, s := range snapshotsOf(t, ctx, r.z, ds) {
			zfstest.Run(t, "zfs", "set", meta.PropGuest+"=web1", s.Name)
		}
	}
	// The first set was taken with the guest frozen; the second one records "none" (a plain job).
	for _, ds := range []string{r.zvol, r.images} {
		zfstest.Run(t, "zfs", "set", meta.PropConsistency+"=fs-frozen", r.received(ds, 0))
	}
	return r
}

func (r *guestRig) run(args ...string) (string, error) {
	cmd := exec.Command(os.Args[0], append(args, "--log-format", "text")...)
	if args[0] != "failover" {
		cmd.Args = append(cmd.Args, "--config", r.config)
	}
	cmd.Env = append(os.Environ(), envExecMain+"=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// storeXML stores a domain XML of web1 on both received snapshots of a set, as the receiver does.
func (r *guestRig) storeXML(t *testing.T, set int, disks string) {
	t.Helper()
	xml := `<domain type='kvm'><name>web1</name><memory unit='KiB'>262144</memory><vcpu>1</vcpu>` +
		`<os><type arch='x86_64'>hvm</type></os><devices>` + disks + `</devices></domain>`
	for _, ds := range []string{r.zvol, r.images} {
		if err := r.z.SetProps(r.ctx, r.received(ds, set), meta.EncodeDomainXML(xml)); err != nil {
			t.Fatal(err)
		}
	}
}

func (r *guestRig) exists(t *testing.T, ds string) bool {
	t.Helper()
	ok, err := r.z.Exists(r.ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// restored checks that a restored or cloned pair holds set's data.
func (r *guestRig) restored(t *testing.T, zvol, images string, set int) {
	t.Helper()
	zfstest.WaitDevice(t, "/dev/zvol/"+zvol)
	if sum, err := zfstest.FileSum("/dev/zvol/" + zvol); err != nil || sum != r.zvolSums[set] {
		t.Errorf("%s: sha256 %s (%v), want set %d's %s", zvol, sum, err, set+1, r.zvolSums[set])
	}
	zfstest.EqualSums(t, r.imageSums[set], zfstest.TreeSums(t, zfstest.Mountpoint(t, images)))
}

// TestRealRestoreGuestTwoDatasets restores a guest's zvol and filesystem from one snapshot set: by default the
// newest fs-frozen one (an older set than the newest), with --snapshot and --into-prefix another; the data
// restored is that set's. --define refuses before receiving anything when the guest cannot be defined.
func TestRealRestoreGuestTwoDatasets(t *testing.T) {
	r := newGuestRig(t)
	set1, set2 := r.sets[0], r.sets[1]
	dest := [2]string{r.zvol + "-restore-" + set1, r.images + "-restore-" + set1}

	out, err := r.run("restore", "--guest", "web1")
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, out)
	}
	for _, s := range []string{"guest web1: snapshot set @" + set1 + ", fs-frozen", "@" + set2 + ": consistency \"none\"",
		"restore offsite/" + r.zvol + "@" + set1, "→ " + dest[0], "→ " + dest[1], "nothing done: add --yes"} {
		if !strings.Contains(out, s) {
			t.Errorf("plan does not say %q:\n%s", s, out)
		}
	}
	if r.exists(t, dest[0]) || r.exists(t, dest[1]) {
		t.Fatal("the plan without --yes restored something")
	}

	if out, err = r.run("restore", "--guest", "web1", "--yes"); err != nil {
		t.Fatalf("restore --guest --yes: %v\n%s", err, out)
	}
	r.restored(t, dest[0], dest[1], 0)
	if out, err = r.run("restore", "--guest", "web1", "--yes"); err != nil || strings.Count(out, "already restored") != 2 {
		t.Errorf("restore again: %v, want both already restored\n%s", err, out)
	}

	prefix := r.src + "/r"
	out, err = r.run("restore", "--guest", "web1", "--snapshot", set2, "--into-prefix", prefix, "--yes")
	if err != nil || !strings.Contains(out, "snapshot set @"+set2+", consistency \"none\": take it as crash-consistent") {
		t.Fatalf("restore --snapshot %s --into-prefix: %v\n%s", set2, err, out)
	}
	r.restored(t, prefix+"/"+r.zvol, prefix+"/"+r.images, 1)

	// A guest whose disk cannot be put on the restored datasets: refused before anything is received.
	r.storeXML(t, 0, `<disk type='network' device='disk'><source protocol='nbd' name='disk0'><host name='h'/></source><target dev='vda'/></disk>`)
	prefix2 := r.src + "/r2"
	out, err = r.run("restore", "--guest", "web1", "--define", "--into-prefix", prefix2, "--yes")
	if err == nil || !strings.Contains(out, "vda (network disk nbd:disk0)") || !strings.Contains(out, "nothing restored") {
		t.Errorf("--define of a guest on a network disk: %v, want a refusal naming vda\n%s", err, out)
	}
	if r.exists(t, prefix2) {
		t.Errorf("the refused restore --define created %s", prefix2)
	}

	// A guest that can be defined: every disk moved onto the restored datasets and checked there; only
	// libvirt (not reachable in this test) is missing.
	r.storeXML(t, 0, `<disk type='block' device='disk'><source dev='/dev/zvol/`+r.zvol+`'/><target dev='vda'/></disk>`+
		`<disk type='file' device='disk'><source file='`+r.mnt+`/d0/f000'/><target dev='vdb'/></disk>`)
	prefix3 := r.src + "/r3"
	out, err = r.run("restore", "--guest", "web1", "--define", "--into-prefix", prefix3, "--yes")
	for _, s := range []string{"define guest web1-restored:", "disk vda: raw /dev/zvol/" + prefix3 + "/" + r.zvol,
		"disk vdb: raw /" + prefix3 + "/" + r.images + "/d0/f000", "connect to libvirt at qemu+unix"} {
		if !strings.Contains(out, s) {
			t.Errorf("restore --define does not say %q (%v):\n%s", s, err, out)
		}
	}
	if strings.Contains(out, "the guest is not defined") {
		t.Errorf("the disks did not pass the check on the restored datasets:\n%s", out)
	}
	r.restored(t, prefix3+"/"+r.zvol, prefix3+"/"+r.images, 0)
}

// TestRealFailoverTwoDatasetsUnderTargetRoot fails a guest over on the receiver host from datasets received
// under a target_root, its image on a filesystem with a mountpoint of its own: the set's snapshots are
// cloned, the disks mapped onto the clones through hotzfs:source and hotzfs:mountpoint and checked there;
// the received datasets keep their snapshots.
func TestRealFailoverTwoDatasetsUnderTargetRoot(t *testing.T) {
	r := newGuestRig(t)
	for set := range 2 {
		for _, ds := range []string{r.zvol, r.images} {
			props := map[string]string{meta.PropGuest: "web1", meta.PropSource: ds}
			if ds == r.images {
				props[meta.PropMountpoint] = r.mnt
			}
			if err := r.z.SetProps(r.ctx, r.received(ds, set), props); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.storeXML(t, 0, `<disk type='block' device='disk'><source dev='/dev/zvol/`+r.zvol+`'/><target dev='vda'/></disk>`+
		`<disk type='file' device='disk'><source file='`+r.mnt+`/d1/f001'/><target dev='vdb'/></disk>`)
	base := r.dst + "/backup/hv1/offsite/"
	clones := [2]string{base + r.zvol + "-failover", base + r.images + "-failover"}
	args := []string{"failover", "web1", "--client", "hv1", "--config", r.recvConfig, "--libvirt", "qemu+unix:///system?socket=/nonexistent/libvirt-sock"}
	out, err := r.run(args...)
	if err != nil || !strings.Contains(out, "snapshot set @"+r.sets[0]+", fs-frozen") || !strings.Contains(out, "→ "+clones[0]+" (volume)") ||
		!strings.Contains(out, "disk vda: raw /dev/zvol/"+clones[0]) {
		t.Fatalf("failover plan: %v\n%s", err, out)
	}
	before := len(snapshotsOf(t, r.ctx, r.z, base+r.zvol))
	out, err = r.run(append(args, "--yes")...)
	if err == nil || !strings.Contains(out, "cloned "+base+r.zvol+"@"+r.sets[0]+" to "+clones[0]) ||
		!strings.Contains(out, "connect to libvirt at qemu+unix") || strings.Contains(out, "refusing to define") {
		t.Fatalf("failover --yes: %v, want both clones made and checked, then libvirt unreachable\n%s", err, out)
	}
	r.restored(t, clones[0], clones[1], 0)
	if after := len(snapshotsOf(t, r.ctx, r.z, base+r.zvol)); after != before {
		t.Errorf("the received zvol has %d snapshots after the failover, %d before", after, before)
	}
}
