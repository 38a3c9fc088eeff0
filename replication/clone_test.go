package replication

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/transport"
)

// A receiver's answer to a clone request is checked against the request: it must name exactly the datasets
// asked for, in order, each with the clone asked for, and a volume's device must be the clone's.
func TestCloneChecksTheAnswer(t *testing.T) {
	req := &transport.CloneRequest{Datasets: []string{"tank/web", "tank/data"}, Snapshot: "hotzfs_20261203T101500Z",
		GUIDs: []uint64{11, 14}, Suffix: "-migrated"}
	vol := transport.CloneInfo{Dataset: "tank/web", Clone: "tank/web-migrated",
		Device: "/dev/zvol/pool/backup/hv1/tank/web-migrated"}
	fs := transport.CloneInfo{Dataset: "tank/data", Clone: "tank/data-migrated", Mountpoint: "/pool/backup/hv1/tank/data-migrated"}
	with := func(c transport.CloneInfo, set func(*transport.CloneInfo)) transport.CloneInfo {
		set(&c)
		return c
	}
	for _, c := range []struct {
		name   string
		answer []transport.CloneInfo
		err    string // "" accepted
	}{
		{"both", []transport.CloneInfo{vol, fs}, ""},
		{"one left out", []transport.CloneInfo{vol}, "1 clones for 2 datasets"},
		{"one more", []transport.CloneInfo{vol, fs, with(fs, func(c *transport.CloneInfo) {
			c.Dataset, c.Clone = "tank/db", "tank/db-migrated"
		})}, "3 clones for 2 datasets"},
		{"another dataset", []transport.CloneInfo{vol, with(fs, func(c *transport.CloneInfo) {
			c.Dataset, c.Clone = "tank/secret", "tank/secret-migrated"
		})}, "tank/secret where tank/data was asked for"},
		{"out of order", []transport.CloneInfo{fs, vol}, "tank/data where tank/web was asked for"},
		{"another clone", []transport.CloneInfo{vol, with(fs, func(c *transport.CloneInfo) { c.Clone = "tank/data-failover" })},
			"clone tank/data-failover of tank/data, not tank/data-migrated"},
		{"another device", []transport.CloneInfo{with(vol, func(c *transport.CloneInfo) {
			c.Device = "/dev/zvol/pool/backup/hv2/tank/web"
		}), fs}, "not the clone's"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			go fakeReceiver(ctx, b, &transport.CloneResponse{Clones: c.answer})
			client, err := NewClient(ctx, a, "hv1", "test")
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Clone(req)
			switch {
			case c.err == "" && (err != nil || len(resp.Clones) != 2):
				t.Fatalf("%+v, %v", resp, err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("%v, want an error about %q", err, c.err)
			}
		})
	}
}
