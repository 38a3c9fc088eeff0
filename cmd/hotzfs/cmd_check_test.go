package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/certs"
	"github.com/hotzfs/hotzfs/job"
	"github.com/hotzfs/hotzfs/replication"
	"github.com/hotzfs/hotzfs/zfs"
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
	for _, name := range []string{"ca.crt", "c.crt"} {
		writeCert(t, filepath.Join(filepath.Dir(path), name), time.Now(), 10*365*24*time.Hour)
	}
	return path
}

// writeCert writes a certificate valid from now for the given time (a bundle of several, if more are given).
func writeCert(t *testing.T, path string, now time.Time, valid ...time.Duration) {
	t.Helper()
	var pemData []byte
	for _, d := range valid {
		ca, err := certs.NewCA("test", certs.Validity{Now: now, Duration: d})
		if err != nil {
			t.Fatal(err)
		}
		pemData = append(pemData, ca.CertPEM...)
	}
	if err := os.WriteFile(path, pemData, 0o644); err != nil {
		t.Fatal(err)
	}
}

// recordRun records a run of job j over datasets at the given time; errs fail the steps they name.
func recordRun(t *testing.T, state string, at time.Time, steps job.Steps, datasets []string, errs map[job.Step]error) {
	t.Helper()
	rep := &job.Report{Job: "j", Started: at, Steps: steps, Failed: errs}
	for _, err := range errs {
		rep.Err = errors.Join(rep.Err, err)
	}
	if steps.Replicate {
		for _, ds := range datasets {
			rep.Replicated = append(rep.Replicated, replication.Report{Source: ds, Base: "s" + at.Format("150405"),
				Steps: []replication.StepReport{{Bytes: 1}}})
		}
	}
	if err := job.Record(state, rep); err != nil {
		t.Fatal(err)
	}
}

func defaultCheck(config string) checkOptions {
	return checkOptions{config: config, warning: 2 * time.Hour, critical: 24 * time.Hour, pools: true,
		capacityWarning: 80, capacityCritical: 90, certs: true, certWarning: 30 * 24 * time.Hour, certCritical: 7 * 24 * time.Hour}
}

// fakeSystems are the pools and datasets a check sees.
type fakeSystems struct {
	pools   []zfs.PoolStatus
	poolErr error
	listing []zfs.Dataset
	listErr error
}

func (f fakeSystems) PoolHealth(context.Context) ([]zfs.PoolStatus, error) { return f.pools, f.poolErr }

func (f fakeSystems) List(context.Context, []string, zfs.ListOptions) ([]zfs.Dataset, error) {
	return f.listing, f.listErr
}

var healthyTank = fakeSystems{pools: []zfs.PoolStatus{{Name: "tank", Health: "ONLINE", Size: 100 << 30, Allocated: 20 << 30}}}

