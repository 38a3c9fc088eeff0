package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/replication"
	"github.com/hotzfs/hotzfs/snapshot"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

func fakeSystems(z *fakeZFS, tg *fakeTarget, clock *time.Time) systems {
	return systems{snapshotter: z, zfs: z, dial: tg.dial, retry: fastRetry, now: func() time.Time { return *clock }}
}

// TestRunPrunesBothSidesBounded: ten backups of three datasets where the target's retention prunes first
// (target keep_last 2, source keep_last 4). Every run replicates every dataset over at most two sessions, the
// base is the one snapshot held, each side keeps what its rules say — the source does not keep the snapshots
// the target pruned as "not replicated" — and the status names the newest snapshot.
func TestRunPrunesBothSidesBounded(t *testing.T) {
	datasets := []string{"tank/a", "tank/b", "tank/c"}
	env, j := fakeJob(t, datasets, "    retention:\n      source: {keep_last: 4}\n      target: {keep_last: 2}\n")
	z := newFakeZFS(datasets...)
	tg := newFakeTarget(z)
	tg.delay = 2 * time.Millisecond
	clock := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	env.Now = func() time.Time { return clock }
	sys := fakeSystems(z, tg, &clock)
	for i := 1; i <= 10; i++ {
		clock = clock.Add(15 * time.Minute)
		rep := run(context.Background(), env, sys, j, AllSteps)
		if rep.Err != nil {
			t.Fatalf("run %d: %v", i, rep.Err)
		}
		for _, ds := range datasets {
			src, dst := z.names(ds), tg.names(ds)
			if len(src) != min(i, 4) || len(dst) != min(i, 2) {
				t.Fatalf("run %d, %s: source %v (want %d), target %v (want %d)", i, ds, src, min(i, 4), dst, min(i, 2))
			}
			newest := src[len(src)-1]
			if dst[len(dst)-1] != newest {
				t.Fatalf("run %d, %s: target's newest %s, source's %s", i, ds, dst[len(dst)-1], newest)
			}
			if held := z.held(ds); !slices.Equal(held, []string{newest}) {
				t.Fatalf("run %d, %s: held %v, want only the base %s", i, ds, held, newest)
			}
		}
	}
	if tg.maxActive > maxStreams || tg.open != 0 {
		t.Errorf("%d datasets replicated at once (max %d); %d sessions left open", tg.maxActive, maxStreams, tg.open)
	}
	st, err := LoadStatus(env.Config.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	js := st.Jobs["j"]
	for _, ds := range datasets {
		newest := z.names(ds)[3]
		if d := js.Datasets[ds]; d.LastSnapshot != ds+"@"+newest || d.ReplicatedSnap != newest || !d.LastReplicated.Equal(clock) || d.Bytes != 1000 {
			t.Errorf("status of %s: %+v, want %s snapshotted and replicated at %s, 10 streams of 100 bytes", ds, d, newest, clock)
		}
	}
	if js.Error != "" || !js.LastSuccess.Equal(clock) {
		t.Errorf("job status %+v", js)
	}
}

// TestRunReleasesOldBaseBeforePruning: with keep_last 1 on the source the old base goes in the run that moves
// the hold off it: pruning sees the listing with the holds replication moved.
func TestRunReleasesOldBaseBeforePruning(t *testing.T) {
	env, j := fakeJob(t, []string{"tank/a"}, "    retention:\n      source: {keep_last: 1}\n")
	z := newFakeZFS("tank/a")
	tg := newFakeTarget(z)
	clock := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	env.Now = func() time.Time { return clock }
	sys := fakeSystems(z, tg, &clock)
	for i := 1; i <= 3; i++ {
		clock = clock.Add(time.Hour)
		if rep := run(context.Background(), env, sys, j, AllSteps); rep.Err != nil {
			t.Fatalf("run %d: %v", i, rep.Err)
		}
		if src, held := z.names("tank/a"), z.held("tank/a"); len(src) != 1 || !slices.Equal(held, src) {
			t.Fatalf("run %d: source %v, held %v: want the one base, held", i, src, held)
		}
	}
}

// TestRunSendsTheMountpointsItListed: the run's one listing gives each dataset's mountpoint to replication (a
// volume has none); replication and pruning go on as before.
func TestRunSendsTheMountpointsItListed(t *testing.T) {
	datasets := []string{"tank/fs", "tank/vol"}
	env, j := fakeJob(t, datasets, "    retention:\n      source: {keep_last: 1}\n")
	z := newFakeZFS(datasets...)
	z.mountpoints = map[string]string{"tank/fs": "/srv/fs"}
	tg := newFakeTarget(z)
	clock := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	env.Now = func() time.Time { return clock }
	sys := fakeSystems(z, tg, &clock)
	for i := 1; i <= 2; i++ {
		clock = clock.Add(time.Hour)
		if rep := run(context.Background(), env, sys, j, AllSteps); rep.Err != nil {
			t.Fatalf("run %d: %v", i, rep.Err)
		}
	}
	if got := tg.mountpoints; got["tank/fs"] != "/srv/fs" || got["tank/vol"] != "" || len(got) != 2 {
		t.Errorf("replication was given mountpoints %v, want /srv/fs for tank/fs and none for the volume", got)
	}
	for _, ds := range datasets {
		if src, dst := z.names(ds), tg.names(ds); len(src) != 1 || len(dst) != 2 {
			t.Errorf("%s: source %v (want the newest), target %v (want both)", ds, src, dst)
		}
	}
}

func TestUpdateHolds(t *testing.T) {
	list := []zfs.Dataset{{Name: "p/a@1", UserRefs: 1}, {Name: "p/a@2", UserRefs: 2}, {Name: "p/a@3"}, {Name: "p/a@4", UserRefs: 1}}
	updateHolds(list, replication.Report{Held: "p/a@3", Released: []string{"p/a@1", "p/a@2"}})
	var refs []uint64
	for _, d := range list {
		refs = append(refs, d.UserRefs)
	}
	if !slices.Equal(refs, []uint64{0, 1, 1, 1}) {
		t.Errorf("holds after moving the base from @1 and @2 to @3: %v, want [0 1 1 1] (another tag still holds @2)", refs)
	}
}

// TestSourceCountsOlderThanBaseAsReplicated: the target pruned @1..@3; they are older than the newest snapshot
// both sides share (@5), so they count as replicated and keep_last 2 destroys them. @6, newer than the base
// and not on the target, stays as not replicated.
func TestSourceCountsOlderThanBaseAsReplicated(t *testing.T) {
	env, j := fakeJob(t, []string{"tank/a"}, "    retention:\n      source: {keep_last: 1}\n")
	z := newFakeZFS("tank/a")
	var source []zfs.Dataset
	var target []transport.SnapshotInfo
	for i := 1; i <= 6; i++ {
		at := time.Date(2026, 6, 1, i, 0, 0, 0, time.UTC)
		d := zfs.Dataset{Name: "tank/a@" + snapshot.Name(j.SnapshotPrefix, at), Type: zfs.Snapshot,
			GUID: uint64(100 + i), CreateTXG: uint64(i), Creation: at}
		if i == 5 {
			d.UserRefs = 1
		}
		source = append(source, d)
		if i == 4 || i == 5 {
			target = append(target, transport.SnapshotInfo{Name: d.Short(), GUID: d.GUID, CreateTXG: 1000 + d.CreateTXG})
		}
	}
	z.snaps["tank/a"] = slices.Clone(source)
	clock := time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)
	rep := &Report{}
	errs := pruneAll(context.Background(), fakeSystems(z, nil, &clock), j, []string{"tank/a"},
		map[string][]zfs.Dataset{"tank/a": source}, map[string][]transport.SnapshotInfo{"tank/a": target}, Steps{Prune: true},
		rep, env.log())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var kept, reasons []string
	for _, d := range rep.Pruned[0].Decisions {
		if d.Keep {
			kept = append(kept, d.Snapshot)
		}
		reasons = append(reasons, d.Snapshot+": "+strings.Join(d.Reasons, ","))
	}
	all := strings.Join(reasons, "; ")
	if !slices.Equal(kept, []string{source[5].Short(), source[4].Short()}) || !strings.Contains(all, source[4].Short()+": base") ||
		!strings.Contains(all, source[5].Short()+": newest,last 1/1,not replicated") {
		t.Errorf("kept %v, want the base (@5) and @6 (newest, not replicated); decisions: %s", kept, all)
	}
	if n := len(z.names("tank/a")); n != 2 {
		t.Errorf("source keeps %v, want the base and the newest", z.names("tank/a"))
	}
	// Nothing on the target in common: nothing counts as replicated.
	for _, s := range sourceSnapshots(j, "tank/a", source, []transport.SnapshotInfo{{Name: "other", GUID: 9}}) {
		if s.Replicated || s.Base {
			t.Errorf("%s counts as replicated or base with no snapshot in common", s.Name)
		}
	}
}

