package config

import (
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/retention"
	"github.com/hotzfs/hotzfs/transport"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"10s", 10 * time.Second},
		{"1h30m", 90 * time.Minute},
		{"1.5h", 90 * time.Minute},
		{"500ms", 500 * time.Millisecond},
		{"14d", 14 * 24 * time.Hour},
		{"2w", 14 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil || time.Duration(got) != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, time.Duration(got), err, tt.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty"},
		{"10", `duration "10": 10 needs a unit (write e.g. 10s or 10m)`},
		{"10x", `unknown unit "x" (use s, m, h, d or w)`},
		{"-5s", "must not have a sign"},
		{"h", `expected a number at "h"`},
		{"1..5s", `bad number "1..5"`},
		{"999999999w", "too long"},
	}
	for _, tt := range tests {
		_, err := ParseDuration(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseDuration(%q) error = %v, want …%s…", tt.in, err, tt.want)
		}
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{10 * time.Second, "10s"},
		{5 * time.Minute, "5m"},
		{90 * time.Minute, "1h30m"},
		{36 * time.Hour, "36h"},
		{48 * time.Hour, "2d"},
		{1500 * time.Millisecond, "1.5s"},
		{0, "0s"},
	}
	for _, tt := range tests {
		if got := Duration(tt.d).String(); got != tt.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tt.d, got, tt.want)
		}
		if tt.d != 0 {
			back, err := ParseDuration(Duration(tt.d).String())
			if err != nil || time.Duration(back) != tt.d {
				t.Errorf("round trip of %v: %v, %v", tt.d, time.Duration(back), err)
			}
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"4096", 4096},
		{"512B", 512},
		{"10k", 10_000},
		{"10K", 10_000},
		{"10kB", 10_000},
		{"50M", 50_000_000},
		{"2G", 2_000_000_000},
		{"1T", 1_000_000_000_000},
		{"1KiB", 1024},
		{"50MiB", 50 << 20},
		{"50mib", 50 << 20},
		{"1.5GiB", 3 << 29},
		{"2TiB", 2 << 40},
		{"100 MiB", 100 << 20},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if err != nil || int64(got) != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []struct{ in, want string }{
		{"-1G", "must not be negative"},
		{"lots", "expected a number"},
		{"5 parsecs", `unknown unit "parsecs"`},
		{"99999999T", "too large"},
	} {
		_, err := ParseSize(bad.in)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseSize(%q) error = %v, want …%s…", bad.in, err, bad.want)
		}
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		s    Size
		want string
	}{
		{0, "0"}, {50 << 20, "50MiB"}, {2 << 40, "2TiB"}, {2_000_000_000, "2G"}, {1024, "1KiB"},
		{1500, "1500B"}, {3 << 29, "1536MiB"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tt.s), got, tt.want)
		}
	}
}

func TestParseBandwidth(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		str  string
	}{
		{"0", 0, "unlimited"},
		{"50MiB/s", 50 << 20, "50MiB/s"},
		{"10M", 10_000_000, "10M/s"},
		{"1G/s", 1_000_000_000, "1G/s"},
	}
	for _, tt := range tests {
		got, err := ParseBandwidth(tt.in)
		if err != nil || int64(got) != tt.want || got.String() != tt.str {
			t.Errorf("ParseBandwidth(%q) = %d (%s), %v; want %d (%s)", tt.in, got, got, err, tt.want, tt.str)
		}
	}
	if _, err := ParseBandwidth("50 Mbit/s"); err == nil || !strings.Contains(err.Error(), `unknown unit "Mbit"`) {
		t.Errorf("ParseBandwidth(50 Mbit/s) error = %v", err)
	}
}

func TestParseSchedule(t *testing.T) {
	from := time.Date(2025, 3, 10, 12, 7, 30, 0, time.UTC)
	tests := []struct {
		spec string
		next time.Time
	}{
		{"*/15 * * * *", time.Date(2025, 3, 10, 12, 15, 0, 0, time.UTC)},
		{"@hourly", time.Date(2025, 3, 10, 13, 0, 0, 0, time.UTC)},
		{"@every 30m", from.Add(30 * time.Minute)},
		{"*/10 * * * * *", time.Date(2025, 3, 10, 12, 7, 40, 0, time.UTC)}, // seconds first
		{"CRON_TZ=UTC 0 3 * * *", time.Date(2025, 3, 11, 3, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		s, err := ParseSchedule(tt.spec)
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", tt.spec, err)
			continue
		}
		if got := s.Next(from); !got.Equal(tt.next) || s.String() != tt.spec {
			t.Errorf("ParseSchedule(%q).Next = %v, String %q; want %v", tt.spec, got, s, tt.next)
		}
	}
	for _, bad := range []string{"*/15 * * *", "61 * * * *", "@fortnightly", "* * * * * * *"} {
		_, err := ParseSchedule(bad)
		if err == nil || !strings.Contains(err.Error(), `write 5 fields "minute hour`) {
			t.Errorf("ParseSchedule(%q) error = %v; want the accepted forms spelled out", bad, err)
		}
	}
	if !(Schedule{}).IsZero() {
		t.Error("zero Schedule is not IsZero")
	}
}

func TestEnums(t *testing.T) {
	if q, err := parseQuiesce("off"); err != nil || q != QuiesceOff {
		t.Errorf("quiesce off = %q, %v", q, err)
	}
	if _, err := parseQuiesce("requried"); err == nil || !strings.Contains(err.Error(), `did you mean "required"`) {
		t.Errorf("quiesce typo: %v", err)
	}
	if c, err := parseCompression("zstd"); err != nil || c != CompressionDefault {
		t.Errorf("compression zstd = %q, %v; want default", c, err)
	}
	if _, err := parseCompression("max"); err == nil || !strings.Contains(err.Error(), "none, fastest, default or better") {
		t.Errorf("compression max: %v", err)
	}
}

// Config durations and retention durations are one grammar: whatever one accepts the other accepts with
// the same value, and what one refuses the other refuses.
func TestDurationGrammarIsShared(t *testing.T) {
	for _, in := range []string{"0", "10s", "1.5d", "2w", "1d12h", "500ms", "1.5h", "48", "-1h", "1y", "1h 2m", ""} {
		c, cerr := ParseDuration(in)
		r, rerr := retention.ParseDuration(in)
		if (cerr == nil) != (rerr == nil) || time.Duration(c) != r {
			t.Errorf("%q: config %v (%v), retention %v (%v)", in, time.Duration(c), cerr, r, rerr)
		}
	}
}

// The config's compression levels are transport's: each one the wire knows parses to itself.
func TestCompressionIsTransports(t *testing.T) {
	for _, in := range []string{"none", "fastest", "default", "better", "zstd", "off"} {
		want, werr := transport.ParseCompression(in)
		got, err := parseCompression(in)
		if werr != nil || err != nil || transport.Compression(got) != want {
			t.Errorf("%q: config %q (%v), transport %q (%v)", in, got, err, want, werr)
		}
	}
	if _, err := parseCompression("lz4"); err == nil {
		t.Error("lz4 accepted")
	}
}
