package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/guest"
	"github.com/hotzfs/hotzfs/job"
	"github.com/hotzfs/hotzfs/meta"
	"github.com/hotzfs/hotzfs/recovery"
	"github.com/hotzfs/hotzfs/replication"
	"github.com/hotzfs/hotzfs/transport"
)

type migrateOptions struct {
	config          string
	job             string
	to              string
	suffix          string
	network         string
	rounds          int
	small           string
	shutdownTimeout time.Duration
	agentTimeout    time.Duration
	yes             bool
}

func newMigrateCmd(g *globalOptions) *cobra.Command {
	var opts migrateOptions
	cmd := &cobra.Command{
		Use:   "migrate GUEST",
		Short: "On the guest's host: move a running guest to the backup host, with a downtime of one small incremental",
		Long: `migrate runs on the guest's host and moves GUEST to the host of its job's receiver, without shared storage:

  1. while the guest runs, backups (snapshot and replicate, fs-frozen) are repeated until one sends less than
     --small, or --rounds of them ran;
  2. the guest is shut down (asked to power off; after --shutdown-timeout its filesystems are frozen through
     the agent and it is stopped), and a last snapshot set goes out: one small incremental;
  3. the receiver clones that set (DATASET` + "`-migrated`" + `; the client needs allow_clone: true in the receiver's
     config) and the guest is defined from its domain XML here (allowlisted, as failover does) on the clones
     at --to, the libvirt of the receiver's host, and started there.

Until the switch, any failure leaves the guest running here (started again if it was stopped) and nothing
defined there. The guest stays defined here, shut off and without autostart; its backups here leave it out
(they would take the base of its way home), and ` + "`hotzfs failback GUEST --standby URI --suffix -migrated --sync-only`" + `
brings what it writes there to this host (DATASET-failback) while it runs there; ` + "`hotzfs failback`" + ` without
--sync-only moves it back. Without --yes it prints the plan only.`,
		Args: positional("the guest to move to the receiver's host"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMigrate(cmd.Context(), g, cmd.OutOrStdout(), opts, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.config, "config", "c", "/etc/hotzfs/hotzfs.yaml", "sender config file")
	f.StringVar(&opts.job, "job", "", "job that backs the guest up (default: the first that does)")
	f.StringVar(&opts.to, "to", "", "libvirt URI of the receiver's host, where the guest is to run, e.g. qemu+ssh://root@backup1/system")
	f.StringVar(&opts.suffix, "suffix", "-migrated", "appended to each received dataset's name to name its clone on the receiver")
	f.StringVar(&opts.network, "network", "", "libvirt network there for the guest's one virtio interface (default: no interface)")
	f.IntVar(&opts.rounds, "rounds", 3, "most backups while the guest runs, before it is stopped")
	f.StringVar(&opts.small, "small", "64MiB", "a backup that sends less than this ends the rounds while the guest runs")
	f.DurationVar(&opts.shutdownTimeout, "shutdown-timeout", 2*time.Minute, "how long the guest may take to power off before it is frozen and stopped")
	f.DurationVar(&opts.agentTimeout, "agent-timeout", 5*time.Minute, "how long to wait for the guest's agent there after its start (0: do not wait)")
	f.BoolVar(&opts.yes, "yes", false, "carry out the plan")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func runMigrate(ctx context.Context, g *globalOptions, w io.Writer, opts migrateOptions, name string) error {
	small, err := config.ParseSize(opts.small)
	if err != nil {
		return usagef("--small: %v", err)
	}
	if opts.rounds < 1 || opts.shutdownTimeout <= 0 || opts.agentTimeout < 0 {
		return usagef("--rounds must be at least 1, --shutdown-timeout positive, --agent-timeout not negative")
	}
	env, err := senderEnv(g, opts.config)
	if err != nil {
		return err
	}
	j, err := jobFor(env.Config, opts.job, "guest "+name, func(j config.Job) bool { return backsGuest(j, name) })
	if err != nil {
		return err
	}
	if m, err := job.MigratedGuest(env.Config.StateDir, name); err != nil {
		return err
	} else if m != nil {
		return fmt.Errorf("migrate %s: it was migrated to %s at %s; bring it home first (hotzfs failback %s --standby %s --suffix %s)",
			name, m.To, m.At.Format(time.RFC3339), name, m.To, m.Suffix)
	}
	if err := preflightReceiver(ctx, env, j.Target); err != nil {
		return fmt.Errorf("migrate %s: %w; nothing done", name, err)
	}
	here, err := env.Guests(ctx)
	if err != nil {
		return err
	}
	defer here.Close()
	dom, err := here.Lookup(ctx, name)
	if err != nil {
		return err
	}
	st, err := here.State(ctx, dom)
	if err != nil {
		return err
	}
	if st != guest.StateRunning && st != guest.StateShutoff {
		return fmt.Errorf("migrate %s: the guest is %s here; resume it (virsh resume %s) or shut it off first", name, st, name)
	}
	xml, err := here.XML(ctx, dom, true)
	if err != nil {
		return err
	}
	there, err := guest.Connect(ctx, guest.Options{URI: opts.to, Logger: g.logger()})
	if err != nil {
		return fmt.Errorf("migrate %s: the target's libvirt: %w; nothing done", name, err)
	}
	defer there.Close()
	if _, err := there.Lookup(ctx, name); err == nil {
		return fmt.Errorf("migrate %s: a domain %s is defined at %s already; undefine it there first (virsh -c %s undefine %s)",
			name, name, opts.to, opts.to, name)
	} else if !errors.Is(err, guest.ErrDomainNotFound) {
		return fmt.Errorf("migrate %s: the target's libvirt: %w; nothing done", name, err)
	}
	running := st == guest.StateRunning
	fmt.Fprintf(w, "plan: move %s (%s here) to %s through target %q\n", name, st, opts.to, j.Target)
	if running {
		fmt.Fprintf(w, "  up to %d backup(s) while it runs, until one sends less than %s; then it is shut down for the last one\n",
			opts.rounds, humanBytes(uint64(small)))
	} else {
		fmt.Fprintln(w, "  it is not running: one backup, then it is defined there")
	}
	fmt.Fprintf(w, "  the receiver clones that last set into DATASET%s, the guest is defined there on them and started\n", opts.suffix)
	if !opts.yes {
		fmt.Fprintln(w, "nothing done: add --yes to carry it out")
		return nil
	}

	start := time.Now()
	jc := j
	jc.Guests, jc.Datasets = []string{name}, nil
	if running {
		for round := 1; round <= opts.rounds; round++ {
			rep := job.Run(ctx, env, jc, job.Steps{Snapshot: true, Replicate: true})
			if rep.Err != nil {
				return fmt.Errorf("migrate %s: backup %d while it runs: %w; the guest runs here as before, nothing defined there", name, round, rep.Err)
			}
			sent := sentBytes(rep)
			fmt.Fprintf(w, "backup %d while it runs: @%s, %s sent in %s\n", round, rep.Snapshot.Name, humanBytes(sent),
				rep.Duration.Round(time.Millisecond))
			if sent < uint64(small) {
				break
			}
		}
	}
	down := time.Now()
	consistency := meta.Offline
	if running {
		if consistency, err = stopGuest(ctx, w, here, dom, opts.shutdownTimeout, "the guest here"); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	back := func(err error) error { return startBack(ctx, w, here, dom, running, name, err) }
	final, err := finalBackup(ctx, env, jc, consistency)
	if err != nil {
		return back(err)
	}
	fmt.Fprintf(w, "last backup with the guest stopped: @%s (%s), %s sent\n", final.set, consistency, humanBytes(final.sent))
	domXML, err := cloneThere(ctx, env, w, j.Target, name, xml, final, opts)
	if err != nil {
		return back(err)
	}
	d, err := there.Define(ctx, domXML)
	if err != nil {
		return back(fmt.Errorf("define %s at %s: %w (the clones on the receiver stay: zfs destroy them there to migrate again)", name, opts.to, err))
	}
	if err := there.Start(ctx, d); err != nil {
		return back(fmt.Errorf("start %s at %s: %w (it stays defined there: virsh -c %s undefine %s, and destroy the clones, to migrate again)",
			name, opts.to, err, opts.to, name))
	}
	fmt.Fprintf(w, "started %s at %s\n", name, opts.to)
	if err := here.SetAutostart(ctx, dom, false); err != nil {
		fmt.Fprintf(w, "could not turn off autostart of %s here (%v): turn it off (virsh autostart --disable %s), or it boots here too with this host\n", name, err, name)
	}
	if err := job.MarkMigrated(env.Config.StateDir, job.Migrated{Guest: name, To: opts.to, Target: j.Target, Set: final.set,
		Suffix: opts.suffix, At: time.Now().UTC()}); err != nil {
		fmt.Fprintf(w, "could not record the migration (%v): leave %s out of the backups here by hand\n", err, name)
	}
	agent := ""
	if opts.agentTimeout > 0 {
		if waited, err := waitAgent(ctx, there, d, opts.agentTimeout); err != nil {
			fmt.Fprintf(w, "the guest's agent did not answer there within %s (%v)\n", opts.agentTimeout, err)
		} else {
			agent = fmt.Sprintf(", agent answering %s after its start", waited.Round(time.Second))
		}
	}
	fmt.Fprintf(w, "migrated %s: down for %s (stop here to start there%s; the last step sent %s); migrate took %s\n", name,
		time.Since(down).Round(time.Second), agent, humanBytes(final.sent), time.Since(start).Round(time.Second))
	fmt.Fprintf(w, "its backups here leave it out now; bring its writes here with: hotzfs failback %s --standby %s --suffix %s --sync-only\n",
		name, opts.to, opts.suffix)
	return nil
}

// preflightReceiver checks that the job's receiver answers and lets this client clone what it holds.
func preflightReceiver(ctx context.Context, env job.Env, target string) error {
	client, err := env.Dial(ctx, target)
	if err != nil {
		return err
	}
	defer client.Close()
	if !client.Offers(transport.CapabilityClone) {
		return fmt.Errorf("target %q does not let this client clone its snapshots there: set allow_clone: true for it "+
			"in the receiver's config (and restart hotzfs serve)", target)
	}
	return nil
}

// sentBytes is what a run's replication sent, before compression.
func sentBytes(rep *job.Report) uint64 {
	var n uint64
	for _, r := range rep.Replicated {
		for _, s := range r.Steps {
			n += s.Bytes
		}
	}
	return n
}

// migratedSet is the last snapshot set of a migration as the receiver holds it.
type migratedSet struct {
	set      string
	sent     uint64
	datasets []migratedDataset
}

type migratedDataset struct {
	local, target string // the dataset here, and where it lands on the receiver (relative to the client's root)
	guid          uint64
}

// finalBackup snapshots the stopped guest's datasets and replicates them; a guest that was frozen and then
// stopped has its snapshots marked as such rather than as offline.
func finalBackup(ctx context.Context, env job.Env, jc config.Job, c meta.Consistency) (migratedSet, error) {
	snap := job.Run(ctx, env, jc, job.Steps{Snapshot: true})
	if snap.Err != nil {
		return migratedSet{}, fmt.Errorf("the last snapshot: %w", snap.Err)
	}
	if c != meta.Offline {
		for _, s := range snap.Snapshot.Snapshots {
			if err := env.ZFS.SetProps(ctx, s.Snapshot, map[string]string{meta.PropConsistency: string(c)}); err != nil {
				return migratedSet{}, err
			}
		}
	}
	rep := job.Run(ctx, env, jc, job.Steps{Replicate: true})
	if rep.Err != nil {
		return migratedSet{}, fmt.Errorf("the last replication: %w", rep.Err)
	}
	out := migratedSet{sent: sentBytes(rep)}
	for _, s := range snap.Snapshot.Snapshots {
		_, short, _ := strings.Cut(s.Snapshot, "@")
		i := slices.IndexFunc(rep.Replicated, func(r replication.Report) bool { return r.Source == s.Dataset })
		switch {
		case out.set != "" && short != out.set:
			return migratedSet{}, fmt.Errorf("the last snapshot set has two names (@%s, @%s): run the migration again", out.set, short)
		case i < 0 || rep.Replicated[i].Base != short:
			return migratedSet{}, fmt.Errorf("%s@%s was not replicated", s.Dataset, short)
		}
		out.set = short
		out.datasets = append(out.datasets, migratedDataset{local: s.Dataset, target: rep.Replicated[i].Target,
			guid: rep.Replicated[i].BaseGUID})
	}
	if len(out.datasets) == 0 {
		return migratedSet{}, fmt.Errorf("the last snapshot took no dataset of the guest")
	}
	return out, nil
}

// cloneThere has the receiver clone the set and builds the domain on the clones from the guest's XML here.
func cloneThere(ctx context.Context, env job.Env, w io.Writer, target, name, xml string, set migratedSet, opts migrateOptions) (string, error) {
	client, err := env.Dial(ctx, target)
	if err != nil {
		return "", err
	}
	defer client.Close()
	req := &transport.CloneRequest{Snapshot: set.set, Suffix: opts.suffix}
	for _, d := range set.datasets {
		req.Datasets = append(req.Datasets, d.target)
		req.GUIDs = append(req.GUIDs, d.guid)
	}
	resp, err := client.Clone(req)
	if err != nil {
		return "", fmt.Errorf("clone @%s on the receiver: %w", set.set, err)
	}
	clones := map[string]transport.CloneInfo{}
	for _, c := range resp.Clones {
		clones[c.Dataset] = c
		fmt.Fprintf(w, "cloned %s@%s to %s on the receiver\n", c.Dataset, set.set, c.Clone)
	}
	plan := recovery.Plan{Guest: name, Kind: recovery.Failover, Set: set.set}
	mounted := map[string]string{}
	for _, d := range set.datasets {
		c := clones[d.target]
		disk := recovery.Disk{Dataset: d.target, Snapshot: recovery.Snapshot{Name: set.set, GUID: d.guid, Source: d.local}}
		if c.Device != "" {
			disk.Type, disk.Dest = recovery.Volume, strings.TrimPrefix(c.Device, "/dev/zvol/")
		} else {
			disk.Type, disk.Dest = recovery.Filesystem, c.Clone
			mounted[c.Clone] = c.Mountpoint
			props, err := env.ZFS.GetProps(ctx, d.local, "mountpoint")
			if err != nil {
				return "", err
			}
			disk.Snapshot.Mountpoint = props["mountpoint"]
		}
		plan.Disks = append(plan.Disks, disk)
	}
	built, err := plan.Domain(xml, recovery.DomainOptions{Name: name, Network: opts.network, Mounted: mounted})
	if err != nil {
		return "", fmt.Errorf("the domain on the clones: %w (the clones on the receiver stay: zfs destroy them there to migrate again)", err)
	}
	logDropped(env.Log, name, built.Built)
	return built.XML, nil
}

// startBack starts the guest here again after a failed switch and reports err with what was done.
func startBack(ctx context.Context, w io.Writer, here *guest.Client, dom guest.Domain, running bool, name string, err error) error {
	if !running {
		return fmt.Errorf("migrate %s: %w; the guest stays here, shut off", name, err)
	}
	if serr := here.Start(context.WithoutCancel(ctx), dom); serr != nil {
		return fmt.Errorf("migrate %s: %w; starting it here again failed too: %v (virsh start %s)", name, err, serr, name)
	}
	fmt.Fprintf(w, "started %s here again\n", name)
	return fmt.Errorf("migrate %s: %w; the guest runs here again", name, err)
}

// waitAgent waits until the guest's agent answers a ping and says how long that took.
func waitAgent(ctx context.Context, c *guest.Client, dom guest.Domain, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	var err error
	for time.Since(start) < timeout {
		if _, err = c.AgentCommand(ctx, dom, "guest-ping", nil, 5*time.Second); err == nil {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return 0, err
}