// retryRun replicates one dataset with one snapshot through a target that answers script first.
func retryRun(t *testing.T, script []error, dialErrs []error) (*Report, *fakeTarget, string) {
	t.Helper()
	env, j := fakeJob(t, []string{"tank/a"}, "")
	z := newFakeZFS("tank/a")
	if err := z.SnapshotAtomic(context.Background(), []string{"tank/a@s1"}, nil); err != nil {
		t.Fatal(err)
	}
	tg := newFakeTarget(z)
	tg.script, tg.dialErrs = script, dialErrs
	log, buf := newLog()
	env.Log = log
	clock := time.Now()
	rep := run(context.Background(), env, fakeSystems(z, tg, &clock), j, Steps{Replicate: true})
	return rep, tg, buf.String()
}

// TestReplicateRetriesTransientFailures: a receiver that answers busy twice, then takes the stream: the dataset
// is replicated in the same run, after 2 and 4× as long, each retry logged with its attempt number, each
// over a new session.
func TestReplicateRetriesTransientFailures(t *testing.T) {
	busy := &transport.RemoteError{Code: transport.CodeBusy, Message: "another stream into hv1/tank/a is in progress"}
	rep, tg, log := retryRun(t, []error{fmt.Errorf("receiver refused tank/a: %w", busy), busy}, nil)
	if rep.Err != nil || len(rep.Replicated) != 1 || rep.Replicated[0].Base != "s1" {
		t.Fatalf("busy twice then ok: %+v", rep)
	}
	if tg.replicate != 3 || tg.dials != 3 || tg.open != 0 {
		t.Errorf("%d attempts over %d sessions, %d left open; want 3 over 3, none open", tg.replicate, tg.dials, tg.open)
	}
	for _, want := range []string{"attempt=1 attempts=3 retry_in=5ms", "attempt=2 attempts=3 retry_in=20ms", "succeeded after a retry", "attempt=3"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}

	// Dropped connections and a refused dial are transient too.
	rep, tg, _ = retryRun(t, []error{fmt.Errorf("list: %w", io.EOF), fmt.Errorf("sending: %w", syscall.ECONNRESET)},
		[]error{fmt.Errorf("connect: %w", syscall.ECONNREFUSED)})
	if rep.Err != nil || tg.replicate != 3 || tg.dials != 4 {
		t.Errorf("dropped connections: err %v, %d attempts, %d dials (want none, 3, 4)", rep.Err, tg.replicate, tg.dials)
	}
}

