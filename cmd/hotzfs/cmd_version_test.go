package main

import (
	"bytes"
	"encoding/json"
	"io"
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
	var stderr bytes.Buffer
	if code := execute(t.Context(), []string{"version", "--bogus"}, io.Discard, &stderr); code != exitUsage {
		t.Errorf("exit code %d for an unknown flag, want %d (%s)", code, exitUsage, stderr.String())
	}
}
