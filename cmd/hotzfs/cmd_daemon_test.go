package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuffer is a bytes.Buffer that a running command and the test can share.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// daemonLog runs the daemon on a config whose job has the given schedule line ("" for none) until it has
// logged that it started, and returns what it logged.
func daemonLog(t *testing.T, schedule string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hotzfs.yaml")
	cfg := "state_dir: " + t.TempDir() + `
targets:
  t: {address: "127.0.0.1:7390", ca: ca.crt, cert: c.crt, key: c.key}
jobs:
  - name: j
    datasets: [tank/a]
    target: t
` + schedule
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var stderr logBuffer
	done := make(chan int)
	go func() {
		done <- execute(ctx, []string{"daemon", "--config", path, "--log-format", "text"}, &bytes.Buffer{}, &stderr)
	}()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(stderr.String(), "daemon started"); {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not start:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	return stderr.String()
}

// A daemon none of whose jobs has a schedule would run nothing: it warns, saying how to add one.
func TestDaemonWarnsWithoutSchedules(t *testing.T) {
	log := daemonLog(t, "")
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "no job has a schedule, so the daemon runs "+
		"nothing: add schedule: to a job") {
		t.Errorf("no warning about the missing schedules:\n%s", log)
	}
	if log := daemonLog(t, `    schedule: "@daily"`+"\n"); strings.Contains(log, "no job has a schedule") {
		t.Errorf("warned with a scheduled job:\n%s", log)
	}
}
