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
	Steps      Steps // what the run was asked to do
	Snapshot   *snapshot.Result
	Replicated []replication.Report
	Pruned     []PruneReport
	Err        error
	// Failed holds each step's failures, joined; a failure that stopped several steps is under each of them.
	Failed map[Step]error
	// GuestDatasets are the disks of the job's guests (none for a job without guests); GuestsFound is false
	// when the run could not find them all (libvirt unreachable, a guest's disks not mapped).
	GuestDatasets []string
	GuestsFound   bool
}

// ErrLocked means another hotzfs process is running the same job.
var ErrLocked = errors.New("another hotzfs run holds the job's lock")

// Run runs one job. A failure of one dataset does not stop the others; every failure is in Report.Err. Only a
// missing zfs ([zfs.ErrNoZFS]) ends the run at once.
func Run(ctx context.Context, env Env, j config.Job, steps Steps) *Report {
	return run(ctx, env, env.systems(j, env.log().With("job", j.Name)), j, steps)
}

// run is Run with the systems given. Every run that takes the job's lock is recorded (see Record), also
// one that fails before its first step; a dry run is not.
func run(ctx context.Context, env Env, sys systems, j config.Job, steps Steps) *Report {
	rep := &Report{Job: j.Name, Started: env.now(), Steps: steps}
	defer func() { rep.Duration = env.now().Sub(rep.Started) }()
	unlock, err := lock(env.Config.StateDir, j.Name)
	if err != nil {
		rep.Err = err // not recorded: the run that holds the lock records its own outcome
		return rep
	}
	defer unlock()
	log := env.log().With("job", j.Name)
	var f failures
	client, guests, err := connectGuests(ctx, env, j)
	f.add(err, steps.List()...) // without its guests' disks no step can do the whole job
	rep.GuestsFound = err == nil
	datasets := append([]string(nil), j.Datasets...)
	for _, g := range guests {
		rep.GuestDatasets = append(rep.GuestDatasets, g.Datasets...)
	}
	datasets = unique(append(datasets, rep.GuestDatasets...))
	if steps.Snapshot && err == nil && len(datasets) > 0 {
		res, err := takeSnapshot(ctx, env, sys.snapshotter, j, client, guests, log)
		rep.Snapshot = res
		f.add(err, StepSnapshot)
	}
	if client != nil {
		if err := client.Close(); err != nil {
			log.Debug("closing the libvirt connection", "err", err)
		}
	}
	if err := f.err(); errors.Is(err, zfs.ErrNoZFS) {
		f.stopped(err, steps.List()) // every later step would fail the same way
		return finish(env, rep, &f, log)
	}
	if len(datasets) == 0 {
		if away := migratedAway(env.Config.StateDir, j.Guests); len(away) > 0 && f.err() == nil {
			log.Info("nothing to do: the job's guests are migrated away", "guests", strings.Join(away, ","))
			return finish(env, rep, &f, log)
		}
		f.add(fmt.Errorf("job %q: no dataset to work on", j.Name), steps.List()...)
		return finish(env, rep, &f, log)
	}
	if steps.Replicate || steps.Prune {
		replicateAndPrune(ctx, sys, j, datasets, steps, rep, &f, log)
	}
	return finish(env, rep, &f, log)
}

// finish sets the run's errors and records its status, unless it was a dry run.
func finish(env Env, rep *Report, f *failures, log *slog.Logger) *Report {
	rep.Err, rep.Failed = f.err(), f.bySteps()
	if !rep.Steps.DryRun {
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
