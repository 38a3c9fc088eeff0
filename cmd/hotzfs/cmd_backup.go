package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotzfs/hotzfs/job"
	"github.com/hotzfs/hotzfs/snapshot"
	"github.com/hotzfs/hotzfs/zfs"
)

type runOptions struct {
	config string
	json   bool
	dryRun bool
}

// newRunCmd builds backup, snapshot, replicate and prune: the same job run with different steps.
func newRunCmd(g *globalOptions, use, short string, steps job.Steps) *cobra.Command {
	var opts runOptions
	cmd := &cobra.Command{
		Use:   use + " [JOB...]",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			s := steps
			s.DryRun = opts.dryRun
			return runJobs(cmd.Context(), g, cmd.OutOrStdout(), opts, args, s)
		},
	}
	cmd.Flags().StringVarP(&opts.config, "config", "c", "/etc/hotzfs/hotzfs.yaml", "sender config file")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the report as JSON")
	if steps.Prune && !steps.Snapshot {
		cmd.Flags().BoolVar(&opts.dryRun, "dry-run", false, "print the plan with reasons; destroy nothing")
	}
	return cmd
}

func runJobs(ctx context.Context, g *globalOptions, w io.Writer, opts runOptions, names []string, steps job.Steps) error {
	env, err := senderEnv(g, opts.config)
	if err != nil {
		return err
	}
	jobs, err := selectJobs(env.Config, names)
	if err != nil {
		return err
	}
	if err := recoverFrozen(ctx, env); err != nil {
		env.Log.Warn("thawing guests left frozen by an earlier run", "err", err)
	}
	if pp := newProgressPrinter(); pp != nil {
		env.Progress = pp.Track
		defer pp.Close()
	}
	var reports []*job.Report
	for _, j := range jobs {
		rep := job.Run(ctx, env, j, steps)
		if rep.Err != nil && ctx.Err() != nil {
			rep.Err = errInterrupted
		}
		reports = append(reports, rep)
		if ctx.Err() != nil || errors.Is(rep.Err, zfs.ErrNoZFS) {
			break // interrupted, or the other jobs would fail the same way
		}
	}
	if opts.json {
		if err := json.NewEncoder(w).Encode(jsonReports(reports)); err != nil {
			return err
		}
	} else {
		for _, r := range reports {
			printReport(w, r)
		}
	}
	return runOutcome(reports)
}

// errInterrupted is the error of a job that SIGINT or SIGTERM cut short, in place of what failed because of
// it. (What runs on regardless, thaws and post hooks, logs its own failures.)
var errInterrupted = errors.New("interrupted")

// How a job's run ended, as the report gives it.
const (
	statusOK          = "ok"
	statusFailed      = "failed"
	statusSkipped     = "skipped" // another run holds the job's lock: it is being done
	statusInterrupted = "interrupted"
)

// outcome is how r ended.
func outcome(r *job.Report) string {
	switch {
	case r.Err == nil:
		return statusOK
	case errors.Is(r.Err, job.ErrLocked):
		return statusSkipped
	case errors.Is(r.Err, errInterrupted):
		return statusInterrupted
	}
	return statusFailed
}

// runOutcome maps the reports to the exit code table. Their errors are in the printed report, so the error
// returned carries only the exit code. A job skipped because another run is doing it counts for nothing.
func runOutcome(reports []*job.Report) error {
	ran, failed := 0, 0
	for _, r := range reports {
		switch outcome(r) {
		case statusInterrupted:
			return errInterrupted
		case statusSkipped:
			continue
		case statusFailed:
			failed++
		}
		ran++
	}
	switch {
	case failed == 0:
		return nil
	case failed < ran || partial(reports):
		return exitError{code: exitPartial}
	}
	return exitError{code: exitFailure}
}

// partial reports whether some datasets of a failed job still succeeded.
func partial(reports []*job.Report) bool {
	for _, r := range reports {
		for _, rep := range r.Replicated {
			if rep.Base != "" {
				return true
			}
		}
	}
	return false
}

