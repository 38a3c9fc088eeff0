package recovery

import (
	"fmt"

	"github.com/hotzfs/hotzfs/guest"
	"github.com/hotzfs/hotzfs/meta"
)

// levelName is a consistency level as the plan names it.
func levelName(c meta.Consistency) string {
	switch c {
	case meta.FSFrozen, meta.Offline, meta.Crash:
		return string(c)
	case "":
		return "consistency not recorded"
	}
	return fmt.Sprintf("consistency %q", string(c))
}

// Consistency tells what a restored or failed-over guest gets from a set of this level.
func Consistency(c meta.Consistency) string {
	switch c {
	case meta.FSFrozen:
		return "fs-frozen: the guest agent froze its filesystems for the snapshot, they are consistent as after a clean unmount"
	case meta.Offline:
		return "offline: the guest was shut off, its disks are consistent"
	case meta.Crash:
		return "crash-consistent: as after a power cut, the guest's filesystems replay their journals at boot and " +
			"applications may lose their last writes"
	}
	return levelName(c) + ": take it as crash-consistent (as after a power cut)"
}

// Lines is the plan as the commands print it: the set and what its consistency gives, each dataset and where
// it lands, what happens to the received datasets, the notes, and the domain when it is built (nil: not
// asked for).
func (p Plan) Lines(d *Domain) []string {
	out := []string{fmt.Sprintf("guest %s: snapshot set @%s, %s", p.Guest, p.Set, Consistency(p.Consistency))}
	for _, disk := range p.Disks {
		kind := ""
		if disk.Type != Unknown {
			kind = " (" + string(disk.Type) + ")"
		}
		verb := "clone"
		if p.Kind == Restore {
			verb = "restore"
		}
		out = append(out, fmt.Sprintf("  %s %s@%s (guid %d) → %s%s", verb, disk.Dataset, disk.Snapshot.Name,
			disk.Snapshot.GUID, disk.Dest, kind))
	}
	switch p.Kind {
	case Failover:
		out = append(out, fmt.Sprintf("the received datasets, their snapshots and holds stay as they are (replication "+
			"goes on); each clone keeps its @%s from being destroyed until the clone is", p.Set))
	case Restore:
		out = append(out, "each dataset is received as a new one (missing parents are created); nothing on this "+
			"host is overwritten")
	}
	out = append(out, p.Notes...)
	if d == nil {
		return out
	}
	out = append(out, "define guest "+d.Name+":")
	for _, disk := range d.Disks {
		where := disk.Path
		if disk.Root != "" {
			where += " (on " + disk.Root + ")"
		}
		out = append(out, fmt.Sprintf("  disk %s: %s %s", disk.Target, disk.Format, where))
	}
	for _, n := range d.Notes {
		out = append(out, "  "+n)
	}
	for _, l := range DroppedLines(d.Built, d.Network) {
		out = append(out, "  "+l)
	}
	return out
}

// DroppedLines tells what of a stored domain XML a defined guest will not have, and its network.
func DroppedLines(b guest.Built, network string) []string {
	var out []string
	if network != "" {
		out = append(out, fmt.Sprintf("the guest gets one virtio interface on network %s", network))
	} else {
		out = append(out, "the guest gets no network interface (--network NAME gives it one)")
	}
	if len(b.Dropped) == 0 {
		return out
	}
	out = append(out, "left out of the stored domain XML (not on the allowlist; add by hand what this host should give it):")
	for _, d := range b.Dropped {
		out = append(out, "  - "+d)
	}
	return out
}