// TestReplicateDoesNotRetryRefusals: what the receiver refuses for cause fails the dataset at once.
func TestReplicateDoesNotRetryRefusals(t *testing.T) {
	for _, err := range []error{
		&transport.RemoteError{Code: transport.CodeForbidden, Message: "outside the client's root"},
		&transport.RemoteError{Code: transport.CodeConflict, Message: "partial receive in the way"},
		&replication.ConflictError{Kind: replication.ErrTargetDiverged, Msg: "@x"},
		errors.Join(fmt.Errorf("sending: %w", syscall.EPIPE), &transport.RemoteError{Code: transport.CodeNoSpace, Message: "full"}),
	} {
		rep, tg, log := retryRun(t, []error{err}, nil)
		if rep.Err == nil || !errors.Is(rep.Err, err) || tg.replicate != 1 || strings.Contains(log, "retrying") {
			t.Errorf("%v: err %v after %d attempts, want it after 1", err, rep.Err, tg.replicate)
		}
	}
	busy := &transport.RemoteError{Code: transport.CodeBusy, Message: "max_streams"}
	rep, tg, _ := retryRun(t, []error{busy, busy, busy, busy}, nil)
	if !errors.Is(rep.Err, busy) || !strings.Contains(rep.Err.Error(), "gave up after 3 attempts") || tg.replicate != 3 {
		t.Errorf("busy for good: err %v after %d attempts, want a give-up after 3", rep.Err, tg.replicate)
	}
}

