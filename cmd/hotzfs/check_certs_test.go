package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/job"
)

// The certificates a target names are judged by their expiry: 30 days before it a WARNING, 7 days before and
// after it CRITICAL; a bundle by its first certificate to expire; a file that cannot be read UNKNOWN.
func TestCheckCertificateExpiry(t *testing.T) {
	now := time.Now()
	state := t.TempDir()
	cfg := writeSenderConfig(t, state)
	recordRun(t, state, now.Add(-time.Minute), job.AllSteps, []string{"tank/a", "tank/b"}, nil)
	client := filepath.Join(filepath.Dir(cfg), "c.crt")
	const day = 24 * time.Hour
	for _, c := range []struct {
		valid []time.Duration
		at    time.Time
		state int
		text  string
	}{
		{[]time.Duration{60 * day}, now, checkOK, ""},
		{[]time.Duration{20*day + time.Hour}, now, checkWarning, "c.crt (test) expires in 20d"},
		{[]time.Duration{5*day + time.Hour}, now, checkCritical, "c.crt (test) expires in 5d"},
		{[]time.Duration{60 * day, 5*day + time.Hour}, now, checkCritical, "c.crt (test) expires in 5d"},
		{[]time.Duration{day}, now.Add(3 * day), checkCritical, "c.crt (test) expired 2d ago"},
	} {
		writeCert(t, client, now, c.valid...)
		code, msg := runCheck(t.Context(), defaultCheck(cfg), healthyTank, c.at)
		if code != c.state || !strings.Contains(msg, c.text) || !strings.Contains(msg, "'cert "+client+" days left'=") {
			t.Errorf("certificate valid for %v, at +%s: %d %q, want %d saying %q", c.valid, c.at.Sub(now).Round(time.Hour),
				code, msg, c.state, c.text)
		}
	}
	if err := os.Remove(client); err != nil {
		t.Fatal(err)
	}
	if code, msg := runCheck(t.Context(), defaultCheck(cfg), healthyTank, now); code != checkUnknown ||
		!strings.Contains(msg, "cannot read certificate "+client) {
		t.Errorf("missing certificate: %d %q, want UNKNOWN", code, msg)
	}
	opts := defaultCheck(cfg)
	opts.certs = false
	if code, msg := runCheck(t.Context(), opts, healthyTank, now); code != checkOK || strings.Contains(msg, "cert") {
		t.Errorf("--certs=false: %d %q, want OK without certificates", code, msg)
	}
}
