package replication_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// The test binary doubles as a receiver or a sender process, so tests can kill -9 one side mid-stream.
const (
	envRole = "HOTZFS_TEST_ROLE"
	envArg  = "HOTZFS_TEST_ARG"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case "receiver":
		os.Exit(childReceiver(os.Getenv(envArg)))
	case "sender":
		os.Exit(childSender(os.Getenv(envArg)))
	}
	os.Exit(m.Run())
}

// childReceiver serves ROOT with the PKI in DIR and prints its address: arg is "DIR ROOT".
func childReceiver(arg string) int {
	dir, root, _ := strings.Cut(arg, " ")
	pki := &loopback.PKI{Dir: dir}
	r, err := loopback.StartReceiver(context.Background(), zfs.NewRunner(nil), pki, receiver.Options{Root: root,
		Clients: map[string]receiver.Client{"hv1": {AllowPrune: true}}, Logger: loopback.Logger()})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("addr", r.Addr)
	select {}
}

// childSender replicates and prints the bytes sent every 50 ms: arg is "ADDR CERTDIR SOURCE TARGET".
func childSender(arg string) int {
	f := strings.Fields(arg)
	files := tlsconf.Files{CA: filepath.Join(f[1], "ca.crt"), Cert: filepath.Join(f[1], "hv1.crt"), Key: filepath.Join(f[1], "hv1.key")}
	ctx := context.Background()
	c, err := loopback.Dial(ctx, f[0], files, "hv1")
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	z := zfs.NewRunner(nil)
	list, err := z.List(ctx, []string{f[2]}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	s := &replication.Sender{ZFS: z, Client: c, Compression: transport.CompressionNone,
		Progress: func(_ string, p *transport.Progress) {
			go func() {
				for {
					fmt.Println("bytes", p.Bytes())
					time.Sleep(50 * time.Millisecond)
				}
			}()
		}}
	if _, err := s.Replicate(ctx, replication.Dataset{Source: f[2], Snapshots: list, Target: f[3]}); err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("done")
	return 0
}

// child starts the test binary in a role and returns it with a scanner over its stdout.
func child(t *testing.T, role, arg string) (*exec.Cmd, *bufio.Scanner) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envRole+"="+role, envArg+"="+arg)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

// waitLine reads lines until one starts with prefix and returns the rest.
func waitLine(t *testing.T, sc *bufio.Scanner, prefix string, ok func(string) bool) string {
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "error ") {
			t.Fatalf("child: %s", line)
		}
		if rest, found := strings.CutPrefix(line, prefix+" "); found && ok(rest) {
			return rest
		}
	}
	t.Fatalf("child ended before printing %q", prefix)
	return ""
}

func bigDataset(t *testing.T, r *rig, name string) (string, string) {
	ds, mnt := r.filesystem(name, 21)
	zfstest.WriteTree(t, mnt, 210, 6, 8<<20)
	r.snap(ds, "a")
	return ds, mnt
}

func waitToken(t *testing.T, r *rig, tgt string) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if tok, _ := r.z.ResumeToken(r.ctx, tgt); tok != "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no resume token on %s", tgt)
}

func TestRealKill9ReceiverMidStreamThenResume(t *testing.T) {
	r := newRig(t, 512)
	ds, mnt := bigDataset(t, r, "k9r")
	pkiDir := filepath.Dir(r.files.CA)
	root := r.dst + "/killed"
	recv, out := child(t, "receiver", pkiDir+" "+root)
	r.addr = waitLine(t, out, "addr", func(string) bool { return true })

	c, err := loopback.Dial(r.ctx, r.addr, r.files, "hv1")
	must(t, err)
	list, _ := r.z.List(r.ctx, []string{ds}, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1})
	killed := make(chan struct{})
	s := &replication.Sender{ZFS: r.z, Client: c, Compression: transport.CompressionNone,
		Progress: func(_ string, p *transport.Progress) {
			go func() {
				for p.Bytes() < 8<<20 {
					time.Sleep(20 * time.Millisecond)
				}
				must(t, recv.Process.Signal(syscall.SIGKILL))
				close(killed)
			}()
		}}
	_, err = s.Replicate(r.ctx, replication.Dataset{Source: ds, Snapshots: list, Target: "tank/k9r"})
	<-killed
	if err == nil {
		t.Fatal("replication survived kill -9 of the receiver")
	}
	c.Close()
	tgt := root + "/hv1/tank/k9r"
	waitToken(t, r, tgt) // the orphaned zfs receive sees its input end and keeps the partial state

	_, out = child(t, "receiver", pkiDir+" "+root)
	r.addr = waitLine(t, out, "addr", func(string) bool { return true })
	rep, err := r.replicate(ds, "tank/k9r", transport.CompressionNone)
	must(t, err)
	if len(rep.Steps) == 0 || rep.Steps[0].Step != "resume interrupted receive" {
		t.Fatalf("after restart: %+v, want a resume", rep.Steps)
	}
	zfstest.EqualSums(t, zfstest.TreeSums(t, mnt), zfstest.TreeSums(t, zfstest.Mountpoint(t, tgt)))
}

func TestRealKill9SenderMidStreamThenResume(t *testing.T) {
	r := newRig(t, 512)
	ds, mnt := bigDataset(t, r, "k9s")
	snd, out := child(t, "sender", strings.Join([]string{r.addr, filepath.Dir(r.files.CA), ds, "tank/k9s"}, " "))
	waitLine(t, out, "bytes", func(s string) bool { n, _ := strconv.Atoi(s); return n > 8<<20 })
	must(t, snd.Process.Signal(syscall.SIGKILL))
	tgt := r.dst + "/backup/hv1/tank/k9s"
	// At once, as a sender restarted by its supervisor would: the receiver's stream into the dataset may still be
	// draining, and its refusal (busy) must leave the interrupted receive to be resumed by the retry a job run
	// makes, not have the sender give the token up and send everything again.
	rep, err := r.replicateAsRetried(ds, "tank/k9s", transport.CompressionNone)
	must(t, err)
	if len(rep.Steps) == 0 || rep.Steps[0].Step != "resume interrupted receive" {
		t.Fatalf("after kill -9 of the sender: %+v, want a resume", rep.Steps)
	}
	zfstest.EqualSums(t, zfstest.TreeSums(t, mnt), zfstest.TreeSums(t, zfstest.Mountpoint(t, tgt)))
}

func busyRefusal(err error) bool {
	var re *transport.RemoteError
	return errors.As(err, &re) && re.Code == transport.CodeBusy
}
