// Package recovery plans the way back from a backup: which snapshot set of a guest to restore or fail over,
// where each of its datasets lands and what the guest's domain will look like. It runs nothing: the commands
// list what is held, load the stored domain XML, print the plan and carry it out.
package recovery

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/hotzfs/hotzfs/meta"
	"github.com/hotzfs/hotzfs/zfs"
)

// Type is a dataset's kind.
type Type string

// Dataset kinds. A receiver's listing does not say which a dataset is: Unknown maps a disk both as a zvol and
// as images under a mountpoint until the copy exists and its kind is known.
const (
	Filesystem Type = "filesystem"
	Volume     Type = "volume"
	Unknown    Type = ""
)

// Snapshot is one snapshot of a held dataset, with what hotzfs recorded on it. Guests, Source and Mountpoint
// come from the client that sent it (on the receiver) or back from the receiver (restore): not trusted,
// only ever used to find the guest's datasets and to map its disk paths onto their copies.
type Snapshot struct {
	Name        string // short name, after '@'
	GUID        uint64
	CreateTXG   uint64
	Consistency string   // hotzfs:consistency, "" when not recorded
	Guests      []string // hotzfs:guest
	Source      string   // hotzfs:source: the dataset's name on the sender
	Mountpoint  string   // hotzfs:mountpoint: its mountpoint on the sender (filesystems)
}

// Dataset is a dataset as the side that holds it names it: the full name for a failover on the receiver
// host, the name relative to the client's root for a restore through the receiver.
type Dataset struct {
	Name      string
	Type      Type
	Snapshots []Snapshot
}

// Kind is what a plan is for.
type Kind int

const (
	// Failover clones each snapshot of the set to DATASET+Suffix; the received datasets stay untouched.
	Failover Kind = iota
	// Restore receives each dataset of the set into IntoPrefix/SOURCE, or SOURCE-restore-SET next to its
	// source.
	Restore
)

// Request says which guest to plan for and how.
type Request struct {
	Guest      string
	Snapshot   string // a set's short name; "" or "latest": the newest complete set the consistency allows
	AllowCrash bool   // without Snapshot: the newest complete set even if crash-consistent or not recorded
	Kind       Kind
	Suffix     string // failover: appended to each received dataset's name
	// TargetRoot is a restore's job's target_root: only datasets below it are the job's, and a name without
	// it is the dataset's name on this host (SOURCE).
	TargetRoot string
	IntoPrefix string // restore: the parent of the restored datasets; "" for next to each source
}

// Disk is one dataset of the chosen set and where it lands.
type Disk struct {
	Dataset  string // as the holder names it
	Type     Type   // Unknown for a restore until the copy exists: the command sets it then
	Snapshot Snapshot
	Dest     string // the clone or the restored dataset
	// local is the dataset's name on this host as a restore derives it (without target_root); "" for a
	// failover, where only the recorded source or the XML's paths can tell.
	local string
}

// Plan is what a restore or failover of a guest will do.
type Plan struct {
	Guest       string
	Kind        Kind
	Set         string // the snapshot set's short name
	Consistency meta.Consistency
	Disks       []Disk   // sorted by Dest, so that a parent is received before its children
	Notes       []string // sets passed over and why; the commands add what they had to guess
}

