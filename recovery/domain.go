package recovery

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/hotzfs/hotzfs/guest"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// DomainOptions say how a plan's domain is built.
type DomainOptions struct {
	Name    string // the defined domain's name
	Network string // libvirt network of its one virtio interface, "" for none
	// Mounted is each destination filesystem's mountpoint once it exists (zfs clone and zfs receive mount
	// it); until then /DEST stands in for it.
	Mounted map[string]string
}

// Domain is the guest a plan defines.
type Domain struct {
	guest.Built
	Name    string
	Network string
	Notes   []string // how disk paths were mapped where the snapshots do not record them
}

// Domain builds the guest from its stored domain XML (guest.BuildDomain: an allowlist of it), its disks
// moved onto the plan's destinations. Each disk path of the XML is mapped by what its snapshot records: a
// zvol /dev/zvol/SOURCE, images under MOUNTPOINT. Where a snapshot records no source (received before hotzfs
// recorded it), a restore takes the dataset's name without target_root, and a failover matches the XML's
// paths against the dataset's name (see guess). Whatever the snapshots record, a disk is only ever mapped
// onto a destination of the plan.
func (p Plan) Domain(xml string, o DomainOptions) (Domain, error) {
	if xml == "" {
		return Domain{}, fmt.Errorf("snapshot set @%s carries no domain XML of guest %s", p.Set, p.Guest)
	}
	m := pathMaps{volumes: map[string]string{}, files: map[string]string{}, claims: map[string]string{}}
	var guessVol, guessFS []int // disks whose zvol path or mountpoint only the XML's paths can tell
	for i, d := range p.Disks {
		src := p.source(d, &m.notes)
		if d.Type != Filesystem {
			if src == "" {
				guessVol = append(guessVol, i)
			} else if err := m.claim(m.volumes, "/dev/zvol/"+src, "/dev/zvol/"+d.Dest, d.Dataset); err != nil {
				return Domain{}, err
			}
		}
		if d.Type != Volume {
			mnt := p.mountpoint(d, src, &m.notes)
			if mnt == "" {
				guessFS = append(guessFS, i)
			} else if err := m.claim(m.files, mnt, mountedAt(d.Dest, o.Mounted), d.Dataset); err != nil {
				return Domain{}, err
			}
		}
	}
	if len(guessVol)+len(guessFS) > 0 {
		paths, err := guest.DiskSources(xml)
		if err != nil {
			return Domain{}, err
		}
		p.guess(&m, paths, guessVol, guessFS, o.Mounted)
	}
	built, err := guest.BuildDomain(xml, guest.BuildSpec{Name: o.Name, Network: o.Network, Volumes: m.volumes,
		Filesystems: m.files})
	if err != nil {
		return Domain{}, err
	}
	for _, d := range built.Disks {
		if d.Root != "" && !slices.Contains(slices.Collect(maps.Values(o.Mounted)), d.Root) {
			m.notes = append(m.notes, "images are shown under /DESTINATION: where a copy is mounted is known once it exists")
			break
		}
	}
	return Domain{Built: built, Name: o.Name, Network: o.Network, Notes: m.notes}, nil
}

// pathMaps are the guest.BuildSpec maps being built, and which dataset claimed each path.
type pathMaps struct {
	volumes, files map[string]string
	claims         map[string]string // path of the stored XML → dataset
	notes          []string
}

// claim maps path (of the stored XML) to to, for dataset. Two datasets recording the same source or
// mountpoint are refused: which one holds the disk cannot be told.
func (m *pathMaps) claim(into map[string]string, path, to, dataset string) error {
	if other, ok := m.claims[path]; ok && other != dataset {
		return fmt.Errorf("%s and %s both stand for %s on the sender (hotzfs:source, hotzfs:mountpoint): which "+
			"one holds the disk cannot be told; define the guest by hand", other, dataset, quote(path))
	}
	m.claims[path] = dataset
	into[path] = to
	return nil
}

// source is the dataset's name on the sender: as its snapshot records it, else as a restore derives it,
// else "".
func (p Plan) source(d Disk, notes *[]string) string {
	rec := d.Snapshot.Source
	if rec != "" && zfs.ValidateDataset(rec) == nil {
		return rec
	}
	what := "records no source"
	if rec != "" {
		what = fmt.Sprintf("records source %s, not a dataset name: ignored", quote(rec))
	}
	switch {
	case d.local != "":
		*notes = append(*notes, fmt.Sprintf("%s@%s %s; taken as %s (its name without the job's target_root)",
			d.Dataset, d.Snapshot.Name, what, d.local))
		return d.local
	case d.Type == Filesystem: // its mountpoint may be recorded; mountpoint notes what is not
	case rec == "":
		*notes = append(*notes, fmt.Sprintf("%s@%s %s (received before hotzfs recorded it)", d.Dataset, d.Snapshot.Name, what))
	default:
		*notes = append(*notes, fmt.Sprintf("%s@%s %s", d.Dataset, d.Snapshot.Name, what))
	}
	return ""
}

// quote shows a recorded value in a note: quoted (no control characters reach the terminal) and cut short.
func quote(v string) string {
	const max = 80
	if len(v) > max {
		return fmt.Sprintf("%q…", v[:max])
	}
	return fmt.Sprintf("%q", v)
}

