package config

import (
	"errors"
	"testing"
)

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "sender.yaml", Pos: Pos{12, 5}, Msg: "bad"}, "sender.yaml:12:5: bad"},
		{Error{Pos: Pos{3, 1}, Msg: "bad"}, "3:1: bad"},
		{Error{File: "sender.yaml", Msg: "empty"}, "sender.yaml: empty"},
		{Error{Msg: "code-built"}, "code-built"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// The flagship message: file, line, column, the key, where it is, and the fix.
func TestUnknownKeyMessage(t *testing.T) {
	_, err := ParseSender("sender.yaml", []byte(offsite+`jobs:
  - name: guests
    guests: [web1]
    frezee_timeout: 10s
    target: offsite
`))
	want := `sender.yaml:6:5: unknown key "frezee_timeout" in job "guests" (did you mean "freeze_timeout"?)`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestProblemsSortedAndAllReported(t *testing.T) {
	_, err := ParseSender("sender.yaml", []byte(offsite+`jobs:
  - name: b
    guests: [web1]
    target: nowhere
  - name: a
    datasets: [tank/../x]
    freeze_timeout: 1h
    target: offsite
`))
	got := Problems(err)
	if len(got) != 3 {
		t.Fatalf("want 3 problems, got %d:\n%v", len(got), err)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Pos.Line < got[i-1].Pos.Line {
			t.Errorf("problems not sorted by line:\n%v", err)
		}
	}
	var e *Error
	if !errors.As(err, &e) || e.Pos.Line != 6 {
		t.Errorf("errors.As finds the first problem at line 6, got %+v", e)
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"keep_last", "keep_within", "hourly", "daily"}
	tests := []struct{ word, want string }{
		{"keep_lst", ` (did you mean "keep_last"?)`},
		{"dialy", ` (did you mean "daily"?)`},
		{"KEEP_LAST", ` (did you mean "keep_last"?)`},
		{"monthly_count", " (allowed: keep_last, keep_within, hourly, daily)"},
	}
	for _, tt := range tests {
		if got := suggest(tt.word, keys); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}
