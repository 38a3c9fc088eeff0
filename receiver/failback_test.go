package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

const (
	setName = "hotzfs_20261203T101500Z"
	t1Name  = "hotzfs_20261203T111500Z"
	hv1     = "pool/backup/hv1"
)

// failoverState is what the receiver holds after a failover of hv1's guest web: the received zvol
// tank/web with @SET, and its clone tank/web-failover; a received filesystem tank/data without a clone; a
// clone tank/stolen of hv2's snapshot (an admin's mistake the receiver must not let hv1 use), and hv2's data.
func failoverState() []fakeDataset {
	return []fakeDataset{
		{Name: "pool", Type: zfs.Filesystem, GUID: 1, TXG: 1},
		{Name: "pool/backup", Type: zfs.Filesystem, GUID: 2, TXG: 2},
		{Name: hv1, Type: zfs.Filesystem, GUID: 3, TXG: 3},
		{Name: hv1 + "/tank", Type: zfs.Filesystem, GUID: 4, TXG: 4},
		{Name: hv1 + "/tank/web", Type: zfs.Volume, GUID: 10, TXG: 10},
		{Name: hv1 + "/tank/web@" + setName, Type: zfs.Snapshot, GUID: 11, TXG: 11, UserRefs: 1},
		{Name: hv1 + "/tank/web-failover", Type: zfs.Volume, GUID: 12, TXG: 20, Origin: hv1 + "/tank/web@" + setName},
		{Name: hv1 + "/tank/data", Type: zfs.Filesystem, GUID: 13, TXG: 13},
		{Name: hv1 + "/tank/data@" + setName, Type: zfs.Snapshot, GUID: 14, TXG: 14, UserRefs: 1},
		{Name: hv1 + "/tank/stolen", Type: zfs.Filesystem, GUID: 15, TXG: 30, Origin: "pool/backup/hv2/tank/secret@" + setName},
		{Name: "pool/backup/hv2", Type: zfs.Filesystem, GUID: 5, TXG: 5},
		{Name: "pool/backup/hv2/tank", Type: zfs.Filesystem, GUID: 6, TXG: 6},
		{Name: "pool/backup/hv2/tank/secret", Type: zfs.Filesystem, GUID: 7, TXG: 7},
		{Name: "pool/backup/hv2/tank/secret@" + setName, Type: zfs.Snapshot, GUID: 8, TXG: 8},
	}
}

// snapshotCalls returns the zfs snapshot calls among calls.
func snapshotCalls(calls []string) []string {
	var out []string
	for _, c := range calls {
		if strings.HasPrefix(c, "snapshot") {
			out = append(out, c)
		}
	}
	return out
}

// requestSnapshot sends req on c and returns the answer.
func requestSnapshot(t *testing.T, c net.Conn, req *transport.SnapshotRequest) (*transport.SnapshotResponse, error) {
	t.Helper()
	if err := transport.WriteMessage(c, req); err != nil {
		t.Fatal(err)
	}
	return transport.Expect[*transport.SnapshotResponse](c)
}

func wantRefusal(t *testing.T, err error, code string) *transport.RemoteError {
	t.Helper()
	var remote *transport.RemoteError
	if !errors.As(err, &remote) || remote.Code != code {
		t.Fatalf("answer %v, want a %s error", err, code)
	}
	return remote
}

