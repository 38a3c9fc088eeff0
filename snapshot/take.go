package snapshot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// run is the state of one Take.
type run struct {
	req     Request
	log     *slog.Logger
	name    string
	members []*member
	res     *Result
	// agentTimeout is the agent response timeout set on each guest before freezing; freezes end after it.
	agentTimeout time.Duration
}

// Take takes the request's snapshot set: pre-hooks in order; the guests' states and domain XML; the watchdog
// and the frozen-guest record; all freezes in parallel; one `zfs snapshot` per pool covering every dataset;
// all thaws in parallel (deferred, on a context the caller cannot cancel, retried until each guest reports
// thawed); the properties of each snapshot; the post-hooks of every pre-hook that succeeded, in reverse order.
//
// A guest with policy required that cannot be frozen fails alone: its datasets are not snapshotted, the rest of
// the set is, and the error wraps ErrQuiesceFailed. The Result is filled in as far as Take got, also on error;
// the error joins every failure (hooks, guests, pools, properties, thaws).
func Take(ctx context.Context, req Request) (Result, error) {
	r, err := newRun(req)
	if err != nil {
		return Result{}, err
	}
	n, err := runPreHooks(ctx, req.Hooks, r.log, r.res)
	if err == nil {
		err = r.quiesceAndSnapshot(ctx)
		err = errors.Join(err, r.setProps(ctx))
	}
	err = errors.Join(err, runPostHooks(ctx, req.Hooks, n, r.log, r.res))
	r.logSummary(err)
	return *r.res, err
}

func newRun(req Request) (*run, error) {
	if req.Quiescer == nil && len(req.Guests) > 0 {
		return nil, fmt.Errorf("snapshot: no Quiescer for %d guests", len(req.Guests))
	}
	if req.Snapshotter == nil {
		return nil, fmt.Errorf("snapshot: no Snapshotter")
	}
	if req.Prefix == "" {
		return nil, fmt.Errorf("snapshot: empty name prefix")
	}
	if req.FreezeTimeout <= 0 {
		req.FreezeTimeout = DefaultFreezeTimeout
	}
	if req.ThawTimeout <= 0 {
		req.ThawTimeout = DefaultThawTimeout
	}
	if req.At.IsZero() {
		req.At = time.Now()
	}
	log := req.Logger
	if log == nil {
		log = slog.Default().With("job", req.Job) // a caller's own logger names the job already
	}
	name := Name(req.Prefix, req.At)
	log = log.With("snapshot", name)
	r := &run{req: req, log: log, name: name, res: &Result{Name: name}, agentTimeout: agentTimeoutFor(req.FreezeTimeout)}
	for _, g := range req.Guests {
		r.res.Guests = append(r.res.Guests, GuestOutcome{Name: g.Domain.Name})
	}
	for i := range req.Guests {
		r.members = append(r.members, &member{g: req.Guests[i], out: &r.res.Guests[i]})
	}
	return r, nil
}

// agentTimeoutFor is the agent response timeout for a freeze timeout: half of it (whole seconds, at least
// one), so that a freeze that times out leaves time for the snapshot before the watchdog's deadline.
func agentTimeoutFor(freezeTimeout time.Duration) time.Duration {
	return max(time.Second, (freezeTimeout / 2).Truncate(time.Second))
}

// quiesceAndSnapshot prepares the guests, freezes those that need it, snapshots, and thaws (deferred).
func (r *run) quiesceAndSnapshot(ctx context.Context) (err error) {
	r.prepare(ctx)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("snapshot %s: canceled before freezing: %w", r.name, err)
	}
	toFreeze := r.freezeSet()
	var w *watch
	if len(toFreeze) > 0 {
		if w, err = r.arm(ctx, toFreeze); err != nil {
			r.failFreezeSet(toFreeze, err)
			toFreeze = nil
		}
	}
	// The freeze timeout runs from here: the watchdog started its timer just now.
	start := time.Now()
	deadline := start.Add(r.req.FreezeTimeout)
	if len(toFreeze) > 0 {
		// The thaw is registered before the first freeze is sent: a freeze that fails or times out can still
		// land later.
		defer func() { err = errors.Join(err, r.thawAll(ctx, toFreeze, w, start)) }()
		freezeBy := start.Add(r.agentTimeout + time.Second) // libvirt ends the call after agentTimeout
		if freezeBy.After(deadline) {
			freezeBy = deadline
		}
		r.freezeAll(ctx, toFreeze, freezeBy)
	}
	return errors.Join(r.guestErrors(), r.snapshot(ctx, len(toFreeze) > 0, deadline))
}

// guestErrors joins the errors of the guests that failed (policy required).
func (r *run) guestErrors() error {
	var errs []error
	for _, m := range r.members {
		if m.failed() {
			errs = append(errs, m.out.Err)
		}
	}
	return errors.Join(errs...)
}

// logSummary logs the set's timings. A failure is logged at debug level only: Take returns it, and the caller
// reports it.
func (r *run) logSummary(err error) {
	attrs := []any{"freeze_window", r.res.Window, "snapshot_time", r.res.SnapTime,
		"datasets", len(r.res.Snapshots), "guests", len(r.res.Guests)}
	if err != nil {
		r.log.Debug("snapshot set failed", append(attrs, "error", err)...)
		return
	}
	r.log.Info("snapshot set taken", attrs...)
}
