package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestVersionPrintsVersionCommitAndGo(t *testing.T) {
	var out bytes.Buffer
	if err := runVersion(&out, versionOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "hotzfs "+version) || !strings.Contains(out.String(), runtime.Version()) {
		t.Errorf("version output %q", out.String())
	}
	out.Reset()
	if err := runVersion(&out, versionOptions{json: true}); err != nil {
		t.Fatal(err)
	}
	var v versionInfo
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || v.Go != runtime.Version() || v.Version == "" || v.Commit == "" {
		t.Errorf("json version %q: %+v %v", out.String(), v, err)
	}
}

func TestUnknownFlagIsAUsageError(t *testing.T) {
	root := newRootCmd()
	root.SetArgs([]string{"version", "--bogus"})
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	err := root.Execute()
	if code := exitCode(t.Context(), err); code != exitUsage {
		t.Errorf("exit code %d for an unknown flag, want %d (err %v)", code, exitUsage, err)
	}
}
