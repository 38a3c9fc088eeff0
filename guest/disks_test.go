package guest

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
)

// listing is a `zfs list` as MapDisks gets it: pools with nested datasets, zvols and unmounted filesystems.
var listing = []Dataset{
	{Name: "tank", Type: TypeFilesystem, Mountpoint: "/tank"},
	{Name: "tank/vm", Type: TypeFilesystem, Mountpoint: "/tank/vm"},
	{Name: "tank/vm/web1", Type: TypeFilesystem, Mountpoint: "/tank/vm/web1"},
	{Name: "tank/vm/web10", Type: TypeFilesystem, Mountpoint: "/srv/web10"}, // mountpoint moved elsewhere
	{Name: "tank/legacy", Type: TypeFilesystem, Mountpoint: "legacy"},
	{Name: "tank/off", Type: TypeFilesystem, Mountpoint: "none"},
	{Name: "tank/zvols/db1", Type: TypeVolume, Mountpoint: "-"},
	{Name: "tank/zvols/db2", Type: TypeVolume, Mountpoint: "-"},
	{Name: "fast/db1-log", Type: TypeVolume, Mountpoint: "-"},
}

// links is the host's symlink view: the /dev/zvol tree and a few by-id links.
var links = map[string]string{
	"/dev/zvol/tank/zvols/db1":       "/dev/zd0",
	"/dev/zvol/tank/zvols/db2":       "/dev/zd16",
	"/dev/zvol/fast/db1-log":         "/dev/zd32",
	"/dev/zvol/fast/db1-log-part1":   "/dev/zd32p1",
	"/dev/disk/by-id/zvol-db2":       "/dev/zd16",
	"/dev/disk/by-id/zvol-db2-part2": "/dev/zd16p2",
	"/dev/disk/by-id/ata-SSD":        "/dev/sda",
	"/var/lib/libvirt/images/web1":   "/tank/vm/web1/disk0.qcow2", // symlinked image
}

func resolve(p string) (string, error) {
	if r, ok := links[p]; ok {
		return r, nil
	}
	if strings.HasPrefix(p, "/dev/zvol/") || strings.HasPrefix(p, "/dev/disk/") {
		return "", fmt.Errorf("lstat %s: %w", p, fs.ErrNotExist)
	}
	return p, nil
}

func domainXML(name string, disks ...string) string {
	return fmt.Sprintf("<domain type='kvm'><name>%s</name><devices>%s</devices></domain>", name,
		strings.Join(disks, ""))
}

func fileDisk(target, file string, extra ...string) string {
	return fmt.Sprintf("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"+
		"<target dev='%s' bus='virtio'/>%s</disk>", file, target, strings.Join(extra, ""))
}

func blockDisk(target, dev string) string {
	return fmt.Sprintf("<disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='%s'/>"+
		"<target dev='%s' bus='virtio'/></disk>", dev, target)
}

const (
	cdromWithISO = "<disk type='file' device='cdrom'><source file='/var/lib/iso/debian.iso'/>" +
		"<target dev='sda' bus='sata'/><readonly/></disk>"
	cdromEmpty  = "<disk type='file' device='cdrom'><target dev='sdb' bus='sata'/><readonly/></disk>"
	networkDisk = "<disk type='network' device='disk'><source protocol='rbd' name='rbd/web1'>" +
		"<host name='ceph1' port='6789'/></source><target dev='vdc' bus='virtio'/></disk>"
	poolVolume = "<disk type='volume' device='disk'><source pool='zpool' volume='db3'/>" +
		"<target dev='vde' bus='virtio'/></disk>"
)

