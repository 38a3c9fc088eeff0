package main

import (
	"context"
	"fmt"
	"maps"
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
// receiver: what restore --guest and failover start from. No libvirt: between the snapshot and the
// replication of each round the test records on the snapshots what a job with guests records (hotzfs:guest,
// the consistency, the domain XML), and they travel to the receiver as a guest job's do. The first set is
// fs-frozen with a definable XML (disks on the two datasets); the second records consistency "none" and an
// XML whose only disk is a network disk.
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
	xmls := [2]string{webXML(`<disk type='block' device='disk'><source dev='/dev/zvol/` + r.zvol + `'/><target dev='vda'/></disk>` +
		`<disk type='file' device='disk'><source file='` + r.mnt + `/d0/f000'/><target dev='vdb'/></disk>`),
		webXML(`<disk type='network' device='disk'><source protocol='nbd' name='disk0'><host name='h'/></source><target dev='vda'/></disk>`)}
	for i := range 2 {
		zfstest.WriteFile(t, dev, uint64(10+i), 16<<20)
		zfstest.WriteTree(t, r.mnt, uint64(100*(i+1)), 4, 1<<20)
		sum, err := zfstest.FileSum(dev)
		if err != nil {
			t.Fatal(err)
		}
		r.zvolSums[i], r.imageSums[i] = sum, zfstest.TreeSums(t, r.mnt)
		if out, err := r.run("snapshot"); err != nil {
			t.Fatalf("snapshot %d: %v\n%s", i+1, err, out)
		}
		snaps := snapshotsOf(t, ctx, r.z, r.zvol)
		r.sets[i] = snaps[len(snaps)-1].Short()
		props := meta.EncodeDomainXML(xmls[i])
		props[meta.PropGuest] = "web1"
		if i == 0 {
			props[meta.PropConsistency] = string(meta.FSFrozen)
		}
		for _, ds := range []string{r.zvol, r.images} {
			if err := r.z.SetProps(ctx, ds+"@"+r.sets[i], props); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := r.run("replicate"); err != nil {
			t.Fatalf("replicate %d: %v\n%s", i+1, err, out)
		}
	}
	return r
}

func webXML(disks string) string {
	return `<domain type='kvm'><name>web1</name><memory unit='KiB'>262144</memory><vcpu>1</vcpu>` +
		`<os><type arch='x86_64'>hvm</type></os><devices>` + disks + `</devices></domain>`
}

// received is the name of a snapshot of the set on the receiver.
func (r *guestRig) received(ds string, set int) string {
	return r.dst + "/backup/hv1/offsite/" + ds + "@" + r.sets[set]
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
// newest fs-frozen one (older than the newest set), with --snapshot and --into-prefix another; the data
// restored is that set's. Snapshots listed without their guest are found by GUID on this host. --define
// refuses before receiving anything when the guest cannot be defined, and otherwise moves every disk onto the
// restored datasets.
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
	if strings.Contains(out, "listed without their guest") || r.exists(t, dest[0]) || r.exists(t, dest[1]) {
		t.Fatalf("the plan guessed the guests or restored something without --yes:\n%s", out)
	}

	if out, err = r.run("restore", "--guest", "web1", "--yes"); err != nil {
		t.Fatalf("restore --guest --yes: %v\n%s", err, out)
	}
	r.restored(t, dest[0], dest[1], 0)
	if out, err = r.run("restore", "--guest", "web1", "--yes"); err != nil || strings.Count(out, "already restored") != 2 {
		t.Errorf("restore again: %v, want both already restored\n%s", err, out)
	}

	// As if received before the receiver recorded guests: this host's snapshots (by GUID) tell them.
	for _, ds := range []string{r.zvol, r.images} {
		for set := range 2 {
			zfstest.Run(t, "zfs", "inherit", meta.PropGuest, r.received(ds, set))
		}
	}
	prefix := r.src + "/r"
	out, err = r.run("restore", "--guest", "web1", "--snapshot", set2, "--into-prefix", prefix, "--yes")
	if err != nil || !strings.Contains(out, "snapshot set @"+set2+", consistency \"none\": take it as crash-consistent") ||
		!strings.Contains(out, "listed without their guest") {
		t.Fatalf("restore --snapshot %s --into-prefix of snapshots listed without guests: %v\n%s", set2, err, out)
	}
	r.restored(t, prefix+"/"+r.zvol, prefix+"/"+r.images, 1)

	// Set 2's guest has only a network disk: refused before anything is received.
	prefix2 := r.src + "/r2"
	out, err = r.run("restore", "--guest", "web1", "--snapshot", set2, "--define", "--into-prefix", prefix2, "--yes")
	if err == nil || !strings.Contains(out, "vda (network disk nbd:disk0)") || !strings.Contains(out, "nothing restored") {
		t.Errorf("--define of a guest on a network disk: %v, want a refusal naming vda\n%s", err, out)
	}
	if r.exists(t, prefix2) {
		t.Errorf("the refused restore --define created %s", prefix2)
	}

	// Set 1's guest: every disk moved onto the restored datasets and checked there; only libvirt (not
	// reachable in this test) is missing.
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
// cloned, the disks mapped onto the clones through the source and mountpoint the receiver recorded, and
// checked there; the received datasets keep their snapshots.
func TestRealFailoverTwoDatasetsUnderTargetRoot(t *testing.T) {
	r := newGuestRig(t)
	for _, ds := range []string{r.zvol, r.images} {
		want := map[string]string{meta.PropGuest: "web1", meta.PropSource: ds}
		if ds == r.images {
			want[meta.PropMountpoint] = r.mnt
		}
		got, err := r.z.GetProps(r.ctx, r.received(ds, 0), meta.PropGuest, meta.PropSource, meta.PropMountpoint)
		if err != nil || !maps.Equal(got, want) {
			t.Fatalf("%s records %v (%v), want %v", r.received(ds, 0), got, err, want)
		}
	}
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