// Choose finds the guest's datasets, those with a snapshot naming it in hotzfs:guest, and picks one snapshot
// set: the same short name on every one of them. A set missing on one of them is not complete and is never
// chosen. Without req.Snapshot it takes the newest complete set that is fs-frozen or offline (any, with
// AllowCrash), and the plan notes the newer sets it passed over.
func Choose(datasets []Dataset, req Request) (Plan, error) {
	if req.Guest == "" {
		return Plan{}, fmt.Errorf("no guest named")
	}
	if req.Kind == Failover && req.Suffix == "" {
		return Plan{}, fmt.Errorf("a failover needs a suffix for the clones' names")
	}
	members := guestDatasets(datasets, req)
	if len(members) == 0 {
		return Plan{}, fmt.Errorf("no dataset carries guest %q (hotzfs:guest on its snapshots): its backups come "+
			"from a job with guests", req.Guest)
	}
	p := Plan{Guest: req.Guest, Kind: req.Kind}
	set, err := pick(candidates(members, req.Guest), req, &p)
	if err != nil {
		return Plan{}, err
	}
	p.Set, p.Consistency = set.name, set.worst
	for _, ds := range members {
		d := Disk{Dataset: ds.Name, Type: ds.Type, Snapshot: ds.Snapshots[set.on[ds.Name]]}
		if d.Dest, d.local, err = destination(ds.Name, set.name, req); err != nil {
			return Plan{}, err
		}
		if d.Snapshot.Source == "" {
			p.Notes = append(p.Notes, borrowSource(&d, ds)...)
		}
		p.Disks = append(p.Disks, d)
	}
	slices.SortFunc(p.Disks, func(a, b Disk) int { return cmp.Compare(a.Dest, b.Dest) })
	return p, nil
}

// borrowSource gives a snapshot that records no source (a resumed receive records none) the source and
// mountpoint its dataset's newest snapshot recording one has: a dataset keeps its source.
func borrowSource(d *Disk, ds Dataset) []string {
	var from *Snapshot
	for i, s := range ds.Snapshots {
		if s.Source != "" && (from == nil || s.CreateTXG > from.CreateTXG) {
			from = &ds.Snapshots[i]
		}
	}
	if from == nil {
		return nil
	}
	d.Snapshot.Source, d.Snapshot.Mountpoint = from.Source, from.Mountpoint
	return []string{fmt.Sprintf("%s@%s records no source: taken from @%s, which does", d.Dataset, d.Snapshot.Name, from.Name)}
}

