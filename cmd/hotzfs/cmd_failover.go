package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/guest"
	"github.com/hotzfs/hotzfs/meta"
	"github.com/hotzfs/hotzfs/receiver"
	"github.com/hotzfs/hotzfs/recovery"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

type failoverOptions struct {
	config     string
	client     string
	uri        string
	suffix     string
	network    string
	snapshot   string
	allowCrash bool
	start      bool
	yes        bool
}

func newFailoverCmd(g *globalOptions) *cobra.Command {
	var opts failoverOptions
	cmd := &cobra.Command{
		Use:   "failover GUEST",
		Short: "On the receiver host: clone a guest's received disks and define (and start) it here",
		Long: `failover runs on the backup host. It finds the datasets of GUEST among what CLIENT sent (hotzfs:guest
on the received snapshots, or the domain XML stored with snapshots received before that), picks one snapshot
set (the same snapshot on every one of them: by default the newest fs-frozen or offline one, --allow-crash
also takes a crash-consistent one, --snapshot NAME that one), clones each dataset's snapshot of it to
DATASET` + "`-failover`" + ` and defines the guest in the local libvirt with its disks on the clones; --start boots it. A set
missing on one of the guest's datasets is never used. The received datasets are not modified, so replication
can go on. The disk paths of the stored XML are mapped onto the clones by the source dataset and mountpoint
recorded with each snapshot (snapshots received before that: by the received names, and the plan says so).
The stored XML came from the client and is not trusted: the defined domain is built from an allowlist of it
(memory, vcpus, cpu model, os and boot order, features, clock, the disks on the clones, the agent channel, pty
consoles) and the plan lists everything left out. It gets a network interface only with --network NAME.
Without --yes it prints the plan only.`,
		Args: positional("the guest to start here from its backup"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFailover(cmd.Context(), g, cmd.OutOrStdout(), opts, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.config, "config", "c", "/etc/hotzfs/receiver.yaml", "receiver config file")
	f.StringVar(&opts.client, "client", "", "the client (sending host) whose backup to use")
	f.StringVar(&opts.uri, "libvirt", "qemu:///system", "libvirt URI on this host")
	f.StringVar(&opts.suffix, "suffix", "-failover", "appended to each cloned dataset's name")
	f.StringVar(&opts.network, "network", "", "libvirt network of this host for the guest's one virtio interface (default: no interface)")
	f.StringVar(&opts.snapshot, "snapshot", "latest", "snapshot set to fail over to (short name), or latest")
	f.BoolVar(&opts.allowCrash, "allow-crash", false, "latest may be a crash-consistent set")
	f.BoolVar(&opts.start, "start", false, "start the guest after defining it")
	f.BoolVar(&opts.yes, "yes", false, "carry out the plan")
	_ = cmd.MarkFlagRequired("client")
	return cmd
}

func runFailover(ctx context.Context, g *globalOptions, w io.Writer, opts failoverOptions, name string) error {
	cfg, err := config.LoadReceiver(opts.config)
	if err != nil {
		return usageError{err}
	}
	root, err := transport.ClientRoot(cfg.Root, opts.client)
	if err != nil {
		return usageError{err}
	}
	z := zfs.NewRunner(g.logger())
	held, notes, err := heldDatasets(ctx, z, root, name)
	if err != nil {
		return err
	}
	plan, err := recovery.Choose(held, recovery.Request{Guest: name, Snapshot: opts.snapshot,
		AllowCrash: opts.allowCrash, Kind: recovery.Failover, Suffix: opts.suffix})
	if err != nil {
		return fmt.Errorf("failover of %s: %w", name, err)
	}
	plan.Notes = append(notes, plan.Notes...)
	xml, err := storedDomainXML(ctx, z, plan)
	if err != nil {
		return fmt.Errorf("failover of %s: %w", name, err)
	}
	// Build the domain before cloning anything: a stored XML that cannot be defined refuses the failover.
	dom, err := plan.Domain(xml, recovery.DomainOptions{Name: name, Network: opts.network})
	if err != nil {
		return fmt.Errorf("failover of %s: %w; nothing cloned", name, err)
	}
	printLines(w, plan.Lines(&dom))
	if opts.start {
		fmt.Fprintln(w, "then start it")
	}
	if !opts.yes {
		fmt.Fprintln(w, "nothing done: add --yes to carry it out")
		return nil
	}
	mounted, err := cloneAll(ctx, z, w, plan)
	if err != nil {
		return err
	}
	built, err := plan.Domain(xml, recovery.DomainOptions{Name: name, Network: opts.network, Mounted: mounted})
	if err == nil {
		err = guest.CheckDisks(built.Disks)
	}
	if err != nil {
		return fmt.Errorf("refusing to define %s: %w; nothing defined, the clones stay (zfs destroy them to run "+
			"the failover again)", name, err)
	}
	logDropped(g.logger(), name, built.Built)
	client, err := guest.Connect(ctx, guest.Options{URI: opts.uri, Logger: g.logger()})
	if err != nil {
		return err
	}
	defer client.Close()
	d, err := client.Define(ctx, built.XML)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "defined %s\n", d.Name)
	if opts.start {
		if err := client.Start(ctx, d); err != nil {
			return err
		}
		fmt.Fprintf(w, "started %s\n", d.Name)
	}
	return nil
}

// cloneAll clones each snapshot of the plan and returns the mountpoints of the filesystem clones.
func cloneAll(ctx context.Context, z *zfs.Runner, w io.Writer, plan recovery.Plan) (map[string]string, error) {
	mounted := map[string]string{}
	var made []string
	for _, d := range plan.Disks {
		if err := z.Clone(ctx, d.Dataset+"@"+d.Snapshot.Name, d.Dest, nil); err != nil {
			if len(made) > 0 {
				err = fmt.Errorf("%w; the clones made so far stay (%s): zfs destroy them to run the failover again",
					err, strings.Join(made, ", "))
			}
			return nil, err
		}
		made = append(made, d.Dest)
		fmt.Fprintf(w, "cloned %s@%s to %s\n", d.Dataset, d.Snapshot.Name, d.Dest)
		if d.Type == recovery.Volume {
			continue
		}
		props, err := z.GetProps(ctx, d.Dest, "mountpoint", "mounted")
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(props["mountpoint"], "/") || props["mounted"] != "yes" {
			return nil, fmt.Errorf("clone %s is not mounted (mountpoint %q): mount it (zfs mount %s) and run the "+
				"failover again after destroying the clones, or define the guest by hand", d.Dest, props["mountpoint"], d.Dest)
		}
		mounted[d.Dest] = props["mountpoint"]
	}
	return mounted, nil
}

func printLines(w io.Writer, lines []string) {
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

func logDropped(log *slog.Logger, name string, b guest.Built) {
	for _, d := range b.Dropped {
		log.Warn("left out of the stored domain XML", "guest", name, "dropped", d)
	}
}

// heldDatasets lists the client's received datasets and their snapshots with what hotzfs recorded on them.
// Snapshots received before the receiver recorded hotzfs:guest name their guest only in the stored domain
// XML: for each dataset with such snapshots the XML of the newest is read, and if it is guest's, they are
// taken as guest's (a note says so).
func heldDatasets(ctx context.Context, z *zfs.Runner, root, name string) ([]recovery.Dataset, []string, error) {
	sum := meta.PropDomXML + ".sha256"
	list, err := z.List(ctx, []string{root}, zfs.ListOptions{Types: []zfs.Type{zfs.Filesystem, zfs.Volume, zfs.Snapshot},
		UserProps: []string{meta.PropConsistency, meta.PropGuest, meta.PropSource, meta.PropMountpoint, sum}})
	if err != nil {
		return nil, nil, err
	}
	byName := map[string]*recovery.Dataset{}
	var order []string
	for _, d := range list {
		if d.Type != zfs.Snapshot {
			byName[d.Name] = &recovery.Dataset{Name: d.Name, Type: recovery.Type(d.Type)}
			order = append(order, d.Name)
		}
	}
	unnamed := map[string]zfs.Dataset{} // dataset → its newest snapshot with a domain XML and no hotzfs:guest
	old := map[string][]int{}           // dataset → its snapshots with a domain XML and no hotzfs:guest
	for _, d := range list {
		ds := byName[d.Dataset()]
		if d.Type != zfs.Snapshot || ds == nil {
			continue
		}
		if d.Props[meta.PropGuest] == "" && d.Props[sum] != "" {
			old[ds.Name] = append(old[ds.Name], len(ds.Snapshots))
			if d.CreateTXG >= unnamed[ds.Name].CreateTXG {
				unnamed[ds.Name] = d
			}
		}
		ds.Snapshots = append(ds.Snapshots, recovery.Snapshot{Name: d.Short(), GUID: d.GUID, CreateTXG: d.CreateTXG,
			Consistency: d.Props[meta.PropConsistency], Guests: meta.GuestNames(d.Props),
			Source: d.Props[meta.PropSource], Mountpoint: d.Props[meta.PropMountpoint]})
	}
	var notes []string
	for _, dsName := range slices.Sorted(maps.Keys(unnamed)) {
		snap := unnamed[dsName]
		xml, err := receiver.StoredDomainXML(ctx, z, snap.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", snap.Name, err)
		}
		if n, err := guest.DomainName(xml); err != nil || n != name {
			continue
		}
		for _, i := range old[dsName] {
			byName[dsName].Snapshots[i].Guests = []string{name}
		}
		notes = append(notes, fmt.Sprintf("%s: snapshots received before hotzfs recorded hotzfs:guest taken as %s's "+
			"(the domain XML of @%s names it)", dsName, name, snap.Short()))
	}
	out := make([]recovery.Dataset, 0, len(order))
	for _, n := range order {
		out = append(out, *byName[n])
	}
	return out, notes, nil
}

// storedDomainXML reads the guest's domain XML from the snapshots of the plan's set: from one whose first
// recorded guest is the plan's (a snapshot of a dataset shared by guests carries the first one's XML), else
// from any that names it.
func storedDomainXML(ctx context.Context, z *zfs.Runner, plan recovery.Plan) (string, error) {
	disks := slices.Clone(plan.Disks)
	slices.SortStableFunc(disks, func(a, b recovery.Disk) int {
		return cmp.Compare(firstGuestRank(a, plan.Guest), firstGuestRank(b, plan.Guest))
	})
	var errs []error
	for _, d := range disks {
		snap := d.Dataset + "@" + d.Snapshot.Name
		xml, err := receiver.StoredDomainXML(ctx, z, snap)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", snap, err))
			continue
		}
		if n, err := guest.DomainName(xml); err == nil && n == plan.Guest {
			return xml, nil
		}
	}
	err := fmt.Errorf("no snapshot of set @%s carries the domain XML of guest %s", plan.Set, plan.Guest)
	return "", errors.Join(append([]error{err}, errs...)...)
}

func firstGuestRank(d recovery.Disk, name string) int {
	if g := d.Snapshot.Guests; len(g) > 0 && g[0] == name {
		return 0
	}
	return 1
}
