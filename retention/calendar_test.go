package retention

import (
	"testing"
	"time"
)

// utc is a UTC time on a day of 2024 unless the year is given with utcY.
func utc(month time.Month, day, hour, min int) time.Time {
	return time.Date(2024, month, day, hour, min, 0, 0, time.UTC)
}

func utcY(year int, month time.Month, day, hour int) time.Time {
	return time.Date(year, month, day, hour, 0, 0, 0, time.UTC)
}

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// planAt plans snapshots created at times with now one day after the newest.
func planAt(t *testing.T, p Policy, times ...time.Time) (Result, []Snapshot) {
	t.Helper()
	snaps := at(times...)
	res, err := Plan(snaps, p, times[0].Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return res, snaps
}

func TestCalendarRules(t *testing.T) {
	tests := []struct {
		name  string
		p     Policy
		times []time.Time // newest first
		want  []string    // reasons per time, "" for destroyed
	}{{
		name:  "daily: newest of each day, empty days do not use up the count",
		p:     Policy{Daily: 3},
		times: []time.Time{utc(3, 10, 12, 0), utc(3, 10, 8, 0), utc(3, 8, 20, 0), utc(3, 8, 9, 0), utc(3, 5, 10, 0), utc(3, 4, 10, 0)},
		want:  []string{"newest, daily 1/3", "", "daily 2/3", "", "daily 3/3", ""},
	}, {
		name:  "daily: count left when snapshots run out keeps the oldest",
		p:     Policy{Daily: 5},
		times: []time.Time{utc(3, 10, 12, 0), utc(3, 10, 6, 0), utc(3, 9, 18, 0), utc(3, 9, 6, 0)},
		want:  []string{"newest, daily 1/5", "", "daily 2/5", "daily 3/5 (oldest)"},
	}, {
		name:  "daily: oldest that starts a period is an ordinary keep",
		p:     Policy{Daily: 5},
		times: []time.Time{utc(3, 10, 12, 0), utc(3, 10, 6, 0), utc(3, 9, 18, 0)},
		want:  []string{"newest, daily 1/5", "", "daily 2/5"},
	}, {
		name:  "daily: no count left, oldest not kept",
		p:     Policy{Daily: 2},
		times: []time.Time{utc(3, 10, 12, 0), utc(3, 9, 18, 0), utc(3, 9, 6, 0)},
		want:  []string{"newest, daily 1/2", "daily 2/2", ""},
	}, {
		name:  "hourly: newest of each hour",
		p:     Policy{Hourly: 2},
		times: []time.Time{utc(3, 10, 12, 40), utc(3, 10, 12, 20), utc(3, 10, 12, 0), utc(3, 10, 11, 40), utc(3, 10, 11, 0), utc(3, 10, 10, 40)},
		want:  []string{"newest, hourly 1/2", "", "", "hourly 2/2", "", ""},
	}, {
		name:  "weekly: ISO weeks across the year change (2020-W53 runs to Sunday 2021-01-03)",
		p:     Policy{Weekly: 3},
		times: []time.Time{utcY(2021, 1, 5, 9), utcY(2021, 1, 4, 9), utcY(2021, 1, 3, 9), utcY(2020, 12, 31, 9), utcY(2020, 12, 28, 9), utcY(2020, 12, 27, 9), utcY(2020, 12, 26, 9)},
		want:  []string{"newest, weekly 1/3", "", "weekly 2/3", "", "", "weekly 3/3", ""},
	}, {
		name:  "weekly: 2024-12-30 is already 2025-W01",
		p:     Policy{Weekly: 2},
		times: []time.Time{utcY(2025, 1, 1, 9), utcY(2024, 12, 31, 9), utcY(2024, 12, 30, 9), utcY(2024, 12, 29, 9), utcY(2024, 12, 28, 9)},
		want:  []string{"newest, weekly 1/2", "", "", "weekly 2/2", ""},
	}, {
		name:  "yearly: calendar years, not ISO years",
		p:     Policy{Yearly: 2},
		times: []time.Time{utcY(2021, 1, 5, 9), utcY(2021, 1, 3, 9), utcY(2020, 12, 31, 9), utcY(2020, 12, 28, 9)},
		want:  []string{"newest, yearly 1/2", "", "yearly 2/2", ""},
	}, {
		name:  "monthly: leap day is the newest of February",
		p:     Policy{Monthly: 3},
		times: []time.Time{utc(3, 10, 0, 0), utc(3, 1, 0, 0), utc(2, 29, 23, 0), utc(2, 1, 0, 0), utc(1, 31, 0, 0), utc(1, 1, 0, 0), utcY(2023, 12, 31, 0)},
		want:  []string{"newest, monthly 1/3", "", "monthly 2/3", "", "monthly 3/3", "", ""},
	}, {
		name:  "several calendar rules on one snapshot",
		p:     Policy{Daily: 2, Weekly: 2, Monthly: 2},
		times: []time.Time{utc(3, 10, 12, 0), utc(3, 9, 12, 0), utc(3, 3, 12, 0), utc(2, 20, 12, 0)},
		want:  []string{"newest, daily 1/2, weekly 1/2, monthly 1/2", "daily 2/2", "weekly 2/2", "monthly 2/2"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, snaps := planAt(t, tc.p, tc.times...)
			want := make([]string, len(tc.times))
			for i, tm := range tc.times {
				want[i] = line(tm, tc.want[i])
			}
			checkPlan(t, res, snaps, want)
		})
	}
}

func TestDailyInConfiguredZone(t *testing.T) {
	loc := berlin(t)
	// 23:30 UTC on the 9th is 00:30 on the 10th in Berlin (CET, UTC+1).
	times := []time.Time{utc(3, 10, 12, 0), utc(3, 9, 23, 30), utc(3, 9, 20, 0)}
	res, snaps := planAt(t, Policy{Daily: 2}, times...)
	checkPlan(t, res, snaps, []string{line(times[0], "newest, daily 1/2"), line(times[1], "daily 2/2"), line(times[2], "")})
	res, snaps = planAt(t, Policy{Daily: 2, Location: loc}, times...)
	checkPlan(t, res, snaps, []string{line(times[0], "newest, daily 1/2"), line(times[1], ""), line(times[2], "daily 2/2")})
}

func TestHourlyAcrossAutumnDST(t *testing.T) {
	loc := berlin(t)
	// 2024-10-27 in Berlin: at 03:00 CEST (01:00 UTC) clocks go back to 02:00 CET, so 02:00–03:00 happens twice.
	// The two 02:xx hours carry one wall-clock label and are one hourly period; its newest (02:30 CET) is kept.
	times := []time.Time{
		utc(10, 27, 3, 0),   // 04:00 CET
		utc(10, 27, 2, 30),  // 03:30 CET
		utc(10, 27, 2, 0),   // 03:00 CET
		utc(10, 27, 1, 30),  // 02:30 CET
		utc(10, 27, 1, 0),   // 02:00 CET
		utc(10, 27, 0, 30),  // 02:30 CEST
		utc(10, 27, 0, 0),   // 02:00 CEST
		utc(10, 26, 23, 30), // 01:30 CEST
		utc(10, 26, 23, 0),  // 01:00 CEST
	}
	res, snaps := planAt(t, Policy{Hourly: 4, Location: loc}, times...)
	checkPlan(t, res, snaps, []string{
		line(times[0], "newest, hourly 1/4"),
		line(times[1], "hourly 2/4"),
		line(times[2], ""),
		line(times[3], "hourly 3/4"),
		line(times[4], ""),
		line(times[5], ""), // 02:30 CEST: same wall-clock hour as 02:30 CET
		line(times[6], ""),
		line(times[7], "hourly 4/4"),
		line(times[8], ""),
	})
}

func TestSpringDSTSkippedHourAndShortDay(t *testing.T) {
	loc := berlin(t)
	// 2024-03-31 in Berlin: at 02:00 CET (01:00 UTC) clocks jump to 03:00 CEST; 02:xx never happens and the
	// day has 23 hours. The missing hour is an empty period and uses up no count.
	times := []time.Time{utc(3, 31, 2, 0), utc(3, 31, 1, 0), utc(3, 31, 0, 0), utc(3, 30, 23, 0)} // 04, 03, 01, 00 local
	res, snaps := planAt(t, Policy{Hourly: 3, Location: loc}, times...)
	checkPlan(t, res, snaps, []string{
		line(times[0], "newest, hourly 1/3"), line(times[1], "hourly 2/3"), line(times[2], "hourly 3/3"), line(times[3], ""),
	})

	days := []time.Time{
		utc(3, 31, 22, 30), // Apr 1 00:30 CEST
		utc(3, 31, 21, 30), // Mar 31 23:30 CEST
		utc(3, 30, 23, 30), // Mar 31 00:30 CET: same local day as the one above
		utc(3, 30, 11, 0),  // Mar 30 12:00 CET
	}
	res, snaps = planAt(t, Policy{Daily: 3, Location: loc}, days...)
	checkPlan(t, res, snaps, []string{
		line(days[0], "newest, daily 1/3"), line(days[1], "daily 2/3"), line(days[2], ""), line(days[3], "daily 3/3"),
	})
}
