package guest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// DatasetType is the ZFS dataset type a disk lives on.
type DatasetType string

// Dataset types that can back a guest disk.
const (
	TypeFilesystem DatasetType = "filesystem"
	TypeVolume     DatasetType = "volume"
)

// Dataset is the part of a `zfs list` the disk mapping needs. Mountpoint is the mounted path for a mounted
// filesystem ("", "none", "legacy" or "-" otherwise) and is ignored for volumes.
type Dataset struct {
	Name       string
	Type       DatasetType
	Mountpoint string
}

// Disk is one domain disk backed by ZFS.
type Disk struct {
	Target   string      // guest device, e.g. "vda"
	Device   string      // "disk", "cdrom", "lun", "floppy"
	Source   string      // path in the domain XML
	Resolved string      // Source with symlinks resolved
	Dataset  string      // the zvol, or the filesystem dataset holding the file
	Type     DatasetType // TypeVolume or TypeFilesystem
	ReadOnly bool
	Shared   bool
}

// SkippedDisk is a disk left out of the mapping on purpose.
type SkippedDisk struct {
	Target, Source, Reason string
}

// UnmappedDisk is a disk that should be backed up but is not on ZFS.
type UnmappedDisk struct {
	Target, Source, Reason string
}

// NotOnZFSError lists every disk of a domain that is not backed by ZFS. errors.Is(err, ErrNotOnZFS) holds.
type NotOnZFSError struct {
	Domain string
	Disks  []UnmappedDisk
}

func (e *NotOnZFSError) Error() string {
	parts := make([]string, 0, len(e.Disks))
	for _, d := range e.Disks {
		parts = append(parts, fmt.Sprintf("%s (%s): %s", d.Target, d.Source, d.Reason))
	}
	return fmt.Sprintf("guest %q: %d disk(s) not on ZFS: %s — move them to a dataset or zvol, or exclude the "+
		"guest", e.Domain, len(e.Disks), strings.Join(parts, "; "))
}

// Is makes errors.Is(err, ErrNotOnZFS) true.
func (e *NotOnZFSError) Is(target error) bool { return target == ErrNotOnZFS }

// MapOptions tune MapDisks. The zero value skips cdroms, read-only and shareable disks and resolves paths on
// this host.
type MapOptions struct {
	IncludeCDROM     bool // map cdrom devices that have a source too
	IncludeReadOnly  bool // map <readonly/> disks too
	IncludeShareable bool // map <shareable/> disks too
	// Resolve resolves symlinks in a path; nil means filepath.EvalSymlinks. Tests inject a table.
	Resolve func(path string) (string, error)
	// VolumePath resolves a <source pool= volume=/> disk to its path; nil means such disks are unmapped.
	VolumePath func(pool, volume string) (string, error)
	// Datasets names the dataset of disks by target ("vda" → "tank/vm/web-disk0"), for disks whose source
	// does not show it: a zvol of this host served over NBD or iSCSI to a hypervisor elsewhere. A named
	// disk is mapped even if it would be skipped (cdrom, read-only, shareable); the dataset must exist.
	Datasets map[string]string
}

// Mapping is the result of MapDisks: the disks to snapshot and those skipped on purpose.
type Mapping struct {
	Domain  string
	Disks   []Disk
	Skipped []SkippedDisk
}

// Datasets returns the distinct datasets of the mapped disks, in disk order.
func (m Mapping) Datasets() []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range m.Disks {
		if !seen[d.Dataset] {
			seen[d.Dataset] = true
			out = append(out, d.Dataset)
		}
	}
	return out
}

const zvolDir = "/dev/zvol/"

var zdDevice = regexp.MustCompile(`^/dev/(zd[0-9]+)(p[0-9]+)?$`)

