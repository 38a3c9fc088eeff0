package main

import (
	"cmp"
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
	"github.com/hotzfs/hotzfs/replication"
	"github.com/hotzfs/hotzfs/snapshot"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

type failbackOptions struct {
	config          string
	job             string
	standby         string
	suffix          string
	shutdownTimeout time.Duration
	noStart         bool
	syncOnly        bool
	yes             bool
}

func newFailbackCmd(g *globalOptions) *cobra.Command {
	var opts failbackOptions
	cmd := &cobra.Command{
		Use:   "failback GUEST",
		Short: "On the original host: bring a failed-over guest home with what it wrote on the backup host",
		Long: `failback runs on the guest's original host, after ` + "`hotzfs failover`" + ` ran the guest on the backup host
from clones of one received snapshot set (SET). It brings the standby's writes home through the receiver and
starts the guest here again, with a downtime of one small incremental:

  1. the receiver snapshots the failover clones (@T1) while the standby runs, and each clone's changes since
     SET are received here into DATASET-failback, a new clone of DATASET@SET;
  2. the standby is shut down (the guest is asked to power off; after --shutdown-timeout its filesystems are
     frozen through the agent and it is stopped), the clones are snapshotted again (@T2) and T1→T2 follows;
  3. each DATASET-failback takes the place of DATASET: the original, with whatever it holds after SET (a host
     that failed keeps writes that never reached the receiver), is kept as DATASET-before-failback-T1 — or
     destroyed when it holds nothing after SET — and the guest here is started (unless --no-start).

The guest here must be shut off; the standby is found by GUEST's name at --standby. The next backup sends
T1, T2 and the new snapshot as one incremental from SET. Nothing on the receiver is destroyed: failback prints
the commands that undefine the standby and destroy the clones. Without --yes it prints the plan only.

After ` + "`hotzfs migrate`" + ` the clones are DATASET-migrated (the suffix is taken from the migration's record here).
--sync-only runs step 1 alone, the standby's filesystems frozen through its agent for the snapshot, and
leaves DATASET-failback in place: run it from cron while the guest runs there, and each run receives only
what changed since the last. A later failback goes on from there.`,
		Args: positional("the guest to bring home"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFailback(cmd.Context(), g, cmd.OutOrStdout(), opts, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.config, "config", "c", "/etc/hotzfs/hotzfs.yaml", "sender config file")
	f.StringVar(&opts.job, "job", "", "job that backs the guest up (default: the first that does)")
	f.StringVar(&opts.standby, "standby", "", "libvirt URI of the backup host where the guest runs, e.g. qemu+ssh://root@backup1/system")
	f.StringVar(&opts.suffix, "suffix", "", "the suffix failover (-failover) or migrate (-migrated) gave the clones on the receiver (default: migrate's if it moved the guest, else -failover)")
	f.DurationVar(&opts.shutdownTimeout, "shutdown-timeout", 2*time.Minute, "how long the standby may take to power off before it is frozen and stopped")
	f.BoolVar(&opts.noStart, "no-start", false, "leave the guest here shut off")
	f.BoolVar(&opts.syncOnly, "sync-only", false, "only receive what the standby wrote (it keeps running); the guest here is not touched")
	f.BoolVar(&opts.yes, "yes", false, "carry out the plan")
	_ = cmd.MarkFlagRequired("standby")
	return cmd
}

// failbackDisk is one dataset of the guest on its way home.
type failbackDisk struct {
	local    string // the guest's dataset here
	received string // the received dataset, relative to the client's root on the receiver
	clone    string // its failover clone, relative to the client's root
	set      string // the snapshot set the clone started from (short name)
	setGUID  uint64
	incoming string                 // the new clone of local@set that the standby's changes arrive in
	last     transport.SnapshotInfo // the clone's newest snapshot received into incoming
	state    localState             // of local, read before anything changes
	aside    string                 // where local went, once swapped ("" when destroyed)
	// cloneSnaps are the clone's snapshots on the receiver, as listed before anything changes.
	cloneSnaps []transport.SnapshotInfo
}

func runFailback(ctx context.Context, g *globalOptions, w io.Writer, opts failbackOptions, name string) error {
	if opts.shutdownTimeout <= 0 {
		return usagef("--shutdown-timeout must be positive")
	}
	env, err := senderEnv(g, opts.config)
	if err != nil {
		return err
	}
	j, err := jobFor(env.Config, opts.job, "guest "+name, func(j config.Job) bool { return backsGuest(j, name) })
	if err != nil {
		return err
	}
	migrated, err := job.MigratedGuest(env.Config.StateDir, name)
	if err != nil {
		return err
	}
	if opts.suffix == "" {
		opts.suffix = "-failover"
		if migrated != nil {
			opts.suffix = migrated.Suffix
		}
	}
	unlock, err := job.Lock(env.Config.StateDir, j.Name)
	if err != nil {
		return err
	}
	defer unlock()
	client, err := env.Dial(ctx, j.Target)
	if err != nil {
		return err
	}
	defer client.Close()
	disks, err := failbackDisks(ctx, env, client, j, name, opts.suffix)
	if err != nil {
		return fmt.Errorf("failback of %s: %w", name, err)
	}
	here, err := env.Guests(ctx)
	if err != nil {
		return err
	}
	defer here.Close()
	dom, err := here.Lookup(ctx, name)
	if err != nil {
		return fmt.Errorf("failback of %s: %w; define the guest here first (its disks must be the datasets below)", name, err)
	}
	if st, err := here.State(ctx, dom); err != nil {
		return err
	} else if st != guest.StateShutoff && !opts.syncOnly {
		return fmt.Errorf("failback of %s: the guest is %s on this host; shut it off first (virsh shutdown %s): "+
			"failback replaces its disks", name, st, name)
	}
	standby, err := guest.Connect(ctx, guest.Options{URI: opts.standby, Logger: g.logger()})
	if err != nil {
		return err
	}
	defer standby.Close()
	sdom, err := standby.Lookup(ctx, name)
	if err != nil {
		return fmt.Errorf("failback of %s: the standby at %s: %w", name, opts.standby, err)
	}
	printFailbackPlan(w, name, j.Target, opts.standby, disks, opts.syncOnly)
	if !opts.yes {
		fmt.Fprintln(w, "nothing done: add --yes to carry it out")
		return nil
	}
	if opts.syncOnly {
		return syncFromStandby(ctx, env, w, client, disks, standby, sdom, j.SnapshotPrefix)
	}

	start := time.Now()
	t1 := snapshot.Name(j.SnapshotPrefix, time.Now())
	if err := pullRound(ctx, env, w, client, disks, t1, meta.Crash); err != nil {
		return err
	}
	down := time.Now()
	consistency, err := stopGuest(ctx, w, standby, sdom, opts.shutdownTimeout, "the standby")
	if err != nil {
		return err
	}
	t2 := snapshot.Name(j.SnapshotPrefix, time.Now())
	if t2 == t1 {
		time.Sleep(time.Second) // snapshot names have a resolution of one second
		t2 = snapshot.Name(j.SnapshotPrefix, time.Now())
	}
	if err := pullRound(ctx, env, w, client, disks, t2, consistency); err != nil {
		return fmt.Errorf("%w; the standby is stopped: start it again (virsh -c %s start %s) or run the failback "+
			"again after zfs destroy -r of the -failback datasets here", err, opts.standby, name)
	}
	for i := range disks {
		if disks[i].aside, err = swapIn(ctx, env.ZFS, w, disks[i], t1); err != nil {
			return err
		}
	}
	if !opts.noStart {
		if err := waitDisks(ctx, disks); err != nil {
			return err
		}
		if err := here.Start(ctx, dom); err != nil {
			return fmt.Errorf("start %s here: %w", name, err)
		}
		fmt.Fprintf(w, "started %s here: down for %s (standby stop to start here); failback took %s\n", name,
			time.Since(down).Round(time.Second), time.Since(start).Round(time.Second))
	}
	fmt.Fprintf(w, "the guest's data is home at @%s (%s). On the backup host, when you no longer need the standby:\n", t2, consistency)
	fmt.Fprintf(w, "  virsh -c %s undefine %s\n", opts.standby, name)
	for _, d := range disks {
		fmt.Fprintf(w, "  zfs destroy -r ROOT/%s   (ROOT: this client's root in the receiver's config)\n", d.clone)
	}
	fmt.Fprintln(w, "the clones keep @"+disks[0].set+" on the receiver until they are destroyed")
	if migrated != nil {
		if err := job.ClearMigrated(env.Config.StateDir, name); err != nil {
			return fmt.Errorf("the guest is home, but its migration record stays (%w): remove it, or its backups here leave it out", err)
		}
		fmt.Fprintf(w, "its backups here take it again (migrate turned its autostart off: virsh autostart %s, if it had it)\n", name)
	}
	return nil
}

// syncFromStandby receives what the standby wrote since the last round into the -failback datasets here,
// its filesystems frozen through its agent for the snapshot when the agent answers.
func syncFromStandby(ctx context.Context, env job.Env, w io.Writer, client *replication.Client, disks []failbackDisk,
	standby *guest.Client, sdom guest.Domain, prefix string) error {
	snap := snapshot.Name(prefix, time.Now())
	if disks[0].last.Name == snap {
		time.Sleep(time.Second) // snapshot names have a resolution of one second
		snap = snapshot.Name(prefix, time.Now())
	}
	consistency := meta.Crash
	if _, err := standby.Freeze(ctx, sdom); err != nil {
		fmt.Fprintf(w, "the standby's agent did not freeze it (%v): its snapshot is crash-consistent\n", err)
	} else {
		consistency = meta.FSFrozen
	}
	made, err := snapshotClones(client, disks, snap, consistency)
	if consistency == meta.FSFrozen {
		if _, terr := standby.Thaw(context.WithoutCancel(ctx), sdom); terr != nil {
			err = errors.Join(err, fmt.Errorf("thaw the standby: %w (virsh -c URI domfsthaw %s)", terr, sdom.Name))
		}
	}
	if err != nil {
		return err
	}
	if err := receiveRound(ctx, env, w, client, disks, made); err != nil {
		return err
	}
	fmt.Fprintf(w, "synced @%s (%s) from the standby into %s; run again for what it writes next\n", snap, consistency,
		strings.Join(incomingNames(disks), ", "))
	return nil
}

func incomingNames(disks []failbackDisk) []string {
	out := make([]string, len(disks))
	for i, d := range disks {
		out[i] = d.incoming
	}
	return out
}

// failbackDisks finds the guest's failover clones on the receiver and checks each against its dataset here.
func failbackDisks(ctx context.Context, env job.Env, client *replication.Client, j config.Job, name, suffix string) ([]failbackDisk, error) {
	infos, err := client.List(nil)
	if err != nil {
		return nil, err
	}
	var disks []failbackDisk
	var clones []string
	for _, info := range infos {
		var source string
		theirs := false
		for _, s := range info.Snapshots {
			if slices.Contains(s.Guests, name) {
				theirs = true
				source = cmp.Or(s.Source, source) // a resumed stream records no source
			}
		}
		if !theirs || strings.HasSuffix(info.Name, suffix) {
			continue
		}
		if source == "" {
			source = strings.TrimPrefix(info.Name, strings.TrimSuffix(j.TargetRoot, "/")+"/")
		}
		if err := zfs.ValidateDataset(source); err != nil || job.TargetDataset(j, source) != info.Name {
			continue // recorded by the client; only a name that maps back onto the job's own is used
		}
		disks = append(disks, failbackDisk{local: source, received: info.Name, clone: info.Name + suffix})
		clones = append(clones, info.Name+suffix)
	}
	if len(disks) == 0 {
		return nil, fmt.Errorf("target %q holds no dataset of guest %s", j.Target, name)
	}
	listed, err := client.List(clones)
	if err != nil {
		return nil, err
	}
	byName := map[string]transport.DatasetInfo{}
	for _, info := range listed {
		byName[info.Name] = info
	}
	for i := range disks {
		d := &disks[i]
		info, ok := byName[d.clone]
		origin, set, _ := strings.Cut(info.Origin, "@")
		switch {
		case !ok:
			return nil, fmt.Errorf("the receiver has no failover clone %s of %s (did failover run with --suffix %s?)", d.clone, d.received, suffix)
		case origin != d.received || set == "":
			return nil, fmt.Errorf("%s on the receiver is not a clone of a snapshot of %s (origin %q)", d.clone, d.received, info.Origin)
		}
		d.set, d.setGUID = set, info.OriginGUID
		d.incoming = d.local + "-failback"
		d.cloneSnaps = info.Snapshots
	}
	for _, d := range disks[1:] {
		if d.set != disks[0].set {
			return nil, fmt.Errorf("the failover clones started from different snapshot sets (@%s, @%s)", disks[0].set, d.set)
		}
	}
	for i := range disks {
		if err := checkLocal(ctx, env.ZFS, &disks[i]); err != nil {
			return nil, err
		}
	}
	return disks, nil
}

// checkLocal checks that the guest's dataset here still has the snapshot the clone started from, and that
// nothing of an earlier failback is in the way, and reads what it holds after the set.
func checkLocal(ctx context.Context, z *zfs.Runner, d *failbackDisk) error {
	all, err := z.List(ctx, []string{d.local}, zfs.ListOptions{Types: []zfs.Type{zfs.Filesystem, zfs.Volume, zfs.Snapshot}, Depth: 1})
	if err != nil {
		return fmt.Errorf("%s here: %w", d.local, err)
	}
	var snaps []zfs.Dataset
	for _, s := range all {
		switch {
		case s.Type == zfs.Snapshot:
			snaps = append(snaps, s)
		case s.Name != d.local:
			return fmt.Errorf("%s has a child dataset %s: failback replaces whole datasets and cannot carry children; "+
				"move it elsewhere (zfs rename) first", d.local, s.Name)
		}
	}
	if !slices.ContainsFunc(snaps, func(s zfs.Dataset) bool { return s.Short() == d.set && s.GUID == d.setGUID }) {
		return fmt.Errorf("%s here has no @%s with guid %d, the snapshot the standby started from: the standby's "+
			"changes cannot come home incrementally; restore them with hotzfs restore instead", d.local, d.set, d.setGUID)
	}
	if there, err := z.Exists(ctx, d.incoming); err != nil {
		return err
	} else if there {
		if err := goOnFrom(ctx, z, d); err != nil {
			return err
		}
	}
	d.state, err = readLocal(ctx, z, d.local, d.set, snaps)
	return err
}

// goOnFrom takes up an incoming dataset an earlier failback --sync-only left: a clone of local@set whose
// newest snapshot the receiver's clone has too (same name and GUID) is where the next round starts.
// Anything else in the way is refused.
func goOnFrom(ctx context.Context, z *zfs.Runner, d *failbackDisk) error {
	again := fmt.Sprintf("zfs destroy -r %s, then run the failback again", d.incoming)
	props, err := z.GetProps(ctx, d.incoming, "origin")
	if err != nil {
		return err
	}
	if props["origin"] != d.local+"@"+d.set {
		return fmt.Errorf("%s exists and is not a clone of %s@%s (origin %q): %s", d.incoming, d.local, d.set, props["origin"], again)
	}
	snaps, err := z.List(ctx, []string{d.incoming}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
	if err != nil {
		return err
	}
	if len(snaps) == 0 {
		return fmt.Errorf("%s exists without a snapshot of the standby's (an interrupted failback?): %s", d.incoming, again)
	}
	newest := slices.MaxFunc(snaps, func(a, b zfs.Dataset) int { return cmp.Compare(a.CreateTXG, b.CreateTXG) })
	i := slices.IndexFunc(d.cloneSnaps, func(s transport.SnapshotInfo) bool { return s.Name == newest.Short() && s.GUID == newest.GUID })
	if i < 0 {
		return fmt.Errorf("%s@%s, the newest snapshot there, is not on the receiver's %s (pruned there?): the next "+
			"changes cannot follow it; %s", d.incoming, newest.Short(), d.clone, again)
	}
	d.last = d.cloneSnaps[i]
	return nil
}

func printFailbackPlan(w io.Writer, name, target, standby string, disks []failbackDisk, syncOnly bool) {
	verb := "bring " + name + " home"
	if syncOnly {
		verb = "receive what " + name + " wrote"
	}
	fmt.Fprintf(w, "plan: %s from the standby at %s (its clones of @%s on target %q)\n", verb, standby, disks[0].set, target)
	for _, d := range disks {
		since := "@" + d.set
		if d.last.Name != "" {
			since = "@" + d.last.Name + ", already here"
		}
		if syncOnly {
			fmt.Fprintf(w, "  %s: the changes of %s since %s arrive in %s\n", d.local, d.clone, since, d.incoming)
			continue
		}
		fmt.Fprintf(w, "  %s: the changes of %s since %s arrive in %s, which then replaces %s\n", d.local, d.clone, since, d.incoming, d.local)
		fmt.Fprintf(w, "    the original holds %s\n", d.state.describe(d.set))
	}
	if syncOnly {
		fmt.Fprintln(w, "  the standby keeps running; the guest here is not touched")
		return
	}
	fmt.Fprintf(w, "  the standby keeps running for the first pass, then is shut down for the last one; %s here is started after\n", name)
}

// pullRound has the receiver snapshot every clone at once as @snap, then receives each clone's changes since
// the last round (the first round: since the set, as a new clone of the set here).
func pullRound(ctx context.Context, env job.Env, w io.Writer, client *replication.Client, disks []failbackDisk, snap string, c meta.Consistency) error {
	made, err := snapshotClones(client, disks, snap, c)
	if err != nil {
		return err
	}
	return receiveRound(ctx, env, w, client, disks, made)
}

// snapshotClones has the receiver snapshot every clone at once as @snap and returns each clone's snapshot.
func snapshotClones(client *replication.Client, disks []failbackDisk, snap string, c meta.Consistency) (map[string]transport.SnapshotInfo, error) {
	clones := make([]string, len(disks))
	for i, d := range disks {
		clones[i] = d.clone
	}
	resp, err := client.Snapshot(&transport.SnapshotRequest{Datasets: clones, Name: snap, Consistency: string(c)})
	if err != nil {
		return nil, fmt.Errorf("snapshot the clones on the receiver: %w", err)
	}
	made := map[string]transport.SnapshotInfo{}
	for _, info := range resp.Datasets {
		made[info.Name] = info.Snapshots[0] // the client checked: one each, named snap
	}
	for _, d := range disks {
		if _, ok := made[d.clone]; !ok {
			return nil, fmt.Errorf("the receiver did not report @%s of %s", snap, d.clone)
		}
	}
	return made, nil
}

// receiveRound receives each clone's snapshot of made, incrementally from what came last (the first
// time: from the set, as a new clone of the set here).
func receiveRound(ctx context.Context, env job.Env, w io.Writer, client *replication.Client, disks []failbackDisk, made map[string]transport.SnapshotInfo) error {
	for i := range disks {
		d := &disks[i]
		s := made[d.clone]
		req := &transport.SendRequest{Dataset: d.clone, Snapshot: s.Name, GUID: s.GUID, Compression: transport.CompressionDefault}
		opts := zfs.ReceiveOptions{NoMount: true}
		if d.last.Name == "" {
			req.From, req.FromGUID = d.set, d.setGUID
			opts.Set = map[string]string{"origin": d.local + "@" + d.set}
		} else {
			req.From, req.FromGUID = d.last.Name, d.last.GUID
		}
		fmt.Fprintf(w, "receiving %s@%s (since @%s) into %s\n", d.clone, s.Name, req.From, d.incoming)
		_, stream, err := client.Fetch(req)
		if err != nil {
			return err
		}
		start := time.Now()
		if err := env.ZFS.Receive(ctx, d.incoming, opts, stream); err != nil {
			return fmt.Errorf("receive into %s: %w", d.incoming, err)
		}
		if _, err := io.Copy(io.Discard, stream); err != nil {
			return fmt.Errorf("end of the stream of %s@%s: %w", d.clone, s.Name, err)
		}
		fmt.Fprintf(w, "received %s in %s\n", humanBytes(uint64(stream.RawBytes())), time.Since(start).Round(time.Millisecond))
		d.last = s
	}
	return nil
}

// stopGuest powers a guest off (what names it in messages) and says how consistent its disks were left:
// offline when the guest shut down, fs-frozen when it did not within timeout and its agent froze it before
// it was stopped, crash otherwise.
func stopGuest(ctx context.Context, w io.Writer, c *guest.Client, dom guest.Domain, timeout time.Duration, what string) (meta.Consistency, error) {
	if st, err := c.State(ctx, dom); err != nil {
		return "", err
	} else if st == guest.StateShutoff {
		fmt.Fprintf(w, "%s (%s) is shut off\n", what, dom.Name)
		return meta.Offline, nil
	}
	fmt.Fprintf(w, "shutting %s (%s) down (up to %s)\n", what, dom.Name, timeout)
	if err := c.Shutdown(ctx, dom); err != nil {
		fmt.Fprintf(w, "%s did not take the shutdown request (%v)\n", what, err)
	} else if off, err := waitShutoff(ctx, c, dom, timeout); err != nil {
		return "", err
	} else if off {
		return meta.Offline, nil
	}
	consistency := meta.Crash
	if _, err := c.Freeze(ctx, dom); err != nil {
		fmt.Fprintf(w, "%s did not power off and its agent did not freeze it (%v): stopping it as in a power cut\n", what, err)
	} else {
		consistency = meta.FSFrozen
		fmt.Fprintf(w, "%s did not power off: its filesystems are frozen; stopping it\n", what)
	}
	if err := c.Destroy(ctx, dom); err != nil {
		if consistency == meta.FSFrozen {
			_, _ = c.Thaw(context.WithoutCancel(ctx), dom)
		}
		return "", fmt.Errorf("stop %s (%s): %w", what, dom.Name, err)
	}
	return consistency, nil
}

func waitShutoff(ctx context.Context, c *guest.Client, dom guest.Domain, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		st, err := c.State(ctx, dom)
		if err != nil {
			return false, err
		}
		if st == guest.StateShutoff {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return false, nil
}

// waitDisks waits for the device nodes of the swapped-in zvols, which udev makes a moment after the rename.
func waitDisks(ctx context.Context, disks []failbackDisk) error {
	var errs []error
	for _, d := range disks {
		if d.state.kind != zfs.Volume {
			continue
		}
		if err := waitVolume(ctx, d.local, d.aside); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
