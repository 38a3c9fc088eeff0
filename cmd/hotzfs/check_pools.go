package main

import (
	"fmt"
	"slices"

	"github.com/hotzfs/hotzfs/zfs"
)

// healthState is how bad a pool's health is. DEGRADED (a device lost, the data still whole on the others) is a
// WARNING, as in sanoid's --monitor-health; any other state but ONLINE (FAULTED, UNAVAIL, SUSPENDED, ...)
// leaves data unreachable and is CRITICAL.
func healthState(health string) int {
	switch health {
	case "ONLINE":
		return checkOK
	case "DEGRADED":
		return checkWarning
	}
	return checkCritical
}

// judgePools judges the pools named (those the backups live on) by their health and capacity; a pool named
// but not imported is CRITICAL.
func judgePools(v *verdict, pools []zfs.PoolStatus, names []string, opts checkOptions) {
	slices.Sort(names)
	names = slices.Compact(names)
	for _, name := range names {
		i := slices.IndexFunc(pools, func(p zfs.PoolStatus) bool { return p.Name == name })
		if i < 0 {
			v.add(checkCritical, "pool %s is not imported", name)
			continue
		}
		p := pools[i]
		if s := healthState(p.Health); s != checkOK {
			v.add(s, "pool %s is %s (zpool status %s says why)", name, p.Health, name)
		}
		if p.Size == 0 {
			continue
		}
		c := p.Capacity()
		v.perfdata(name+" capacity", fmt.Sprintf("%.1f%%", c), fmt.Sprint(opts.capacityWarning),
			fmt.Sprint(opts.capacityCritical), "0", "100")
		switch {
		case c >= float64(opts.capacityCritical):
			v.add(checkCritical, "pool %s is %.0f%% full", name, c)
		case c >= float64(opts.capacityWarning):
			v.add(checkWarning, "pool %s is %.0f%% full", name, c)
		}
	}
	if len(names) > 0 {
		v.ok("%d pool(s) ONLINE under %d%%", len(names), opts.capacityWarning)
	}
}
