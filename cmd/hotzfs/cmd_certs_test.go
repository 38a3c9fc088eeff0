package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// readmeSection returns the README's section under the heading, up to the next one.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if errors.Is(err, fs.ErrNotExist) && os.Getenv("HOTZFS_REAL_ZFS") == "1" {
		t.Skip("the source tree is not beside the test binary in the OpenZFS VM; the unit tier runs this test")
	}
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no %q", heading)
	}
	section, _, _ := strings.Cut(rest, "\n## ")
	return section
}

// shellLines returns the commands in the sh blocks of markdown, without their comments.
func shellLines(markdown string) [][]string {
	var lines [][]string
	in := false
	for _, line := range strings.Split(markdown, "\n") {
		switch {
		case line == "```sh":
			in = true
		case line == "```":
			in = false
		case in:
			cmd, _, _ := strings.Cut(line, " #")
			lines = append(lines, strings.Fields(cmd))
		}
	}
	return lines
}

// The README's certificate and ssh steps, run with the defaults on a tree standing for the hosts' /etc/hotzfs,
// make files with which `hotzfs config check` passes every example config (its /etc/hotzfs mapped the same
// way). ssh-keygen and ssh-keyscan are stood in for: their files are written empty.
func TestREADMECertificateStepsMakeEveryExampleValid(t *testing.T) {
	root := t.TempDir()
	etc := func(path string) string {
		if rest, ok := strings.CutPrefix(path, "/etc/hotzfs/"); ok {
			return filepath.Join(root, "etc/hotzfs", rest)
		}
		return path
	}
	defaultDir := newCertsCmd().PersistentFlags().Lookup("dir").DefValue
	certsRun, sshFiles := 0, 0
	for _, f := range shellLines(readmeSection(t, "## Install and first backup")) {
		switch {
		case len(f) > 2 && f[0] == "hotzfs" && f[1] == "certs":
			args := f
			if !slices.Contains(args, "--dir") {
				args = append(args, "--dir", defaultDir)
			}
			for i := range args {
				args[i] = etc(args[i])
			}
			runHotzfs(t, args[1:]...)
			certsRun++
		case len(f) > 2 && f[0] == "install" && f[1] == "-d":
			if err := os.MkdirAll(etc(f[len(f)-1]), 0o700); err != nil {
				t.Fatal(err)
			}
		case len(f) > 2 && f[0] == "ssh-keygen" && slices.Contains(f, "-f"):
			key := etc(f[slices.Index(f, "-f")+1])
			writeEmpty(t, key, key+".pub")
			sshFiles++
		case len(f) > 2 && f[0] == "ssh-keyscan" && f[len(f)-2] == ">":
			writeEmpty(t, etc(f[len(f)-1]))
			sshFiles++
		}
	}
	if certsRun < 3 || sshFiles < 2 {
		t.Fatalf("found %d hotzfs certs commands and %d ssh files in the README; want 3 (ca, server, client) and 2", certsRun, sshFiles)
	}

	examples, _ := filepath.Glob("../../examples/*.yaml")
	if len(examples) < 3 {
		t.Fatalf("found %d example configs, want at least 3", len(examples))
	}
	for _, example := range examples {
		data, err := os.ReadFile(example)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(root, filepath.Base(example))
		mapped := strings.ReplaceAll(string(data), "/etc/hotzfs/", filepath.Join(root, "etc/hotzfs")+"/")
		if err := os.WriteFile(path, []byte(mapped), 0o600); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if code := execute(t.Context(), []string{"config", "check", path}, &stdout, &stderr); code != exitOK ||
			!strings.Contains(stdout.String(), ": valid ") {
			t.Errorf("config check %s: exit %d\n%s%s", filepath.Base(example), code, stdout.String(), stderr.String())
		}
	}
}

// writeEmpty creates empty files.
func writeEmpty(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// config check fails, exit 2, on a receiver's certificate given as a client's, and says what to do.
func TestConfigCheckRefusesAServerCertificateAsAClients(t *testing.T) {
	dir := t.TempDir()
	runHotzfs(t, "certs", "ca", "--dir", dir)
	runHotzfs(t, "certs", "server", "backup.example.net", "--dir", dir)
	path := filepath.Join(dir, "hotzfs.yaml")
	cfg := `targets:
  offsite: {address: "backup.example.net:7390", ca: ca.crt, cert: backup.example.net.crt, key: backup.example.net.key}
jobs:
  - {name: g, guests: [web1], target: offsite}
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := execute(t.Context(), []string{"config", "check", path}, &stdout, &stderr)
	want := "is not a client certificate (no clientAuth key usage; a receiver's?): hotzfs certs client NAME makes a client certificate"
	if code != exitUsage || !strings.Contains(stderr.String(), want) || strings.Contains(stdout.String(), "valid") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit %d saying %q", code, stdout.String(), stderr.String(), exitUsage, want)
	}
}
