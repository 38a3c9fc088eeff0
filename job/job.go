// Package job runs configured backup jobs: snapshot (with guest quiesce), replicate, prune on both sides.
// It joins the snapshot, replication and retention packages under one lock per job; cmd wires it to the CLI.
package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/guest"
	"github.com/hotzfs/hotzfs/replication"
	"github.com/hotzfs/hotzfs/snapshot"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// Env is what a run needs from the outside world.
type Env struct {
	ZFS    *zfs.Runner
	Log    *slog.Logger
	Config *config.Sender
	// Dial connects to a configured target.
	Dial func(ctx context.Context, target string) (*replication.Client, error)
	// Guests connects to libvirt; called only for jobs with guests.
	Guests func(ctx context.Context) (*guest.Client, error)
	// Guard starts the freeze watchdog; nil runs without one.
	Guard    *snapshot.GuardSpec
	Now      func() time.Time
	Progress func(dataset string, p *transport.Progress)
}

// Steps selects what a run does.
type Steps struct {
	Snapshot, Replicate, Prune bool
	DryRun                     bool // prune: plan only
}

// AllSteps is what `hotzfs backup` does.
var AllSteps = Steps{Snapshot: true, Replicate: true, Prune: true}

// Report is what one run of a job did. Err joins every failure; the rest of the job goes on after a
// dataset fails, so a report can have both results and errors.
type Report struct {
	Job        string
	Started    time.Time
	Duration   time.Duration
	Snapshot   *snapshot.Result
	Replicated []replication.Report
	Pruned     []PruneReport
	Err        error
}

// ErrLocked means another hotzfs process is running the same job.
var ErrLocked = errors.New("another hotzfs run holds the job's lock")

// Run runs one job. A failure of one dataset does not stop the others; every failure is in Report.Err. Only a
// missing zfs ([zfs.ErrNoZFS]) ends the run at once.
func Run(ctx context.Context, env Env, j config.Job, steps Steps) *Report {
	return run(ctx, env, env.systems(j, env.log().With("job", j.Name)), j, steps)
}

// run is Run with the systems given.
func run(ctx context.Context, env Env, sys systems, j config.Job, steps Steps) *Report {
	rep := &Report{Job: j.Name, Started: env.now()}
	defer func() { rep.Duration = env.now().Sub(rep.Started) }()
	unlock, err := lock(env.Config.StateDir, j.Name)
	if err != nil {
		rep.Err = err
		return rep
	}
	defer unlock()
	log := env.log().With("job", j.Name)
	var errs []error
	datasets := append([]string(nil), j.Datasets...)
	if steps.Snapshot {
		res, dsets, err := takeSnapshot(ctx, env, sys.snapshotter, j, log)
		rep.Snapshot = res
		datasets = dsets
		if err != nil {
			errs = append(errs, err)
		}
	} else if len(j.Guests) > 0 {
		guests, err := resolveGuests(ctx, env, j)
		if err != nil {
			errs = append(errs, err)
		}
		for _, g := range guests {
			datasets = append(datasets, g.Datasets...)
		}
	}
	if err := errors.Join(errs...); errors.Is(err, zfs.ErrNoZFS) {
		return finish(env, rep, err, steps, log) // every later step would fail the same way
	}
	datasets = unique(datasets)
	if len(datasets) == 0 {
		if away := migratedAway(env.Config.StateDir, j.Guests); len(away) > 0 && len(errs) == 0 {
			log.Info("nothing to do: the job's guests are migrated away", "guests", strings.Join(away, ","))
			return rep
		}
		rep.Err = errors.Join(append(errs, fmt.Errorf("job %q: no dataset to work on", j.Name))...)
		return rep
	}
	if steps.Replicate || steps.Prune {
		errs = append(errs, replicateAndPrune(ctx, sys, j, datasets, steps, rep, log)...)
	}
	return finish(env, rep, errors.Join(errs...), steps, log)
}

// finish sets the run's error and records its status, unless it was a dry run.
func finish(env Env, rep *Report, err error, steps Steps, log *slog.Logger) *Report {
	rep.Err = err
	if !steps.DryRun {
		rep.Duration = env.now().Sub(rep.Started)
		if err := Record(env.Config.StateDir, rep); err != nil {
			log.Warn("cannot record the run's status", "err", err)
		}
	}
	return rep
}

func (e Env) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

func (e Env) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// TargetDataset is where a source dataset lands on the receiver, relative to the client's root.
func TargetDataset(j config.Job, source string) string {
	if j.TargetRoot == "" {
		return source
	}
	return strings.TrimSuffix(j.TargetRoot, "/") + "/" + source
}

// lock takes the job's lock file, so a manual run and the daemon never run the same job at once.
func lock(stateDir, job string) (func(), error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	path := filepath.Join(stateDir, "job-"+job+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("job %q: %w (%s)", job, ErrLocked, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func unique(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Lock takes the job's lock as a run does, for a command that must not overlap the job's runs (failback);
// the returned func releases it. A held lock is [ErrLocked].
func Lock(stateDir, job string) (func(), error) { return lock(stateDir, job) }
