package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// migrateReq asks for clones of hv1's received volume tank/web and filesystem tank/data at @SET (see
// failoverState), as -migrated.
func migrateReq() *transport.CloneRequest {
	return &transport.CloneRequest{Datasets: []string{"tank/web", "tank/data"}, Snapshot: setName,
		GUIDs: []uint64{11, 14}, Suffix: "-migrated"}
}

// requestClone sends req on c and returns the answer.
func requestClone(t *testing.T, c net.Conn, req *transport.CloneRequest) (*transport.CloneResponse, error) {
	t.Helper()
	if err := transport.WriteMessage(c, req); err != nil {
		t.Fatal(err)
	}
	return transport.Expect[*transport.CloneResponse](c)
}

// callsOf returns the calls of zfs verb among calls.
func callsOf(verb string, calls []string) []string {
	var out []string
	for _, c := range calls {
		if strings.HasPrefix(c, verb+" ") {
			out = append(out, c)
		}
	}
	return out
}

var allowClone = Client{AllowClone: true}

func TestCloneRefusedWithoutAllowClone(t *testing.T) {
	z, calls := stateZFS(t, failoverState())
	c := startSession(t, z, Client{AllowPrune: true, AllowRollback: true})
	_, err := requestClone(t, c, migrateReq())
	if remote := wantRefusal(t, err, transport.CodeForbidden); !strings.Contains(remote.Message, "allow_clone: true") {
		t.Errorf("message %q does not say how to allow it", remote.Message)
	}
	if got := calls(); len(got) != 0 {
		t.Fatalf("zfs ran: %q", got)
	}
}

func TestCloneMakesTheClonesOfASet(t *testing.T) {
	z, calls := stateZFS(t, failoverState())
	c := startSession(t, z, allowClone)
	resp, err := requestClone(t, c, migrateReq())
	if err != nil {
		t.Fatal(err)
	}
	want := []transport.CloneInfo{
		{Dataset: "tank/web", Clone: "tank/web-migrated", Device: "/dev/zvol/" + hv1 + "/tank/web-migrated"},
		{Dataset: "tank/data", Clone: "tank/data-migrated", Mountpoint: "/" + hv1 + "/tank/data-migrated"},
	}
	if len(resp.Clones) != 2 || resp.Clones[0] != want[0] || resp.Clones[1] != want[1] {
		t.Fatalf("answer %+v, want %+v", resp.Clones, want)
	}
	wantCalls := []string{
		"clone -- " + hv1 + "/tank/web@" + setName + " " + hv1 + "/tank/web-migrated",
		"clone -o devices=off -o setuid=off -- " + hv1 + "/tank/data@" + setName + " " + hv1 + "/tank/data-migrated",
	}
	if got := callsOf("clone", calls()); len(got) != 2 || got[0] != wantCalls[0] || got[1] != wantCalls[1] {
		t.Fatalf("zfs clone calls %q, want %q", got, wantCalls)
	}
	for _, verb := range []string{"snapshot", "destroy", "mount", "set", "rollback"} {
		if got := callsOf(verb, calls()); len(got) != 0 {
			t.Errorf("zfs %s ran: %q", verb, got)
		}
	}
}

// Nothing is cloned unless every dataset of the request is a received one with the snapshot the client
// named, and no clone's name is taken.
func TestCloneRefusesBeforeCloningAnything(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*transport.CloneRequest)
		code string
		says string
	}{
		{"wrong guid", func(r *transport.CloneRequest) { r.GUIDs[1] = 99 }, transport.CodeConflict,
			"tank/data@" + setName + " has guid 14, not 99"},
		{"no such snapshot", func(r *transport.CloneRequest) { r.Snapshot = t1Name }, transport.CodeNotFound,
			"tank/web has no snapshot @" + t1Name},
		{"no such dataset", func(r *transport.CloneRequest) { r.Datasets[1] = "tank/nope" }, transport.CodeNotFound,
			"tank/nope does not exist"},
		{"a clone", func(r *transport.CloneRequest) { r.Datasets[1] = "tank/web-failover" }, transport.CodeConflict,
			"tank/web-failover is a clone"},
		{"a clone of another client", func(r *transport.CloneRequest) { r.Datasets[1] = "tank/stolen" },
			transport.CodeConflict, "tank/stolen is a clone"},
		{"a parent", func(r *transport.CloneRequest) { r.Datasets[1] = "tank" }, transport.CodeNotFound,
			"tank has no snapshot"},
		{"clone exists", func(r *transport.CloneRequest) { r.Suffix = "-failover" }, transport.CodeConflict,
			"tank/web-failover exists: an earlier migrate or failover made it; zfs destroy -r it on the receiver " +
				"or choose another suffix"},
	} {
		t.Run(c.name, func(t *testing.T) {
			z, calls := stateZFS(t, failoverState())
			conn := startSession(t, z, allowClone)
			req := migrateReq()
			c.set(req)
			_, err := requestClone(t, conn, req)
			remote := wantRefusal(t, err, c.code)
			if !strings.Contains(remote.Message, c.says) || strings.Contains(remote.Message, "hv2") ||
				strings.Contains(remote.Message, "pool/") {
				t.Errorf("message %q: want it to say %q and name nothing outside the client's root", remote.Message, c.says)
			}
			if got := callsOf("clone", calls()); len(got) != 0 {
				t.Fatalf("zfs clone ran: %q", got)
			}
		})
	}
}

