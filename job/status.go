package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Status is the last run of each job, kept in the state directory for `hotzfs status` and `hotzfs check`.
type Status struct {
	Jobs map[string]JobStatus `json:"jobs"`
}

// JobStatus is one job's last run.
type JobStatus struct {
	LastRun      time.Time                `json:"last_run"`
	Duration     time.Duration            `json:"duration_ns"`
	Error        string                   `json:"error,omitempty"`
	LastSuccess  time.Time                `json:"last_success,omitempty"`
	Datasets     map[string]DatasetStatus `json:"datasets,omitempty"`
	FreezeWindow time.Duration            `json:"freeze_window_ns,omitempty"`
}

// DatasetStatus is one dataset's latest snapshot and replication.
type DatasetStatus struct {
	LastSnapshot     string    `json:"last_snapshot,omitempty"`
	LastSnapshotTime time.Time `json:"last_snapshot_time,omitempty"`
	LastReplicated   time.Time `json:"last_replicated,omitempty"` // when the target last got a new snapshot
	ReplicatedSnap   string    `json:"replicated_snapshot,omitempty"`
	Bytes            uint64    `json:"bytes,omitempty"`
}

func statusPath(stateDir string) string { return filepath.Join(stateDir, "status.json") }

// LoadStatus reads the status file; a missing file is an empty status.
func LoadStatus(stateDir string) (Status, error) {
	st := Status{Jobs: map[string]JobStatus{}}
	data, err := os.ReadFile(statusPath(stateDir))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("%s: %w", statusPath(stateDir), err)
	}
	if st.Jobs == nil {
		st.Jobs = map[string]JobStatus{}
	}
	return st, nil
}

// Record merges a run's report into the status file (written atomically). The caller holds the job's lock.
func Record(stateDir string, rep *Report) error {
	st, err := LoadStatus(stateDir)
	if err != nil {
		return err
	}
	js := st.Jobs[rep.Job]
	js.LastRun, js.Duration, js.Error = rep.Started, rep.Duration, ""
	if rep.Err != nil {
		js.Error = rep.Err.Error()
	} else {
		js.LastSuccess = rep.Started
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
	st.Jobs[rep.Job] = js
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := statusPath(stateDir) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, statusPath(stateDir))
}
