package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/internal/fakezfs"
	"github.com/hotzfs/hotzfs/job"
	"github.com/hotzfs/hotzfs/zfs"
)

// Each pool the backups live on is judged by its health and capacity (80 and 90% here); other pools are not.
func TestJudgePools(t *testing.T) {
	const gib = 1 << 30
	for _, c := range []struct {
		pool  zfs.PoolStatus
		state int
		text  string
	}{
		{zfs.PoolStatus{Health: "ONLINE", Size: 100 * gib, Allocated: 79 * gib}, checkOK, ""},
		{zfs.PoolStatus{Health: "ONLINE", Size: 100 * gib, Allocated: 80 * gib}, checkWarning, "pool tank is 80% full"},
		{zfs.PoolStatus{Health: "ONLINE", Size: 100 * gib, Allocated: 95 * gib}, checkCritical, "pool tank is 95% full"},
		{zfs.PoolStatus{Health: "DEGRADED", Size: 100 * gib, Allocated: 10 * gib}, checkWarning, "pool tank is DEGRADED"},
		{zfs.PoolStatus{Health: "FAULTED"}, checkCritical, "pool tank is FAULTED"},
		{zfs.PoolStatus{Health: "UNAVAIL"}, checkCritical, "pool tank is UNAVAIL"},
		{zfs.PoolStatus{Health: "SUSPENDED", Size: 100 * gib, Allocated: 10 * gib}, checkCritical, "pool tank is SUSPENDED"},
	} {
		c.pool.Name = "tank"
		var v verdict
		judgePools(&v, []zfs.PoolStatus{c.pool, {Name: "other", Health: "FAULTED"}}, []string{"tank", "tank"},
			defaultCheck(""))
		if line := v.line(); v.state != c.state || !strings.Contains(line, c.text) || strings.Contains(line, "other") {
			t.Errorf("%+v: %d %q, want %d saying %q", c.pool, v.state, line, c.state, c.text)
		}
	}
	var v verdict
	judgePools(&v, nil, []string{"tank"}, defaultCheck(""))
	if v.state != checkCritical || !strings.Contains(v.line(), "pool tank is not imported") {
		t.Errorf("pool not imported: %d %q", v.state, v.line())
	}
}

// Pools that cannot be read make the check UNKNOWN, unless something is worse.
func TestCheckPoolsUnreadable(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	state := t.TempDir()
	recordRun(t, state, now.Add(-time.Hour), job.AllSteps, []string{"tank/a", "tank/b"}, nil)
	opts := defaultCheck(writeSenderConfig(t, state))
	broken := fakeSystems{poolErr: errors.New("zpool list: exec: \"zpool\": executable file not found in $PATH")}
	if code, msg := runCheck(t.Context(), opts, broken, now); code != checkUnknown || !strings.Contains(msg, "cannot read the pools") {
		t.Errorf("zpool fails: %d %q, want UNKNOWN", code, msg)
	}
	if code, _ := runCheck(t.Context(), opts, broken, now.Add(48*time.Hour)); code != checkCritical {
		t.Errorf("zpool fails and the backups are old: %d, want CRITICAL", code)
	}
	opts.pools = false
	if code, msg := runCheck(t.Context(), opts, broken, now); code != checkOK || strings.Contains(msg, "pool") {
		t.Errorf("--pools=false: %d %q, want OK without pools", code, msg)
	}
}

// The whole command with a zpool on PATH that prints what OpenZFS prints for a degraded pool and a full one.
func TestCheckCommandReadsZpool(t *testing.T) {
	state := t.TempDir()
	recordRun(t, state, time.Now().Add(-time.Minute), job.AllSteps, []string{"tank/a", "tank/b"}, nil)
	cfg := writeSenderConfig(t, state)
	dir := fakezfs.Path(t)
	fakezfs.Zpool(t, dir, fakezfs.Pool{Name: "tank", Health: "DEGRADED", Size: 1006632960, Allocated: 118411264},
		fakezfs.Pool{Name: "full", Health: "ONLINE", Size: 100, Allocated: 99})
	var stdout bytes.Buffer
	code := execute(t.Context(), []string{"check", "-c", cfg}, &stdout, &bytes.Buffer{})
	if out := stdout.String(); code != checkWarning || !strings.HasPrefix(out, "HOTZFS WARNING - pool tank is DEGRADED") ||
		!strings.Contains(out, "'tank capacity'=11.8%;80;90;0;100") || strings.Contains(out, "full") {
		t.Errorf("exit %d, %q; want WARNING for tank only, with its capacity", code, out)
	}
}
