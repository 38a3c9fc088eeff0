package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/guest"
	"github.com/hotzfs/hotzfs/meta"
	"github.com/hotzfs/hotzfs/snapshot"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

type failoverOptions struct {
	config  string
	client  string
	uri     string
	suffix  string
	network string
	start   bool
	yes     bool
}

func newFailoverCmd(g *globalOptions) *cobra.Command {
	var opts failoverOptions
	cmd := &cobra.Command{
		Use:   "failover GUEST",
		Short: "On the receiver host: clone a guest's latest received disks and define (and start) it here",
		Long: `failover runs on the backup host. It finds the datasets of GUEST among what CLIENT sent (by the domain
XML stored with each received snapshot), clones each one's latest snapshot to DATASET` + "`-failover`" + ` and defines the guest in the local libvirt
with its disks on the clones; --start boots it. The received datasets are not modified, so replication can go on.
The stored XML came from the client and is not trusted: the defined domain is built from an allowlist of it
(memory, vcpus, cpu model, os and boot order, features, clock, the disks on the clones, the agent channel, pty
consoles) and the plan lists everything left out. It gets a network interface only with --network NAME.
Without --yes it prints the plan only.`,
		Args: cobra.ExactArgs(1),
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
	f.BoolVar(&opts.start, "start", false, "start the guest after defining it")
	f.BoolVar(&opts.yes, "yes", false, "carry out the plan")
	_ = cmd.MarkFlagRequired("client")
	return cmd
}

// failoverDisk is one received dataset of the guest and its clone.
type failoverDisk struct {
	Dataset, Snapshot, Clone string
	Rel                      string // name relative to the client's root: the dataset's name on the sender
	Type                     zfs.Type
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
	disks, xml, err := findGuestDisks(ctx, z, root, name, opts.suffix)
	if err != nil {
		return err
	}
	// Build the domain before cloning anything: a stored XML that cannot be defined refuses the failover.
	spec := guest.BuildSpec{Name: name, Network: opts.network, Volumes: map[string]string{}, Filesystems: map[string]string{}}
	for _, d := range disks {
		if d.Type == zfs.Volume {
			spec.Volumes["/dev/zvol/"+d.Rel] = "/dev/zvol/" + d.Clone
		} else {
			spec.Filesystems["/"+d.Rel] = "/" + d.Clone // the clone's mountpoint is known once it exists
		}
	}
	plan, err := guest.BuildDomain(xml, spec)
	if err != nil {
		return fmt.Errorf("failover of %s: %w", name, err)
	}
	for _, d := range disks {
		fmt.Fprintf(w, "clone %s → %s\n", d.Snapshot, d.Clone)
	}
	fmt.Fprintf(w, "define guest %s with its disks on the clones", name)
	if opts.start {
		fmt.Fprint(w, ", then start it")
	}
	fmt.Fprintln(w)
	printDropped(w, plan, opts.network)
	if !opts.yes {
		fmt.Fprintln(w, "nothing done: add --yes to carry it out")
		return nil
	}
	for _, d := range disks {
		if err := z.Clone(ctx, d.Snapshot, d.Clone, nil); err != nil {
			return err
		}
		if d.Type == zfs.Volume {
			continue
		}
		props, err := z.GetProps(ctx, d.Clone, "mountpoint", "mounted")
		if err != nil {
			return err
		}
		if !strings.HasPrefix(props["mountpoint"], "/") || props["mounted"] != "yes" {
			return fmt.Errorf("clone %s is not mounted (mountpoint %q): mount it (zfs mount %s) and run the failover "+
				"again after destroying the clones, or define the guest by hand", d.Clone, props["mountpoint"], d.Clone)
		}
		spec.Filesystems["/"+d.Rel] = props["mountpoint"]
	}
	built, err := guest.BuildDomain(xml, spec)
	if err == nil {
		err = guest.CheckDisks(built.Disks)
	}
	if err != nil {
		return fmt.Errorf("refusing to define %s: %w; nothing defined, the clones stay (zfs destroy them to run "+
			"the failover again)", name, err)
	}
	logDropped(g.logger(), name, built)
	client, err := guest.Connect(ctx, guest.Options{URI: opts.uri, Logger: g.logger()})
	if err != nil {
		return err
	}
	defer client.Close()
	dom, err := client.Define(ctx, built.XML)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "defined %s\n", dom.Name)
	if opts.start {
		if err := client.Start(ctx, dom); err != nil {
			return err
		}
		fmt.Fprintf(w, "started %s\n", dom.Name)
	}
	return nil
}

// printDropped lists, in a plan, what of a stored domain XML the defined guest will not have.
func printDropped(w io.Writer, b guest.Built, network string) {
	if network != "" {
		fmt.Fprintf(w, "the guest gets one virtio interface on network %s\n", network)
	} else {
		fmt.Fprintln(w, "the guest gets no network interface (--network NAME gives it one)")
	}
	if len(b.Dropped) == 0 {
		return
	}
	fmt.Fprintln(w, "left out of the stored domain XML (not on the allowlist; add by hand what this host should give it):")
	for _, d := range b.Dropped {
		fmt.Fprintf(w, "  - %s\n", d)
	}
}

func logDropped(log *slog.Logger, name string, b guest.Built) {
	for _, d := range b.Dropped {
		log.Warn("left out of the stored domain XML", "guest", name, "dropped", d)
	}
}

// findGuestDisks finds the client's datasets whose newest snapshot carries the domain XML of guest name.
func findGuestDisks(ctx context.Context, z *zfs.Runner, root, name, suffix string) ([]failoverDisk, string, error) {
	list, err := z.List(ctx, []string{root}, zfs.ListOptions{Types: []zfs.Type{zfs.Filesystem, zfs.Volume, zfs.Snapshot},
		UserProps: []string{snapshot.PropDomXML + ".sha256"}})
	if err != nil {
		return nil, "", err
	}
	newest := map[string]zfs.Dataset{}
	types := map[string]zfs.Type{}
	for _, d := range list {
		if d.Type != zfs.Snapshot {
			types[d.Name] = d.Type
			continue
		}
		if n, ok := newest[d.Dataset()]; !ok || d.CreateTXG > n.CreateTXG {
			newest[d.Dataset()] = d
		}
	}
	var disks []failoverDisk
	var xml string
	for ds, snap := range newest {
		if snap.Props[snapshot.PropDomXML+".sha256"] == "" {
			continue
		}
		props, err := z.GetProps(ctx, snap.Name, "all")
		if err != nil {
			return nil, "", err
		}
		x, err := meta.DecodeDomainXML(props)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", snap.Name, err)
		}
		if n, err := guest.DomainName(x); err != nil || n != name {
			continue
		}
		xml = x
		disks = append(disks, failoverDisk{Dataset: ds, Snapshot: snap.Name, Clone: ds + suffix,
			Rel: strings.TrimPrefix(ds, root+"/"), Type: types[ds]})
	}
	if len(disks) == 0 {
		return nil, "", fmt.Errorf("no dataset under %s carries guest %q (its backups must come from a job with guests)", root, name)
	}
	sort.Slice(disks, func(i, j int) bool { return disks[i].Dataset < disks[j].Dataset })
	return disks, xml, nil
}
