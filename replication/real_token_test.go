package replication_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotzfs/hotzfs/internal/zfstest"
	"github.com/hotzfs/hotzfs/replication"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// plantPartial leaves an interrupted receive of opts's stream on the receiver's target rel (relative to the
// client's root), as a hostile receiver could: the receiver then lists its resume token to the sender.
func (r *rig) plantPartial(opts zfs.SendOptions, rel string, cut int64) zfs.ResumeToken {
	r.t.Helper()
	tgt := r.dst + "/backup/hv1/" + rel
	zfstest.Run(r.t, "zfs", "create", "-p", "-o", "canmount=off", tgt[:strings.LastIndex(tgt, "/")])
	stream, err := r.z.Send(r.ctx, opts)
	must(r.t, err)
	err = r.z.Receive(r.ctx, tgt, zfs.ReceiveOptions{Resumable: true, NoMount: true}, io.LimitReader(stream, cut))
	stream.Close()
	if err == nil {
		r.t.Fatalf("receive of the first %d bytes of %s succeeded", cut, opts.Snapshot)
	}
	token, terr := r.z.ResumeToken(r.ctx, tgt)
	must(r.t, terr)
	tok, terr := zfs.ParseResumeToken(token)
	if terr != nil {
		r.t.Fatalf("the planted receive (%v) left token %q: %v", err, token, terr)
	}
	return tok
}

// A receiver that offers the token of a plaintext (non-raw) receive of an encrypted dataset does not get its
// plaintext: the raw job starts over raw, and the target is encrypted, its key unavailable.
func TestRealResumeTokenWithoutRawokIsRefused(t *testing.T) {
	r := newRig(t, 512)
	key := filepath.Join(t.TempDir(), "key")
	must(t, os.WriteFile(key, []byte(strings.Repeat("5a", 32)), 0o600))
	ds := r.src + "/secret"
	must(t, r.z.CreateFilesystem(r.ctx, ds, map[string]string{"encryption": "on", "keyformat": "hex",
		"keylocation": "file://" + key}))
	mnt := zfstest.Mountpoint(t, ds)
	zfstest.WriteTree(t, mnt, 31, 6, 512<<10)
	r.snap(ds, "a")
	tok := r.plantPartial(zfs.SendOptions{Snapshot: ds + "@a"}, "tank/secret", 1<<20)
	if tok.ToName != ds+"@a" || tok.RawOK {
		t.Fatalf("planted token %+v, want a non-raw one of %s@a", tok, ds)
	}

	rep, err := r.replicateWith(ds, "tank/secret", transport.CompressionDefault, replication.SendFlags{Raw: true})
	must(t, err)
	tgt := r.dst + "/backup/hv1/tank/secret"
	props, err := r.z.GetProps(r.ctx, tgt, "keystatus", "encryption")
	must(t, err)
	if props["keystatus"] != "unavailable" || props["encryption"] == "off" {
		t.Fatalf("target %v, want it encrypted with its key unavailable (steps %+v)", props, rep.Steps)
	}
	if len(rep.Steps) != 1 || rep.Steps[0].Step != "full @a" || rep.Base != "a" {
		t.Fatalf("report %+v, want one full raw send of @a", rep)
	}
	if token, _ := r.z.ResumeToken(r.ctx, tgt); token != "" {
		t.Errorf("the planted partial receive is still there: %q", token)
	}
	got := r.targetSnaps("tank/secret")
	source, err := r.z.List(r.ctx, []string{ds}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
	must(t, err)
	if len(got) != 1 || got[0].GUID != source[0].GUID {
		t.Fatalf("target snapshots %v, want @a guid %d", got, source[0].GUID)
	}
	zfstest.Run(t, "zfs", "load-key", "-L", "file://"+key, tgt)
	zfstest.EqualSums(t, zfstest.TreeSums(t, mnt), zfstest.TreeSums(t, zfstest.Mountpoint(t, tgt)))
}

// A receiver that offers the token of another dataset's snapshot gets nothing of it: the job sends its own
// snapshots from scratch into the target, which the receiver clears of the partial receive first.
func TestRealResumeTokenOfAnotherDatasetIsRefused(t *testing.T) {
	r := newRig(t, 512)
	ds, mnt := r.filesystem("web", 41)
	r.snap(ds, "a")
	zfstest.WriteFile(t, filepath.Join(mnt, "b"), 43, 1<<20)
	r.snap(ds, "b")
	other, _ := r.filesystem("other", 42)
	r.snap(other, "x")
	tok := r.plantPartial(zfs.SendOptions{Snapshot: other + "@x"}, "tank/web", 1<<20)
	if tok.ToName != other+"@x" {
		t.Fatalf("planted token %+v, want one of %s@x", tok, other)
	}

	rep, err := r.replicate(ds, "tank/web", transport.CompressionNone)
	must(t, err)
	if len(rep.Steps) != 2 || rep.Steps[0].Step != "full @a" || rep.Base != "b" {
		t.Fatalf("report %+v, want a full send of @a, then @a..@b", rep)
	}
	source, err := r.z.List(r.ctx, []string{ds}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
	must(t, err)
	got := r.targetSnaps("tank/web")
	if len(got) != 2 || got[0].GUID != source[0].GUID || got[1].GUID != source[1].GUID {
		t.Fatalf("target snapshots %v, want the source's @a @b", got)
	}
	tgt := r.dst + "/backup/hv1/tank/web"
	if token, _ := r.z.ResumeToken(r.ctx, tgt); token != "" {
		t.Errorf("the planted partial receive is still there: %q", token)
	}
	zfstest.EqualSums(t, zfstest.TreeSums(t, mnt), zfstest.TreeSums(t, zfstest.Mountpoint(t, tgt)))
}
