package job

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

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
}