func TestCloneBoundsTheClientsClones(t *testing.T) {
	// failoverState has 2 clones in hv1's root (tank/web-failover, tank/stolen).
	withClones := func(n int) []fakeDataset {
		state := failoverState()
		for i := range n {
			state = append(state, fakeDataset{Name: fmt.Sprintf("%s/tank/web-old%d", hv1, i), Type: zfs.Volume,
				GUID: uint64(100 + i), TXG: uint64(100 + i), Origin: hv1 + "/tank/web@" + setName})
		}
		return state
	}
	for _, c := range []struct {
		name     string
		state    []fakeDataset
		datasets int
		refused  bool
	}{
		{"to 64", withClones(maxClientClones - 4), 2, false},
		{"past 64", withClones(maxClientClones - 3), 2, true},
		{"at 64", withClones(maxClientClones - 2), 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			z, calls := stateZFS(t, c.state)
			conn := startSession(t, z, allowClone)
			req := migrateReq()
			req.Datasets, req.GUIDs = req.Datasets[:c.datasets], req.GUIDs[:c.datasets]
			_, err := requestClone(t, conn, req)
			if !c.refused {
				if err != nil || len(callsOf("clone", calls())) != c.datasets {
					t.Fatalf("%v, calls %q: want the clones made", err, calls())
				}
				return
			}
			if remote := wantRefusal(t, err, transport.CodeConflict); !strings.Contains(remote.Message, "zfs destroy -r") {
				t.Errorf("message %q does not say what to do", remote.Message)
			}
			if got := callsOf("clone", calls()); len(got) != 0 {
				t.Fatalf("zfs clone ran: %q", got)
			}
		})
	}
}

// A clone that fails destroys those the request made before it: asked again, without the failure, the
// receiver makes them anew.
func TestCloneUndoesWhenALaterCloneFails(t *testing.T) {
	state := fakeState{Datasets: failoverState(), Fail: map[string]string{
		"clone -o devices=off -o setuid=off -- " + hv1 + "/tank/data@": "cannot create '" + hv1 + "/tank/data-migrated': out of space"}}
	z, calls := fakeZFSWith(t, state)
	c := startSession(t, z, allowClone)
	_, err := requestClone(t, c, migrateReq())
	wantRefusal(t, err, transport.CodeNoSpace)
	if got := callsOf("destroy", calls()); len(got) != 1 || got[0] != "destroy -- "+hv1+"/tank/web-migrated" {
		t.Fatalf("zfs destroy calls %q, want the volume's clone destroyed", got)
	}
	req := migrateReq()
	req.Datasets, req.GUIDs = req.Datasets[:1], req.GUIDs[:1]
	if _, err := requestClone(t, c, req); err != nil {
		t.Fatalf("the volume's clone again: %v", err)
	}
}

// A filesystem clone zfs clone could not mount is mounted; one that cannot be mounted is destroyed, with the
// clones made before it.
func TestCloneMountsTheFilesystemClone(t *testing.T) {
	z, calls := fakeZFSWith(t, fakeState{Datasets: failoverState(), MountFails: 1})
	c := startSession(t, z, allowClone)
	resp, err := requestClone(t, c, migrateReq())
	if err != nil {
		t.Fatal(err)
	}
	if mp := resp.Clones[1].Mountpoint; mp != "/"+hv1+"/tank/data-migrated" {
		t.Errorf("mountpoint %q", mp)
	}
	if got := callsOf("mount", calls()); len(got) != 1 || got[0] != "mount -- "+hv1+"/tank/data-migrated" {
		t.Fatalf("zfs mount calls %q, want the clone mounted", got)
	}

	z, calls = fakeZFSWith(t, fakeState{Datasets: failoverState(), MountFails: 2})
	c = startSession(t, z, allowClone)
	_, err = requestClone(t, c, migrateReq())
	var remote *transport.RemoteError
	if !errors.As(err, &remote) {
		t.Fatalf("answer %v, want a refusal", err)
	}
	want := []string{"destroy -- " + hv1 + "/tank/web-migrated", "destroy -- " + hv1 + "/tank/data-migrated"}
	if got := callsOf("destroy", calls()); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("zfs destroy calls %q, want %q", got, want)
	}
}