// MapDisks reads a domain XML and maps each disk to the ZFS dataset or zvol it lives on, using datasets
// (from `zfs list`). Block disks must be zvols: /dev/zvol/POOL/NAME, or any path resolving to /dev/zdN
// (found again through the /dev/zvol tree); partitions map to their zvol. File disks map to the mounted
// filesystem dataset with the longest mountpoint that contains the file. Every disk that is not on ZFS (network
// disks, other filesystems, plain block devices) is listed in one *NotOnZFSError.
func MapDisks(domainXML string, datasets []Dataset, opts MapOptions) (Mapping, error) {
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(domainXML); err != nil {
		return Mapping{}, fmt.Errorf("parse domain XML: %w", err)
	}
	if opts.Resolve == nil {
		opts.Resolve = filepath.EvalSymlinks
	}
	m := Mapping{Domain: dom.Name}
	mp := mapper{opts: opts, datasets: datasets}
	var bad []UnmappedDisk
	named := map[string]bool{} // targets of opts.Datasets found in the domain
	var disks []libvirtxml.DomainDisk
	if dom.Devices != nil {
		disks = dom.Devices.Disks
	}
	for i, xd := range disks {
		target := fmt.Sprintf("disk#%d", i)
		if xd.Target != nil && xd.Target.Dev != "" {
			target = xd.Target.Dev
		}
		device := xd.Device
		if device == "" {
			device = "disk"
		}
		d := Disk{Target: target, Device: device, ReadOnly: xd.ReadOnly != nil, Shared: xd.Shareable != nil}
		source, kind, err := mp.source(xd.Source)
		d.Source = source
		if name, ok := opts.Datasets[target]; ok {
			named[target] = true
			if err := mp.named(&d, name); err != nil {
				bad = append(bad, UnmappedDisk{Target: target, Source: source, Reason: err.Error()})
			} else {
				m.Disks = append(m.Disks, d)
			}
			continue
		}
		if reason := skipReason(d, kind, opts); reason != "" {
			m.Skipped = append(m.Skipped, SkippedDisk{Target: target, Source: source, Reason: reason})
			continue
		}
		if err == nil {
			err = mp.mapDisk(&d, kind)
		}
		if err != nil {
			bad = append(bad, UnmappedDisk{Target: target, Source: source, Reason: err.Error()})
			continue
		}
		m.Disks = append(m.Disks, d)
	}
	for _, target := range slices.Sorted(maps.Keys(opts.Datasets)) {
		if !named[target] {
			bad = append(bad, UnmappedDisk{Target: target, Source: "-", Reason: fmt.Sprintf(
				"disk_map names disk %s, which the domain does not have", target)})
		}
	}
	if len(bad) > 0 {
		return m, &NotOnZFSError{Domain: dom.Name, Disks: bad}
	}
	return m, nil
}

// named maps a disk to the dataset the caller named for it, which must be a listed zvol or filesystem.
func (mp mapper) named(d *Disk, name string) error {
	for _, ds := range mp.datasets {
		if ds.Name == name {
			d.Dataset, d.Type = ds.Name, ds.Type
			return nil
		}
	}
	return fmt.Errorf("disk_map names dataset %s, which does not exist (or is not a filesystem or volume)", name)
}

type sourceKind int

const (
	kindNone sourceKind = iota
	kindFile
	kindBlock
	kindOther
)

func skipReason(d Disk, kind sourceKind, opts MapOptions) string {
	switch {
	case kind == kindNone:
		return "no source (empty drive)"
	case d.Device == "cdrom" && !opts.IncludeCDROM:
		return "cdrom"
	case d.Device == "floppy" && !opts.IncludeCDROM:
		return "floppy"
	case d.ReadOnly && !opts.IncludeReadOnly:
		return "read-only"
	case d.Shared && !opts.IncludeShareable:
		return "shareable"
	}
	return ""
}

type mapper struct {
	opts     MapOptions
	datasets []Dataset
}

// source returns the disk's source path (or a description for non-path sources) and its kind.
func (mp mapper) source(s *libvirtxml.DomainDiskSource) (string, sourceKind, error) {
	switch {
	case s == nil:
		return "", kindNone, nil
	case s.File != nil:
		if s.File.File == "" {
			return "", kindNone, nil
		}
		return s.File.File, kindFile, nil
	case s.Block != nil:
		if s.Block.Dev == "" {
			return "", kindNone, nil
		}
		return s.Block.Dev, kindBlock, nil
	case s.Network != nil:
		desc := s.Network.Protocol + ":" + s.Network.Name
		return desc, kindOther, fmt.Errorf("network disk (%s) cannot be snapshotted with ZFS on this host",
			s.Network.Protocol)
	case s.Volume != nil:
		desc := s.Volume.Pool + "/" + s.Volume.Volume
		if mp.opts.VolumePath == nil {
			return desc, kindOther, errors.New("storage pool volume: its path is unknown")
		}
		p, err := mp.opts.VolumePath(s.Volume.Pool, s.Volume.Volume)
		if err != nil {
			return desc, kindOther, fmt.Errorf("storage pool volume: %w", err)
		}
		return p, kindFile, nil // file or block: mapDisk decides by path
	case s.Dir != nil:
		return s.Dir.Dir, kindOther, errors.New("directory-backed (vvfat) disk")
	case s.NVME != nil:
		return "nvme", kindOther, errors.New("host NVMe device")
	}
	return "?", kindOther, errors.New("unsupported disk source type")
}

