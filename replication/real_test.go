package replication_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/internal/loopback"
	"github.com/hotzfs/hotzfs/internal/zfstest"
	"github.com/hotzfs/hotzfs/receiver"
	"github.com/hotzfs/hotzfs/replication"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/transport/tlsconf"
	"github.com/hotzfs/hotzfs/zfs"
)

// rig is a source pool, a target pool, and a receiver on loopback serving client "hv1" into target/backup.
type rig struct {
	t        *testing.T
	ctx      context.Context
	z        *zfs.Runner
	src, dst string
	recv     *loopback.Receiver
	files    tlsconf.Files
	addr     string // where clients connect (the receiver, or a proxy in front of it)
}

func newRig(t *testing.T, dstMB int) *rig {
	zfstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	z := zfs.NewRunner(loopback.Logger())
	r := &rig{t: t, ctx: ctx, z: z, src: zfstest.Pool(t, 512), dst: zfstest.Pool(t, dstMB)}
	pki, err := loopback.NewPKI(t.TempDir())
	must(t, err)
	r.files, err = pki.Client("hv1")
	must(t, err)
	r.recv, err = loopback.StartReceiver(ctx, z, pki, receiver.Options{Root: r.dst + "/backup", Logger: loopback.Logger(),
		Clients: map[string]receiver.Client{"hv1": {AllowPrune: true}}})
	must(t, err)
	t.Cleanup(func() { r.recv.Stop() })
	r.addr = r.recv.Addr
	return r
}

// replicate runs one replication of source into target (relative to the client's root).
func (r *rig) replicate(source, target string, comp transport.Compression) (replication.Report, error) {
	r.t.Helper()
	return r.replicateWith(source, target, comp, replication.SendFlags{})
}

// replicateWith is replicate with zfs send flags.
func (r *rig) replicateWith(source, target string, comp transport.Compression, flags replication.SendFlags) (replication.Report, error) {
	r.t.Helper()
	c, err := loopback.Dial(r.ctx, r.addr, r.files, "hv1")
	if err != nil {
		return replication.Report{}, err
	}
	defer c.Close()
	// As a job lists: the snapshots and bookmarks, and the dataset itself for its mountpoint.
	list, err := r.z.List(r.ctx, []string{source}, zfs.ListOptions{Depth: 1})
	must(r.t, err)
	ds := replication.Dataset{Source: source, Target: target}
	for _, d := range list {
		switch {
		case d.Name == source:
			ds.Mountpoint = d.Mountpoint
		case d.Type == zfs.Snapshot || d.Type == zfs.Bookmark:
			ds.Snapshots = append(ds.Snapshots, d)
		}
	}
	s := &replication.Sender{ZFS: r.z, Client: c, Log: loopback.Logger(), Compression: comp, HoldTag: "hotzfs-base:test",
		Flags: flags}
	return s.Replicate(r.ctx, ds)
}

// replicateAsRetried is replicate as a job run retries it after a failed attempt: a refusal as busy, from a
// receiver still draining the stream a moment ago cut or killed, is retried after a second, for up to a minute.
// The interrupted receive must survive those refusals, to be resumed by the attempt that gets through.
func (r *rig) replicateAsRetried(source, target string, comp transport.Compression) (replication.Report, error) {
	r.t.Helper()
	deadline := time.Now().Add(time.Minute)
	rep, err := r.replicate(source, target, comp)
	for busy := 0; busyRefusal(err) && time.Now().Before(deadline); busy++ {
		r.t.Logf("retry %d after: %v", busy+1, err)
		time.Sleep(time.Second)
		rep, err = r.replicate(source, target, comp)
	}
	return rep, err
}

func (r *rig) snap(ds, name string) {
	must(r.t, r.z.SnapshotAtomic(r.ctx, []string{ds + "@" + name}, nil))
}

