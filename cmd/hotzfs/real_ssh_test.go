package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/internal/zfstest"
)

// TestRealSSHTargetBackupAndRestore runs the ssh transport for real: OpenSSH's sshd on loopback with an
// authorized_keys forced command (`hotzfs serve --stdio --client hv1`), the ssh client started by hotzfs
// with a pinned host key. Two backups and a restore go through it; the data lands under the client the
// forced command names, whatever command the sender asks for.
func TestRealSSHTargetBackupAndRestore(t *testing.T) {
	p := newPools(t, 6, 256<<10)
	ctx, z, src, dst, ds, mnt := p.ctx, p.z, p.src, p.dst, p.ds, p.mnt
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}

	dir := t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "client"))
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "hostkey"))

	recvCfg := filepath.Join(dir, "receiver.yaml")
	writeTestFile(t, recvCfg, fmt.Sprintf("root: %s/backup\nclients:\n  hv1: {}\n", dst))
	if err := z.CreateFilesystem(ctx, dst+"/backup", nil); err != nil { // serve does not start without its root
		t.Fatal(err)
	}
	clientPub := readTestFile(t, filepath.Join(dir, "client.pub"))
	// The forced command runs this test binary as hotzfs (TestMain), as authorized_keys would run hotzfs.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	forced := fmt.Sprintf("env %s=1 %s serve --stdio --config %s --client hv1 --log-format json", envExecMain,
		self, recvCfg)
	writeTestFile(t, filepath.Join(dir, "authorized_keys"), fmt.Sprintf("command=%q,restrict %s", forced, clientPub))

	port := freeLoopbackPort(t)
	sshdCfg := filepath.Join(dir, "sshd_config")
	writeTestFile(t, sshdCfg, fmt.Sprintf(`ListenAddress 127.0.0.1
Port %d
HostKey %s
AuthorizedKeysFile %s
PidFile %s
StrictModes no
PermitRootLogin forced-commands-only
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
`, port, filepath.Join(dir, "hostkey"), filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid")))
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // sshd's privilege separation directory
		t.Fatal(err)
	}
	var sshdLog bytes.Buffer
	daemon := exec.Command(sshd, "-D", "-e", "-f", sshdCfg)
	daemon.Stdout, daemon.Stderr = &sshdLog, &sshdLog
	if err := daemon.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	defer func() {
		_ = daemon.Process.Kill()
		_ = daemon.Wait()
		if t.Failed() {
			t.Logf("sshd log:\n%s", sshdLog.String())
		}
	}()
	waitPort(t, port)
	writeTestFile(t, filepath.Join(dir, "known_hosts"), fmt.Sprintf("[127.0.0.1]:%d %s", port,
		readTestFile(t, filepath.Join(dir, "hostkey.pub"))))

	cfg := filepath.Join(dir, "hotzfs.yaml")
	writeTestFile(t, cfg, fmt.Sprintf(`state_dir: %s/state
targets:
  backup:
    ssh: root@127.0.0.1
    port: %d
    identity: %s/client
    known_hosts: %s/known_hosts
    command: hotzfs serve --stdio --client evil
jobs:
  - name: j
    datasets: [%s]
    target: backup
    compression: fastest
`, dir, port, dir, dir, ds))

	hotzfs := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(os.Args[0], append(args, "--config", cfg, "--log-format", "text")...)
		cmd.Env = append(os.Environ(), envExecMain+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("hotzfs %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	hotzfs("backup")
	zfstest.WriteFile(t, filepath.Join(mnt, "later.bin"), 9, 512<<10)
	if err := os.Remove(filepath.Join(mnt, "d0", "f000")); err != nil {
		t.Fatal(err)
	}
	hotzfs("backup")
	want := zfstest.TreeSums(t, mnt)

	remote := snapshotsOf(t, ctx, z, dst+"/backup/hv1/"+ds)
	if len(remote) != 2 {
		t.Fatalf("the receiver holds %d snapshots of %s under hv1, want 2", len(remote), ds)
	}
	if ok, err := z.Exists(ctx, dst+"/backup/evil"); err != nil || ok {
		t.Fatalf("a dataset for the client the sender asked for exists (%v, %v): the forced command did not pin it", ok, err)
	}
	hotzfs("restore", ds, "--into", src+"/restored")
	zfstest.EqualSums(t, want, zfstest.TreeSums(t, zfstest.Mountpoint(t, src+"/restored")))

	// A host key that is not the pinned one is refused: nothing is sent.
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "other"))
	writeTestFile(t, filepath.Join(dir, "known_hosts"), fmt.Sprintf("[127.0.0.1]:%d %s", port,
		readTestFile(t, filepath.Join(dir, "other.pub"))))
	cmd := exec.Command(os.Args[0], "replicate", "--config", cfg, "--log-format", "text")
	cmd.Env = append(os.Environ(), envExecMain+"=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Host key verification failed") {
		t.Fatalf("replicate with a wrong pinned host key: err %v; want ssh's host key refusal\n%s", err, out)
	}
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPort(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on 127.0.0.1:%d after 30 s", port)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readTestFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