func TestMapDisks(t *testing.T) {
	type want struct{ target, dataset string }
	tests := []struct {
		name        string
		xml         string
		opts        MapOptions
		want        []want
		skipped     []string // targets
		notOnZFS    []string // targets named in the NotOnZFSError
		errContains string
	}{
		{name: "zvol by /dev/zvol path", xml: domainXML("db1", blockDisk("vda", "/dev/zvol/tank/zvols/db1")),
			want: []want{{"vda", "tank/zvols/db1"}}},
		{name: "zvol path not normalised", xml: domainXML("db1", blockDisk("vda", "/dev/zvol/tank//zvols/./db1")),
			want: []want{{"vda", "tank/zvols/db1"}}},
		{name: "symlink resolving to zdN", xml: domainXML("db2", blockDisk("vda", "/dev/disk/by-id/zvol-db2")),
			want: []want{{"vda", "tank/zvols/db2"}}},
		{name: "bare zdN device", xml: domainXML("db2", blockDisk("vda", "/dev/zd16")),
			want: []want{{"vda", "tank/zvols/db2"}}},
		{name: "partition of a zvol maps to the zvol",
			xml: domainXML("db2", blockDisk("vda", "/dev/disk/by-id/zvol-db2-part2"),
				blockDisk("vdb", "/dev/zvol/fast/db1-log-part1")),
			want: []want{{"vda", "tank/zvols/db2"}, {"vdb", "fast/db1-log"}}},
		{name: "file on dataset", xml: domainXML("web1", fileDisk("vda", "/tank/vm/web1/disk0.qcow2")),
			want: []want{{"vda", "tank/vm/web1"}}},
		{name: "nested mountpoints: longest prefix wins, component boundaries",
			xml: domainXML("web", fileDisk("vda", "/tank/vm/web1/a.img"), fileDisk("vdb", "/tank/vm/web1x.img"),
				fileDisk("vdc", "/tank/top.img"), fileDisk("vdd", "/srv/web10/d.raw")),
			want: []want{{"vda", "tank/vm/web1"}, {"vdb", "tank/vm"}, {"vdc", "tank"}, {"vdd", "tank/vm/web10"}}},
		{name: "symlinked image file", xml: domainXML("web1", fileDisk("vda", "/var/lib/libvirt/images/web1")),
			want: []want{{"vda", "tank/vm/web1"}}},
		{name: "file on another filesystem", xml: domainXML("web2", fileDisk("vda", "/var/lib/libvirt/images/w.qcow2")),
			notOnZFS: []string{"vda"}, errContains: "not inside a mounted ZFS filesystem"},
		{name: "legacy and unmounted datasets never own files",
			xml:      domainXML("x", fileDisk("vda", "/tank-legacy/legacy/x.img"), fileDisk("vdb", "none/x.img")),
			notOnZFS: []string{"vda", "vdb"}},
		{name: "plain block device", xml: domainXML("raw", blockDisk("vda", "/dev/disk/by-id/ata-SSD")),
			notOnZFS: []string{"vda"}, errContains: "/dev/sda is not a ZFS volume"},
		{name: "zvol missing from listing", xml: domainXML("gone", blockDisk("vda", "/dev/zvol/tank/zvols/nope")),
			notOnZFS: []string{"vda"}, errContains: `no zvol "tank/zvols/nope" in the ZFS listing`},
		{name: "network disk named in the error, others still mapped",
			xml:      domainXML("mixed", fileDisk("vda", "/tank/vm/web1/root.img"), networkDisk),
			want:     []want{{"vda", "tank/vm/web1"}},
			notOnZFS: []string{"vdc"}, errContains: "network disk (rbd)"},
		{name: "cdroms skipped by default", xml: domainXML("inst", fileDisk("vda", "/tank/vm/a.img"), cdromWithISO, cdromEmpty),
			want: []want{{"vda", "tank/vm"}}, skipped: []string{"sda", "sdb"}},
		{name: "cdrom included when asked fails on a non-ZFS ISO",
			xml: domainXML("inst", cdromWithISO), opts: MapOptions{IncludeCDROM: true, IncludeReadOnly: true},
			notOnZFS: []string{"sda"}},
		{name: "read-only and shareable disks skipped by default",
			xml: domainXML("ro", fileDisk("vda", "/tank/vm/a.img", "<readonly/>"),
				fileDisk("vdb", "/tank/vm/b.img", "<shareable/>")),
			skipped: []string{"vda", "vdb"}},
		{name: "read-only and shareable disks included when asked",
			xml: domainXML("ro", fileDisk("vda", "/tank/vm/a.img", "<readonly/>"),
				fileDisk("vdb", "/tank/vm/b.img", "<shareable/>")),
			opts: MapOptions{IncludeReadOnly: true, IncludeShareable: true},
			want: []want{{"vda", "tank/vm"}, {"vdb", "tank/vm"}}},
		{name: "pool volume resolved by VolumePath", xml: domainXML("p", poolVolume),
			opts: MapOptions{VolumePath: func(pool, vol string) (string, error) { return "/dev/zvol/tank/zvols/" + vol[:2] + "1", nil }},
			want: []want{{"vde", "tank/zvols/db1"}}},
		{name: "pool volume without resolver", xml: domainXML("p", poolVolume),
			notOnZFS: []string{"vde"}, errContains: "storage pool volume"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opts.Resolve == nil {
				tt.opts.Resolve = resolve
			}
			m, err := MapDisks(tt.xml, listing, tt.opts)
			var got []want
			for _, d := range m.Disks {
				got = append(got, want{d.Target, d.Dataset})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("mapped disks = %v, want %v", got, tt.want)
			}
			var skipped []string
			for _, s := range m.Skipped {
				skipped = append(skipped, s.Target)
			}
			if !slices.Equal(skipped, tt.skipped) {
				t.Errorf("skipped = %v, want %v", skipped, tt.skipped)
			}
			if len(tt.notOnZFS) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var nz *NotOnZFSError
			if !errors.As(err, &nz) || !errors.Is(err, ErrNotOnZFS) {
				t.Fatalf("error = %v, want a *NotOnZFSError", err)
			}
			var targets []string
			for _, d := range nz.Disks {
				targets = append(targets, d.Target)
				if !strings.Contains(err.Error(), d.Target) || !strings.Contains(err.Error(), d.Source) {
					t.Errorf("error %q does not name disk %s (%s)", err, d.Target, d.Source)
				}
			}
			if !slices.Equal(targets, tt.notOnZFS) {
				t.Errorf("disks not on ZFS = %v, want %v", targets, tt.notOnZFS)
			}
			if !strings.Contains(err.Error(), tt.errContains) {
				t.Errorf("error %q does not contain %q", err, tt.errContains)
			}
		})
	}
}