// mountpoint is where the dataset's images were on the sender: as its snapshot records it, else /SOURCE
// (the default mountpoint), else "".
func (p Plan) mountpoint(d Disk, src string, notes *[]string) string {
	rec := d.Snapshot.Mountpoint
	if rec != "" && rec != "/" && transport.CheckMountpoint(rec) == nil {
		return rec
	}
	what := "records no mountpoint"
	if rec != "" {
		what = fmt.Sprintf("records mountpoint %s, not a path below /: ignored", quote(rec))
	}
	switch {
	case src != "" && (d.Type == Filesystem || rec != ""):
		*notes = append(*notes, fmt.Sprintf("%s@%s %s; its images are looked for under /%s (the default mountpoint)",
			d.Dataset, d.Snapshot.Name, what, src))
	case src == "" && rec == "":
		*notes = append(*notes, fmt.Sprintf("%s@%s %s and no source (received before hotzfs recorded them)",
			d.Dataset, d.Snapshot.Name, what))
	case src == "":
		*notes = append(*notes, fmt.Sprintf("%s@%s %s", d.Dataset, d.Snapshot.Name, what))
	}
	if src == "" {
		return ""
	}
	return "/" + src
}

// mountedAt is a destination's mountpoint, or /DEST until it exists.
func mountedAt(dest string, mounted map[string]string) string {
	if m, ok := mounted[dest]; ok {
		return m
	}
	return "/" + dest
}

// guess maps the stored XML's disk paths onto the disks whose source or mountpoint is not recorded, by their
// names. A zvol /dev/zvol/A/B/C goes to the volume whose name ends in the most of A/B/C's last components (a
// received dataset is named ROOT/[TARGET_ROOT/]SOURCE). Images under /A/B go to the filesystem whose name
// ends in the longest A/B that leads their path (its default mountpoint, /SOURCE). A path two disks match
// equally well, or a disk two paths do, is left unmapped, and so is a path a recorded value maps already.
func (p Plan) guess(m *pathMaps, paths []string, vols, fss []int, mounted map[string]string) {
	type match struct {
		path        string
		disk, score int
	}
	var zvols []match
	byPath, byDisk := map[string]*best{}, map[int]*best{}
	for _, ps := range paths {
		name, ok := strings.CutPrefix(ps, "/dev/zvol/")
		if !ok || path.Clean(ps) != ps || m.claims[ps] != "" {
			continue
		}
		for _, i := range vols {
			if n := commonSuffix(name, p.Disks[i].Dataset); n > 0 {
				zvols = append(zvols, match{ps, i, n})
				add(byPath, ps, n)
				add(byDisk, i, n)
			}
		}
	}
	mapped := map[int]bool{}
	for _, c := range zvols {
		if byPath[c.path].only(c.score) && byDisk[c.disk].only(c.score) {
			d := p.Disks[c.disk]
			m.volumes[c.path], m.claims[c.path] = "/dev/zvol/"+d.Dest, d.Dataset
			mapped[c.disk] = true
			m.notes = append(m.notes, fmt.Sprintf("%s: the XML's %s taken as its zvol (the longest match of its name)",
				d.Dataset, c.path))
		}
	}
	mounts := map[string][]int{} // guessed mountpoint → disks
	for _, i := range fss {
		if mnt := leadingSuffix(p.Disks[i].Dataset, paths); mnt != "" && m.claims[mnt] == "" {
			mounts[mnt] = append(mounts[mnt], i)
		}
	}
	for _, mnt := range slices.Sorted(maps.Keys(mounts)) {
		if disks := mounts[mnt]; len(disks) == 1 {
			d := p.Disks[disks[0]]
			m.files[mnt], m.claims[mnt] = mountedAt(d.Dest, mounted), d.Dataset
			mapped[disks[0]] = true
			m.notes = append(m.notes, fmt.Sprintf("%s: the XML's images under %s taken as its files (the default "+
				"mountpoint of the longest match of its name)", d.Dataset, mnt))
		}
	}
	for _, i := range slices.Compact(slices.Sorted(slices.Values(slices.Concat(vols, fss)))) {
		if !mapped[i] {
			m.notes = append(m.notes, fmt.Sprintf("%s: no disk path of the XML matches its name", p.Disks[i].Dataset))
		}
	}
}

// best is the best score of a path or disk in guess, and how many matches have it.
type best struct{ score, tied int }

func add[K comparable](m map[K]*best, k K, score int) {
	b := m[k]
	if b == nil {
		b = &best{}
		m[k] = b
	}
	switch {
	case score > b.score:
		b.score, b.tied = score, 1
	case score == b.score:
		b.tied++
	}
}

// only reports whether score is the best and no other match has it.
func (b *best) only(score int) bool { return b.score == score && b.tied == 1 }

// commonSuffix counts the trailing path components a and b share.
func commonSuffix(a, b string) int {
	x, y := strings.Split(a, "/"), strings.Split(b, "/")
	n := 0
	for n < len(x) && n < len(y) && x[len(x)-1-n] == y[len(y)-1-n] {
		n++
	}
	return n
}

// leadingSuffix returns /S for the longest trailing part S of name's components such that a path lies
// below /S, or "".
func leadingSuffix(name string, paths []string) string {
	comps := strings.Split(name, "/")
	for k := range comps {
		dir := "/" + strings.Join(comps[k:], "/")
		for _, ps := range paths {
			if strings.HasPrefix(ps, dir+"/") && !strings.HasPrefix(ps, "/dev/") && path.Clean(ps) == ps {
				return dir
			}
		}
	}
	return ""
}
