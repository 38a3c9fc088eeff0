package retention

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchPolicy is a realistic sending-side policy.
func benchPolicy(b *testing.B) Policy {
	p := SourceDefaults()
	p.KeepLast, p.Hourly, p.Daily, p.Weekly, p.Monthly = 4, 24, 7, 4, 12
	p.Grid = mustGrid(b, "1x1h(keep=all) | 24x1h | 14x1d")
	return p
}

// benchSnapshots makes datasets×perDataset snapshots five minutes apart, oldest first as `zfs list -s
// createtxg` returns them; the newest of each dataset is the base and unreplicated ones are rare.
func benchSnapshots(datasets, perDataset int) []Snapshot {
	snaps := make([]Snapshot, 0, datasets*perDataset)
	for d := range datasets {
		ds := fmt.Sprintf("tank/vm-%03d-disk0", d)
		for i := range perDataset {
			created := t0.Add(-time.Duration(perDataset-1-i) * 5 * time.Minute)
			snaps = append(snaps, Snapshot{Dataset: ds, Name: "hotzfs_" + created.Format("2006-01-02T15:04:05Z"),
				GUID: uint64(d)<<32 | uint64(i), CreateTXG: uint64(1000 + i), Created: created,
				Owned: true, Replicated: i%1000 != 999, Base: i == perDataset-1})
		}
	}
	return snaps
}

func benchmarkPlan(b *testing.B, snaps []Snapshot) {
	p := benchPolicy(b)
	now := t0.Add(time.Minute)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Plan(snaps, p, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlan1M plans 1,000,000 snapshots of one dataset (about 9.5 years at one every 5 minutes).
func BenchmarkPlan1M(b *testing.B) { benchmarkPlan(b, benchSnapshots(1, 1_000_000)) }

// BenchmarkPlan100x10k plans 100 datasets of 10,000 snapshots each.
func BenchmarkPlan100x10k(b *testing.B) { benchmarkPlan(b, benchSnapshots(100, 10_000)) }

// BenchmarkPlan1MShuffled is BenchmarkPlan1M with the input in random order: the sort's worst case.
func BenchmarkPlan1MShuffled(b *testing.B) {
	snaps := benchSnapshots(1, 1_000_000)
	r := rand.New(rand.NewPCG(1, 1))
	r.Shuffle(len(snaps), func(i, j int) { snaps[i], snaps[j] = snaps[j], snaps[i] })
	benchmarkPlan(b, snaps)
}
