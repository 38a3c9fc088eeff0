package snapshot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hotzfs/hotzfs/meta"
	"github.com/hotzfs/hotzfs/zfs"
)

// maxCollisions bounds the name suffixes tried when a snapshot name exists already (_1 … _maxCollisions).
const maxCollisions = 20

// propsTimeout bounds setting the properties of the snapshots, which runs even when the caller cancels.
const propsTimeout = time.Minute

// target is one dataset of the set and the guests whose disks it holds.
type target struct {
	info   *SnapshotInfo
	owners []*member
	plain  bool // listed in Request.Datasets
}

// targets lists every dataset once, in request order (guests' disks first, then plain datasets), and fills
// r.res.Snapshots to match.
func (r *run) targets() []target {
	index := map[string]int{}
	var ts []target
	add := func(ds string, m *member) {
		i, ok := index[ds]
		if !ok {
			i = len(ts)
			index[ds] = i
			ts = append(ts, target{})
			r.res.Snapshots = append(r.res.Snapshots, SnapshotInfo{Dataset: ds})
		}
		if m == nil {
			ts[i].plain = true
		} else if !slices.Contains(ts[i].owners, m) {
			ts[i].owners = append(ts[i].owners, m)
		}
	}
	for _, m := range r.members {
		for _, ds := range m.g.Datasets {
			add(ds, m)
		}
	}
	for _, ds := range r.req.Datasets {
		add(ds, nil)
	}
	for i := range ts {
		ts[i].info = &r.res.Snapshots[i]
	}
	return ts
}

// consistency of a dataset: none for a plain dataset, else the weakest of its guests' (a failed guest counts
// as crash). ok is false when every guest owning it failed and it is not a plain dataset: not snapshotted.
func (t target) consistency() (c Consistency, ok bool) {
	if len(t.owners) == 0 {
		return None, true
	}
	rank := map[Consistency]int{Crash: 0, FSFrozen: 1, Offline: 2}
	c, ok = Offline, t.plain
	for _, m := range t.owners {
		mc := m.out.Consistency
		if m.failed() {
			mc = Crash
		} else {
			ok = true
		}
		if rank[mc] < rank[c] {
			c = mc
		}
	}
	return c, ok
}

// snapshot takes one atomic `zfs snapshot` per pool, all pools in parallel. With guests frozen, the step must
// end before deadline, when the watchdog thaws them.
func (r *run) snapshot(ctx context.Context, frozen bool, deadline time.Time) error {
	byPool := map[string][]target{}
	var pools []string
	for _, t := range r.targets() {
		t.info.Guests = guestNames(t.owners)
		c, ok := t.consistency()
		if !ok {
			t.info.Err = fmt.Errorf("dataset %s: not snapshotted: %w", t.info.Dataset, ErrQuiesceFailed)
			continue
		}
		t.info.Consistency = c
		p := zfs.Pool(t.info.Dataset)
		if _, seen := byPool[p]; !seen {
			pools = append(pools, p)
		}
		byPool[p] = append(byPool[p], t)
	}
	if len(pools) == 0 {
		return nil
	}
	if frozen {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	props := map[string]string{PropOwner: OwnerValue, PropJob: r.req.Job}
	errs := make([]error, len(pools))
	start := time.Now()
	var wg sync.WaitGroup
	for i, p := range pools {
		wg.Go(func() { errs[i] = r.snapshotPool(ctx, byPool[p], props) })
	}
	wg.Wait()
	r.res.SnapTime = time.Since(start)
	if frozen && time.Now().After(deadline) {
		r.overran(byPool)
	}
	return errors.Join(errs...)
}

// snapshotPool snapshots the targets of one pool in one call, trying NAME, NAME_1, NAME_2, … while the name
// exists already (the call is atomic: on an error nothing was created).
func (r *run) snapshotPool(ctx context.Context, ts []target, props map[string]string) error {
	var err error
	for n := 0; n <= maxCollisions; n++ {
		name := withSuffix(r.name, n)
		full := make([]string, len(ts))
		for i, t := range ts {
			full[i] = t.info.Dataset + "@" + name
		}
		err = r.req.Snapshotter.SnapshotAtomic(ctx, full, props)
		if errors.Is(err, zfs.ErrExists) {
			r.log.Warn("snapshot name taken, trying the next suffix", "name", name, "pool", zfs.Pool(full[0]))
			continue
		}
		if err == nil {
			for i, t := range ts {
				t.info.Snapshot = full[i]
			}
			return nil
		}
		break
	}
	err = fmt.Errorf("pool %s: snapshot of %d datasets: %w: %w", zfs.Pool(ts[0].info.Dataset), len(ts),
		ErrSnapshotFailed, err)
	for _, t := range ts {
		t.info.Err = err
	}
	return err
}

// overran downgrades fs-frozen to crash when the snapshot step outlasted the freeze timeout: the watchdog may
// have thawed the guests while it ran.
func (r *run) overran(byPool map[string][]target) {
	r.log.Warn("snapshot step outlasted freeze_timeout; the watchdog may have thawed the guests: recording "+
		"crash consistency", "snapshot_time", r.res.SnapTime)
	for _, ts := range byPool {
		for _, t := range ts {
			if t.info.Consistency == FSFrozen {
				t.info.Consistency = Crash
			}
		}
	}
	for _, m := range r.members {
		if m.out.Consistency == FSFrozen {
			m.out.Consistency = Crash
		}
	}
}

// setProps records consistency, guests and domain XML on each snapshot taken (outside the freeze window, on
// a context the caller's cancellation cannot end: the snapshots exist and must say what they are).
func (r *run) setProps(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), propsTimeout)
	defer cancel()
	var errs []error
	for i := range r.res.Snapshots {
		info := &r.res.Snapshots[i]
		if info.Snapshot == "" {
			continue
		}
		props := r.snapshotProps(info)
		if err := r.req.Snapshotter.SetProps(ctx, info.Snapshot, props); err != nil {
			info.Err = fmt.Errorf("snapshot %s: set properties: %w: %w", info.Snapshot, ErrSnapshotFailed, err)
			errs = append(errs, info.Err)
		}
	}
	return errors.Join(errs...)
}

func (r *run) snapshotProps(info *SnapshotInfo) map[string]string {
	props := map[string]string{PropConsistency: string(info.Consistency)}
	if len(info.Guests) == 0 {
		return props
	}
	props[PropGuest] = strings.Join(info.Guests, ",")
	for i, g := range info.Guests {
		m := r.memberByName(g)
		if m == nil || m.xml == "" {
			continue
		}
		for k, v := range meta.EncodeGuestDomainXML(i, m.xml) {
			props[k] = v
		}
	}
	return props
}

func (r *run) memberByName(name string) *member {
	for _, m := range r.members {
		if m.g.Domain.Name == name {
			return m
		}
	}
	return nil
}

func guestNames(ms []*member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.g.Domain.Name)
	}
	return out
}