func TestCheckExitCodes(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	state := t.TempDir()
	opts := defaultCheck(writeSenderConfig(t, state))

	code, msg := runCheck(t.Context(), opts, healthyTank, now)
	if code != checkCritical || !strings.Contains(msg, "never ran") {
		t.Errorf("no status yet: %d %q, want CRITICAL never ran", code, msg)
	}
	recordRun(t, state, now.Add(-30*time.Minute), job.AllSteps, []string{"tank/a", "tank/b"}, nil)
	code, msg = runCheck(t.Context(), opts, healthyTank, now)
	if code != checkOK || !strings.HasPrefix(msg, "HOTZFS OK - 1 job(s), 2 dataset(s) replicated within 2h, 1 pool(s) ONLINE under 80%, 2 certificate file(s) valid beyond 30d |") ||
		!strings.Contains(msg, " | 'j:tank/a lag'=1800s;7200;86400;0 'j:tank/b lag'=1800s;7200;86400;0 'tank capacity'=20.0%;80;90;0;100 'cert ") {
		t.Errorf("fresh backup: %d %q, want OK with each dataset's lag as performance data", code, msg)
	}
	if code, msg := runCheck(t.Context(), opts, healthyTank, now.Add(3*time.Hour)); code != checkWarning || !strings.Contains(msg, "tank/a last replicated 3h30m ago") {
		t.Errorf("3.5 h old: %d %q, want WARNING naming the dataset and its lag", code, msg)
	}
	if code, msg := runCheck(t.Context(), opts, healthyTank, now.Add(48*time.Hour)); code != checkCritical || !strings.Contains(msg, "tank/b last replicated 2d1h ago") {
		t.Errorf("2 days old: %d %q, want CRITICAL", code, msg)
	}
	recordRun(t, state, now, job.AllSteps, nil, map[job.Step]error{job.StepReplicate: errors.New("target unreachable")})
	if code, msg := runCheck(t.Context(), opts, healthyTank, now); code != checkCritical || !strings.Contains(msg, "job j: replicate failed 0s ago: target unreachable") {
		t.Errorf("failed run: %d %q, want CRITICAL with the error", code, msg)
	}
	if code, _ := runCheck(t.Context(), defaultCheck("/nonexistent.yaml"), healthyTank, now); code != checkUnknown {
		t.Errorf("missing config: %d, want UNKNOWN", code)
	}
}

// A failed replication stays CRITICAL after a prune and a snapshot that succeed; a failed prune alone is a
// WARNING; and a dataset the config names but no run replicated yet is CRITICAL.
func TestCheckJudgesEachStepByItsLatestRun(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	state := t.TempDir()
	opts := defaultCheck(writeSenderConfig(t, state))
	recordRun(t, state, now.Add(-time.Hour), job.AllSteps, []string{"tank/a", "tank/b"}, nil)
	recordRun(t, state, now.Add(-30*time.Minute), job.AllSteps, nil,
		map[job.Step]error{job.StepReplicate: errors.New("target unreachable"), job.StepPrune: errors.New("target unreachable")})
	recordRun(t, state, now.Add(-20*time.Minute), job.Steps{Prune: true}, nil, nil)
	recordRun(t, state, now.Add(-10*time.Minute), job.Steps{Snapshot: true}, nil, nil)
	if code, msg := runCheck(t.Context(), opts, healthyTank, now); code != checkCritical || !strings.Contains(msg, "replicate failed 30m ago: target unreachable") ||
		strings.Contains(msg, "prune") {
		t.Errorf("replicate failed, prune and snapshot succeeded later: %d %q, want CRITICAL for replicate only", code, msg)
	}
	recordRun(t, state, now.Add(-5*time.Minute), job.AllSteps, []string{"tank/a", "tank/b"},
		map[job.Step]error{job.StepPrune: errors.New("prune tank/a: dataset is busy")})
	if code, msg := runCheck(t.Context(), opts, healthyTank, now); code != checkWarning || !strings.Contains(msg, "prune failed 5m ago: prune tank/a: dataset is busy") {
		t.Errorf("only prune failed: %d %q, want WARNING", code, msg)
	}

	fresh := t.TempDir()
	recordRun(t, fresh, now.Add(-5*time.Minute), job.AllSteps, []string{"tank/a"}, nil)
	if code, msg := runCheck(t.Context(), defaultCheck(writeSenderConfig(t, fresh)), healthyTank, now); code != checkCritical ||
		!strings.Contains(msg, "tank/b never replicated") || !strings.Contains(msg, "'j:tank/b lag'=U;7200;86400;0") {
		t.Errorf("tank/b in the config, never replicated: %d %q, want CRITICAL", code, msg)
	}
}