func (r *rig) targetSnaps(rel string) []zfs.Dataset {
	list, err := r.z.List(r.ctx, []string{r.dst + "/backup/hv1/" + rel}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
	must(r.t, err)
	return list
}

func (r *rig) filesystem(name string, seed uint64) (string, string) {
	ds := r.src + "/" + name
	must(r.t, r.z.CreateFilesystem(r.ctx, ds, nil))
	mnt := zfstest.Mountpoint(r.t, ds)
	zfstest.WriteTree(r.t, mnt, seed, 6, 512<<10)
	return ds, mnt
}

func TestRealReplicateFullThenIncrementalOverTLS(t *testing.T) {
	r := newRig(t, 512)
	ds, mnt := r.filesystem("web", 1)
	r.snap(ds, "a")
	rep, err := r.replicate(ds, "tank/web", transport.CompressionDefault)
	must(t, err)
	if len(rep.Steps) != 1 || rep.Base != "a" {
		t.Fatalf("first run %+v, want one full send and base a", rep)
	}
	zfstest.WriteFile(t, filepath.Join(mnt, "b"), 2, 1<<20)
	r.snap(ds, "b")
	zfstest.WriteFile(t, filepath.Join(mnt, "c"), 3, 1<<20)
	r.snap(ds, "c")
	rep, err = r.replicate(ds, "tank/web", transport.CompressionDefault)
	must(t, err)
	if len(rep.Steps) != 1 || rep.Base != "c" || rep.Steps[0].Bytes == 0 || rep.Steps[0].WireBytes == 0 {
		t.Fatalf("second run %+v, want one incremental and base c", rep)
	}
	got := r.targetSnaps("tank/web")
	if len(got) != 3 || got[1].Short() != "b" {
		t.Fatalf("target snapshots %v, want a b c", got)
	}
	zfstest.EqualSums(t, zfstest.TreeSums(t, mnt), zfstest.TreeSums(t, zfstest.Mountpoint(t, r.dst+"/backup/hv1/tank/web")))
	// The target's state the receiver returned with the stream (which pruning uses) is what is there.
	if len(rep.TargetSnaps) != len(got) {
		t.Fatalf("report lists %d target snapshots, the target has %d", len(rep.TargetSnaps), len(got))
	}
	for i, s := range rep.TargetSnaps {
		if s.Name != got[i].Short() || s.GUID != got[i].GUID || s.CreateTXG != got[i].CreateTXG {
			t.Errorf("report's target snapshot %d is %+v, the target has %s guid %d createtxg %d", i, s,
				got[i].Short(), got[i].GUID, got[i].CreateTXG)
		}
	}

	// Holds moved to the new base on both sides.
	holds, err := r.z.Holds(r.ctx, ds+"@a", ds+"@c")
	must(t, err)
	if len(holds) != 1 || holds[0].Snapshot != ds+"@c" || holds[0].Tag != "hotzfs-base:test" {
		t.Errorf("source holds %+v, want only hotzfs-base:test on @c", holds)
	}
	tgt := r.dst + "/backup/hv1/tank/web"
	holds, err = r.z.Holds(r.ctx, tgt+"@a", tgt+"@b", tgt+"@c")
	must(t, err)
	if len(holds) != 1 || holds[0].Snapshot != tgt+"@c" || holds[0].Tag != receiver.BaseHoldTag {
		t.Errorf("target holds %+v, want only %s on @c", holds, receiver.BaseHoldTag)
	}
	// Nothing new: nothing sent.
	rep, err = r.replicate(ds, "tank/web", transport.CompressionDefault)
	must(t, err)
	if len(rep.Steps) != 0 {
		t.Errorf("up-to-date run sent %+v", rep.Steps)
	}
}

func TestRealReplicateVolumeUncompressed(t *testing.T) {
	r := newRig(t, 512)
	vol := r.src + "/disk0"
	must(t, r.z.CreateVolume(r.ctx, vol, 64<<20, nil))
	zfstest.WaitDevice(t, "/dev/zvol/"+vol)
	zfstest.WriteFile(t, "/dev/zvol/"+vol, 5, 16<<20)
	r.snap(vol, "a")
	_, err := r.replicate(vol, "tank/disk0", transport.CompressionNone)
	must(t, err)
	dev := "/dev/zvol/" + r.dst + "/backup/hv1/tank/disk0"
	zfstest.WaitDevice(t, dev)
	want, _ := zfstest.FileSum("/dev/zvol/" + vol)
	got, err := zfstest.FileSum(dev)
	must(t, err)
	if want != got {
		t.Fatalf("zvol differs after replication")
	}
}

// proxy forwards connections to target; mangle may change or cut the client→server bytes.
type proxy struct {
	ln     net.Listener
	copied atomic.Int64
}

func startProxy(t *testing.T, target string, mangle func(offset int64, p []byte) (cut bool)) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &proxy{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				return
			}
			go func() { io.Copy(c, s); c.Close() }()
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						off := p.copied.Add(int64(n)) - int64(n)
						if mangle(off, buf[:n]) {
							c.Close()
							s.Close()
							return
						}
						if _, werr := s.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						s.Close()
						return
					}
				}
			}()
		}
	}()
	return p
}