func TestSnapshotClones(t *testing.T) {
	state := failoverState()
	state = append(state, fakeDataset{Name: hv1 + "/tank/data-failover", Type: zfs.Filesystem, GUID: 16, TXG: 40,
		Origin: hv1 + "/tank/data@" + setName})
	z, calls := stateZFS(t, state)
	c := startSession(t, z, Client{})
	resp, err := requestSnapshot(t, c, &transport.SnapshotRequest{Datasets: []string{"tank/web-failover",
		"tank/data-failover"}, Name: t1Name, Consistency: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	want := "snapshot -o hotzfs:consistency=crash -- " + hv1 + "/tank/web-failover@" + t1Name + " " +
		hv1 + "/tank/data-failover@" + t1Name
	if got := snapshotCalls(calls()); len(got) != 1 || got[0] != want {
		t.Fatalf("zfs snapshot calls %q, want one: %s", got, want)
	}
	if len(resp.Datasets) != 2 {
		t.Fatalf("response %+v, want both clones", resp.Datasets)
	}
	origins := map[string]string{"tank/web-failover": "tank/web@" + setName, "tank/data-failover": "tank/data@" + setName}
	guids := map[string]uint64{"tank/web-failover": 11, "tank/data-failover": 14}
	for _, d := range resp.Datasets {
		s := d.Snapshots[0]
		if d.Origin != origins[d.Name] || d.OriginGUID != guids[d.Name] || s.Name != t1Name || s.GUID == 0 ||
			s.Consistency != "crash" {
			t.Errorf("%s: %+v, want origin %s (guid %d) and @%s, crash", d.Name, d, origins[d.Name], guids[d.Name], t1Name)
		}
	}
}

func TestSnapshotRefusesWhatIsNotTheClientsClone(t *testing.T) {
	for _, c := range []struct {
		name     string
		datasets []string
		code     string
		says     string
	}{
		{"received dataset", []string{"tank/web-failover", "tank/web"}, transport.CodeForbidden, "tank/web is not a clone"},
		{"parent", []string{"tank"}, transport.CodeForbidden, "not a clone"},
		{"clone of another client", []string{"tank/stolen"}, transport.CodeForbidden, "outside the client's root"},
		{"missing", []string{"tank/web-failover", "tank/nope"}, transport.CodeNotFound, "tank/nope does not exist"},
	} {
		t.Run(c.name, func(t *testing.T) {
			z, calls := stateZFS(t, failoverState())
			conn := startSession(t, z, Client{})
			_, err := requestSnapshot(t, conn, &transport.SnapshotRequest{Datasets: c.datasets, Name: t1Name})
			remote := wantRefusal(t, err, c.code)
			if !strings.Contains(remote.Message, c.says) || strings.Contains(remote.Message, "hv2") ||
				strings.Contains(remote.Message, "pool/") {
				t.Errorf("message %q: want it to say %q and name nothing outside the client's root", remote.Message, c.says)
			}
			if got := snapshotCalls(calls()); len(got) != 0 {
				t.Fatalf("zfs snapshot ran: %q", got)
			}
		})
	}
}

func TestSnapshotRefusesTakenNamesAndTooManySnapshots(t *testing.T) {
	clone := hv1 + "/tank/web-failover"
	withSnaps := func(n int) []fakeDataset {
		state := failoverState()
		for i := range n {
			state = append(state, fakeDataset{Name: fmt.Sprintf("%s@hotzfs_20261204T%06dZ", clone, i), Type: zfs.Snapshot,
				GUID: uint64(100 + i), TXG: uint64(100 + i)})
		}
		return state
	}
	for _, c := range []struct {
		name  string
		state []fakeDataset
		snap  string
		code  string // "" made
	}{
		{"63 snapshots", withSnaps(maxCloneSnapshots - 1), t1Name, ""},
		{"64 snapshots", withSnaps(maxCloneSnapshots), t1Name, transport.CodeConflict},
		{"name taken", withSnaps(1), "hotzfs_20261204T000000Z", transport.CodeConflict},
		{"origin's name", withSnaps(0), setName, transport.CodeConflict},
	} {
		t.Run(c.name, func(t *testing.T) {
			z, calls := stateZFS(t, c.state)
			conn := startSession(t, z, Client{})
			_, err := requestSnapshot(t, conn, &transport.SnapshotRequest{Datasets: []string{"tank/web-failover"}, Name: c.snap})
			if c.code == "" {
				if err != nil || len(snapshotCalls(calls())) != 1 {
					t.Fatalf("%v, calls %q: want the snapshot made", err, calls())
				}
				return
			}
			wantRefusal(t, err, c.code)
			if got := snapshotCalls(calls()); len(got) != 0 {
				t.Fatalf("zfs snapshot ran: %q", got)
			}
		})
	}
}

// A snapshot name hotzfs would not make, and a dataset outside the root, are refused before zfs runs.
func TestSnapshotRequestRefusedWithoutTouchingZFS(t *testing.T) {
	c, done, calls := openSession(t, "hv1", Options{})
	_, err := requestSnapshot(t, c, &transport.SnapshotRequest{Datasets: []string{"tank/web-failover"}, Name: "before-upgrade"})
	if remote := wantRefusal(t, err, transport.CodeBadRequest); !strings.Contains(remote.Message, "PREFIX_YYYYMMDDTHHMMSSZ") {
		t.Errorf("message %q does not say how to name the snapshot", remote.Message)
	}
	for name, payload := range map[string]string{
		"escape":    `{"type":"snapshot-request","body":{"datasets":["tank/../../hv2"],"name":"` + t1Name + `"}}`,
		"duplicate": `{"type":"snapshot-request","body":{"datasets":["a","a"],"name":"` + t1Name + `"}}`,
	} {
		rawControl(t, c, []byte(payload))
		_, err := transport.Expect[*transport.SnapshotResponse](c)
		wantRefusal(t, err, transport.CodeBadRequest)
		if err := <-done; err == nil {
			t.Errorf("%s: the session went on after a protocol violation", name)
		}
		if got := calls(); got != "" {
			t.Fatalf("zfs ran: %s", got)
		}
		c, done, calls = openSession(t, "hv1", Options{})
	}
}

func TestSnapshotWaitsForNoStream(t *testing.T) {
	z, calls := stateZFS(t, failoverState())
	srv, err := New(z, Options{Root: "pool/backup", Clients: map[string]Client{"hv1": {}}})
	if err != nil {
		t.Fatal(err)
	}
	srv.busy[hv1+"/tank/web-failover"] = true // a restore stream from it is running
	ss := &session{srv: srv, client: "hv1", root: hv1, log: slog.New(slog.DiscardHandler)}
	err = ss.snapshot(context.Background(), &transport.SnapshotRequest{Datasets: []string{"tank/web-failover"}, Name: t1Name})
	var re *requestError
	if !errors.As(err, &re) || re.code != transport.CodeBusy {
		t.Fatalf("%v, want busy", err)
	}
	if len(calls()) != 0 {
		t.Fatalf("zfs ran: %q", calls())
	}
	release, err := ss.reserve([]string{hv1 + "/tank/data", hv1 + "/tank/web-failover"})
	if err == nil || srv.busy[hv1+"/tank/data"] {
		t.Fatalf("reserve of a busy dataset: %v; tank/data busy %t, want refused and nothing reserved", err, srv.busy[hv1+"/tank/data"])
	}
	delete(srv.busy, hv1+"/tank/web-failover")
	if release, err = ss.reserve([]string{hv1 + "/tank/data", hv1 + "/tank/web-failover"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.acquire(hv1 + "/tank/data"); err == nil {
		t.Fatal("a stream started from a dataset being snapshotted")
	}
	release()
	if len(srv.busy) != 0 {
		t.Fatalf("busy after release: %v", srv.busy)
	}
}

func TestListReportsOwnOriginsOnly(t *testing.T) {
	z, _ := stateZFS(t, failoverState())
	c := startSession(t, z, Client{})
	for _, asked := range [][]string{nil, {"tank/web-failover"}, {"tank/stolen"}} {
		if err := transport.WriteMessage(c, &transport.ListRequest{Datasets: asked}); err != nil {
			t.Fatal(err)
		}
		resp, err := transport.Expect[*transport.ListResponse](c)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]transport.DatasetInfo{}
		for _, d := range resp.Datasets {
			byName[d.Name] = d
			if strings.Contains(d.Origin, "hv2") || strings.Contains(d.Name, "hv2") {
				t.Errorf("asked %q: %s lists %q, of another client", asked, d.Name, d.Origin)
			}
		}
		if asked == nil || asked[0] == "tank/web-failover" {
			// The clone has no snapshot yet: it is listed for its origin.
			if d, ok := byName["tank/web-failover"]; !ok || d.Origin != "tank/web@"+setName || d.OriginGUID != 11 {
				t.Errorf("asked %q: clone listed as %+v, want origin tank/web@%s guid 11", asked, d, setName)
			}
		}
		if d, ok := byName["tank/stolen"]; ok && (d.Origin != "" || d.OriginGUID != 0) {
			t.Errorf("asked %q: clone of hv2's snapshot listed with an origin: %+v", asked, d)
		}
		if d := byName["tank/web"]; d.Origin != "" {
			t.Errorf("received dataset listed with origin %q", d.Origin)
		}
	}
}

func TestSendFromTheOriginOfAClone(t *testing.T) {
	state := failoverState()
	state = append(state,
		fakeDataset{Name: hv1 + "/tank/web-failover@" + t1Name, Type: zfs.Snapshot, GUID: 21, TXG: 21},
		fakeDataset{Name: hv1 + "/tank/web-failover@hotzfs_20261203T121500Z", Type: zfs.Snapshot, GUID: 22, TXG: 22},
		fakeDataset{Name: hv1 + "/tank/stolen@" + t1Name, Type: zfs.Snapshot, GUID: 31, TXG: 31})
	z, calls := stateZFS(t, state)
	srv, err := New(z, Options{Root: "pool/backup", Clients: map[string]Client{"hv1": {}}})
	if err != nil {
		t.Fatal(err)
	}
	ss := &session{srv: srv, client: "hv1", root: hv1, log: slog.New(slog.DiscardHandler)}
	send := func(dataset, snap, from string, fromGUID uint64) (zfs.SendOptions, error) {
		req := &transport.SendRequest{Dataset: dataset, Snapshot: snap, From: from, FromGUID: fromGUID,
			Compression: transport.CompressionNone}
		if err := req.Validate(); err != nil && fromGUID != 0 { // the wire refuses a base without guid already
			t.Fatal(err)
		}
		return ss.sendOptions(context.Background(), hv1+"/"+dataset, req)
	}
	opts, err := send("tank/web-failover", t1Name, setName, 11)
	if err != nil || opts.From != hv1+"/tank/web@"+setName || opts.Intermediates || opts.Snapshot != hv1+"/tank/web-failover@"+t1Name {
		t.Fatalf("from the origin: %+v, %v; want -i %s/tank/web@%s", opts, err, hv1, setName)
	}
	// The second round, inside the clone: an ordinary base, -I.
	opts, err = send("tank/web-failover", "hotzfs_20261203T121500Z", t1Name, 21)
	if err != nil || opts.From != "@"+t1Name || !opts.Intermediates {
		t.Fatalf("from the clone's own snapshot: %+v, %v", opts, err)
	}
	for _, c := range []struct {
		name, dataset, from string
		guid                uint64
		code                string
	}{
		{"origin without guid", "tank/web-failover", setName, 0, transport.CodeBadRequest},
		{"origin with another guid", "tank/web-failover", setName, 14, transport.CodeConflict},
		{"origin of another client", "tank/stolen", setName, 8, transport.CodeForbidden},
		{"not the origin", "tank/web-failover", "hotzfs_20261101T000000Z", 11, transport.CodeConflict},
		{"not a clone", "tank/data", "hotzfs_20261101T000000Z", 11, transport.CodeConflict},
	} {
		snap := t1Name
		if c.dataset == "tank/data" {
			snap = setName
		}
		_, err := send(c.dataset, snap, c.from, c.guid)
		var re *requestError
		if !errors.As(err, &re) || re.code != c.code {
			t.Errorf("%s: %v, want a %s refusal", c.name, err, c.code)
		} else if strings.Contains(err.Error(), "hv2") {
			t.Errorf("%s: the refusal names another client's data: %v", c.name, err)
		}
	}
	for _, call := range calls() {
		if strings.HasPrefix(call, "send") {
			t.Fatalf("zfs send ran: %s", call)
		}
	}
}
