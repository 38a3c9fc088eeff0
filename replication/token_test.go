package replication

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// realToken is a receive_resume_token captured from OpenZFS (zfs/testdata, see capture-fixtures-guest.sh):
// interrupted receives of hzfix/fs@s2 (full, incr from @s1, ce, L...), hzfix/lb@l1 (L), hzfix/enc@e1 (raw,
// and plainenc: a non-raw send of the encrypted dataset) and hzfix/enc@e2 (rawincr from @e1).
func realToken(t *testing.T, version, name string) (string, zfs.ResumeToken) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "zfs", "testdata", "openzfs-"+version, "token-"+name+".stdout"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(b))
	tok, err := zfs.ParseResumeToken(token)
	if err != nil {
		t.Fatal(err)
	}
	return token, tok
}

// sourceOf is the source dataset a token was captured from, with the snapshots (and a bookmark) it names.
func sourceOf(t *testing.T, version string) map[string]Dataset {
	_, full := realToken(t, version, "full")
	_, incr := realToken(t, version, "incr")
	_, lb := realToken(t, version, "L")
	_, raw := realToken(t, version, "rawincr")
	snap := func(name string, guid, txg uint64) zfs.Dataset {
		typ := zfs.Snapshot
		if strings.Contains(name, "#") {
			typ = zfs.Bookmark
		}
		return zfs.Dataset{Name: name, Type: typ, GUID: guid, CreateTXG: txg}
	}
	return map[string]Dataset{
		"fs": {Source: "hzfix/fs", Target: "tank/fs", Snapshots: []zfs.Dataset{
			snap("hzfix/fs@s1", incr.FromGUID, 10), snap("hzfix/fs@s2", full.ToGUID, 20)}},
		"fs-bookmark": {Source: "hzfix/fs", Target: "tank/fs", Snapshots: []zfs.Dataset{
			snap("hzfix/fs#s1", incr.FromGUID, 10), snap("hzfix/fs@s2", full.ToGUID, 20)}},
		"lb":  {Source: "hzfix/lb", Target: "tank/lb", Snapshots: []zfs.Dataset{snap("hzfix/lb@l1", lb.ToGUID, 30)}},
		"enc": {Source: "hzfix/enc", Target: "tank/enc", Snapshots: []zfs.Dataset{snap("hzfix/enc@e1", raw.FromGUID, 40), snap("hzfix/enc@e2", raw.ToGUID, 50)}},
	}
}

