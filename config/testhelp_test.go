package config

import (
	"fmt"
	"strings"
	"testing"
	_ "time/tzdata" // the tests name time zones; do not depend on the host's zoneinfo
)

// offsite is a valid TLS target on lines 1-2 of a test config, so that a job list starts on line 3.
const offsite = `targets:
  offsite: {address: "backup.example.net:7390", ca: ca.crt, cert: web01.crt, key: web01.key}
`

// problem is what a user should see: a message part at a line and column.
type problem struct {
	pos string // "line:col"
	msg string // a part of the message
}

// wantProblems checks that err holds each wanted problem (position and message part) and nothing
// without a position.
func wantProblems(t *testing.T, err error, want ...problem) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %v", want)
	}
	got := Problems(err)
	for _, e := range got {
		if e.Pos.IsZero() || e.File == "" {
			t.Errorf("problem without file:line:col: %q", e.Error())
		}
	}
	for _, w := range want {
		if !hasProblem(got, w) {
			t.Errorf("missing problem %s: …%s…\ngot:\n%v", w.pos, w.msg, err)
		}
	}
}

func hasProblem(got []*Error, w problem) bool {
	for _, e := range got {
		if fmt.Sprintf("%d:%d", e.Pos.Line, e.Pos.Col) == w.pos && strings.Contains(e.Msg, w.msg) {
			return true
		}
	}
	return false
}