func TestRealConnectionCutMidStreamResumes(t *testing.T) {
	r := newRig(t, 512)
	ds, mnt := r.filesystem("db", 7)
	zfstest.WriteTree(t, mnt, 70, 8, 2<<20)
	r.snap(ds, "a")
	armed := atomic.Bool{}
	armed.Store(true)
	p := startProxy(t, r.recv.Addr, func(off int64, b []byte) bool {
		return armed.Load() && off > 6<<20 // cut once 6 MiB went through
	})
	r.addr = p.ln.Addr().String()
	_, err := r.replicate(ds, "tank/db", transport.CompressionNone)
	if err == nil {
		t.Fatal("replication through a cut connection succeeded")
	}
	tgt := r.dst + "/backup/hv1/tank/db"
	deadline := time.Now().Add(30 * time.Second)
	token := ""
	for token == "" && time.Now().Before(deadline) { // the receiver notices the cut on its side
		token, _ = r.z.ResumeToken(r.ctx, tgt)
		time.Sleep(200 * time.Millisecond)
	}
	if token == "" {
		t.Fatal("no resume token on the target after the cut")
	}
	armed.Store(false)
	rep, err := r.replicateAsRetried(ds, "tank/db", transport.CompressionNone)
	must(t, err)
	if len(rep.Steps) == 0 || rep.Steps[0].Step != "resume interrupted receive" {
		t.Fatalf("second run %+v, want a resume first", rep.Steps)
	}
	if rep.Steps[0].Bytes >= 16<<20 {
		t.Errorf("resume sent %d bytes: the whole stream again", rep.Steps[0].Bytes)
	}
	zfstest.EqualSums(t, zfstest.TreeSums(t, mnt), zfstest.TreeSums(t, zfstest.Mountpoint(t, tgt)))
}

func TestRealCorruptedByteIsRefusedAndRetrySucceeds(t *testing.T) {
	r := newRig(t, 512)
	ds, mnt := r.filesystem("app", 9)
	r.snap(ds, "a")
	_, err := r.replicate(ds, "tank/app", transport.CompressionDefault)
	must(t, err)
	zfstest.WriteTree(t, mnt, 90, 4, 1<<20)
	r.snap(ds, "b")
	flipped := atomic.Bool{}
	p := startProxy(t, r.recv.Addr, func(off int64, b []byte) bool {
		if off > 1<<20 && !flipped.Swap(true) {
			b[len(b)/2] ^= 0x40
		}
		return false
	})
	r.addr = p.ln.Addr().String()
	_, err = r.replicate(ds, "tank/app", transport.CompressionDefault)
	if err == nil || !flipped.Load() {
		t.Fatalf("a flipped byte went unnoticed (flipped %v, err %v)", flipped.Load(), err)
	}
	tgt := r.dst + "/backup/hv1/tank/app"
	if got := r.targetSnaps("tank/app"); len(got) != 1 || got[0].Short() != "a" {
		t.Fatalf("target after a corrupt stream %v, want its last complete snapshot a", got)
	}
	r.addr = r.recv.Addr
	_, err = r.replicateAsRetried(ds, "tank/app", transport.CompressionDefault)
	must(t, err)
	zfstest.EqualSums(t, zfstest.TreeSums(t, mnt), zfstest.TreeSums(t, zfstest.Mountpoint(t, tgt)))
}

