package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/guest"
	"github.com/hotzfs/hotzfs/job"
	"github.com/hotzfs/hotzfs/meta"
	"github.com/hotzfs/hotzfs/recovery"
	"github.com/hotzfs/hotzfs/snapshot"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

type restoreOptions struct {
	config     string
	job        string
	snapshot   string
	into       string
	inPlace    bool
	yes        bool
	define     bool
	network    string
	guest      string // restore every dataset of this guest (restore_guest.go)
	intoPrefix string
	allowCrash bool
	name       string
}

func newRestoreCmd(g *globalOptions) *cobra.Command {
	var opts restoreOptions
	cmd := &cobra.Command{
		Use:   "restore [DATASET | --guest NAME]",
		Short: "Bring a snapshot back from the receiver: into a new dataset (default) or in place, or a whole guest",
		Long: `restore fetches a snapshot of DATASET from the job's target and receives it locally.

By default it goes into a new dataset next to the original (DATASET-restore-SNAPSHOT, or --into NAME),
leaving the original untouched. --in-place rolls DATASET itself back to the snapshot (it must still exist
locally, and the guest using it must be shut off); it destroys newer local snapshots, so it shows the plan
and acts only with --yes. --define re-creates the guest from the domain XML stored with the backup, named
NAME-restored, with its disks on the restored dataset: the XML comes back from the receiver and is not
trusted, so the domain is built from an allowlist of it (see hotzfs failover --help) and what is left out is
listed; --network NAME gives it one virtio interface on that libvirt network (default: none).

--guest NAME restores every dataset of the guest (zvols and filesystems with its images) from one snapshot
set: the same snapshot on every one of them, as the receiver lists them (hotzfs:guest). By default the newest
set that is fs-frozen or offline; --allow-crash also takes a crash-consistent one, --snapshot NAME that set; a
set missing on one of the guest's datasets is never used. Each dataset goes to SOURCE-restore-SET next to its
source, or to P/SOURCE with --into-prefix P. --define defines the guest (NAME-restored, or --name) with every
disk moved onto the restored datasets; a guest that cannot be defined is refused before anything is received.
It prints the plan (the set and what its consistency gives, each dataset and where it lands, the domain) and
acts only with --yes.

A restore that was interrupted can be run again as it was: the partial state it left in the target is
discarded and the restore starts over; a target that already holds the snapshot is left as it is.`,
		Args: func(_ *cobra.Command, args []string) error { return checkRestoreArgs(opts, args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.guest != "" {
				return runRestoreGuest(cmd.Context(), g, cmd.OutOrStdout(), opts)
			}
			return runRestore(cmd.Context(), g, cmd.OutOrStdout(), opts, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.config, "config", "c", "/etc/hotzfs/hotzfs.yaml", "sender config file")
	f.StringVar(&opts.job, "job", "", "the job that backs DATASET (or the guest) up (default: the one whose datasets (guests) include it, or the only job)")
	f.StringVar(&opts.snapshot, "snapshot", "latest", "snapshot to restore (short name), or latest")
	f.StringVar(&opts.into, "into", "", "dataset to restore into (default DATASET-restore-SNAPSHOT)")
	f.BoolVar(&opts.inPlace, "in-place", false, "roll DATASET itself back (guest shut off)")
	f.BoolVar(&opts.yes, "yes", false, "carry out an --in-place rollback or a --guest restore")
	f.BoolVar(&opts.define, "define", false, "define the guest from the stored domain XML, pointing at the restored disk(s)")
	f.StringVar(&opts.network, "network", "", "with --define: libvirt network for the guest's one virtio interface (default: no interface)")
	f.StringVar(&opts.guest, "guest", "", "restore every dataset of this guest from one snapshot set")
	f.StringVar(&opts.intoPrefix, "into-prefix", "", "with --guest: restore each dataset into P/SOURCE (default SOURCE-restore-SET)")
	f.BoolVar(&opts.allowCrash, "allow-crash", false, "with --guest: latest may be a crash-consistent set")
	f.StringVar(&opts.name, "name", "", "with --guest --define: the restored guest's name (default NAME-restored)")
	return cmd
}

// checkRestoreArgs refuses flags that do not go together: a dataset or --guest, and each one's own flags.
func checkRestoreArgs(opts restoreOptions, args []string) error {
	switch {
	case len(args) > 1:
		return usagef("restore one DATASET (or --guest NAME), not %d", len(args))
	case opts.guest == "" && len(args) == 0:
		return usagef("name the DATASET to restore, or --guest NAME")
	case opts.guest != "" && len(args) > 0:
		return usagef("restore DATASET or --guest %s, not both", opts.guest)
	case opts.guest != "" && (opts.into != "" || opts.inPlace):
		return usagef("--guest restores every dataset of the guest into new datasets: --into-prefix P, not --into or --in-place")
	case opts.guest == "" && (opts.intoPrefix != "" || opts.allowCrash || opts.name != ""):
		return usagef("--into-prefix, --allow-crash and --name go with --guest")
	case opts.name != "" && !opts.define:
		return usagef("--name names the guest --define defines")
	}
	if opts.intoPrefix != "" {
		if err := zfs.ValidateDataset(opts.intoPrefix); err != nil {
			return usageError{fmt.Errorf("--into-prefix: %w", err)}
		}
	}
	return nil
}

func runRestore(ctx context.Context, g *globalOptions, w io.Writer, opts restoreOptions, dataset string) error {
	if err := zfs.ValidateDataset(dataset); err != nil {
		return usageError{err}
	}
	env, err := senderEnv(g, opts.config)
	if err != nil {
		return err
	}
	j, err := jobFor(env.Config, opts.job, dataset, func(j config.Job) bool { return slices.Contains(j.Datasets, dataset) })
	if err != nil {
		return err
	}
	client, err := env.Dial(ctx, j.Target)
	if err != nil {
		return err
	}
	defer client.Close()
	rel := job.TargetDataset(j, dataset)
	infos, err := client.List([]string{rel})
	if err != nil {
		return err
	}
	if len(infos) == 0 || len(infos[0].Snapshots) == 0 {
		return fmt.Errorf("target %q has no backup of %s (looked for %s)", j.Target, dataset, rel)
	}
	snap, err := pickSnapshot(infos[0].Snapshots, opts.snapshot)
	if err != nil {
		return usageError{err}
	}
	if opts.inPlace {
		return restoreInPlace(ctx, env, w, opts, dataset, snap)
	}
	into := opts.into
	if into == "" {
		into = dataset + "-restore-" + snap.Name
	}
	if err := zfs.ValidateDataset(into); err != nil {
		return usageError{err}
	}
	done, err := prepareRestoreTarget(ctx, env, w, into, dataset, snap)
	if err != nil {
		return err
	}
	if done && !opts.define {
		return nil
	}
	if !done {
		fmt.Fprintf(w, "restoring %s@%s (%s, %s) into %s\n", dataset, snap.Name, orDash(snap.Consistency),
			snap.Creation.Local().Format(time.RFC3339), into)
	}
	ready, stream, err := client.Fetch(&transport.SendRequest{Dataset: rel, Snapshot: snap.Name, GUID: snap.GUID,
		Compression: transport.CompressionDefault})
	if err != nil {
		return err
	}
	if opts.define { // refuse before receiving anything if the guest cannot be defined on the restored disk
		if err := checkDefinable(ctx, env, w, ready.DomainXML, dataset, into, opts.network); err != nil {
			return err
		}
	}
	if !done {
		if err := receiveRestore(ctx, env, w, into, ready, stream); err != nil {
			return err
		}
	}
	// Already restored, the stream was fetched for the domain XML only: closing the connection (deferred) ends it.
	if opts.define {
		return defineRestored(ctx, env, w, ready.DomainXML, dataset, into, opts.network)
	}
	return nil
}

// receiveRestore receives a restore stream into into, showing progress, and reads the stream to its end.
func receiveRestore(ctx context.Context, env job.Env, w io.Writer, into string, ready *transport.Ready, stream *transport.StreamReader) error {
	start := time.Now()
	progress := transport.NewProgress(start, int64(ready.Estimate))
	pp := newProgressPrinter()
	pp.Track("restore "+into, progress)
	err := env.ZFS.Receive(ctx, into, zfs.ReceiveOptions{Resumable: true}, countingReader{stream, progress})
	pp.Close()
	if err != nil {
		return fmt.Errorf("receive into %s: %w (run the same restore again to start it over)", into, err)
	}
	if _, err := io.Copy(io.Discard, stream); err != nil {
		return fmt.Errorf("end of the restore stream: %w", err)
	}
	fmt.Fprintf(w, "restored %s in %s\n", humanBytes(uint64(stream.RawBytes())), time.Since(start).Round(time.Millisecond))
	return nil
}

// jobFor finds the job that backs what up: the one named, else the first that backs it, else the only job.
func jobFor(cfg *config.Sender, name, what string, backs func(config.Job) bool) (config.Job, error) {
	if name != "" {
		jobs, err := selectJobs(cfg, []string{name})
		if err != nil {
			return config.Job{}, err
		}
		return jobs[0], nil
	}
	for _, j := range cfg.Jobs {
		if backs(j) {
			return j, nil
		}
	}
	if len(cfg.Jobs) == 1 {
		return cfg.Jobs[0], nil
	}
	return config.Job{}, usagef("say which job backs %s up: --job NAME", what)
}

func pickSnapshot(snaps []transport.SnapshotInfo, want string) (transport.SnapshotInfo, error) {
	if want == "latest" || want == "" {
		return snaps[len(snaps)-1], nil
	}
	want = strings.TrimPrefix(want, "@")
	for _, s := range snaps {
		if s.Name == want {
			return s, nil
		}
	}
	return transport.SnapshotInfo{}, fmt.Errorf("no snapshot @%s on the target (hotzfs list --remote shows them)", want)
}

// restoreInPlace rolls the dataset back to a snapshot it still has locally, identified by GUID.
func restoreInPlace(ctx context.Context, env job.Env, w io.Writer, opts restoreOptions, dataset string, snap transport.SnapshotInfo) error {
	local, err := env.ZFS.List(ctx, []string{dataset}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1,
		UserProps: []string{snapshot.PropGuest}})
	if err != nil {
		return err
	}
	var target *zfs.Dataset
	var newer []string
	for i, s := range local {
		if s.GUID == snap.GUID {
			target = &local[i]
		}
	}
	if target == nil {
		return fmt.Errorf("%s no longer has @%s locally; restore into a new dataset instead (without --in-place)", dataset, snap.Name)
	}
	var held []string // newer snapshots with holds, which zfs rollback cannot destroy
	for _, s := range local {
		if s.CreateTXG > target.CreateTXG {
			newer = append(newer, "@"+s.Short())
			if s.UserRefs > 0 {
				held = append(held, s.Name)
			}
		}
	}
	holds, err := env.ZFS.Holds(ctx, held...)
	if err != nil {
		return err
	}
	var ours []zfs.Hold
	for _, h := range holds {
		if !job.IsBaseHold(h.Tag) {
			return fmt.Errorf("%s has a hold %q that is not hotzfs's; release it (zfs release %s %s) or roll back "+
				"to a newer snapshot", h.Snapshot, h.Tag, h.Tag, h.Snapshot)
		}
		ours = append(ours, h)
	}
	fmt.Fprintf(w, "plan: roll %s back to @%s, destroying %d newer snapshot(s) %s and all changes since\n",
		dataset, snap.Name, len(newer), strings.Join(newer, " "))
	if len(newer) > 0 {
		fmt.Fprintln(w, "      the target keeps its newer backups: the next replication of this dataset is refused as "+
			"diverged until they are pruned or the job sets allow_rollback")
	}
	for _, h := range ours {
		_, short, _ := zfs.SplitSnapshot(h.Snapshot)
		fmt.Fprintf(w, "      releasing hotzfs's hold %s on @%s (the incremental base)\n", h.Tag, short)
	}
	guests := guestsOf(local)
	if !opts.yes {
		fmt.Fprintln(w, "nothing done: add --yes to carry it out (shut the guest off first)")
		return nil
	}
	if err := guestsShutOff(ctx, env, dataset, guests); err != nil {
		return err
	}
	for _, h := range ours {
		if err := env.ZFS.Release(ctx, h.Tag, h.Snapshot); err != nil {
			return err
		}
	}
	if err := env.ZFS.Rollback(ctx, target.Name, true); err != nil {
		for _, h := range ours { // put the holds back: nothing was rolled back
			_ = env.ZFS.Hold(ctx, h.Tag, h.Snapshot)
		}
		return fmt.Errorf("%w (is the guest using %s shut off?)", err, dataset)
	}
	fmt.Fprintf(w, "rolled %s back to @%s\n", dataset, snap.Name)
	return nil
}

// checkDefinable tells whether defineRestored can define the stored guest on the restored dataset, before
// the restore starts (the restored dataset's mountpoint is not known yet, but whether a disk moves is), and
// prints what of the stored XML the guest will not have.
func checkDefinable(ctx context.Context, env job.Env, w io.Writer, xml, from, into, network string) error {
	plan, err := restoredXML(ctx, env, xml, from, into, network)
	if err != nil {
		return fmt.Errorf("--define: %w; nothing restored", err)
	}
	printLines(w, recovery.DroppedLines(plan, network))
	if all, err := guest.DiskSources(xml); err == nil && len(all) > len(plan.Disks) {
		name, _ := guest.DomainName(xml)
		fmt.Fprintf(w, "the guest has disks that are not on %s: hotzfs restore --guest %s restores all of them\n", from, name)
	}
	return nil
}

// defineRestored defines the stored guest, renamed, with its disks on the restored dataset.
func defineRestored(ctx context.Context, env job.Env, w io.Writer, xml, from, into, network string) error {
	built, err := restoredXML(ctx, env, xml, from, into, network)
	if err != nil {
		return fmt.Errorf("--define: %w; %s is restored, the guest is not defined", err, into)
	}
	return defineBuilt(ctx, env, w, built, into+" is restored")
}

// defineBuilt checks a built domain's disks on the restored datasets and defines it; restored says what
// stays when it is not defined.
func defineBuilt(ctx context.Context, env job.Env, w io.Writer, built guest.Built, restored string) error {
	if err := guest.CheckDisks(built.Disks); err != nil {
		return fmt.Errorf("--define: %w; %s, the guest is not defined", err, restored)
	}
	name, _ := guest.DomainName(built.XML)
	logDropped(env.Log, name, built)
	client, err := env.Guests(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	dom, err := client.Define(ctx, built.XML)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "defined guest %s (start it with: virsh start %s)\n", dom.Name, dom.Name)
	return nil
}

// restoredXML builds the guest NAME-restored from the stored domain XML, its disks moved from the original
// dataset's zvol device or mountpoint to the restored dataset's (/DATASET stands in for a mountpoint not
// known yet).
func restoredXML(ctx context.Context, env job.Env, xml, from, into, network string) (guest.Built, error) {
	if xml == "" {
		return guest.Built{}, fmt.Errorf("the backup carries no domain XML (was %s backed up as a guest's disk?); "+
			"restore without --define", from)
	}
	name, err := guest.DomainName(xml)
	if err != nil {
		return guest.Built{}, err
	}
	mountpoint := func(ds string) string {
		if p, err := env.ZFS.GetProps(ctx, ds, "mountpoint"); err == nil && strings.HasPrefix(p["mountpoint"], "/") {
			return p["mountpoint"]
		}
		return "/" + ds
	}
	return guest.BuildDomain(xml, guest.BuildSpec{Name: name + "-restored", Network: network,
		Volumes:     map[string]string{"/dev/zvol/" + from: "/dev/zvol/" + into},
		Filesystems: map[string]string{mountpoint(from): mountpoint(into)}})
}

// guestsOf returns the guests recorded on a dataset's snapshots (hotzfs:guest), sorted.
func guestsOf(snaps []zfs.Dataset) []string {
	seen := map[string]bool{}
	for _, s := range snaps {
		for _, g := range meta.GuestNames(s.Props) {
			seen[g] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// guestsShutOff refuses an in-place rollback while a guest whose disk the dataset holds is not shut off:
// rolling a disk back under a running guest corrupts it.
func guestsShutOff(ctx context.Context, env job.Env, dataset string, guests []string) error {
	if len(guests) == 0 {
		return nil
	}
	client, err := env.Guests(ctx)
	if err != nil {
		return fmt.Errorf("%s holds disks of %s; cannot check that they are shut off: %w", dataset,
			strings.Join(guests, ", "), err)
	}
	defer client.Close()
	for _, name := range guests {
		dom, err := client.Lookup(ctx, name)
		if errors.Is(err, guest.ErrDomainNotFound) {
			continue // not defined here: nothing runs on the disk through this libvirt
		}
		if err != nil {
			return err
		}
		st, err := client.State(ctx, dom)
		if err != nil {
			return err
		}
		if st != guest.StateShutoff {
			return fmt.Errorf("guest %s is %s and its disk is on %s: shut it off first (virsh shutdown %s), "+
				"then run the restore again", name, st, dataset, name)
		}
	}
	return nil
}
