package retention

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"48h", 48 * h}, {"14d", 14 * 24 * h}, {"2w", 14 * 24 * h}, {"1d12h", 36 * h}, {"90m", 90 * m},
		{"1.5h", 90 * m}, {"30s", 30 * time.Second}, {"1w1d", 8 * 24 * h}, {"0s", 0}, {"0", 0},
		{"1.5d", 36 * h}, {"0.5w", 84 * h}, {"500ms", 500 * time.Millisecond},
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	bad := []struct{ in, want string }{
		{"", "empty"}, {"48", "needs a unit"}, {"1y", "unknown unit"}, {"-1h", "must not have a sign"},
		{"h", "expected a number"}, {"100000000w", "too long"}, {"1h 2m", "no spaces"}, {"1..5s", "bad number"},
	}
	for _, tc := range bad {
		_, err := ParseDuration(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseDuration(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{48 * h, "48h"}, {24 * h, "24h"}, {72 * h, "3d"}, {14 * 24 * h, "14d"}, {84 * h, "3d12h"},
		{90 * m, "1h30m"}, {90 * time.Second, "1m30s"}, {h + 5*time.Second, "1h0m5s"}, {0, "0s"},
	}
	for _, tc := range tests {
		if got := FormatDuration(tc.in); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormatDurationRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		d := time.Duration(r.Int64N(int64(400*24*h))) / time.Second * time.Second
		got, err := ParseDuration(FormatDuration(d))
		if err != nil || got != d {
			t.Fatalf("ParseDuration(FormatDuration(%v) = %q) = %v, %v", d, FormatDuration(d), got, err)
		}
	}
}

func TestReasonStrings(t *testing.T) {
	tests := []struct {
		r    Reason
		want string
	}{
		{Reason{Kind: ReasonLast, N: 2, Of: 4}, "last 2/4"},
		{Reason{Kind: ReasonWithin, Rule: "48h"}, "within 48h"},
		{Reason{Kind: ReasonHourly, N: 3, Of: 24}, "hourly 3/24"},
		{Reason{Kind: ReasonDaily, N: 7, Of: 7, Oldest: true}, "daily 7/7 (oldest)"},
		{Reason{Kind: ReasonWeekly, N: 1, Of: 4}, "weekly 1/4"},
		{Reason{Kind: ReasonMonthly, N: 12, Of: 12}, "monthly 12/12"},
		{Reason{Kind: ReasonYearly, N: 1, Of: 3}, "yearly 1/3"},
		{Reason{Kind: ReasonGrid, N: 2, Of: 24, Rule: "24x1h"}, "grid 2/24x1h"},
		{Reason{Kind: ReasonNewest}, "newest"},
		{Reason{Kind: ReasonBase}, "base"},
		{Reason{Kind: ReasonHeld}, "held"},
		{Reason{Kind: ReasonNotReplicated}, "not replicated"},
		{Reason{Kind: ReasonForeign}, "foreign"},
		{Reason{Kind: ReasonFuture}, "in the future"},
		{Reason{Kind: ReasonNoRules}, "no rules"},
	}
	for _, tc := range tests {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.r, got, tc.want)
		}
		if b, _ := tc.r.MarshalText(); string(b) != tc.want {
			t.Errorf("MarshalText = %q, want %q", b, tc.want)
		}
	}
	for k := ReasonKind(0); k < numReasons; k++ {
		if want := k >= ReasonBase; k.Protects() != want {
			t.Errorf("%v.Protects() = %v", k, !want)
		}
	}
}