func TestRealTargetPoolFullThenFreed(t *testing.T) {
	r := newRig(t, 256)
	ds, mnt := r.filesystem("big", 11)
	r.snap(ds, "a")
	_, err := r.replicate(ds, "tank/big", transport.CompressionNone)
	must(t, err)
	filler := r.dst + "/filler"
	must(t, r.z.CreateFilesystem(r.ctx, filler, nil))
	props, err := r.z.GetProps(r.ctx, r.dst, "available")
	must(t, err)
	var avail int
	fmt.Sscan(props["available"], &avail)
	zfstest.WriteFile(t, filepath.Join(zfstest.Mountpoint(t, filler), "f"), 1, avail-16<<20) // leave 16 MiB
	zfstest.WriteTree(t, mnt, 110, 6, 8<<20)
	r.snap(ds, "b")
	_, err = r.replicate(ds, "tank/big", transport.CompressionNone)
	var remote *transport.RemoteError
	if !errors.As(err, &remote) || remote.Code != transport.CodeNoSpace {
		t.Fatalf("replication into a full pool: %v, want a no-space error from the receiver", err)
	}
	if got := r.targetSnaps("tank/big"); len(got) != 1 || got[0].Short() != "a" {
		t.Fatalf("target after ENOSPC %v, want a", got)
	}
	must(t, r.z.Destroy(r.ctx, filler, true))
	_, err = r.replicate(ds, "tank/big", transport.CompressionNone)
	must(t, err)
	zfstest.EqualSums(t, zfstest.TreeSums(t, mnt), zfstest.TreeSums(t, zfstest.Mountpoint(t, r.dst+"/backup/hv1/tank/big")))
}

func TestRealDivergentTargetRefused(t *testing.T) {
	r := newRig(t, 256)
	ds, _ := r.filesystem("div", 13)
	r.snap(ds, "a")
	_, err := r.replicate(ds, "tank/div", transport.CompressionNone)
	must(t, err)
	r.snap(r.dst+"/backup/hv1/tank/div", "stray")
	r.snap(ds, "b")
	_, err = r.replicate(ds, "tank/div", transport.CompressionNone)
	if !errors.Is(err, replication.ErrTargetDiverged) {
		t.Fatalf("replication onto a diverged target: %v, want ErrTargetDiverged", err)
	}
	if got := r.targetSnaps("tank/div"); len(got) != 2 {
		t.Fatalf("target changed by a refused run: %v", got)
	}
}