// TestRetryWaitEndsWithTheContext: the wait before a retry ends when the job is cancelled.
func TestRetryWaitEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	log, _ := newLog()
	start := time.Now()
	calls := 0
	err := retryPolicy{attempts: 3, delay: time.Hour, factor: 4}.do(ctx, log, "x", func(int) error {
		calls++
		return io.EOF
	})
	if !errors.Is(err, io.EOF) || !errors.Is(err, context.DeadlineExceeded) || calls != 1 || time.Since(start) > 10*time.Second {
		t.Errorf("err %v after %d calls and %s", err, calls, time.Since(start))
	}
}

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&transport.RemoteError{Code: transport.CodeBusy}, true},
		{&transport.RemoteError{Code: transport.CodeTimeout}, true},
		{fmt.Errorf("x: %w", transport.ErrTruncated), true},
		{fmt.Errorf("no data from the peer for 2m0s (timeout): %w", errors.Join(errors.New("read"), syscall.ETIMEDOUT)), true},
		{io.ErrUnexpectedEOF, true},
		{&transport.RemoteError{Code: transport.CodeForbidden}, false},
		{&transport.RemoteError{Code: transport.CodeInternal}, false},
		{fmt.Errorf("connection: %w", context.Canceled), false},
		{context.DeadlineExceeded, false},
		{zfs.ErrDatasetNotFound, false},
		{errors.New("zfs send: exit status 1"), false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// Without zfs installed a run stops at the first zfs command, says what to install, and records that.
func TestRunStopsWhenZFSIsNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for name, steps := range map[string]Steps{"backup": AllSteps, "replicate": {Replicate: true}} {
		env, j := fakeJob(t, []string{"tank/a", "tank/b"}, "")
		env.ZFS = zfs.NewRunner(nil)
		env.Dial = func(context.Context, string) (*replication.Client, error) {
			t.Errorf("%s: dialled the target without zfs", name)
			return nil, errors.New("no target in this test")
		}
		rep := Run(context.Background(), env, j, steps)
		if !errors.Is(rep.Err, zfs.ErrNoZFS) || strings.Count(rep.Err.Error(), "install zfsutils-linux") != 1 {
			t.Errorf("%s: %v; want one error saying to install zfsutils-linux", name, rep.Err)
		}
		st, err := LoadStatus(env.Config.StateDir)
		if err != nil || !strings.Contains(st.Jobs["j"].Error, "zfsutils-linux") {
			t.Errorf("%s: status %+v (%v), want the error recorded", name, st.Jobs["j"], err)
		}
	}
}
