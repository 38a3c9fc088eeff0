package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/job"
	"github.com/hotzfs/hotzfs/replication"
)

func writeSenderConfig(t *testing.T, stateDir string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hotzfs.yaml")
	cfg := fmt.Sprintf(`state_dir: %s
targets:
  t: {address: "127.0.0.1:7390", ca: ca.crt, cert: c.crt, key: c.key}
jobs:
  - name: j
    datasets: [tank/a, tank/b]
    target: t
`, stateDir)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckExitCodes(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	state := t.TempDir()
	opts := checkOptions{config: writeSenderConfig(t, state), warning: 2 * time.Hour, critical: 24 * time.Hour}

	code, msg := runCheck(opts, now)
	if code != checkCritical || !strings.Contains(msg, "never ran") {
		t.Errorf("no status yet: %d %q, want CRITICAL never ran", code, msg)
	}
	record := func(at time.Time, err error) {
		rep := &job.Report{Job: "j", Started: at, Err: err, Replicated: []replication.Report{
			{Source: "tank/a", Base: "s1", Steps: []replication.StepReport{{Bytes: 1}}},
			{Source: "tank/b", Base: "s1", Steps: []replication.StepReport{{Bytes: 1}}}}}
		if err := job.Record(state, rep); err != nil {
			t.Fatal(err)
		}
	}
	record(now.Add(-30*time.Minute), nil)
	if code, msg := runCheck(opts, now); code != checkOK || !strings.HasPrefix(msg, "HOTZFS OK") {
		t.Errorf("fresh backup: %d %q, want OK", code, msg)
	}
	if code, msg := runCheck(opts, now.Add(3*time.Hour)); code != checkWarning || !strings.Contains(msg, "tank/a last replicated 3h30m0s ago") {
		t.Errorf("3.5 h old: %d %q, want WARNING naming the dataset and its lag", code, msg)
	}
	if code, _ := runCheck(opts, now.Add(48*time.Hour)); code != checkCritical {
		t.Errorf("2 days old: %d, want CRITICAL", code)
	}
	record(now, fmt.Errorf("target unreachable"))
	if code, msg := runCheck(opts, now); code != checkCritical || !strings.Contains(msg, "target unreachable") {
		t.Errorf("failed run: %d %q, want CRITICAL with the error", code, msg)
	}
	if code, _ := runCheck(checkOptions{config: "/nonexistent.yaml"}, now); code != checkUnknown {
		t.Errorf("missing config: %d, want UNKNOWN", code)
	}
}
