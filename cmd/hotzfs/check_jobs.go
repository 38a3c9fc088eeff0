package main

import (
	"fmt"
	"time"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/job"
)

// stepFailure is how bad a failed step is: without snapshots or replication the backups age; a failed prune
// leaves snapshots to pile up, which the pools' capacity shows.
var stepFailure = map[job.Step]int{job.StepSnapshot: checkCritical, job.StepReplicate: checkCritical, job.StepPrune: checkWarning}

// judgeJobs judges each job by the latest run of each step, and each dataset it has by the age of its last
// replication and snapshot. It returns the jobs' datasets (of a job that never ran, those its config names).
func judgeJobs(v *verdict, jobs []config.Job, st job.Status, now time.Time, opts checkOptions) []string {
	var datasets []string
	for _, j := range jobs {
		js, ran := st.Jobs[j.Name]
		tracked := js.Tracked(j)
		datasets = append(datasets, tracked...)
		if !ran {
			v.add(checkCritical, "job %s never ran", j.Name)
			continue
		}
		for _, step := range job.AllSteps.List() {
			if s := js.Steps[step]; s.Error != "" {
				v.add(stepFailure[step], "job %s: %s failed %s ago: %s", j.Name, step, span(now.Sub(s.LastRun)), firstLine(s.Error))
			}
		}
		for _, ds := range tracked {
			judgeDataset(v, j.Name, ds, js.Datasets[ds], now, opts)
		}
	}
	v.ok("%d job(s), %d dataset(s) replicated within %s", len(jobs), len(datasets), config.Duration(opts.warning))
	return datasets
}

// judgeDataset judges one dataset by the age of its last replication (and of its last snapshot, when one is
// recorded).
func judgeDataset(v *verdict, jobName, ds string, d job.DatasetStatus, now time.Time, opts checkOptions) {
	label := jobName + ":" + ds + " lag"
	if d.LastReplicated.IsZero() {
		v.add(checkCritical, "%s never replicated", ds)
		v.perfdata(label, "U", ageThresholds(opts)...)
		return
	}
	lag := now.Sub(d.LastReplicated)
	v.perfdata(label, seconds(lag), ageThresholds(opts)...)
	state, what := ageState(lag, opts), fmt.Sprintf("%s last replicated %s ago", ds, span(lag))
	if !d.LastSnapshotTime.IsZero() {
		if snap := now.Sub(d.LastSnapshotTime); ageState(snap, opts) != checkOK {
			state = max(state, ageState(snap, opts))
			what += fmt.Sprintf(", last snapshot %s ago", span(snap))
		}
	}
	if state != checkOK {
		v.add(state, "%s", what)
	}
}

// ageThresholds are the warning, critical and minimum of an age's performance data, in seconds.
func ageThresholds(opts checkOptions) []string {
	return []string{fmt.Sprint(int64(opts.warning.Seconds())), fmt.Sprint(int64(opts.critical.Seconds())), "0"}
}

// ageState is the state of a backup this old.
func ageState(age time.Duration, opts checkOptions) int {
	switch {
	case age > opts.critical:
		return checkCritical
	case age > opts.warning:
		return checkWarning
	}
	return checkOK
}
