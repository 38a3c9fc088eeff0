package main

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// runReceiverCheck is the receiver's check: each client by its newest backup here, the pool of the root, and
// the TLS certificates.
func runReceiverCheck(ctx context.Context, opts checkOptions, sys checkSystems, now time.Time) (int, string) {
	cfg, err := config.LoadReceiver(opts.config)
	if err != nil {
		return unknown(err)
	}
	var v verdict
	listing, err := sys.List(ctx, []string{cfg.Root}, zfs.ListOptions{
		Types: []zfs.Type{zfs.Filesystem, zfs.Volume, zfs.Snapshot}, Origin: true})
	switch {
	case errors.Is(err, zfs.ErrDatasetNotFound): // no client has sent anything yet
		judgeClients(&v, cfg, nil, now, opts)
	case err != nil:
		v.add(checkUnknown, "cannot list %s: %s", cfg.Root, firstLine(err.Error()))
	default:
		judgeClients(&v, cfg, listing, now, opts)
	}
	if opts.pools {
		judgeSystemPools(ctx, &v, sys, []string{zfs.Pool(cfg.Root)}, opts)
	}
	if opts.certs {
		judgeCerts(&v, []string{cfg.TLS.CA, cfg.TLS.Cert}, now, opts)
	}
	return v.state, v.line()
}

// judgeClients judges each client by the age of its newest backup: the newest snapshot received under
// ROOT/CLIENT. Clones made here (hotzfs migrate) and their snapshots do not count; a client with no backup is
// CRITICAL.
func judgeClients(v *verdict, cfg *config.Receiver, listing []zfs.Dataset, now time.Time, opts checkOptions) {
	clones := map[string]bool{}
	for _, d := range listing {
		if d.Origin != "" {
			clones[d.Name] = true
		}
	}
	names := slices.Sorted(maps.Keys(cfg.Clients))
	for _, name := range names {
		root, err := transport.ClientRoot(cfg.Root, name)
		if err != nil {
			v.add(checkUnknown, "client %s: %v", name, err)
			continue
		}
		var newest *zfs.Dataset
		for i, d := range listing {
			ds := d.Dataset()
			if d.Type == zfs.Snapshot && !clones[ds] && (ds == root || strings.HasPrefix(ds, root+"/")) &&
				(newest == nil || d.Creation.After(newest.Creation)) {
				newest = &listing[i]
			}
		}
		label := "client " + name + " age"
		if newest == nil {
			v.add(checkCritical, "client %s has no backup here (no snapshot under %s)", name, root)
			v.perfdata(label, "U", ageThresholds(opts)...)
			continue
		}
		age := now.Sub(newest.Creation)
		v.perfdata(label, seconds(age), ageThresholds(opts)...)
		if s := ageState(age, opts); s != checkOK {
			v.add(s, "client %s: newest backup %s old (%s)", name, span(age), newest.Name)
		}
	}
	v.ok("%d client(s) with a backup within %s", len(names), config.Duration(opts.warning))
}