func recoverFrozen(ctx context.Context, env job.Env) error {
	needs := false
	for _, j := range env.Config.Jobs {
		needs = needs || len(j.Guests) > 0
	}
	if !needs {
		return nil
	}
	client, err := env.Guests(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	return snapshot.RecoverFrozen(ctx, env.Config.StateDir, client, env.Log)
}

func printReport(w io.Writer, r *job.Report) {
	status := outcome(r)
	label := status
	switch status {
	case statusSkipped:
		fmt.Fprintf(w, "job %s: skipped, already running\n", r.Job)
		return
	case statusFailed:
		label = "FAILED"
	}
	fmt.Fprintf(w, "job %s: %s in %s\n", r.Job, label, r.Duration.Round(time.Millisecond))
	if s := r.Snapshot; s != nil {
		fmt.Fprintf(w, "  snapshot %s: %d dataset(s), freeze window %s, snapshot step %s\n", s.Name, len(s.Snapshots),
			s.Window.Round(time.Millisecond), s.SnapTime.Round(time.Millisecond))
		for _, gs := range s.Guests {
			fmt.Fprintf(w, "    guest %s: %s\n", gs.Name, orDash(string(gs.Consistency)))
		}
	}
	for _, rep := range r.Replicated {
		var bytes, wire uint64
		var steps []string
		for _, s := range rep.Steps {
			bytes, wire = bytes+s.Bytes, wire+s.WireBytes
			steps = append(steps, s.Step)
		}
		if len(steps) == 0 {
			steps = []string{"up to date"}
		}
		fmt.Fprintf(w, "  replicate %s → %s: %s; %s sent, %s on the wire; base @%s\n", rep.Source, rep.Target,
			strings.Join(steps, ", "), humanBytes(bytes), humanBytes(wire), orDash(rep.Base))
	}
	for _, p := range r.Pruned {
		kept := 0
		for _, d := range p.Decisions {
			if d.Keep {
				kept++
			}
		}
		fmt.Fprintf(w, "  prune %s %s: keep %d, destroy %d\n", p.Side, p.Dataset, kept, len(p.Decisions)-kept)
		for _, d := range p.Decisions {
			verdict := "destroy"
			if d.Keep {
				verdict = "keep   "
			}
			fmt.Fprintf(w, "    %s @%s  %s\n", verdict, d.Snapshot, strings.Join(d.Reasons, ", "))
		}
		for _, ref := range p.Refused {
			fmt.Fprintf(w, "    receiver kept @%s\n", ref)
		}
	}
	if status == statusFailed {
		fmt.Fprintf(w, "  error: %v\n", r.Err)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

type jsonReport struct {
	Job        string            `json:"job"`
	Status     string            `json:"status"` // ok, failed, skipped (already running) or interrupted
	Started    time.Time         `json:"started"`
	DurationMS int64             `json:"duration_ms"`
	Snapshot   string            `json:"snapshot,omitempty"`
	WindowMS   int64             `json:"freeze_window_ms,omitempty"`
	Replicated []jsonReplication `json:"replicated,omitempty"`
	Pruned     []job.PruneReport `json:"pruned,omitempty"`
	Error      string            `json:"error,omitempty"`
}

type jsonReplication struct {
	Source    string   `json:"source"`
	Target    string   `json:"target"`
	Steps     []string `json:"steps"`
	Bytes     uint64   `json:"bytes"`
	WireBytes uint64   `json:"wire_bytes"`
	Base      string   `json:"base,omitempty"`
}

func jsonReports(reports []*job.Report) []jsonReport {
	var out []jsonReport
	for _, r := range reports {
		jr := jsonReport{Job: r.Job, Status: outcome(r), Started: r.Started, DurationMS: r.Duration.Milliseconds(), Pruned: r.Pruned}
		if r.Snapshot != nil {
			jr.Snapshot, jr.WindowMS = r.Snapshot.Name, r.Snapshot.Window.Milliseconds()
		}
		for _, rep := range r.Replicated {
			x := jsonReplication{Source: rep.Source, Target: rep.Target, Base: rep.Base, Steps: []string{}}
			for _, s := range rep.Steps {
				x.Steps = append(x.Steps, s.Step)
				x.Bytes, x.WireBytes = x.Bytes+s.Bytes, x.WireBytes+s.WireBytes
			}
			jr.Replicated = append(jr.Replicated, x)
		}
		if r.Err != nil {
			jr.Error = r.Err.Error()
		}
		out = append(out, jr)
	}
	return out
}
