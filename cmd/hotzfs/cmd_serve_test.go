package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/config"
)

func TestReceiverRetentionGoesToAppendOnlyClients(t *testing.T) {
	cfg, err := config.ParseReceiver("receiver.yaml", []byte(`root: tank/backup
clients:
  web01: {}
  hv2: {allow_prune: false, allow_clone: true}
retention: {keep_last: 3, daily: 7}
`))
	if err != nil {
		t.Fatal(err)
	}
	clients, err := receiverClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c := clients["web01"]; !c.AllowPrune || c.AllowClone || c.Retention != nil {
		t.Errorf("web01 (may prune): %+v, want no receiver retention and no clones", c)
	}
	c := clients["hv2"]
	if c.AllowPrune || !c.AllowClone || c.Retention == nil || c.Retention.KeepLast != 3 || c.Retention.Daily != 7 {
		t.Fatalf("hv2 (append-only, allow_clone): %+v, want the receiver's retention and clones", c)
	}
}

// runHotzfs runs a hotzfs command line and fails the test unless it succeeds.
func runHotzfs(t *testing.T, args ...string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := execute(t.Context(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("hotzfs %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
}

// writeReceiverConfig writes a receiver config with TLS files made by hotzfs certs and returns its path.
func writeReceiverConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	runHotzfs(t, "certs", "ca", "--dir", dir)
	runHotzfs(t, "certs", "server", "localhost", "--dir", dir)
	path := filepath.Join(dir, "receiver.yaml")
	cfg := fmt.Sprintf("listen: 127.0.0.1:%d\nroot: tank/backup\nclients: {web01: {}}\n"+
		"tls: {ca: ca.crt, cert: localhost.crt, key: localhost.key}\n", freeLoopbackPort(t))
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// serve refuses to start, saying what to do, when zfs is not installed or the root dataset does not exist;
// it never says it is listening.
func TestServeRefusesWithoutZFSOrRoot(t *testing.T) {
	cfg := writeReceiverConfig(t)
	noRoot := t.TempDir()
	script := "#!/bin/sh\necho \"cannot open 'tank/backup': dataset does not exist\" >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(noRoot, "zfs"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, path, want string }{
		{"no zfs", t.TempDir(), "install zfsutils-linux"},
		{"no root", noRoot, "receiver root tank/backup does not exist: create it with zfs create tank/backup"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("PATH", c.path)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			for _, mode := range [][]string{nil, {"--stdio", "--client", "web01"}} {
				var stdout, stderr bytes.Buffer
				args := append([]string{"serve", "--config", cfg, "--log-format", "text"}, mode...)
				code := execute(ctx, args, &stdout, &stderr)
				if code != exitFailure || !strings.Contains(stderr.String(), c.want) || strings.Contains(stderr.String(), "listening") {
					t.Errorf("%v: exit %d, stderr:\n%s\nwant exit %d saying %q", mode, code, stderr.String(), exitFailure, c.want)
				}
			}
		})
	}
}
