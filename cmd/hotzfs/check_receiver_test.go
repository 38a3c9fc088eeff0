package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/internal/fakezfs"
	"github.com/hotzfs/hotzfs/zfs"
)

// writeClientsConfig writes a receiver config with root backup and the clients named, and its certificates.
func writeClientsConfig(t *testing.T, clients ...string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := "root: backup\ntls: {ca: ca.crt, cert: backup.crt, key: backup.key}\nclients:\n"
	for _, c := range clients {
		cfg += "  " + c + ": {}\n"
	}
	path := filepath.Join(dir, "receiver.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ca.crt", "backup.crt"} {
		writeCert(t, filepath.Join(dir, name), time.Now(), 10*365*24*time.Hour)
	}
	return path
}

func receiverCheck(config string) checkOptions {
	opts := defaultCheck(config)
	opts.receiver = true
	return opts
}

// Each client is judged by its newest snapshot under ROOT/CLIENT; a clone made here, or another client whose
// name starts the same, does not make it fresh; a client with nothing here is CRITICAL.
func TestCheckReceiverJudgesEachClient(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	snap := func(name string, age time.Duration) zfs.Dataset {
		return zfs.Dataset{Name: name, Type: zfs.Snapshot, Creation: now.Add(-age)}
	}
	listing := []zfs.Dataset{
		{Name: "backup", Type: zfs.Filesystem},
		snap("backup/fresh/tank/vm@hotzfs_1", 3*time.Hour), snap("backup/fresh/tank/vm@hotzfs_2", 30*time.Minute),
		snap("backup/stale/tank/a@hotzfs_1", 3*time.Hour),
		{Name: "backup/stale/tank/a-migrated", Type: zfs.Filesystem, Origin: "backup/stale/tank/a@hotzfs_1"},
		snap("backup/stale/tank/a-migrated@failback", time.Minute),
		snap("backup/stalex/tank/a@hotzfs_9", time.Minute),
		snap("backup/old/tank/a@hotzfs_1", 3*24*time.Hour),
	}
	cfg := writeClientsConfig(t, "fresh", "stale", "old", "none")
	code, msg := runCheck(t.Context(), receiverCheck(cfg), fakeSystems{listing: listing, pools: []zfs.PoolStatus{
		{Name: "backup", Health: "ONLINE", Size: 100, Allocated: 10}}}, now)
	for _, want := range []string{
		"client none has no backup here (no snapshot under backup/none)",
		"client old: newest backup 3d old (backup/old/tank/a@hotzfs_1)",
		"client stale: newest backup 3h old (backup/stale/tank/a@hotzfs_1)",
		"'client fresh age'=1800s;7200;86400;0", "'client none age'=U;7200;86400;0", "'backup capacity'=10.0%",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if code != checkCritical || strings.Contains(msg, "client fresh:") {
		t.Errorf("exit %d, %q; want CRITICAL, client fresh fine", code, msg)
	}
}

// A root that does not exist yet means no client sent anything; a listing that fails is UNKNOWN.
func TestCheckReceiverListing(t *testing.T) {
	now := time.Now()
	cfg := writeClientsConfig(t, "hv1")
	opts := receiverCheck(cfg)
	opts.pools = false
	missing := fmt.Errorf("zfs list backup: %w", zfs.ErrDatasetNotFound)
	if code, msg := runCheck(t.Context(), opts, fakeSystems{listErr: missing}, now); code != checkCritical ||
		!strings.Contains(msg, "client hv1 has no backup here") {
		t.Errorf("no root yet: %d %q", code, msg)
	}
	if code, msg := runCheck(t.Context(), opts, fakeSystems{listErr: errors.New("permission denied")}, now); code != checkUnknown ||
		!strings.Contains(msg, "cannot list backup: permission denied") {
		t.Errorf("listing fails: %d %q", code, msg)
	}
}

// The whole command on the receiver, with zfs and zpool on PATH that print what OpenZFS prints.
func TestCheckReceiverCommand(t *testing.T) {
	cfg := writeClientsConfig(t, "hv1", "hv2")
	dir := fakezfs.Path(t)
	fakezfs.Zpool(t, dir, fakezfs.Pool{Name: "backup", Health: "ONLINE", Size: 1006632960, Allocated: 118411264})
	at := func(age time.Duration) int64 { return time.Now().Add(-age).Unix() }
	// name type guid createtxg creation used referenced mountpoint receive_resume_token userrefs origin
	fakezfs.Zfs(t, dir, strings.Join([]string{
		"backup\tfilesystem\t11\t1\t" + fmt.Sprint(at(48*time.Hour)) + "\t98304\t24576\t/backup\t-\t-\t-",
		"backup/hv1\tfilesystem\t12\t5\t" + fmt.Sprint(at(48*time.Hour)) + "\t49152\t24576\t/backup/hv1\t-\t-\t-",
		"backup/hv1/tank\tfilesystem\t13\t6\t" + fmt.Sprint(at(48*time.Hour)) + "\t24576\t24576\t/backup/hv1/tank\t-\t-\t-",
		"backup/hv1/tank/vm\tvolume\t14\t7\t" + fmt.Sprint(at(48*time.Hour)) + "\t4243456\t4218880\t-\t-\t-\t-",
		"backup/hv1/tank/vm@hotzfs_20260601T100000Z\tsnapshot\t15\t9\t" + fmt.Sprint(at(3*time.Hour)) + "\t0\t4218880\t-\t-\t1\t-",
		"backup/hv2\tfilesystem\t16\t5\t" + fmt.Sprint(at(48*time.Hour)) + "\t49152\t24576\t/backup/hv2\t-\t-\t-",
		"backup/hv2/data@hotzfs_20260601T115000Z\tsnapshot\t17\t11\t" + fmt.Sprint(at(10*time.Minute)) + "\t0\t24576\t-\t-\t1\t-",
	}, "\n")+"\n")
	var stdout, stderr bytes.Buffer
	code := execute(t.Context(), []string{"check", "--receiver", "-c", cfg}, &stdout, &stderr)
	out := stdout.String()
	if code != checkWarning || !strings.HasPrefix(out, "HOTZFS WARNING - client hv1: newest backup 3h old") ||
		strings.Contains(out, "hv2:") || !strings.Contains(out, "'client hv2 age'=600s") {
		t.Errorf("exit %d, %q (stderr %q); want WARNING for hv1 only", code, out, stderr.String())
	}
}
