package job

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/guest"
	"github.com/hotzfs/hotzfs/snapshot"
	"github.com/hotzfs/hotzfs/zfs"
)

// takeSnapshot takes the job's snapshot set: its datasets and the disks of guests, quiesced through client.
func takeSnapshot(ctx context.Context, env Env, snapshotter snapshot.Snapshotter, j config.Job, client *guest.Client,
	guests []snapshot.Guest, log *slog.Logger) (*snapshot.Result, error) {
	req := snapshot.Request{Job: j.Name, Prefix: j.SnapshotPrefix, Datasets: j.Datasets, At: env.now(),
		FreezeTimeout: time.Duration(j.FreezeTimeout), StateDir: env.Config.StateDir, Snapshotter: snapshotter,
		Guard: env.Guard, Logger: log}
	req.Hooks = snapshotHooks(j.Hooks)
	if client != nil {
		req.Guests, req.Quiescer = guests, client
	}
	res, err := snapshot.Take(ctx, req)
	if err != nil {
		return &res, fmt.Errorf("job %q: snapshot: %w", j.Name, err)
	}
	log.Info("snapshot taken", "snapshot", res.Name, "datasets", len(res.Snapshots),
		"freeze_window", res.Window.Round(time.Millisecond), "snapshot_time", res.SnapTime.Round(time.Millisecond))
	return &res, nil
}

// snapshotHooks turns the job's hook pairs into the snapshot's: each entry's post command undoes its pre command
// (snapshot.Take runs the posts of the pre-hooks that succeeded, in reverse order).
func snapshotHooks(hooks config.Hooks) []snapshot.Hook {
	var out []snapshot.Hook
	for i, h := range hooks {
		out = append(out, snapshot.Hook{Name: fmt.Sprintf("hooks[%d]", i), Pre: h.Pre, Post: h.Post,
			Timeout: time.Duration(h.Timeout)})
	}
	return out
}

// connectGuests connects to libvirt and finds the job's guests and their disks; a job without guests needs
// neither (nil client). The caller closes the client.
func connectGuests(ctx context.Context, env Env, j config.Job) (*guest.Client, []snapshot.Guest, error) {
	if len(j.Guests) == 0 {
		return nil, nil, nil
	}
	client, err := env.Guests(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("job %q: libvirt: %w", j.Name, err)
	}
	guests, err := mapGuests(ctx, env, client, j)
	if err != nil {
		return client, nil, err
	}
	return client, guests, nil
}

// mapGuests selects the job's domains and maps their disks to datasets, with one zfs listing of all pools.
func mapGuests(ctx context.Context, env Env, client *guest.Client, j config.Job) ([]snapshot.Guest, error) {
	doms, err := client.Select(ctx, j.Guests)
	if err != nil {
		return nil, fmt.Errorf("job %q: %w", j.Name, err)
	}
	pools, err := env.ZFS.Pools(ctx)
	if err != nil {
		return nil, err
	}
	all, err := env.ZFS.List(ctx, pools, zfs.ListOptions{Types: []zfs.Type{zfs.Filesystem, zfs.Volume}})
	if err != nil {
		return nil, err
	}
	var datasets []guest.Dataset
	for _, d := range all {
		datasets = append(datasets, guest.Dataset{Name: d.Name, Type: guest.DatasetType(d.Type), Mountpoint: d.Mountpoint})
	}
	var out []snapshot.Guest
	for _, dom := range doms {
		if skip, err := skipMigrated(env.Config.StateDir, dom.Name, env.log()); err != nil {
			return nil, fmt.Errorf("job %q: %w", j.Name, err)
		} else if skip {
			continue
		}
		m, err := client.DomainDisks(ctx, dom, datasets, guest.MapOptions{Datasets: j.DiskMap[dom.Name]})
		if err != nil {
			return nil, fmt.Errorf("job %q: %w", j.Name, err)
		}
		out = append(out, snapshot.Guest{Domain: dom, Datasets: m.Datasets(), Quiesce: snapshot.Policy(j.Quiesce)})
	}
	return out, nil
}
