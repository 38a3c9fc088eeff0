package replication

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/transport"
)

// A receiver's answer to a snapshot request is checked against the request: it must name exactly the datasets
// asked for, each with the snapshot asked for.
func TestSnapshotChecksTheAnswer(t *testing.T) {
	req := &transport.SnapshotRequest{Datasets: []string{"tank/web-failover", "tank/db-failover"},
		Name: "hotzfs_20261203T111500Z"}
	made := func(name, snap string) transport.DatasetInfo {
		return transport.DatasetInfo{Name: name, Snapshots: []transport.SnapshotInfo{{Name: snap, GUID: 7}}}
	}
	for _, c := range []struct {
		name   string
		answer []transport.DatasetInfo
		err    string // "" accepted
	}{
		{"both", []transport.DatasetInfo{made("tank/db-failover", req.Name), made("tank/web-failover", req.Name)}, ""},
		{"one left out", []transport.DatasetInfo{made("tank/web-failover", req.Name)}, "leaves out 1"},
		{"another dataset", []transport.DatasetInfo{made("tank/web-failover", req.Name), made("tank/web", req.Name)},
			"tank/web@hotzfs_20261203T111500Z, which was not asked for"},
		{"another snapshot", []transport.DatasetInfo{made("tank/web-failover", "s"), made("tank/db-failover", req.Name)},
			"not asked for"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			go fakeReceiver(ctx, b, &transport.SnapshotResponse{Datasets: c.answer})
			client, err := NewClient(ctx, a, "hv1", "test")
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Snapshot(req)
			switch {
			case c.err == "" && (err != nil || len(resp.Datasets) != 2):
				t.Fatalf("%+v, %v", resp, err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("%v, want an error about %q", err, c.err)
			}
		})
	}
}

// fakeReceiver answers the handshake, then the first request with answer.
func fakeReceiver(ctx context.Context, c net.Conn, answer transport.Message) {
	defer c.Close()
	if transport.Handshake(ctx, c, 5*time.Second) != nil {
		return
	}
	if _, err := transport.Expect[*transport.Hello](c); err != nil {
		return
	}
	if transport.WriteMessage(c, &transport.Hello{Name: "hotzfs-receiver", Version: "test"}) != nil {
		return
	}
	if _, err := transport.ReadMessage(c); err != nil {
		return
	}
	_ = transport.WriteMessage(c, answer)
	_, _ = transport.ReadMessage(c) // until the client closes
}
