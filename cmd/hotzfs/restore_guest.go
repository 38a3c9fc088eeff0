package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/guest"
	"github.com/hotzfs/hotzfs/job"
	"github.com/hotzfs/hotzfs/meta"
	"github.com/hotzfs/hotzfs/recovery"
	"github.com/hotzfs/hotzfs/replication"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// runRestoreGuest restores every dataset of a guest from one snapshot set the receiver holds, planned by
// recovery.Choose over the receiver's listing, and with --define defines the guest on the restored datasets.
func runRestoreGuest(ctx context.Context, g *globalOptions, w io.Writer, opts restoreOptions) error {
	env, err := senderEnv(g, opts.config)
	if err != nil {
		return err
	}
	j, err := jobFor(env.Config, opts.job, "guest "+opts.guest, func(j config.Job) bool { return backsGuest(j, opts.guest) })
	if err != nil {
		return err
	}
	client, err := env.Dial(ctx, j.Target)
	if err != nil {
		return err
	}
	defer client.Close()
	infos, err := client.List(nil)
	if err != nil {
		return err
	}
	held := listedDatasets(infos)
	notes, err := guestsFromHere(ctx, env, held, j)
	if err != nil {
		return err
	}
	plan, err := recovery.Choose(held, recovery.Request{Guest: opts.guest, Snapshot: opts.snapshot,
		AllowCrash: opts.allowCrash, Kind: recovery.Restore, TargetRoot: j.TargetRoot, IntoPrefix: opts.intoPrefix})
	if err != nil {
		return fmt.Errorf("target %q: %w", j.Target, err)
	}
	plan.Notes = append(notes, plan.Notes...)
	name := cmp.Or(opts.name, opts.guest+"-restored")
	var xml string
	var dom *recovery.Domain
	if opts.define { // refuse before receiving anything if the guest cannot be defined on the restored datasets
		if xml, err = fetchDomainXML(ctx, env, j.Target, plan); err != nil {
			return fmt.Errorf("--define: %w; nothing restored", err)
		}
		d, err := plan.Domain(xml, recovery.DomainOptions{Name: name, Network: opts.network})
		if err != nil {
			return fmt.Errorf("--define: %w; nothing restored", err)
		}
		dom = &d
	}
	printLines(w, plan.Lines(dom))
	if !opts.yes {
		fmt.Fprintln(w, "nothing done: add --yes to carry it out")
		return nil
	}
	for _, d := range plan.Disks {
		if err := restoreDisk(ctx, env, w, client, d); err != nil {
			return err
		}
	}
	if !opts.define {
		return nil
	}
	return defineRestoredGuest(ctx, env, w, plan, xml, name, opts.network)
}

// backsGuest reports whether one of a job's guest patterns names the guest.
func backsGuest(j config.Job, name string) bool {
	return slices.ContainsFunc(j.Guests, func(p string) bool {
		ok, _ := path.Match(p, name)
		return ok || p == name
	})
}

// listedDatasets turns the receiver's listing into the planner's input, which checks the source and
// mountpoint a snapshot is listed with before it maps anything by them; guests that are no names libvirt
// could give are ignored. The listing does not say which datasets are zvols: their type stays unknown until
// they are restored (or guestsFromHere finds them here).
func listedDatasets(infos []transport.DatasetInfo) []recovery.Dataset {
	out := make([]recovery.Dataset, 0, len(infos))
	for _, info := range infos {
		ds := recovery.Dataset{Name: info.Name, Type: recovery.Unknown}
		for _, s := range info.Snapshots {
			guests := s.Guests
			if transport.CheckGuestNames(guests) != nil {
				guests = nil
			}
			ds.Snapshots = append(ds.Snapshots, recovery.Snapshot{Name: s.Name, GUID: s.GUID, CreateTXG: s.CreateTXG,
				Consistency: s.Consistency, Guests: guests, Source: s.Source, Mountpoint: s.Mountpoint})
		}
		out = append(out, ds)
	}
	return out
}

