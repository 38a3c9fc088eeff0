package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/hotzfs/hotzfs/job"
)

type daemonOptions struct{ config string }

func newDaemonCmd(g *globalOptions) *cobra.Command {
	var opts daemonOptions
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the configured jobs on their cron schedules (SIGHUP reloads the config, SIGTERM stops)",
		Long: `daemon runs every job that has a schedule. A job never overlaps itself, nor a manual hotzfs backup of
it: whichever starts second skips the job ("skipped, already running"). SIGHUP lets running jobs finish,
then reloads the config (a config with errors is refused and the old one stays). SIGTERM or SIGINT cancels
running jobs — guests are thawed and interrupted receives stay resumable — and exits.`,
		Args: positional(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), g, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.config, "config", "c", "/etc/hotzfs/hotzfs.yaml", "sender config file")
	return cmd
}

func runDaemon(ctx context.Context, g *globalOptions, opts daemonOptions) error {
	env, err := senderEnv(g, opts.config)
	if err != nil {
		return err
	}
	log := env.Log
	reg := prometheus.NewRegistry()
	metrics := job.NewMetrics(reg)
	if env.Config.Metrics != "" {
		go serveMetrics(ctx, env.Config.Metrics, reg, log)
	}
	if err := recoverFrozen(ctx, env); err != nil {
		log.Warn("thawing guests left frozen by an earlier run", "err", err)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	done := func(r *job.Report) {
		if errors.Is(r.Err, job.ErrLocked) {
			log.Info("job skipped, already running", "job", r.Job, "err", r.Err)
			return
		}
		metrics.Observe(r)
		if r.Err != nil {
			log.Error("job failed", "job", r.Job, "duration", r.Duration, "err", r.Err)
		} else {
			log.Info("job done", "job", r.Job, "duration", r.Duration)
		}
	}
	sched, n := job.StartScheduler(ctx, env, done)
	log.Info("daemon started", "config", opts.config, "scheduled_jobs", n)
	warnUnscheduled(log, opts.config, n)
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping: cancelling running jobs")
			sched.Stop()
			return nil
		case <-hup:
			next, err := senderEnv(g, opts.config)
			if err != nil {
				log.Error("reload refused: the config has errors; keeping the running one", "err", err)
				continue
			}
			log.Info("reloading: waiting for running jobs")
			sched.Drain()
			env = next
			sched, n = job.StartScheduler(ctx, env, done)
			log.Info("reloaded", "scheduled_jobs", n)
			warnUnscheduled(log, opts.config, n)
		}
	}
}

// warnUnscheduled warns that the daemon has nothing to do when no job has a schedule.
func warnUnscheduled(log *slog.Logger, config string, scheduled int) {
	if scheduled == 0 {
		log.Warn(`no job has a schedule, so the daemon runs nothing: add schedule: to a job (a cron spec like `+
			`"*/15 * * * *" or "@daily") and reload (SIGHUP), or run hotzfs backup from cron or hotzfs-backup.timer`,
			"config", config)
	}
}
