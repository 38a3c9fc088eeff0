package retention

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenCase is a larger policy matrix whose whole plan is checked against testdata/<name>.golden.
type goldenCase struct {
	name  string
	snaps []Snapshot
	p     Policy
	now   time.Time
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			res, err := Plan(c.snaps, c.p, c.now)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			fmt.Fprintf(&got, "# policy: %s\n# now: %s\n", describe(c.p), c.now.Format(time.RFC3339))
			if err := res.WriteText(&got, c.snaps); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./retention -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("plan differs from %s (go test ./retention -update rewrites it; read the diff first):\n%s",
					path, got.String())
			}
		})
	}
}

// describe writes a policy the way a config would say it.
func describe(p Policy) string {
	var parts []string
	add := func(name string, n int) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", name, n))
		}
	}
	add("keep_last", p.KeepLast)
	if p.KeepWithin > 0 {
		parts = append(parts, "keep_within "+FormatDuration(p.KeepWithin))
	}
	add("hourly", p.Hourly)
	add("daily", p.Daily)
	add("weekly", p.Weekly)
	add("monthly", p.Monthly)
	add("yearly", p.Yearly)
	if len(p.Grid.Segments) > 0 {
		parts = append(parts, fmt.Sprintf("grid %q", p.Grid.String()))
	}
	parts = append(parts, "zone "+p.location().String())
	if p.KeepUnreplicated {
		parts = append(parts, "keep_unreplicated")
	}
	if p.IncludeForeign {
		parts = append(parts, "include_foreign")
	}
	return strings.Join(parts, ", ")
}

func goldenCases(t *testing.T) []goldenCase {
	loc := berlin(t)
	return []goldenCase{sourceHourly(), targetDaily(), zreplGrid(t), berlinAutumn(loc), protections()}
}

// sourceHourly: three days of hourly snapshots on the sending side; replication is two snapshots behind.
func sourceHourly() goldenCase {
	snaps := every(t0, time.Hour, 72)
	snaps[0].Replicated, snaps[1].Replicated = false, false
	snaps[2].Base = true
	snaps[40].Held = true
	snaps = append(snaps, Snapshot{Dataset: "tank/a", Name: "autosnap_2024-03-09_00:00", Created: t0.Add(-36 * time.Hour),
		CreateTXG: uint64(t0.Add(-36 * time.Hour).Unix()), Replicated: true})
	p := SourceDefaults()
	p.KeepLast, p.Hourly, p.Daily = 4, 24, 7
	return goldenCase{"source-hourly-3d", snaps, p, t0.Add(10 * time.Minute)}
}

// targetDaily: a target's daily snapshots at 03:00 over 100 days, with every day that is 3 mod 7 missing.
func targetDaily() goldenCase {
	var times []time.Time
	for d := range 100 {
		if d%7 != 3 {
			times = append(times, time.Date(2024, 3, 10, 3, 0, 0, 0, time.UTC).AddDate(0, 0, -d))
		}
	}
	p := Policy{Hourly: 48, Daily: 30, Weekly: 12, Monthly: 12}
	return goldenCase{"target-daily-100d", at(times...), p, times[0].Add(time.Hour)}
}

// zreplGrid: 15-minute snapshots for 3 hours, hourly ones for two days before, daily ones for 20 days before.
func zreplGrid(t *testing.T) goldenCase {
	snaps := every(t0, 15*time.Minute, 12)
	snaps = append(snaps, every(t0.Add(-3*time.Hour), time.Hour, 48)...)
	snaps = append(snaps, every(t0.Add(-51*time.Hour), 24*time.Hour, 20)...)
	p := Policy{Grid: mustGrid(t, "1x1h(keep=all) | 24x1h | 14x1d")}
	return goldenCase{"grid-zrepl", snaps, p, t0}
}

// berlinAutumn: half-hourly snapshots through the night the clocks go back in Berlin, and two a day before.
func berlinAutumn(loc *time.Location) goldenCase {
	last := time.Date(2024, 10, 27, 6, 0, 0, 0, loc) // 06:00 CET
	snaps := every(last, 30*time.Minute, 23)         // back to 20:00 CEST the evening before
	for d := 1; d <= 3; d++ {
		day := time.Date(2024, 10, 26-d, 0, 0, 0, 0, loc)
		snaps = append(snaps, at(day.Add(18*time.Hour), day.Add(6*time.Hour))...)
	}
	p := Policy{Hourly: 6, Daily: 3, Location: loc}
	return goldenCase{"berlin-dst-autumn", snaps, p, last.Add(time.Minute)}
}

// protections: two datasets with every kind of protection under an aggressive policy.
func protections() goldenCase {
	a := ago(0, time.Hour, 2*time.Hour, 3*time.Hour, 4*time.Hour, 5*time.Hour, 6*time.Hour, 7*time.Hour, 30*time.Hour)
	a[1].Owned = false // foreign, newer than most of ours
	a[3].Held = true
	a[5].Base = true
	a[6].Replicated = false
	b := ago(-2*time.Hour, 10*time.Hour, 11*time.Hour, 12*time.Hour) // b's newest is in the future
	for i := range b {
		b[i].Dataset = "tank/b"
	}
	p := SourceDefaults()
	p.KeepLast, p.KeepWithin = 1, 2*time.Hour
	return goldenCase{"protections", append(b, a...), p, t0.Add(time.Minute)}
}
