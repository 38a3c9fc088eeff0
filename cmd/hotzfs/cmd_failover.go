package main

import (
	"context"
	"fmt"
	"io"
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
	config string
	client string
	uri    string
	suffix string
	start  bool
	yes    bool
}

func newFailoverCmd(g *globalOptions) *cobra.Command {
	var opts failoverOptions
	cmd := &cobra.Command{
		Use:   "failover GUEST",
		Short: "On the receiver host: clone a guest's latest received disks and define (and start) it here",
		Long: `failover runs on the backup host. It finds the datasets of GUEST among what CLIENT sent (by the domain
XML stored with each received snapshot), clones each one's latest snapshot to DATASET` + "`-failover`" + `, rewrites
the guest's disk paths to the clones and defines the guest in the local libvirt; --start boots it. The received
datasets are not modified, so replication can go on. Without --yes it prints the plan only.`,
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
	// The disk paths of the stored XML must all move to the clones; find out before cloning anything.
	paths := map[string]string{}
	for _, d := range disks {
		paths["/dev/zvol/"+d.Rel] = "/dev/zvol/" + d.Clone
		paths["/"+d.Rel] = "/" + d.Clone
	}
	if _, err := guest.RewriteForRestore(xml, name, paths); err != nil {
		return err
	}
	for _, d := range disks {
		fmt.Fprintf(w, "clone %s → %s\n", d.Snapshot, d.Clone)
	}
	fmt.Fprintf(w, "define guest %s with its disks on the clones", name)
	if opts.start {
		fmt.Fprint(w, ", then start it")
	}
	fmt.Fprintln(w)
	if !opts.yes {
		fmt.Fprintln(w, "nothing done: add --yes to carry it out")
		return nil
	}
	for _, d := range disks {
		if err := z.Clone(ctx, d.Snapshot, d.Clone, nil); err != nil {
			return err
		}
		if props, err := z.GetProps(ctx, d.Clone, "mountpoint"); err == nil && strings.HasPrefix(props["mountpoint"], "/") {
			paths["/"+d.Rel] = props["mountpoint"]
		}
	}
	newXML, err := guest.RewriteForRestore(xml, name, paths)
	if err != nil {
		return err
	}
	client, err := guest.Connect(ctx, guest.Options{URI: opts.uri, Logger: g.logger()})
	if err != nil {
		return err
	}
	defer client.Close()
	dom, err := client.Define(ctx, newXML)
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
