package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hotzfs/hotzfs/config"
)

// Status is the last run of each job, kept in the state directory for `hotzfs status` and `hotzfs check`.
type Status struct {
	Jobs map[string]JobStatus `json:"jobs"`
}

// JobStatus is one job's latest run, the latest run of each of its steps, and its datasets. LastRun, Error and
// LastSuccess are of the latest run whatever steps it did; Steps says how each step last went.
type JobStatus struct {
	LastRun      time.Time                `json:"last_run"`
	Duration     time.Duration            `json:"duration_ns"`
	Error        string                   `json:"error,omitempty"`
	LastSuccess  time.Time                `json:"last_success,omitempty"`
	Steps        map[Step]StepStatus      `json:"steps,omitempty"`
	Datasets     map[string]DatasetStatus `json:"datasets,omitempty"`
	FreezeWindow time.Duration            `json:"freeze_window_ns,omitempty"`
	// GuestDatasets are the disks of the job's guests as the latest run that found them all saw them, at
	// GuestsListed (zero in a status written before releases recorded it).
	GuestDatasets []string  `json:"guest_datasets,omitempty"`
	GuestsListed  time.Time `json:"guests_listed,omitempty"`
}

// StepStatus is the latest run of one step of a job, and its latest success.
type StepStatus struct {
	LastRun     time.Time `json:"last_run"`
	Error       string    `json:"error,omitempty"`
	LastSuccess time.Time `json:"last_success,omitempty"`
}

// DatasetStatus is one dataset's latest snapshot and replication.
type DatasetStatus struct {
	LastSnapshot     string    `json:"last_snapshot,omitempty"`
	LastSnapshotTime time.Time `json:"last_snapshot_time,omitempty"`
	LastReplicated   time.Time `json:"last_replicated,omitempty"` // when the target last got a new snapshot
	ReplicatedSnap   string    `json:"replicated_snapshot,omitempty"`
	Bytes            uint64    `json:"bytes,omitempty"`
}

// Tracked returns the datasets of j, sorted: its configured datasets and the disks of its guests as the
// latest run that found them all saw them (for a status from before that was recorded, every dataset
// recorded). A dataset the config no longer names, or that belongs to a guest the job no longer has, is not
// among them.
func (js JobStatus) Tracked(j config.Job) []string {
	list := slices.Clone(j.Datasets)
	switch {
	case len(j.Guests) == 0:
	case js.GuestsListed.IsZero():
		list = append(list, slices.Collect(maps.Keys(js.Datasets))...)
	default:
		list = append(list, js.GuestDatasets...)
	}
	slices.Sort(list)
	return slices.Compact(list)
}

// upgrade fills in the steps of a status written before each step's outcome was recorded: its last run is
// taken as the last run of every step, a failure as the failure of every step.
func (js *JobStatus) upgrade() {
	if js.Steps != nil || js.LastRun.IsZero() {
		return
	}
	js.Steps = map[Step]StepStatus{}
	for _, s := range AllSteps.List() {
		js.Steps[s] = StepStatus{LastRun: js.LastRun, Error: js.Error, LastSuccess: js.LastSuccess}
	}
}

// Each job's status is its own file, STATE/status/JOB.json, written only under the job's lock: jobs that run
// at once never write the same file. Releases before one file per job kept every job in STATE/status.json;
// it is still read, and a job's own file wins over it.
const statusDirName = "status"

func statusDir(stateDir string) string { return filepath.Join(stateDir, statusDirName) }

func jobStatusPath(stateDir, job string) string {
	return filepath.Join(statusDir(stateDir), job+".json")
}

func legacyStatusPath(stateDir string) string { return filepath.Join(stateDir, "status.json") }

// LoadStatus reads every job's status; a state directory without any is an empty status.
func LoadStatus(stateDir string) (Status, error) {
	st, err := loadLegacyStatus(stateDir)
	if err != nil {
		return st, err
	}
	entries, err := os.ReadDir(statusDir(stateDir))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read the job status: %w", err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !e.Type().IsRegular() || strings.HasPrefix(name, ".") {
			continue // temporary files of a write in progress start with a dot
		}
		js, found, err := loadJobStatus(stateDir, name)
		if err != nil {
			return st, err
		}
		if found {
			st.Jobs[name] = js
		}
	}
	return st, nil
}

