package job

import (
	"context"
	"log/slog"
	"sync"

	"github.com/robfig/cron/v3"

	"github.com/hotzfs/hotzfs/config"
)

// Scheduler runs the jobs of a config on their cron schedules. A job never overlaps itself: a tick that comes
// while the job still runs is skipped (and the job's file lock also keeps a manual run apart).
type Scheduler struct {
	cron    *cron.Cron
	ctx     context.Context
	cancel  context.CancelFunc
	running sync.WaitGroup
}

// StartScheduler schedules every job of env.Config that has a schedule, calling done with each report.
// It returns the number of scheduled jobs.
func StartScheduler(ctx context.Context, env Env, done func(*Report)) (*Scheduler, int) {
	return startScheduler(ctx, env, func(ctx context.Context, j config.Job) *Report { return Run(ctx, env, j, AllSteps) }, done)
}

// startScheduler schedules run for each job of env.Config that has a schedule.
func startScheduler(ctx context.Context, env Env, run func(context.Context, config.Job) *Report, done func(*Report)) (*Scheduler, int) {
	ctx, cancel := context.WithCancel(ctx)
	s := &Scheduler{ctx: ctx, cancel: cancel,
		cron: cron.New(cron.WithChain(cron.SkipIfStillRunning(cronLogger{env.log()})))}
	n := 0
	for _, j := range env.Config.Jobs {
		if j.Schedule.Schedule == nil {
			continue
		}
		j := j
		s.cron.Schedule(j.Schedule.Schedule, cron.FuncJob(func() {
			s.running.Add(1)
			defer s.running.Done()
			if s.ctx.Err() != nil {
				return
			}
			done(run(s.ctx, j))
		}))
		n++
	}
	s.cron.Start()
	return s, n
}

// Stop stops scheduling and cancels running jobs (guests are thawed by the snapshot step's own deferred thaw,
// interrupted receives stay resumable), then waits for them to return. It cancels first: the context cron's
// Stop returns is done only once the running jobs have returned.
func (s *Scheduler) Stop() {
	s.cancel()
	<-s.cron.Stop().Done() // no new ticks, and the running jobs have returned
	s.running.Wait()
}

// Drain stops scheduling and waits for running jobs to finish on their own, e.g. before a reload.
func (s *Scheduler) Drain() {
	<-s.cron.Stop().Done()
	s.running.Wait()
	s.cancel()
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}