// A dataset that was replicated once and then removed from the config is not judged any more.
func TestCheckDropsDatasetsNoLongerInTheConfig(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	state := t.TempDir()
	recordRun(t, state, now.Add(-30*24*time.Hour), job.AllSteps, []string{"tank/gone"}, nil)
	recordRun(t, state, now.Add(-time.Hour), job.AllSteps, []string{"tank/a", "tank/b"}, nil)
	if code, msg := runCheck(t.Context(), defaultCheck(writeSenderConfig(t, state)), healthyTank, now); code != checkOK || strings.Contains(msg, "gone") {
		t.Errorf("tank/gone not in the config: %d %q, want OK without it", code, msg)
	}
}

// --job narrows the check to the jobs named.
func TestCheckOnlyTheJobsNamed(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	path := writeTwoJobConfig(t) // jobs j and k, neither ran
	opts := defaultCheck(path)
	if code, msg := runCheck(t.Context(), opts, healthyTank, now); code != checkCritical || !strings.Contains(msg, "job j never ran; job k never ran") {
		t.Errorf("all jobs: %d %q", code, msg)
	}
	opts.jobs = []string{"k"}
	if code, msg := runCheck(t.Context(), opts, healthyTank, now); code != checkCritical || strings.Contains(msg, "job j") || !strings.Contains(msg, "job k never ran") {
		t.Errorf("--job k: %d %q, want only job k", code, msg)
	}
}

// A wrong command line is the plugin's UNKNOWN (exit 3, the reason on stdout), not the usage exit code 2;
// durations take days.
func TestCheckUsageErrorsAreUnknown(t *testing.T) {
	cfg := writeSenderConfig(t, t.TempDir())
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"extra"}, "check takes no arguments"},
		{[]string{"--warning", "2x"}, `unknown unit "x"`},
		{[]string{"--warning", "2d", "--critical", "1d"}, "--warning 2d is longer than --critical 1d"},
		{[]string{"--job", "nope"}, `no job "nope"`},
		{[]string{"--capacity-warning", "95", "--capacity-critical", "90"}, "1 <= warning <= critical <= 100"},
		{[]string{"--cert-warning", "7d", "--cert-critical", "30d"}, "--cert-critical 30d is longer than --cert-warning 7d"},
		{[]string{"--receiver", "--job", "j"}, "--job is for the sender"},
		{[]string{"--log-level", "loud"}, "use one of debug, info, warn, error"},
	} {
		var stdout, stderr bytes.Buffer
		code := execute(t.Context(), append([]string{"check", "-c", cfg}, c.args...), &stdout, &stderr)
		if code != checkUnknown || !strings.HasPrefix(stdout.String(), "HOTZFS UNKNOWN - ") || !strings.Contains(stdout.String(), c.want) {
			t.Errorf("check %v: exit %d, stdout %q, stderr %q; want exit 3 and UNKNOWN saying %q", c.args, code,
				stdout.String(), stderr.String(), c.want)
		}
	}
	var stdout bytes.Buffer
	code := execute(t.Context(), []string{"check", "-c", cfg, "--warning", "2d", "--critical", "1w", "--pools=false"}, &stdout, &bytes.Buffer{})
	if code != checkCritical || !strings.Contains(stdout.String(), "job j never ran") {
		t.Errorf("--warning 2d --critical 1w: exit %d, %q; want the check to run", code, stdout.String())
	}
	var help bytes.Buffer
	if code := execute(t.Context(), []string{"--help"}, &help, &bytes.Buffer{}); code != exitOK ||
		!strings.Contains(help.String(), "check exits as a monitoring plugin instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN") {
		t.Errorf("hotzfs --help (exit %d) does not give check's exit codes:\n%s", code, help.String())
	}
}

func TestSpan(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second: "45s", 12*time.Minute + 5*time.Second: "12m5s", 30 * time.Minute: "30m",
		3*time.Hour + 30*time.Minute + 20*time.Second: "3h30m", 5 * time.Hour: "5h", 49 * time.Hour: "2d1h", 48 * time.Hour: "2d",
	} {
		if got := span(d); got != want {
			t.Errorf("span(%s) = %q, want %q", d, got, want)
		}
	}
}
