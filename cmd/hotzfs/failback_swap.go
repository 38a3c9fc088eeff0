package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/hotzfs/hotzfs/zfs"
)

// localState is what failback must know of a guest's dataset here before it replaces it: what it holds after
// the set (kept aside if anything), and the properties set on it that its replacement must get.
type localState struct {
	newer   []string // snapshots after the set
	written uint64   // bytes written since the set (written@SET), in later snapshots or not
	props   map[string]string
	kind    zfs.Type
}

func (s localState) diverged() bool { return len(s.newer) > 0 || s.written > 0 }

func (s localState) describe(set string) string {
	if !s.diverged() {
		return "nothing after @" + set + ": it is destroyed after the swap"
	}
	return fmt.Sprintf("%d snapshot(s) and %s written after @%s: it is kept aside", len(s.newer), humanBytes(s.written), set)
}

// readLocal reads the state of dataset relative to its snapshot set.
func readLocal(ctx context.Context, z *zfs.Runner, dataset, set string, snaps []zfs.Dataset) (localState, error) {
	var st localState
	var setTXG uint64
	for _, s := range snaps {
		if s.Short() == set {
			setTXG = s.CreateTXG
		}
	}
	for _, s := range snaps {
		if s.CreateTXG > setTXG {
			st.newer = append(st.newer, "@"+s.Short())
		}
	}
	var err error
	if st.written, err = z.WrittenSince(ctx, dataset, set); err != nil {
		return st, err
	}
	if st.kind, err = z.TypeOf(ctx, dataset); err != nil {
		return st, err
	}
	st.props, err = z.LocalProps(ctx, dataset)
	return st, err
}

// swapIn puts d.incoming (a clone of d.local@set holding the standby's snapshots) in the place of d.local:
// promoted, it takes over d.local's snapshots up to the set, with their holds (the incremental base among
// them); then d.local, with whatever it holds after the set, becomes aside (or is destroyed when it holds
// nothing), and d.incoming takes d.local's name and its locally set properties (an explicit mountpoint
// among them; the aside's moves to a mountpoint of its own). It returns the aside's name, "" if destroyed.
func swapIn(ctx context.Context, z *zfs.Runner, w io.Writer, d failbackDisk, stamp string) (string, error) {
	st := d.state
	aside := d.local + "-before-failback-" + stamp
	if err := z.Promote(ctx, d.incoming); err != nil {
		return "", fmt.Errorf("promote %s: %w; nothing was swapped: run the failback again after zfs destroy -r %s",
			d.incoming, err, d.incoming)
	}
	manual := fmt.Sprintf("to finish by hand: zfs rename %s %s; zfs rename %s %s; then set on %s the properties %s had",
		d.local, aside, d.incoming, d.local, d.local, d.local)
	mountpoint, explicit := st.props["mountpoint"]
	if err := z.Rename(ctx, d.local, aside); err != nil {
		return "", fmt.Errorf("rename %s to %s: %w; %s is promoted and holds the snapshots up to @%s; %s",
			d.local, aside, err, d.incoming, d.set, manual)
	}
	if explicit && st.kind == zfs.Filesystem {
		if err := z.SetProps(ctx, aside, map[string]string{"mountpoint": mountpoint + "-before-failback-" + stamp}); err != nil {
			return "", fmt.Errorf("move the mountpoint of %s: %w; %s", aside, err, manual)
		}
	}
	if err := z.Rename(ctx, d.incoming, d.local); err != nil {
		return "", fmt.Errorf("rename %s to %s: %w; the original is %s now; %s", d.incoming, d.local, err, aside, manual)
	}
	props := maps.Clone(st.props)
	for _, p := range []string{"volsize", "readonly"} { // the received size stands; never read-only
		delete(props, p)
	}
	if err := z.SetProps(ctx, d.local, props); err != nil {
		return "", fmt.Errorf("set %v on %s: %w (set them by hand; the swap is done)", slices.Sorted(maps.Keys(props)), d.local, err)
	}
	if st.kind == zfs.Filesystem {
		if m, err := z.GetProps(ctx, d.local, "mounted", "canmount"); err != nil {
			return "", err
		} else if m["mounted"] != "yes" && m["canmount"] == "on" {
			if err := z.Mount(ctx, d.local); err != nil {
				return "", fmt.Errorf("mount %s: %w (mount it by hand; the swap is done)", d.local, err)
			}
		}
	}
	if !st.diverged() {
		if err := z.Destroy(ctx, aside, false); err != nil {
			fmt.Fprintf(w, "could not destroy %s, which holds nothing after @%s (%v): zfs destroy it by hand\n", aside, d.set, err)
			return aside, nil
		}
		fmt.Fprintf(w, "%s now holds the standby's data (the original held nothing after @%s)\n", d.local, d.set)
		return "", nil
	}
	fmt.Fprintf(w, "%s now holds the standby's data; the original, with %d snapshot(s) and %s written after @%s, is kept as %s\n",
		d.local, len(st.newer), humanBytes(st.written), d.set, aside)
	return aside, nil
}

// waitVolume waits until /dev/zvol/NAME is the renamed-in zvol's device, not the stale link of the zvol that
// had the name before (now aside): udev moves the links a moment after a rename.
func waitVolume(ctx context.Context, name, aside string) error {
	if settle, err := exec.LookPath("udevadm"); err == nil {
		_ = exec.CommandContext(ctx, settle, "settle", "--timeout=30").Run()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		dev, err := filepath.EvalSymlinks("/dev/zvol/" + name)
		other := ""
		if aside != "" {
			other, _ = filepath.EvalSymlinks("/dev/zvol/" + aside)
		}
		if err == nil && (aside == "" || (other != "" && other != dev)) {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("it still points at %s, the device of %s", dev, aside)
			}
			return fmt.Errorf("/dev/zvol/%s is not ready after the swap: %w (udevadm trigger may help; then start the guest)", name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