func TestMapDisksTypesAndDatasets(t *testing.T) {
	xml := domainXML("both", blockDisk("vda", "/dev/zvol/tank/zvols/db1"), fileDisk("vdb", "/tank/vm/web1/x.img"),
		fileDisk("vdc", "/tank/vm/web1/y.img"))
	m, err := MapDisks(xml, listing, MapOptions{Resolve: resolve})
	if err != nil {
		t.Fatal(err)
	}
	if m.Domain != "both" || m.Disks[0].Type != TypeVolume || m.Disks[1].Type != TypeFilesystem {
		t.Errorf("mapping = %+v", m)
	}
	if got, want := m.Datasets(), []string{"tank/zvols/db1", "tank/vm/web1"}; !slices.Equal(got, want) {
		t.Errorf("Datasets() = %v, want %v", got, want)
	}
}

func TestMapDisksBadXML(t *testing.T) {
	if _, err := MapDisks("<domain", listing, MapOptions{}); err == nil || !strings.Contains(err.Error(), "parse domain XML") {
		t.Fatalf("error = %v", err)
	}
}

// An NBD disk served from this host's zvol maps through MapOptions.Datasets; names that do not exist, or
// name disks the domain lacks, are reported with the other unmapped disks.
func TestMapDisksNamedDatasets(t *testing.T) {
	nbd := "<disk type='network' device='disk'><source protocol='nbd' name='disk0'>" +
		"<host name='storage1' port='10809'/></source><target dev='vdb' bus='virtio'/></disk>"
	xml := domainXML("remote", blockDisk("vda", "/dev/zvol/tank/zvols/db1"), nbd)

	m, err := MapDisks(xml, listing, MapOptions{Resolve: resolve, Datasets: map[string]string{"vdb": "tank/zvols/db2"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Datasets(), []string{"tank/zvols/db1", "tank/zvols/db2"}; !slices.Equal(got, want) {
		t.Errorf("Datasets() = %v, want %v", got, want)
	}
	if m.Disks[1].Type != TypeVolume || m.Disks[1].Source != "nbd:disk0" {
		t.Errorf("named disk = %+v", m.Disks[1])
	}

	if _, err := MapDisks(xml, listing, MapOptions{Resolve: resolve}); !errors.Is(err, ErrNotOnZFS) ||
		!strings.Contains(err.Error(), "vdb (nbd:disk0): network disk") {
		t.Errorf("without a name: error = %v", err)
	}

	_, err = MapDisks(xml, listing, MapOptions{Resolve: resolve,
		Datasets: map[string]string{"vdb": "tank/zvols/gone", "vdz": "tank/zvols/db2"}})
	var nz *NotOnZFSError
	if !errors.As(err, &nz) || len(nz.Disks) != 2 {
		t.Fatalf("bad names: error = %v", err)
	}
	for i, want := range []string{"dataset tank/zvols/gone, which does not exist", "disk vdz, which the domain does not have"} {
		if !strings.Contains(nz.Disks[i].Reason, want) {
			t.Errorf("disk %d reason = %q, want it to say %q", i, nz.Disks[i].Reason, want)
		}
	}
}