func TestCheckResumeTokenAcceptsOnlyTheJobsOwnStream(t *testing.T) {
	raw, plain := SendFlags{Raw: true}, SendFlags{}
	all := SendFlags{Compressed: true, LargeBlocks: true, Embedded: true}
	for _, v := range []string{"2.1", "2.3"} {
		src := sourceOf(t, v)
		renamed := src["fs"]
		renamed.Snapshots = []zfs.Dataset{renamed.Snapshots[0], {Name: "hzfix/fs@other", Type: zfs.Snapshot,
			GUID: renamed.Snapshots[1].GUID, CreateTXG: 20}}
		newerBase := src["fs"]
		newerBase.Snapshots = []zfs.Dataset{{Name: "hzfix/fs@s1", Type: zfs.Snapshot, GUID: newerBase.Snapshots[0].GUID,
			CreateTXG: 30}, newerBase.Snapshots[1]}
		for _, c := range []struct {
			token string
			ds    Dataset
			flags SendFlags
			why   string // "" when the token is usable
		}{
			{"full", src["fs"], plain, ""},
			{"full", src["fs"], all, ""},
			{"incr", src["fs"], plain, ""},
			{"incr", src["fs-bookmark"], plain, ""}, // a base kept only as a bookmark
			{"ce", src["fs"], SendFlags{Compressed: true, Embedded: true}, ""},
			{"Lsmall", src["fs"], SendFlags{LargeBlocks: true}, ""},
			{"L", src["lb"], SendFlags{LargeBlocks: true}, ""},
			{"raw", src["enc"], raw, ""},
			{"raw", src["enc"], SendFlags{Raw: true, LargeBlocks: true}, ""},
			{"rawincr", src["enc"], raw, ""},
			// another dataset's snapshot
			{"full", src["enc"], raw, "not a snapshot of hzfix/enc"},
			{"full", src["lb"], plain, "not a snapshot of hzfix/lb"},
			// the right name with the wrong GUID, and the right GUID under another name
			{"raw", Dataset{Source: "hzfix/enc", Snapshots: src["fs"].Snapshots}, raw, "not a snapshot of hzfix/enc"},
			{"full", renamed, plain, "not a snapshot of hzfix/fs"},
			// an incremental base the source does not have, or one newer than the snapshot
			{"incr", Dataset{Source: "hzfix/fs", Snapshots: src["fs"].Snapshots[1:]}, plain, "incremental base"},
			{"incr", newerBase, plain, "incremental base"},
			// flags: never plaintext for a raw job, never more than the job sends
			{"plainenc", src["enc"], raw, "raw flag is false"},
			{"raw", src["enc"], plain, "raw flag is true"},
			{"ce", src["fs"], plain, "compressed"},
			{"ce", src["fs"], SendFlags{Compressed: true}, "embedded"},
			{"L", src["lb"], plain, "large-block"},
			// not a token at all
			{"", src["fs"], plain, "malformed"},
		} {
			token := "1-garbage"
			if c.token != "" {
				token, _ = realToken(t, v, c.token)
			}
			_, err := checkResumeToken(token, c.ds, c.flags)
			switch {
			case c.why == "" && err != nil:
				t.Errorf("%s token %s for %s %+v refused: %v", v, c.token, c.ds.Source, c.flags, err)
			case c.why != "" && (err == nil || !strings.Contains(err.Error(), c.why)):
				t.Errorf("%s token %s for %s %+v: %v, want an error saying %q", v, c.token, c.ds.Source, c.flags, err, c.why)
			}
		}
	}
}

// spyZFS is a zfs binary that records its calls, estimates every send at 1000 bytes, streams a few bytes and
// gives every snapshot the properties props (`zfs get -H` lines).
func spyZFS(t *testing.T, props string) (*zfs.Runner, func() []string) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	bin := filepath.Join(dir, "zfs")
	propsFile := filepath.Join(dir, "props")
	script := "#!/bin/sh\necho \"$*\" >> " + log + "\n" +
		"case \"$*\" in\n'send -n -v -P '*) printf 'size\\t1000\\n' ;;\nsend*) printf 'stream' ;;\n" +
		"'get -H -p -o property,value,source -- all '*) cat " + propsFile + " ;;\n" +
		"*) echo 'unexpected call' >&2; exit 1 ;;\nesac\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(propsFile, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	return &zfs.Runner{ZFS: bin, Zpool: bin}, func() []string {
		b, _ := os.ReadFile(log)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
}

// hostileReceiver serves one session: it lists target as given (with whatever resume token it likes), and
// records the first stream request, which it refuses.
func hostileReceiver(t *testing.T, c net.Conn, target transport.DatasetInfo) <-chan *transport.ReceiveRequest {
	got := make(chan *transport.ReceiveRequest, 1)
	go func() {
		defer close(got)
		ctx := context.Background()
		if transport.Handshake(ctx, c, 5*time.Second) != nil {
			return
		}
		if _, err := transport.Expect[*transport.Hello](c); err != nil {
			return
		}
		if transport.WriteMessage(c, &transport.Hello{Name: "hostile", Version: "test"}) != nil {
			return
		}
		for {
			m, err := transport.ReadMessage(c)
			if err != nil {
				return
			}
			switch m := m.(type) {
			case *transport.ListRequest:
				err = transport.WriteMessage(c, &transport.ListResponse{Datasets: []transport.DatasetInfo{target}})
			case *transport.ReceiveRequest:
				select {
				case got <- m: // the first one
				default:
				}
				err = transport.WriteError(c, transport.CodeForbidden, errors.New("recorded"))
			}
			if err != nil {
				return
			}
		}
	}()
	return got
}

