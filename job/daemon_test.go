package job

import (
	"context"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/config"
)

// soon fires once, right away.
type soon struct{ fired bool }

func (s *soon) Next(t time.Time) time.Time {
	if s.fired {
		return t.AddDate(10, 0, 0)
	}
	s.fired = true
	return t.Add(10 * time.Millisecond)
}

// TestSchedulerStopCancelsRunningJobs: Stop cancels a running job and then waits for it, even when the
// daemon's own context is still live (a reload, or a caller that stops the scheduler before cancelling).
func TestSchedulerStopCancelsRunningJobs(t *testing.T) {
	cfg := &config.Sender{StateDir: t.TempDir(), Jobs: []config.Job{{Name: "j", Schedule: config.Schedule{Spec: "soon", Schedule: &soon{}}}}}
	started, returned := make(chan struct{}), make(chan error, 1)
	run := func(ctx context.Context, j config.Job) *Report {
		close(started)
		select {
		case <-ctx.Done():
			returned <- nil
		case <-time.After(time.Minute):
			returned <- context.DeadlineExceeded
		}
		return &Report{Job: j.Name, Err: ctx.Err()}
	}
	s, n := startScheduler(context.Background(), Env{Config: cfg}, run, func(*Report) {})
	if n != 1 {
		t.Fatalf("%d jobs scheduled, want 1", n)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the job never started")
	}
	stopped := make(chan struct{})
	go func() {
		s.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop still waits for the running job 5 s later: it did not cancel it")
	}
	if err := <-returned; err != nil {
		t.Errorf("the job returned without its context cancelled: %v", err)
	}
}
