package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/guest"
	"github.com/hotzfs/hotzfs/replication"
)

// TestRecordConcurrentJobs: jobs that run at once (the daemon runs them in parallel) each record their runs
// many times; every job's last run is there afterwards, every file is valid JSON, and a reader never fails.
func TestRecordConcurrentJobs(t *testing.T) {
	state := t.TempDir()
	const jobs, runs = 8, 40
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, jobs*runs*2)
	for j := 0; j < jobs; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprint("job", j)
			for i := 0; i < runs; i++ {
				rep := &Report{Job: name, Started: t0.Add(time.Duration(i) * time.Minute), Replicated: []replication.Report{
					{Source: "tank/" + name, Base: fmt.Sprint("s", i), Steps: []replication.StepReport{{Bytes: 1}}}}}
				if err := Record(state, rep); err != nil {
					errs <- fmt.Errorf("%s run %d: record: %w", name, i, err)
				}
				if _, err := LoadStatus(state); err != nil {
					errs <- fmt.Errorf("%s run %d: load while others write: %w", name, i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st, err := LoadStatus(state)
	if err != nil {
		t.Fatalf("load after the runs: %v", err)
	}
	for j := 0; j < jobs; j++ {
		name := fmt.Sprint("job", j)
		js, ok := st.Jobs[name]
		ds := js.Datasets["tank/"+name]
		if !ok || !js.LastRun.Equal(t0.Add((runs-1)*time.Minute)) || ds.ReplicatedSnap != fmt.Sprint("s", runs-1) || ds.Bytes != runs {
			t.Errorf("%s: %+v, want its last run (s%d, %d bytes in all)", name, js, runs-1, runs)
		}
	}
	err = filepath.WalkDir(state, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".json" {
			return err
		}
		data, err := os.ReadFile(path)
		if err == nil && !json.Valid(data) {
			t.Errorf("%s is not valid JSON: %.80q", path, data)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLoadStatusReadsEarlierStatusFile: the single status.json of earlier releases still shows in `status` and
// `check` after an upgrade, a job's first run afterwards carries its history over, and its own file wins.
func TestLoadStatusReadsEarlierStatusFile(t *testing.T) {
	state := t.TempDir()
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	old := Status{Jobs: map[string]JobStatus{
		"a": {LastRun: t0, LastSuccess: t0, Datasets: map[string]DatasetStatus{"tank/a": {ReplicatedSnap: "s0", Bytes: 5, LastReplicated: t0}}},
		"b": {LastRun: t0, Error: "target unreachable"},
	}}
	data, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "status.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := LoadStatus(state)
	if err != nil || len(st.Jobs) != 2 || st.Jobs["b"].Error != "target unreachable" {
		t.Fatalf("earlier status file: %+v, %v", st, err)
	}
	t1 := t0.Add(time.Hour)
	if err := Record(state, &Report{Job: "a", Started: t1, Err: fmt.Errorf("busy")}); err != nil {
		t.Fatal(err)
	}
	st, err = LoadStatus(state)
	if err != nil {
		t.Fatal(err)
	}
	a := st.Jobs["a"]
	if !a.LastRun.Equal(t1) || a.Error != "busy" || !a.LastSuccess.Equal(t0) || a.Datasets["tank/a"].Bytes != 5 {
		t.Errorf("job a after its first run since the upgrade: %+v, want the new run with its earlier history", a)
	}
	if st.Jobs["b"].Error != "target unreachable" {
		t.Errorf("job b, not run since the upgrade: %+v", st.Jobs["b"])
	}
	// Before each step's outcome was recorded, a run's outcome stands for every step.
	if r := st.Jobs["b"].Steps[StepReplicate]; r.Error != "target unreachable" || !r.LastRun.Equal(t0) {
		t.Errorf("job b's replicate step from the earlier status: %+v, want its failed run", r)
	}
	if r := a.Steps[StepReplicate]; r.Error != "" || !r.LastSuccess.Equal(t0) {
		t.Errorf("job a's replicate step from the earlier status: %+v, want its success at %s", r, t0)
	}
}

// TestRunThatCannotReachLibvirtIsRecorded: a job of guests only whose run cannot reach libvirt ends before any
// step, and is recorded: every step it was to do failed, with the reason.
func TestRunThatCannotReachLibvirtIsRecorded(t *testing.T) {
	env, j := fakeJob(t, nil, "    guests: [web1]\n")
	env.Guests = func(context.Context) (*guest.Client, error) {
		return nil, errors.New("dial unix /var/run/libvirt/libvirt-sock: connect: no such file or directory")
	}
	z := newFakeZFS()
	clock := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	env.Now = func() time.Time { return clock }
	rep := run(context.Background(), env, fakeSystems(z, newFakeTarget(z), &clock), j, AllSteps)
	if rep.Err == nil || !strings.Contains(rep.Err.Error(), "libvirt") {
		t.Fatalf("run: %v, want the libvirt error", rep.Err)
	}
	st, err := LoadStatus(env.Config.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	js, ok := st.Jobs["j"]
	if !ok || !js.LastRun.Equal(clock) || !strings.Contains(js.Error, "libvirt") {
		t.Fatalf("status %+v (recorded: %v), want the failed run", js, ok)
	}
	for _, step := range AllSteps.List() {
		if s := js.Steps[step]; !s.LastRun.Equal(clock) || !strings.Contains(s.Error, "libvirt") || !s.LastSuccess.IsZero() {
			t.Errorf("step %s: %+v, want failed at %s for want of libvirt", step, s, clock)
		}
	}
}

// TestEachStepKeepsItsOwnOutcome: a backup whose target cannot be reached fails replicate and prune; a later
// prune that succeeds, and a later snapshot, leave the replicate step failed.
func TestEachStepKeepsItsOwnOutcome(t *testing.T) {
	env, j := fakeJob(t, []string{"tank/a"}, "    retention:\n      source: {keep_last: 5}\n")
	z := newFakeZFS("tank/a")
	tg := newFakeTarget(z)
	tg.dialErrs = []error{errors.New("x509: certificate signed by unknown authority")}
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := t0
	env.Now = func() time.Time { return clock }
	sys := fakeSystems(z, tg, &clock)
	if rep := run(context.Background(), env, sys, j, AllSteps); rep.Err == nil || rep.Failed[StepSnapshot] != nil {
		t.Fatalf("backup: %v (by step %v), want the target's failure and a snapshot taken", rep.Err, rep.Failed)
	}
	clock = t0.Add(time.Hour)
	if rep := run(context.Background(), env, sys, j, Steps{Prune: true}); rep.Err != nil {
		t.Fatalf("prune: %v", rep.Err)
	}
	clock = t0.Add(2 * time.Hour)
	if rep := run(context.Background(), env, sys, j, Steps{Snapshot: true}); rep.Err != nil {
		t.Fatalf("snapshot: %v", rep.Err)
	}
	st, err := LoadStatus(env.Config.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	steps := st.Jobs["j"].Steps
	if r := steps[StepReplicate]; !r.LastRun.Equal(t0) || !strings.Contains(r.Error, "unknown authority") || !r.LastSuccess.IsZero() {
		t.Errorf("replicate: %+v, want still failed at %s", r, t0)
	}
	if p := steps[StepPrune]; p.Error != "" || !p.LastSuccess.Equal(t0.Add(time.Hour)) {
		t.Errorf("prune: %+v, want its success at %s", p, t0.Add(time.Hour))
	}
	if s := steps[StepSnapshot]; s.Error != "" || !s.LastSuccess.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("snapshot: %+v, want its success at %s", s, t0.Add(2*time.Hour))
	}
}

// TestTrackedDatasets: a job's datasets are those its config names and the disks of its guests as the latest
// run that reached libvirt found them; a run that could not reach libvirt changes nothing of the guests'.
func TestTrackedDatasets(t *testing.T) {
	state := recordThreeDatasets(t)
	t1 := time.Date(2026, 6, 1, 13, 0, 0, 0, time.UTC)
	rec := func(rep *Report) {
		t.Helper()
		if err := Record(state, rep); err != nil {
			t.Fatal(err)
		}
	}
	rec(&Report{Job: "j", Started: t1, Steps: AllSteps, GuestsFound: true, GuestDatasets: []string{"tank/web1"}})
	rec(&Report{Job: "j", Started: t1.Add(time.Hour), Steps: AllSteps, GuestsFound: false})
	st, err := LoadStatus(state)
	if err != nil {
		t.Fatal(err)
	}
	js := st.Jobs["j"]
	for _, c := range []struct {
		name string
		job  config.Job
		want []string
	}{
		{"guests", config.Job{Datasets: []string{"tank/a"}, Guests: []string{"web*"}}, []string{"tank/a", "tank/web1"}},
		{"guests gone from the config", config.Job{Datasets: []string{"tank/a"}}, []string{"tank/a"}},
		{"dataset gone from the config", config.Job{Guests: []string{"web*"}}, []string{"tank/web1"}},
	} {
		if got := js.Tracked(c.job); !slices.Equal(got, c.want) {
			t.Errorf("%s: tracked %v, want %v", c.name, got, c.want)
		}
	}
	legacy := JobStatus{Datasets: map[string]DatasetStatus{"tank/web2": {}, "tank/a": {}}}
	if got := legacy.Tracked(config.Job{Guests: []string{"web*"}}); !slices.Equal(got, []string{"tank/a", "tank/web2"}) {
		t.Errorf("status from before guests were recorded: tracked %v, want every recorded dataset", got)
	}
}

// recordThreeDatasets returns a state directory where job j has replicated tank/a, tank/old and tank/web2.
func recordThreeDatasets(t *testing.T) string {
	t.Helper()
	state := t.TempDir()
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	var reps []replication.Report
	for _, ds := range []string{"tank/a", "tank/old", "tank/web2"} {
		reps = append(reps, replication.Report{Source: ds, Base: "s1", Steps: []replication.StepReport{{Bytes: 1}}})
	}
	if err := Record(state, &Report{Job: "j", Started: t0, Steps: AllSteps, Replicated: reps}); err != nil {
		t.Fatal(err)
	}
	return state
}
