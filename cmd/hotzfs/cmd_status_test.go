package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/job"
	"github.com/hotzfs/hotzfs/replication"
)

// status shows each step's own outcome, a dataset the config names but no run replicated yet, and a dataset
// the config no longer names as such.
func TestStatusShowsStepsAndDatasetsNotInTheConfig(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	state := t.TempDir()
	opts := statusOptions{config: writeSenderConfig(t, state)} // job j: tank/a, tank/b
	backup := &job.Report{Job: "j", Started: now.Add(-2 * time.Hour), Steps: job.AllSteps, Replicated: []replication.Report{
		{Source: "tank/a", Base: "s1", Steps: []replication.StepReport{{Bytes: 1}}},
		{Source: "tank/gone", Base: "s1", Steps: []replication.StepReport{{Bytes: 1}}}}}
	failed := &job.Report{Job: "j", Started: now.Add(-time.Hour), Steps: job.Steps{Replicate: true},
		Err: errors.New("target unreachable"), Failed: map[job.Step]error{job.StepReplicate: errors.New("target unreachable")}}
	pruned := &job.Report{Job: "j", Started: now.Add(-30 * time.Minute), Steps: job.Steps{Prune: true}}
	for _, rep := range []*job.Report{backup, failed, pruned} {
		if err := job.Record(state, rep); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := runStatus(&out, opts, now); err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) >= 2 {
			lines[f[1]] = strings.Join(f, " ")
		}
	}
	for key, want := range map[string]string{
		"snapshot":  "j snapshot 2h0m0s ago ok 2h0m0s ago",
		"replicate": "j replicate 1h0m0s ago FAILED: target unreachable 2h0m0s ago",
		"prune":     "j prune 30m0s ago ok 30m0s ago",
		"tank/a":    "j tank/a - s1 2h0m0s",
		"tank/b":    "j tank/b - - -",
		"tank/gone": "j tank/gone (not in the config) - s1 2h0m0s",
	} {
		if lines[key] != want {
			t.Errorf("%s: %q, want %q in:\n%s", key, lines[key], want, out.String())
		}
	}
}
