package recovery

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/hotzfs/hotzfs/meta"
)

// web1 has a zvol and a qcow2 image on a filesystem mounted at /srv/images (not its default /tank/images).
const web1XML = `<domain type='kvm'><name>web1</name><memory unit='KiB'>1048576</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os>
<devices>
  <disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/zvol/tank/vm/web1-disk0'/><target dev='vda' bus='virtio'/></disk>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/srv/images/web1/data.qcow2'/><target dev='vdb' bus='virtio'/></disk>
</devices></domain>`

const (
	root   = "pool/backup/hv1" // the client's root on the receiver
	prefix = root + "/offsite" // ... and the job's target_root
	zvol   = prefix + "/tank/vm/web1-disk0"
	images = prefix + "/tank/images"
)

// snaps makes snapshots of guest g named @hz_1, @hz_2, … with the given consistency levels, oldest first;
// source and mountpoint are recorded when not "".
func snaps(g, source, mountpoint string, levels ...meta.Consistency) []Snapshot {
	var out []Snapshot
	for i, c := range levels {
		out = append(out, Snapshot{Name: fmt.Sprintf("hz_%d", i+1), GUID: uint64(1000*len(source) + i + 1),
			CreateTXG: uint64(10 * (i + 1)), Consistency: string(c), Guests: []string{g}, Source: source,
			Mountpoint: mountpoint})
	}
	return out
}

func web1Datasets(levels ...meta.Consistency) []Dataset {
	return []Dataset{
		{Name: zvol, Type: Volume, Snapshots: snaps("web1", "tank/vm/web1-disk0", "", levels...)},
		{Name: images, Type: Filesystem, Snapshots: snaps("web1", "tank/images", "/srv/images", levels...)},
		{Name: prefix + "/tank/vm/db1-disk0", Type: Volume, Snapshots: snaps("db1", "tank/vm/db1-disk0", "", levels...)},
	}
}

// onCopies fails the test unless every disk of the built domain is on a destination of the plan: a zvol
// device of one, or an image below one's mountpoint.
func onCopies(t *testing.T, p Plan, d Domain, mounted map[string]string) {
	t.Helper()
	for _, disk := range d.Disks {
		ok := false
		for _, dst := range p.Disks {
			mnt := mountedAt(dst.Dest, mounted)
			ok = ok || (disk.Root == "" && disk.Path == "/dev/zvol/"+dst.Dest) ||
				(disk.Root == mnt && strings.HasPrefix(disk.Path, mnt+"/"))
		}
		if !ok {
			t.Errorf("disk %s at %s (root %q) is on none of the plan's copies", disk.Target, disk.Path, disk.Root)
		}
	}
}

func diskPaths(d Domain) map[string]string {
	out := map[string]string{}
	for _, disk := range d.Disks {
		out[disk.Target] = disk.Path
	}
	return out
}

