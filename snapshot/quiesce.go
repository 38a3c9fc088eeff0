package snapshot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hotzfs/hotzfs/guest"
)

// member is one guest of a run.
type member struct {
	g      Guest
	out    *GuestOutcome
	xml    string // domain XML read before freezing; "" when it could not be read
	freeze bool   // a freeze is to be attempted
}

// failed reports whether the guest failed: its datasets are not snapshotted for it.
func (m *member) failed() bool { return m.out.Consistency == "" }

// fail marks the guest failed with the reason.
func (m *member) fail(err error) {
	m.out.Consistency, m.out.Err = "", err
}

// prepare reads every guest's state and domain XML (in parallel) and decides, per policy, which to freeze.
func (r *run) prepare(ctx context.Context) {
	var wg sync.WaitGroup
	for _, m := range r.members {
		wg.Go(func() { r.prepareOne(ctx, m) })
	}
	wg.Wait()
}

func (r *run) prepareOne(ctx context.Context, m *member) {
	q, dom, log := r.req.Quiescer, m.g.Domain, r.log.With("guest", m.g.Domain.Name)
	xml, err := q.XML(ctx, dom, true)
	if err != nil {
		xml, err = q.XML(ctx, dom, false) // a transient domain has no persistent definition
	}
	if err != nil {
		log.Warn("cannot read the domain XML; the snapshot will not carry it", "error", err)
	}
	m.xml = xml
	st, err := q.State(ctx, dom)
	m.out.State = st
	if err != nil {
		r.fallBack(m, fmt.Errorf("guest %q: read state: %w", dom.Name, err))
		return
	}
	switch {
	case st == guest.StateShutoff:
		m.out.Consistency = Offline
	case m.g.Quiesce == Off:
		m.out.Consistency = Crash
	case st != guest.StateRunning && st != guest.StateBlocked:
		r.fallBack(m, fmt.Errorf("guest %q is %s, its filesystems cannot be frozen: %w — resume it, or set "+
			"quiesce: preferred to accept a crash-consistent snapshot", dom.Name, st, guest.ErrNotRunning))
	default:
		if err := q.SetAgentTimeout(ctx, dom, r.agentTimeout); err != nil {
			r.fallBack(m, fmt.Errorf("guest %q: cannot bound agent calls, not freezing: %w", dom.Name, err))
			return
		}
		m.freeze, m.out.Consistency = true, FSFrozen
	}
}

// fallBack applies the guest's policy to a quiesce failure: required fails the guest; preferred (and off)
// fall back to a crash-consistent snapshot with a warning.
func (r *run) fallBack(m *member, err error) {
	if m.g.Quiesce == Required {
		m.fail(fmt.Errorf("%w: %w (quiesce: required — its datasets are not snapshotted)", ErrQuiesceFailed, err))
		r.log.Error("guest not quiesced; skipping its datasets", "guest", m.g.Domain.Name, "error", err)
		return
	}
	m.out.Consistency, m.out.Err = Crash, err
	r.log.Warn("guest not quiesced; taking a crash-consistent snapshot", "guest", m.g.Domain.Name,
		"policy", m.g.Quiesce, "error", err)
}

func (r *run) freezeSet() []*member {
	var out []*member
	for _, m := range r.members {
		if m.freeze {
			out = append(out, m)
		}
	}
	return out
}

// failFreezeSet applies the policy of every guest to be frozen when freezing cannot start (no watchdog).
func (r *run) failFreezeSet(ms []*member, err error) {
	for _, m := range ms {
		m.freeze = false
		r.fallBack(m, fmt.Errorf("guest %q: not freezing: %w", m.g.Domain.Name, err))
	}
}

// freezeAll freezes the guests in parallel. Each freeze call ends by deadline (the agent response timeout
// ends it in libvirt sooner).
func (r *run) freezeAll(ctx context.Context, ms []*member, deadline time.Time) {
	fctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	durs := make([]time.Duration, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			start := time.Now()
			r.freezeOne(fctx, m)
			durs[i] = time.Since(start)
		})
	}
	wg.Wait()
	r.res.FreezeFor = durs
}

func (r *run) freezeOne(ctx context.Context, m *member) {
	q, dom := r.req.Quiescer, m.g.Domain
	m.out.Attempted = true
	_, err := q.Freeze(ctx, dom)
	if errors.Is(err, guest.ErrAlreadyFrozen) {
		// Frozen by another tool or a run that died: it gets thawed at the end anyway, so thaw it now and
		// freeze again for a consistent snapshot.
		r.log.Warn("guest was already frozen; thawing it and freezing again", "guest", dom.Name)
		if terr := q.ThawUntilThawed(ctx, dom, thawInterval); terr != nil {
			err = errors.Join(err, terr)
		} else {
			_, err = q.Freeze(ctx, dom)
		}
	}
	if err == nil {
		m.out.Froze = true
		return
	}
	if errors.Is(err, guest.ErrNotRunning) {
		if st, serr := q.State(ctx, dom); serr == nil && st == guest.StateShutoff {
			m.out.State, m.out.Consistency = st, Offline // shut down meanwhile: consistent on disk
			return
		}
	}
	r.fallBack(m, err)
}

// thawAll thaws every guest whose freeze was attempted, in parallel, on a context the caller's cancellation
// cannot end, each until the agent reports thawed or ThawTimeout passes; then releases the watchdog and the
// frozen-guest record (only when all are thawed; otherwise the watchdog takes over). It sets the freeze window.
func (r *run) thawAll(ctx context.Context, ms []*member, w *watch, start time.Time) error {
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.req.ThawTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() {
			if err := r.req.Quiescer.ThawUntilThawed(tctx, m.g.Domain, thawInterval); !nothingToThaw(err) {
				m.out.ThawErr = fmt.Errorf("%w: %w", ErrNotThawed, err)
			}
		})
	}
	wg.Wait()
	r.res.Window = time.Since(start)
	var errs []error
	for _, m := range ms {
		if m.out.ThawErr != nil {
			errs = append(errs, m.out.ThawErr)
			r.log.Error("guest not confirmed thawed; the watchdog keeps trying", "guest", m.g.Domain.Name,
				"error", m.out.ThawErr)
		}
	}
	thawed := len(errs) == 0
	if err := w.release(thawed); err != nil {
		errs = append(errs, err)
	}
	r.log.Info("guests thawed", "guests", len(ms), "freeze_window", r.res.Window, "all_thawed", thawed)
	return errors.Join(errs...)
}

// nothingToThaw reports whether a ThawUntilThawed result means the guest is not frozen: thawed, or no agent
// channel (it cannot have been frozen), or the domain is gone.
func nothingToThaw(err error) bool {
	return err == nil || errors.Is(err, guest.ErrAgentNotConfigured) || errors.Is(err, guest.ErrDomainNotFound)
}
