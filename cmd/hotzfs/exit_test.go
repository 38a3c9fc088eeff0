package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// On a fresh install the sender's and the receiver's commands say which packaged example to start from.
func TestMissingConfigNamesTheExample(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args    []string
		example string
	}{
		{[]string{"backup", "--config", filepath.Join(dir, "hotzfs.yaml")}, "/usr/share/doc/hotzfs/examples/hotzfs.yaml"},
		{[]string{"status", "--config", filepath.Join(dir, "hotzfs.yaml")}, "/usr/share/doc/hotzfs/examples/hotzfs.yaml"},
		{[]string{"serve", "--config", filepath.Join(dir, "receiver.yaml")}, "/usr/share/doc/hotzfs/examples/receiver.yaml"},
	} {
		var stdout, stderr bytes.Buffer
		code := execute(t.Context(), c.args, &stdout, &stderr)
		want := "cp " + c.example + " " + c.args[2]
		if code != exitUsage || !strings.Contains(stderr.String(), want) {
			t.Errorf("%v: exit %d, %q; want exit %d saying %q", c.args, code, stderr.String(), exitUsage, want)
		}
	}
}