func TestFailoverSeveralDatasetsUnderTargetRoot(t *testing.T) {
	p, err := Choose(web1Datasets(meta.FSFrozen, meta.FSFrozen), Request{Guest: "web1", Suffix: "-failover"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Set != "hz_2" || p.Consistency != meta.FSFrozen || len(p.Disks) != 2 {
		t.Fatalf("plan: set %s %s, %d disks; want the newest set hz_2, fs-frozen, web1's two datasets", p.Set, p.Consistency, len(p.Disks))
	}
	if p.Disks[0].Dest != images+"-failover" || p.Disks[1].Dest != zvol+"-failover" {
		t.Errorf("clones %s, %s; want each received dataset + -failover", p.Disks[0].Dest, p.Disks[1].Dest)
	}
	mounted := map[string]string{images + "-failover": "/pool/backup/hv1/offsite/tank/images-failover"}
	d, err := p.Domain(web1XML, DomainOptions{Name: "web1", Mounted: mounted})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"vda": "/dev/zvol/" + zvol + "-failover",
		"vdb": "/pool/backup/hv1/offsite/tank/images-failover/web1/data.qcow2"}
	if got := diskPaths(d); !maps.Equal(got, want) {
		t.Errorf("disks %v, want %v", got, want)
	}
	if len(d.Notes) != 0 {
		t.Errorf("notes %q: every source and mountpoint is recorded, nothing to guess", d.Notes)
	}
	lines := strings.Join(p.Lines(&d), "\n")
	for _, s := range []string{"snapshot set @hz_2, fs-frozen", "clone " + zvol + "@hz_2 (guid", "→ " + zvol + "-failover (volume)",
		"stay as they are", "disk vdb: qcow2 /pool/backup/hv1/offsite/tank/images-failover/web1/data.qcow2", "no network interface"} {
		if !strings.Contains(lines, s) {
			t.Errorf("plan does not say %q:\n%s", s, lines)
		}
	}
}

func TestIncompleteSetsAreSkipped(t *testing.T) {
	ds := web1Datasets(meta.FSFrozen, meta.FSFrozen, meta.FSFrozen)
	ds[1].Snapshots = ds[1].Snapshots[:1] // the images dataset has only @hz_1: hz_2 and hz_3 arrived on the zvol only
	p, err := Choose(ds, Request{Guest: "web1", Suffix: "-failover"})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(p.Notes, "\n")
	if p.Set != "hz_1" || !strings.Contains(notes, "@hz_3: not complete, "+images+" has no @hz_3") ||
		!strings.Contains(notes, "@hz_2: not complete") {
		t.Errorf("set %s, notes:\n%s\nwant hz_1, the newer incomplete sets named", p.Set, notes)
	}
	if _, err := Choose(ds, Request{Guest: "web1", Suffix: "-failover", Snapshot: "hz_3"}); err == nil ||
		!strings.Contains(err.Error(), "not complete: "+images+" has no @hz_3") {
		t.Errorf("explicit incomplete set: %v, want a refusal naming the dataset without it", err)
	}
	if _, err := Choose(ds, Request{Guest: "web1", Suffix: "-failover", Snapshot: "hz_9"}); err == nil ||
		!strings.Contains(err.Error(), "no snapshot set @hz_9 (newest first: @hz_3 @hz_2 @hz_1)") {
		t.Errorf("unknown set: %v", err)
	}
	if _, err := Choose(ds, Request{Guest: "nobody", Suffix: "-failover"}); err == nil || !strings.Contains(err.Error(), `no dataset carries guest "nobody"`) {
		t.Errorf("unknown guest: %v", err)
	}
}

func TestConsistencyChoice(t *testing.T) {
	ds := web1Datasets(meta.FSFrozen, meta.Offline, meta.Crash)
	ds[0].Snapshots[2].Consistency = string(meta.FSFrozen) // one disk says frozen: the set is as weak as its weakest
	req := Request{Guest: "web1", Suffix: "-failover"}
	p, err := Choose(ds, req)
	if err != nil {
		t.Fatal(err)
	}
	if p.Set != "hz_2" || p.Consistency != meta.Offline || !strings.Contains(strings.Join(p.Notes, "\n"),
		"@hz_3: crash (--allow-crash or --snapshot hz_3 takes it)") {
		t.Errorf("default: set %s %s, notes %q; want the newest consistent set hz_2 (offline), hz_3 passed over", p.Set, p.Consistency, p.Notes)
	}
	req.AllowCrash = true
	if p, err = Choose(ds, req); err != nil || p.Set != "hz_3" || p.Consistency != meta.Crash {
		t.Errorf("--allow-crash: set %s %s (%v), want hz_3 crash", p.Set, p.Consistency, err)
	}
	if !strings.Contains(p.Lines(nil)[0], "crash-consistent: as after a power cut") {
		t.Errorf("the plan does not say what a crash-consistent set gives: %q", p.Lines(nil)[0])
	}
	req = Request{Guest: "web1", Suffix: "-failover", Snapshot: "@hz_3"}
	if p, err = Choose(ds, req); err != nil || p.Set != "hz_3" || p.Consistency != meta.Crash {
		t.Errorf("explicit crash set: %s %s (%v)", p.Set, p.Consistency, err)
	}
	crash := web1Datasets(meta.Crash, "")
	_, err = Choose(crash, Request{Guest: "web1", Suffix: "-failover"})
	if err == nil || !strings.Contains(err.Error(), "no fs-frozen or offline snapshot set") ||
		!strings.Contains(err.Error(), "@hz_2: consistency not recorded (--allow-crash") {
		t.Errorf("only crash sets: %v, want a refusal that says --allow-crash", err)
	}
}

func TestRestoreDestinations(t *testing.T) {
	ds := web1Datasets(meta.FSFrozen)
	other := Dataset{Name: root + "/elsewhere/tank/vm/web1-disk9", Type: Volume, Snapshots: snaps("web1", "tank/vm/web1-disk9", "", meta.FSFrozen)}
	ds = append(ds, other)
	for i := range ds {
		ds[i].Name = strings.TrimPrefix(ds[i].Name, root+"/") // a restore sees names relative to the client's root
		ds[i].Type = Unknown                                  // and the listing does not say the kind
	}
	req := Request{Guest: "web1", Kind: Restore, TargetRoot: "offsite"}
	p, err := Choose(ds, req)
	if err != nil {
		t.Fatal(err)
	}
	var dests []string
	for _, d := range p.Disks {
		dests = append(dests, d.Dest)
	}
	if want := []string{"tank/images-restore-hz_1", "tank/vm/web1-disk0-restore-hz_1"}; !slices.Equal(dests, want) {
		t.Errorf("restore next to the sources: %v, want %v (a dataset outside the job's target_root is not the job's)", dests, want)
	}
	req.IntoPrefix = "rpool/restored/"
	if p, err = Choose(ds, req); err != nil {
		t.Fatal(err)
	}
	if p.Disks[0].Dest != "rpool/restored/tank/images" || p.Disks[1].Dest != "rpool/restored/tank/vm/web1-disk0" {
		t.Errorf("--into-prefix: %s, %s", p.Disks[0].Dest, p.Disks[1].Dest)
	}
	d, err := p.Domain(web1XML, DomainOptions{Name: "web1-restored"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"vda": "/dev/zvol/rpool/restored/tank/vm/web1-disk0", "vdb": "/rpool/restored/tank/images/web1/data.qcow2"}
	if got := diskPaths(d); !maps.Equal(got, want) {
		t.Errorf("disks %v, want %v (the kind unknown: zvol path and mountpoint both mapped)", got, want)
	}
	if !strings.Contains(strings.Join(d.Notes, "\n"), "known once it exists") {
		t.Errorf("the plan does not say the mountpoint shown stands in: %q", d.Notes)
	}
}

// Snapshots received before hotzfs recorded hotzfs:source and hotzfs:mountpoint: a failover matches the XML's
// paths against the received names (which carry the client root and target_root), a restore derives the
// source from the job's target_root; the plan says so.
func TestOldSnapshotsWithoutSourceOrMountpoint(t *testing.T) {
	xml := strings.Replace(web1XML, "/srv/images/web1", "/tank/images/web1", 1) // the default mountpoint
	ds := web1Datasets(meta.FSFrozen)
	for i := range ds {
		for j := range ds[i].Snapshots {
			ds[i].Snapshots[j].Source, ds[i].Snapshots[j].Mountpoint = "", ""
		}
	}
	// Another of the client's volumes ends in the same last component: a shorter match loses.
	ds = append(ds, Dataset{Name: root + "/old/web1-disk0", Type: Volume, Snapshots: snaps("web1", "", "", meta.FSFrozen)})
	p, err := Choose(ds, Request{Guest: "web1", Suffix: "-failover"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Domain(xml, DomainOptions{Name: "web1", Mounted: map[string]string{images + "-failover": "/mnt/c"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"vda": "/dev/zvol/" + zvol + "-failover", "vdb": "/mnt/c/web1/data.qcow2"}
	if got := diskPaths(d); !maps.Equal(got, want) {
		t.Errorf("disks %v, want %v", got, want)
	}
	notes := strings.Join(d.Notes, "\n")
	for _, s := range []string{zvol + "@hz_1 records no source (received before hotzfs recorded it)",
		"the XML's /dev/zvol/tank/vm/web1-disk0 taken as its zvol", "the XML's images under /tank/images taken as its files",
		root + "/old/web1-disk0: no disk path of the XML matches its name"} {
		if !strings.Contains(notes, s) {
			t.Errorf("notes do not say %q:\n%s", s, notes)
		}
	}

	// Two volumes match the XML's zvol equally well: neither is taken.
	ds[3].Name = root + "/other/tank/vm/web1-disk0"
	ds[0].Name = root + "/offsite/tank/vm/web1-disk0"
	p, _ = Choose(ds, Request{Guest: "web1", Suffix: "-failover"})
	if d, err = p.Domain(xml, DomainOptions{Name: "web1"}); err != nil {
		t.Fatal(err)
	}
	if got := diskPaths(d); got["vda"] != "" {
		t.Errorf("an ambiguous zvol was mapped to %s", got["vda"])
	}

	// A restore knows the job's target_root: SOURCE is the name without it.
	for i := range ds {
		ds[i].Name, ds[i].Type = strings.TrimPrefix(ds[i].Name, root+"/"), Unknown
	}
	p, err = Choose(ds, Request{Guest: "web1", Kind: Restore, TargetRoot: "offsite"})
	if err != nil {
		t.Fatal(err)
	}
	if d, err = p.Domain(xml, DomainOptions{Name: "web1-restored"}); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"vda": "/dev/zvol/tank/vm/web1-disk0-restore-hz_1", "vdb": "/tank/images-restore-hz_1/web1/data.qcow2"}
	if got := diskPaths(d); !maps.Equal(got, want) {
		t.Errorf("restore: disks %v, want %v", got, want)
	}
	if !strings.Contains(strings.Join(d.Notes, "\n"), "offsite/tank/vm/web1-disk0@hz_1 records no source; taken as tank/vm/web1-disk0 (its name without the job's target_root)") {
		t.Errorf("restore notes: %q", d.Notes)
	}
}

// What a client records on its snapshots (hotzfs:source, hotzfs:mountpoint) only ever maps its guest's disks
// onto its own copies: never a disk onto anything else, never a destination elsewhere.
func TestHostileRecordedValues(t *testing.T) {
	xml := `<domain type='kvm'><name>web1</name><memory>1</memory><os><type>hvm</type></os><devices>
  <disk type='block' device='disk'><source dev='/dev/sda'/><target dev='vda'/></disk>
  <disk type='file' device='disk'><source file='/etc/shadow'/><target dev='vdb'/></disk>
  <disk type='block' device='disk'><source dev='/dev/zvol/tank/vm/web1-disk0'/><target dev='vdc'/></disk>
  <disk type='file' device='disk'><source file='/srv/images/../../etc/passwd'/><target dev='vdd'/></disk>
  <disk type='file' device='disk'><source file='/srv/images/web1/data.qcow2'/><target dev='vde'/></disk>
</devices></domain>`
	mounted := map[string]string{}
	for _, c := range []struct{ source, mountpoint string }{
		{"../../dev/sda", "/"}, {"sda", "/dev"}, {"tank/vm/web1-disk0@x", "/etc"}, {"-rf", "/srv/../etc"},
		{"/dev/zvol/tank/vm/web1-disk0", "relative/path"}, {strings.Repeat("a/", 200), "/" + strings.Repeat("x", 5000)},
		{"tank/vm/web1-disk0", "/srv/images"}, {"tank/images", "none"}, {"tank/vm/web1-disk0\x1b[2J", "/srv/images\n"},
	} {
		ds := []Dataset{{Name: zvol, Type: Volume, Snapshots: snaps("web1", c.source, c.mountpoint, meta.FSFrozen)},
			{Name: images, Type: Filesystem, Snapshots: snaps("web1", c.source, c.mountpoint, meta.FSFrozen)}}
		ds[1].Snapshots[0].Source = "tank/images" // one valid claim, so that BuildDomain has a disk to keep
		for _, kind := range []Kind{Failover, Restore} {
			req := Request{Guest: "web1", Suffix: "-failover", Kind: kind}
			if kind == Restore {
				ds[0].Name, ds[1].Name = "offsite/tank/vm/web1-disk0", "offsite/tank/images"
				req.TargetRoot = "offsite"
			}
			p, err := Choose(ds, req)
			if err != nil {
				t.Fatalf("%+v: %v", c, err)
			}
			for _, d := range p.Disks {
				if kind == Failover && d.Dest != d.Dataset+"-failover" ||
					kind == Restore && d.Dest != strings.TrimPrefix(d.Dataset, "offsite/")+"-restore-hz_1" {
					t.Errorf("%+v: %s lands at %s: a destination must follow from the dataset's own name", c, d.Dataset, d.Dest)
				}
				mounted[d.Dest] = "/mnt/" + d.Dest
			}
			d, err := p.Domain(xml, DomainOptions{Name: "web1", Mounted: mounted})
			if err != nil {
				if strings.Contains(err.Error(), "both stand for") || strings.Contains(err.Error(), "no disk of guest") {
					continue // refused: nothing defined
				}
				t.Fatalf("%+v: %v", c, err)
			}
			onCopies(t, p, d, mounted)
			for _, n := range d.Notes {
				if strings.ContainsAny(n, "\x1b\n") || len(n) > 400 {
					t.Errorf("%+v: a note prints a control character or all of a long recorded value: %q", c, n)
				}
			}
		}
	}
}

// Two datasets recording the same source (or mountpoint) cannot both hold the disk: refused, not guessed.
func TestTwoDatasetsClaimOnePath(t *testing.T) {
	ds := web1Datasets(meta.FSFrozen)
	ds = append(ds, Dataset{Name: prefix + "/evil", Type: Volume, Snapshots: snaps("web1", "tank/vm/web1-disk0", "", meta.FSFrozen)})
	p, err := Choose(ds, Request{Guest: "web1", Suffix: "-failover"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Domain(web1XML, DomainOptions{Name: "web1"}); err == nil || !strings.Contains(err.Error(),
		`both stand for "/dev/zvol/tank/vm/web1-disk0"`) {
		t.Errorf("two datasets with one source: %v, want a refusal", err)
	}
}

// A resumed receive records nothing with the snapshot: it still counts for the set (unless it names other
// guests only), the set's consistency is what the others record, and its source is its dataset's.
func TestSnapshotReceivedByResume(t *testing.T) {
	ds := web1Datasets(meta.FSFrozen, meta.FSFrozen)
	ds[0].Snapshots[1] = Snapshot{Name: "hz_2", GUID: 77, CreateTXG: 20} // the zvol's @hz_2 arrived by resume
	p, err := Choose(ds, Request{Guest: "web1", Suffix: "-failover"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Set != "hz_2" || p.Consistency != meta.FSFrozen {
		t.Fatalf("set %s %s, want hz_2 fs-frozen (as the images dataset records it)", p.Set, p.Consistency)
	}
	if !slices.Contains(p.Notes, zvol+"@hz_2 records no source: taken from @hz_1, which does") {
		t.Errorf("notes %q", p.Notes)
	}
	d, err := p.Domain(web1XML, DomainOptions{Name: "web1"})
	if err != nil || diskPaths(d)["vda"] != "/dev/zvol/"+zvol+"-failover" {
		t.Errorf("disks %v (%v): the zvol is mapped by its dataset's recorded source", diskPaths(d), err)
	}

	ds[0].Snapshots[1].Guests = []string{"db1"} // at hz_2 the zvol was another guest's disk
	if p, err = Choose(ds, Request{Guest: "web1", Suffix: "-failover"}); err != nil || p.Set != "hz_1" {
		t.Errorf("set %s (%v), want hz_1: hz_2 is not complete for web1", p.Set, err)
	}
}