func TestRealRestoreRoundTrip(t *testing.T) {
	r := newRig(t, 512)
	ds, mnt := r.filesystem("restoreme", 15)
	r.snap(ds, "a")
	want := zfstest.TreeSums(t, mnt)
	_, err := r.replicate(ds, "tank/restoreme", transport.CompressionDefault)
	must(t, err)
	c, err := loopback.Dial(r.ctx, r.addr, r.files, "hv1")
	must(t, err)
	defer c.Close()
	infos, err := c.List(nil)
	must(t, err)
	if len(infos) != 1 || infos[0].Name != "tank/restoreme" || len(infos[0].Snapshots) != 1 {
		t.Fatalf("list %+v", infos)
	}
	s := infos[0].Snapshots[0]
	_, stream, err := c.Fetch(&transport.SendRequest{Dataset: "tank/restoreme", Snapshot: s.Name, GUID: s.GUID,
		Compression: transport.CompressionDefault})
	must(t, err)
	must(t, r.z.Receive(r.ctx, r.src+"/restored", zfs.ReceiveOptions{Resumable: true}, stream))
	zfstest.EqualSums(t, want, zfstest.TreeSums(t, zfstest.Mountpoint(t, r.src+"/restored")))
	// The session is still usable after the stream.
	if _, err := c.List(nil); err != nil {
		t.Fatalf("list after restore: %v", err)
	}

	// Incremental restore against the snapshot the client still has.
	zfstest.WriteFile(t, filepath.Join(mnt, "later"), 16, 256<<10)
	r.snap(ds, "b")
	want = zfstest.TreeSums(t, mnt)
	_, err = r.replicate(ds, "tank/restoreme", transport.CompressionDefault)
	must(t, err)
	infos, err = c.List([]string{"tank/restoreme"})
	must(t, err)
	a, b := infos[0].Snapshots[0], infos[0].Snapshots[1]
	ready, stream, err := c.Fetch(&transport.SendRequest{Dataset: "tank/restoreme", Snapshot: b.Name, GUID: b.GUID,
		From: a.Name, FromGUID: a.GUID, Compression: transport.CompressionNone})
	must(t, err)
	if ready.Estimate == 0 || ready.Estimate > 4<<20 {
		t.Errorf("incremental restore estimate %d bytes", ready.Estimate)
	}
	must(t, r.z.Receive(r.ctx, r.src+"/restored", zfs.ReceiveOptions{Resumable: true, Force: true}, stream))
	zfstest.EqualSums(t, want, zfstest.TreeSums(t, zfstest.Mountpoint(t, r.src+"/restored")))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// An encrypted dataset travels raw (zfs send -w) through the receiver, which never has its key: full, then
// incremental, then back to the client in a restore that the receiver sends raw by itself.
func TestRealRawEncryptedThroughReceiverAndBack(t *testing.T) {
	r := newRig(t, 512)
	key := filepath.Join(t.TempDir(), "key")
	must(t, os.WriteFile(key, []byte(strings.Repeat("c3", 32)), 0o600))
	ds := r.src + "/secret"
	must(t, r.z.CreateFilesystem(r.ctx, ds, map[string]string{"encryption": "on", "keyformat": "hex",
		"keylocation": "file://" + key}))
	mnt := zfstest.Mountpoint(t, ds)
	zfstest.WriteTree(t, mnt, 21, 4, 256<<10)
	replicateRaw := func() replication.Report {
		t.Helper()
		rep, err := r.replicateWith(ds, "tank/secret", transport.CompressionDefault, replication.SendFlags{Raw: true})
		must(t, err)
		return rep
	}
	r.snap(ds, "a")
	replicateRaw()
	zfstest.WriteFile(t, filepath.Join(mnt, "later"), 22, 512<<10)
	r.snap(ds, "b")
	if rep := replicateRaw(); rep.Base != "b" || len(rep.Steps) != 1 {
		t.Fatalf("second raw run %+v, want one incremental step and base b", rep)
	}
	want := zfstest.TreeSums(t, mnt)

	tgt := r.dst + "/backup/hv1/tank/secret"
	props, err := r.z.GetProps(r.ctx, tgt, "keystatus", "encryption")
	must(t, err)
	if props["keystatus"] != "unavailable" || props["encryption"] == "off" {
		t.Fatalf("received dataset %v, want encrypted with its key unavailable on the receiver", props)
	}
	if n := len(r.targetSnaps("tank/secret")); n != 2 {
		t.Fatalf("receiver holds %d snapshots, want 2", n)
	}

	c, err := loopback.Dial(r.ctx, r.addr, r.files, "hv1")
	must(t, err)
	defer c.Close()
	infos, err := c.List([]string{"tank/secret"})
	must(t, err)
	latest := infos[0].Snapshots[len(infos[0].Snapshots)-1]
	_, stream, err := c.Fetch(&transport.SendRequest{Dataset: "tank/secret", Snapshot: latest.Name, GUID: latest.GUID,
		Compression: transport.CompressionDefault}) // Raw not asked for: the receiver must send raw anyway
	must(t, err)
	must(t, r.z.Receive(r.ctx, r.src+"/restored", zfs.ReceiveOptions{Resumable: true, NoMount: true}, stream))
	zfstest.Run(t, "zfs", "load-key", "-L", "file://"+key, r.src+"/restored")
	zfstest.Run(t, "zfs", "mount", r.src+"/restored")
	zfstest.EqualSums(t, want, zfstest.TreeSums(t, zfstest.Mountpoint(t, r.src+"/restored")))
}