// firstStream replicates ds with s (given a client here) into a hostileReceiver listing target, and returns the
// first stream request s made.
func firstStream(t *testing.T, s *Sender, ds Dataset, target transport.DatasetInfo) *transport.ReceiveRequest {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	requests := hostileReceiver(t, b, target)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	if s.Client, err = NewClient(ctx, a, "hv1", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err = s.Replicate(ctx, ds); err == nil {
		t.Fatal("replication into a receiver that refuses every stream succeeded")
	}
	a.Close()
	req := <-requests
	if req == nil {
		t.Fatalf("the sender sent no stream: %v", err)
	}
	return req
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The sender never passes a token the receiver made up to `zfs send -t`: it starts over with the stream the
// job would send without one, and says why.
func TestSenderRefusesAHostileReceiversResumeToken(t *testing.T) {
	for _, v := range []string{"2.1", "2.3"} {
		enc := sourceOf(t, v)["enc"]
		e1 := enc.Snapshots[0]
		full := transport.DatasetInfo{Name: "tank/enc", Snapshots: []transport.SnapshotInfo{}}
		hasE1 := transport.DatasetInfo{Name: "tank/enc", Snapshots: []transport.SnapshotInfo{{Name: "e1", GUID: e1.GUID, CreateTXG: 7}}}
		for _, c := range []struct {
			name, token string
			target      transport.DatasetInfo
			source      []zfs.Dataset
			want        transport.ReceiveRequest // Resume, Snapshot, From, Force, Raw
			why         string
		}{
			{"plaintext of the encrypted dataset", "plainenc", full, enc.Snapshots[:1],
				transport.ReceiveRequest{Snapshot: "e1", Raw: true}, "raw flag is false"},
			{"another dataset", "full", full, enc.Snapshots[:1],
				transport.ReceiveRequest{Snapshot: "e1", Raw: true}, "not a snapshot of hzfix/enc"},
			{"another dataset, incremental", "incr", hasE1, enc.Snapshots,
				transport.ReceiveRequest{Snapshot: "e2", From: "e1", Raw: true}, "not a snapshot of hzfix/enc"},
			{"garbage", "", hasE1, enc.Snapshots,
				transport.ReceiveRequest{Snapshot: "e2", From: "e1", Raw: true}, "malformed"},
			{"the job's own raw stream", "raw", full, enc.Snapshots[:1],
				transport.ReceiveRequest{Snapshot: "e1", Resume: true, Raw: true}, ""},
			{"the job's own raw incremental", "rawincr", hasE1, enc.Snapshots,
				transport.ReceiveRequest{Snapshot: "e2", Resume: true, Raw: true}, ""},
		} {
			t.Run(v+" "+c.name, func(t *testing.T) {
				token := "1-0-1-00"
				if c.token != "" {
					token, _ = realToken(t, v, c.token)
				}
				c.target.ResumeToken = token
				z, calls := spyZFS(t, "")
				var logs logBuffer
				s := &Sender{ZFS: z, Log: slog.New(slog.NewTextHandler(&logs, nil)), Flags: SendFlags{Raw: true},
					Compression: transport.CompressionNone}
				req := firstStream(t, s, Dataset{Source: "hzfix/enc", Target: "tank/enc", Snapshots: c.source}, c.target)
				if req.Resume != c.want.Resume || req.Snapshot != c.want.Snapshot || req.From != c.want.From ||
					req.Force || !req.Raw || req.Resume == (req.Source != "") {
					t.Errorf("stream request %+v, want %+v (the source named on new streams only)", req, c.want)
				}
				var resumed bool
				for _, call := range calls() {
					if strings.Contains(call, " -t ") {
						resumed = true
						if c.why != "" || !strings.HasSuffix(call, "-t "+token) {
							t.Errorf("zfs %s", call)
						}
					} else if strings.HasPrefix(call, "send") && !strings.Contains(call, " -w ") {
						t.Errorf("zfs %s: not raw", call)
					}
				}
				if resumed != (c.why == "") {
					t.Errorf("zfs send -t run: %v, want %v (calls %q)", resumed, c.why == "", calls())
				}
				if c.why != "" && (!strings.Contains(logs.String(), "refusing the receiver's resume token") ||
					!strings.Contains(logs.String(), c.why)) {
					t.Errorf("no warning saying %q:\n%s", c.why, logs.String())
				}
			})
		}
	}
}