func (mp mapper) mapDisk(d *Disk, kind sourceKind) error {
	src := filepath.Clean(d.Source)
	if !filepath.IsAbs(src) {
		return errors.New("relative path")
	}
	if strings.HasPrefix(src, zvolDir) || strings.HasPrefix(src, "/dev/") || kind == kindBlock {
		return mp.mapBlock(d, src)
	}
	resolved, err := mp.opts.Resolve(src)
	if err != nil {
		return fmt.Errorf("resolve path: %w", err)
	}
	d.Resolved = resolved
	if strings.HasPrefix(resolved, "/dev/") {
		return mp.mapBlock(d, src)
	}
	ds, ok := mp.owningFilesystem(resolved)
	if !ok {
		return errors.New("file is not inside a mounted ZFS filesystem")
	}
	d.Dataset, d.Type = ds, TypeFilesystem
	return nil
}

func (mp mapper) mapBlock(d *Disk, src string) error {
	name, underZvol := strings.CutPrefix(src, zvolDir)
	if underZvol {
		if v, ok := mp.volume(name); ok {
			d.Resolved, d.Dataset, d.Type = src, v, TypeVolume
			return nil
		}
	}
	resolved, err := mp.opts.Resolve(src)
	if err != nil {
		if underZvol {
			return fmt.Errorf("no zvol %q in the ZFS listing and %w", name, err)
		}
		return fmt.Errorf("resolve device: %w", err)
	}
	d.Resolved = resolved
	m := zdDevice.FindStringSubmatch(resolved)
	if m == nil {
		return fmt.Errorf("block device %s is not a ZFS volume", resolved)
	}
	whole := "/dev/" + m[1]
	for _, ds := range mp.datasets {
		if ds.Type != TypeVolume {
			continue
		}
		if r, err := mp.opts.Resolve(zvolDir + ds.Name); err == nil && r == whole {
			d.Dataset, d.Type = ds.Name, TypeVolume
			return nil
		}
	}
	return fmt.Errorf("%s is a ZFS volume device but no zvol in the listing links to %s", resolved, whole)
}

// volume finds the zvol named by a /dev/zvol path, allowing a -partN suffix for a partition of it.
func (mp mapper) volume(name string) (string, bool) {
	for _, cand := range []string{name, partBase(name)} {
		for _, ds := range mp.datasets {
			if ds.Type == TypeVolume && ds.Name == cand {
				return cand, true
			}
		}
	}
	return "", false
}

var partSuffix = regexp.MustCompile(`-part[0-9]+$`)

func partBase(name string) string { return partSuffix.ReplaceAllString(name, "") }

// owningFilesystem returns the mounted filesystem dataset with the longest mountpoint containing p.
func (mp mapper) owningFilesystem(p string) (string, bool) {
	best, bestLen := "", -1
	for _, ds := range mp.datasets {
		if ds.Type != TypeFilesystem {
			continue
		}
		mnt := ds.Mountpoint
		switch mnt {
		case "", "none", "legacy", "-":
			continue
		}
		mnt = filepath.Clean(mnt)
		if !within(p, mnt) || len(mnt) <= bestLen {
			continue
		}
		best, bestLen = ds.Name, len(mnt)
	}
	return best, bestLen >= 0
}

// within reports whether p is dir or below it, on path component boundaries.
func within(p, dir string) bool {
	if dir == "/" {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// DomainDisks reads the domain's live XML and maps its disks with MapDisks. Storage pool volume disks are
// resolved to their paths through libvirt unless opts.VolumePath is set.
func (c *Client) DomainDisks(ctx context.Context, dom Domain, datasets []Dataset, opts MapOptions) (Mapping, error) {
	xml, err := c.XML(ctx, dom, false)
	if err != nil {
		return Mapping{}, err
	}
	if opts.VolumePath == nil {
		opts.VolumePath = func(pool, volume string) (string, error) { return c.volumePath(ctx, pool, volume) }
	}
	return MapDisks(xml, datasets, opts)
}

func (c *Client) volumePath(ctx context.Context, pool, volume string) (string, error) {
	return call(ctx, "", "storage volume path", func() (string, error) {
		p, err := c.lv.StoragePoolLookupByName(pool)
		if err != nil {
			return "", err
		}
		v, err := c.lv.StorageVolLookupByName(p, volume)
		if err != nil {
			return "", err
		}
		return c.lv.StorageVolGetPath(v)
	})
}