// guestDatasets returns the datasets with a snapshot naming the guest (for a restore: the job's, below its
// target_root), sorted by name.
func guestDatasets(datasets []Dataset, req Request) []Dataset {
	var out []Dataset
	for _, ds := range datasets {
		if req.Kind == Restore && req.TargetRoot != "" && !strings.HasPrefix(ds.Name, rootPrefix(req.TargetRoot)) {
			continue
		}
		if slices.ContainsFunc(ds.Snapshots, func(s Snapshot) bool { return slices.Contains(s.Guests, req.Guest) }) {
			out = append(out, ds)
		}
	}
	slices.SortFunc(out, func(a, b Dataset) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func rootPrefix(root string) string { return strings.TrimSuffix(root, "/") + "/" }

// set is one snapshot name found on the guest's datasets.
type set struct {
	name    string
	txg     uint64         // the newest createtxg of its snapshots: sets sort by it, newest first
	on      map[string]int // dataset name → index of the set's snapshot in it
	missing []string       // the guest's datasets without it
	worst   meta.Consistency
}

// candidates returns the snapshot sets of the guest, newest first: the names of the snapshots naming it.
// A member has the set if it has a snapshot of that name naming the guest or no guest at all (a resumed
// receive records nothing); the set's consistency is the weakest its snapshots record.
func candidates(members []Dataset, guest string) []*set {
	byName := map[string]*set{}
	var sets []*set
	for _, ds := range members {
		for _, s := range ds.Snapshots {
			if slices.Contains(s.Guests, guest) && byName[s.Name] == nil {
				byName[s.Name] = &set{name: s.Name, on: map[string]int{}}
				sets = append(sets, byName[s.Name])
			}
		}
	}
	for _, ds := range members {
		for i, s := range ds.Snapshots {
			c := byName[s.Name]
			if _, dup := c.on[ds.Name]; c == nil || dup || len(s.Guests) > 0 && !slices.Contains(s.Guests, guest) {
				continue
			}
			c.on[ds.Name] = i
			c.txg = max(c.txg, s.CreateTXG)
			if l := meta.Consistency(s.Consistency); l != "" && (c.worst == "" || rank(l) < rank(c.worst)) {
				c.worst = l
			}
		}
	}
	for _, c := range sets {
		for _, ds := range members {
			if _, ok := c.on[ds.Name]; !ok {
				c.missing = append(c.missing, ds.Name)
			}
		}
	}
	slices.SortFunc(sets, func(a, b *set) int {
		return cmp.Or(cmp.Compare(b.txg, a.txg), cmp.Compare(b.name, a.name))
	})
	return sets
}

// rank orders consistency levels: consistent without a journal replay (fs-frozen, offline) above crash
// above the rest (none, not recorded, anything else).
func rank(c meta.Consistency) int {
	switch c {
	case meta.FSFrozen, meta.Offline:
		return 2
	case meta.Crash:
		return 1
	}
	return 0
}

// maxPassedOver bounds the notes about newer sets passed over.
const maxPassedOver = 5

func pick(sets []*set, req Request, p *Plan) (*set, error) {
	if want := strings.TrimPrefix(req.Snapshot, "@"); want != "" && want != "latest" {
		for _, c := range sets {
			if c.name != want {
				continue
			}
			if len(c.missing) > 0 {
				return nil, fmt.Errorf("snapshot set @%s of guest %s is not complete: %s has no @%s; choose another "+
					"set with --snapshot", want, req.Guest, strings.Join(c.missing, ", "), want)
			}
			return c, nil
		}
		return nil, fmt.Errorf("guest %s has no snapshot set @%s (%s)", req.Guest, want, newestSets(sets))
	}
	var passed []string
	for _, c := range sets {
		switch {
		case len(c.missing) > 0:
			passed = append(passed, fmt.Sprintf("@%s: not complete, %s has no @%s", c.name,
				strings.Join(c.missing, ", "), c.name))
		case !req.AllowCrash && rank(c.worst) < 2:
			passed = append(passed, fmt.Sprintf("@%s: %s (--allow-crash or --snapshot %s takes it)", c.name,
				levelName(c.worst), c.name))
		default:
			p.Notes = append(p.Notes, passedOver(passed)...)
			return c, nil
		}
	}
	want := "fs-frozen or offline"
	if req.AllowCrash {
		want = "complete"
	}
	return nil, fmt.Errorf("guest %s has no %s snapshot set: %s", req.Guest, want,
		strings.Join(passedOver(passed), "; "))
}

// passedOver is the notes about the newer sets a choice passed over, at most maxPassedOver of them.
func passedOver(passed []string) []string {
	if len(passed) == 0 {
		return nil
	}
	out := []string{"passed over newer snapshot sets:"}
	for i, s := range passed {
		if i == maxPassedOver {
			out = append(out, fmt.Sprintf("  and %d more", len(passed)-i))
			break
		}
		out = append(out, "  "+s)
	}
	return out
}

// newestSets names the guest's newest few sets, for a refusal of a set it does not have.
func newestSets(sets []*set) string {
	if len(sets) == 0 {
		return "it has none"
	}
	var names []string
	for i, c := range sets {
		if i == maxPassedOver {
			names = append(names, "…")
			break
		}
		names = append(names, "@"+c.name)
	}
	return "newest first: " + strings.Join(names, " ")
}

// destination is where a dataset of the set lands: never derived from what the snapshots record, only from
// the dataset's own name and the request.
func destination(name, set string, req Request) (dest, local string, err error) {
	switch req.Kind {
	case Failover:
		dest = name + req.Suffix
	case Restore:
		local = strings.TrimPrefix(name, rootPrefix(req.TargetRoot))
		if req.TargetRoot == "" {
			local = name
		}
		if req.IntoPrefix != "" {
			dest = rootPrefix(req.IntoPrefix) + local
		} else {
			dest = local + "-restore-" + set
		}
	}
	if err := zfs.ValidateDataset(dest); err != nil {
		return "", "", fmt.Errorf("%s would land at %s: %w", name, dest, err)
	}
	return dest, local, nil
}