func TestCloneWaitsForNoStream(t *testing.T) {
	for _, busy := range []string{hv1 + "/tank/data", hv1 + "/tank/web-migrated"} {
		z, calls := stateZFS(t, failoverState())
		srv, err := New(z, Options{Root: "pool/backup", Clients: map[string]Client{"hv1": allowClone}})
		if err != nil {
			t.Fatal(err)
		}
		srv.busy[busy] = true // a stream from or into it is running
		ss := &session{srv: srv, client: "hv1", root: hv1, policy: allowClone, log: slog.New(slog.DiscardHandler)}
		_, err = ss.cloneSet(context.Background(), migrateReq())
		var re *requestError
		if !errors.As(err, &re) || re.code != transport.CodeBusy {
			t.Fatalf("%s busy: %v, want busy", busy, err)
		}
		if len(calls()) != 0 {
			t.Fatalf("%s busy: zfs ran: %q", busy, calls())
		}
		if len(srv.busy) != 1 {
			t.Fatalf("%s busy: busy after the refusal: %v", busy, srv.busy)
		}
	}
}

// A dataset outside the root and a suffix that is not one are refused before zfs runs.
func TestCloneRequestRefusedWithoutTouchingZFS(t *testing.T) {
	opts := Options{Clients: map[string]Client{"hv1": allowClone}}
	c, done, calls := openSession(t, "hv1", opts)
	const set = `"snapshot":"` + setName + `","guids":[11]`
	for name, payload := range map[string]string{
		"escape":        `{"type":"clone-request","body":{"datasets":["tank/../../hv2/web"],` + set + `,"suffix":"-m"}}`,
		"absolute":      `{"type":"clone-request","body":{"datasets":["/pool/backup/hv2/web"],` + set + `,"suffix":"-m"}}`,
		"suffix escape": `{"type":"clone-request","body":{"datasets":["tank/web"],` + set + `,"suffix":"/../../hv2/x"}}`,
		"suffix option": `{"type":"clone-request","body":{"datasets":["tank/web"],` + set + `,"suffix":"x"}}`,
		"no suffix":     `{"type":"clone-request","body":{"datasets":["tank/web"],` + set + `,"suffix":""}}`,
	} {
		rawControl(t, c, []byte(payload))
		_, err := transport.Expect[*transport.CloneResponse](c)
		wantRefusal(t, err, transport.CodeBadRequest)
		if err := <-done; err == nil {
			t.Errorf("%s: the session went on after a protocol violation", name)
		}
		if got := calls(); got != "" {
			t.Fatalf("%s: zfs ran: %s", name, got)
		}
		c, done, calls = openSession(t, "hv1", opts)
	}
}

// TestHelloOffersCloneOnlyWithAllowClone: the receiver's hello lists the clone capability to a client whose
// policy has allow_clone, and to no other, so migrate can refuse before it stops a guest.
func TestHelloOffersCloneOnlyWithAllowClone(t *testing.T) {
	for _, allow := range []bool{false, true} {
		srv, err := New(nil, Options{Root: "pool/backup", Clients: map[string]Client{"hv1": {AllowClone: allow}}})
		if err != nil {
			t.Fatal(err)
		}
		a, b := net.Pipe()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		go func() { _ = srv.ServeConn(ctx, b, "hv1") }()
		if err := transport.Handshake(ctx, a, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := transport.WriteMessage(a, &transport.Hello{Name: "t", Version: "test"}); err != nil {
			t.Fatal(err)
		}
		hello, err := transport.Expect[*transport.Hello](a)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(hello.Capabilities, transport.CapabilityClone); got != allow {
			t.Errorf("allow_clone %t: the hello offers clone = %t (capabilities %v)", allow, got, hello.Capabilities)
		}
		a.Close()
		cancel()
	}
}