// guestsFromHere fills in what the receiver lists without: for a listed snapshot with no guests (received
// before the receiver recorded hotzfs:guest), the same snapshot here (by GUID) in one of the job's datasets
// tells its guests and that dataset's kind, and where the listing has no source either, its name and
// mountpoint (as it is now).
func guestsFromHere(ctx context.Context, env job.Env, held []recovery.Dataset, j config.Job) ([]string, error) {
	pools := map[string]bool{} // of the job's datasets with such snapshots
	for _, ds := range held {
		if !slices.ContainsFunc(ds.Snapshots, func(s recovery.Snapshot) bool { return len(s.Guests) == 0 }) {
			continue
		}
		src, ok := ds.Name, true
		if j.TargetRoot != "" {
			src, ok = strings.CutPrefix(ds.Name, strings.TrimSuffix(j.TargetRoot, "/")+"/")
		}
		if ok {
			pools[zfs.Pool(src)] = true
		}
	}
	var roots []string
	for _, p := range slices.Sorted(maps.Keys(pools)) {
		if ok, err := env.ZFS.Exists(ctx, p); err != nil {
			return nil, err
		} else if ok {
			roots = append(roots, p)
		}
	}
	if len(roots) == 0 {
		return nil, nil
	}
	local, err := env.ZFS.List(ctx, roots, zfs.ListOptions{Types: []zfs.Type{zfs.Filesystem, zfs.Volume, zfs.Snapshot},
		UserProps: []string{meta.PropGuest}})
	if err != nil {
		return nil, err
	}
	datasets := map[string]zfs.Dataset{}
	byGUID := map[uint64]zfs.Dataset{} // snapshots with guests (not their restored copies, which have none)
	for _, d := range local {
		switch {
		case d.Type != zfs.Snapshot:
			datasets[d.Name] = d
		case d.Props[meta.PropGuest] != "":
			byGUID[d.GUID] = d
		}
	}
	n := 0
	for i := range held {
		ds := &held[i]
		for k := range ds.Snapshots {
			s := &ds.Snapshots[k]
			here, ok := byGUID[s.GUID]
			if len(s.Guests) > 0 || !ok {
				continue
			}
			parent := datasets[here.Dataset()]
			s.Guests, ds.Type = meta.GuestNames(here.Props), recovery.Type(parent.Type)
			if s.Source == "" {
				s.Source, s.Mountpoint = parent.Name, parent.Mountpoint
			}
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	return []string{fmt.Sprintf("%d snapshot(s) listed without their guest (received before the receiver recorded "+
		"it): their guests taken from the same snapshots on this host (by GUID)", n)}, nil
}

// fetchDomainXML gets the guest's domain XML stored with the snapshot set: it comes with the Ready of a
// restore stream, on a connection of its own that is closed before any of the stream is received. It asks
// first for a snapshot whose first recorded guest is the plan's (a dataset shared by guests carries the first
// one's XML).
func fetchDomainXML(ctx context.Context, env job.Env, target string, plan recovery.Plan) (string, error) {
	disks := slices.Clone(plan.Disks)
	slices.SortStableFunc(disks, func(a, b recovery.Disk) int {
		return cmp.Compare(firstGuestRank(a, plan.Guest), firstGuestRank(b, plan.Guest))
	})
	var errs []error
	for _, d := range disks {
		c, err := env.Dial(ctx, target)
		if err != nil {
			return "", err
		}
		ready, _, err := c.Fetch(&transport.SendRequest{Dataset: d.Dataset, Snapshot: d.Snapshot.Name, GUID: d.Snapshot.GUID,
			Compression: transport.CompressionDefault})
		c.Close() // ends the stream: only its Ready was wanted
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n, err := guest.DomainName(ready.DomainXML); err == nil && n == plan.Guest {
			return ready.DomainXML, nil
		}
	}
	err := fmt.Errorf("no snapshot of set @%s comes with the domain XML of guest %s", plan.Set, plan.Guest)
	return "", errors.Join(append([]error{err}, errs...)...)
}

// restoreDisk receives one dataset of the set into its destination, unless it is there already; missing
// parents of the destination are created, not mounted.
func restoreDisk(ctx context.Context, env job.Env, w io.Writer, client *replication.Client, d recovery.Disk) error {
	snap := transport.SnapshotInfo{Name: d.Snapshot.Name, GUID: d.Snapshot.GUID}
	done, err := prepareRestoreTarget(ctx, env, w, d.Dest, d.Dataset, snap)
	if err != nil || done {
		return err
	}
	if i := strings.LastIndexByte(d.Dest, '/'); i > 0 {
		parent := d.Dest[:i]
		there, err := env.ZFS.Exists(ctx, parent)
		if err != nil {
			return err
		}
		if !there {
			if err := env.ZFS.CreateFilesystem(ctx, parent, map[string]string{"canmount": "off"}); err != nil {
				return fmt.Errorf("create %s, the parent of %s: %w", parent, d.Dest, err)
			}
		}
	}
	fmt.Fprintf(w, "restoring %s@%s into %s\n", d.Dataset, d.Snapshot.Name, d.Dest)
	ready, stream, err := client.Fetch(&transport.SendRequest{Dataset: d.Dataset, Snapshot: d.Snapshot.Name,
		GUID: d.Snapshot.GUID, Compression: transport.CompressionDefault})
	if err != nil {
		return err
	}
	return receiveRestore(ctx, env, w, d.Dest, ready, stream)
}

// defineRestoredGuest defines the guest with its disks on the restored datasets, once their kinds and
// mountpoints are known and each disk is checked on them.
func defineRestoredGuest(ctx context.Context, env job.Env, w io.Writer, plan recovery.Plan, xml, name, network string) error {
	mounted := map[string]string{}
	for i := range plan.Disks {
		d := &plan.Disks[i]
		props, err := env.ZFS.GetProps(ctx, d.Dest, "type", "mountpoint", "mounted")
		if err != nil {
			return err
		}
		if d.Type = recovery.Type(props["type"]); d.Type != recovery.Filesystem {
			continue
		}
		if !strings.HasPrefix(props["mountpoint"], "/") || props["mounted"] != "yes" {
			return fmt.Errorf("--define: restored %s is not mounted (mountpoint %q): mount it (zfs mount %s) and "+
				"run the restore again, or define the guest by hand", d.Dest, props["mountpoint"], d.Dest)
		}
		mounted[d.Dest] = props["mountpoint"]
	}
	built, err := plan.Domain(xml, recovery.DomainOptions{Name: name, Network: network, Mounted: mounted})
	if err != nil {
		return fmt.Errorf("--define: %w; the datasets are restored, the guest is not defined", err)
	}
	return defineBuilt(ctx, env, w, built.Built, "the datasets are restored")
}