// loadLegacyStatus reads the single status.json of earlier releases, if there is one.
func loadLegacyStatus(stateDir string) (Status, error) {
	st := Status{Jobs: map[string]JobStatus{}}
	path := legacyStatusPath(stateDir)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("%s: %w (the status of an earlier release; remove the file, each job's next run records it again)", path, err)
	}
	if st.Jobs == nil {
		st.Jobs = map[string]JobStatus{}
	}
	for name, js := range st.Jobs {
		js.upgrade()
		st.Jobs[name] = js
	}
	return st, nil
}

func loadJobStatus(stateDir, job string) (JobStatus, bool, error) {
	var js JobStatus
	path := jobStatusPath(stateDir, job)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return js, false, nil
	}
	if err != nil {
		return js, false, err
	}
	if err := json.Unmarshal(data, &js); err != nil {
		return js, false, fmt.Errorf("%s: %w (remove the file; the job's next run records it again)", path, err)
	}
	js.upgrade()
	return js, true, nil
}

// Record merges a run's report into the job's status file. The caller holds the job's lock, so no other
// writer has the same file; the file is replaced atomically and durably.
func Record(stateDir string, rep *Report) error {
	js, found, err := loadJobStatus(stateDir, rep.Job)
	if err != nil {
		return err
	}
	if !found { // first run since the upgrade: carry the job's history over from status.json
		legacy, err := loadLegacyStatus(stateDir)
		if err != nil {
			return err
		}
		js = legacy.Jobs[rep.Job]
	}
	merge(&js, rep)
	data, err := json.MarshalIndent(js, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(statusDir(stateDir), 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	return writeFileAtomic(jobStatusPath(stateDir, rep.Job), data)
}

// merge brings a job's status up to date with one run's report: the run, each step it did, and its datasets.
func merge(js *JobStatus, rep *Report) {
	js.LastRun, js.Duration, js.Error = rep.Started, rep.Duration, ""
	if rep.Err != nil {
		js.Error = rep.Err.Error()
	} else {
		js.LastSuccess = rep.Started
	}
	if js.Steps == nil {
		js.Steps = map[Step]StepStatus{}
	}
	for _, step := range rep.Steps.List() {
		ss := js.Steps[step]
		ss.LastRun, ss.Error = rep.Started, ""
		if err := rep.Failed[step]; err != nil {
			ss.Error = err.Error()
		} else {
			ss.LastSuccess = rep.Started
		}
		js.Steps[step] = ss
	}
	if rep.GuestsFound {
		js.GuestDatasets, js.GuestsListed = slices.Clone(rep.GuestDatasets), rep.Started
	}
	if js.Datasets == nil {
		js.Datasets = map[string]DatasetStatus{}
	}
	if rep.Snapshot != nil {
		js.FreezeWindow = rep.Snapshot.Window
		for _, s := range rep.Snapshot.Snapshots {
			if s.Snapshot == "" {
				continue
			}
			ds := js.Datasets[s.Dataset]
			ds.LastSnapshot, ds.LastSnapshotTime = s.Snapshot, rep.Started
			js.Datasets[s.Dataset] = ds
		}
	}
	for _, r := range rep.Replicated {
		if r.Base == "" {
			continue
		}
		ds := js.Datasets[r.Source]
		if ds.ReplicatedSnap != r.Base || len(r.Steps) > 0 {
			ds.LastReplicated = rep.Started
		}
		ds.ReplicatedSnap = r.Base
		for _, s := range r.Steps {
			ds.Bytes += s.Bytes
		}
		js.Datasets[r.Source] = ds
	}
}

// writeFileAtomic replaces path with data: a temporary file of its own in the same directory, synced, renamed
// over path, and the directory synced, so a reader sees the old or the new file and a crash loses neither.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", path, err), ignoreMissing(os.Remove(tmp)))
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

func ignoreMissing(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
