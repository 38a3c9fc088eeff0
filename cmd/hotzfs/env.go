package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/guest"
	"github.com/hotzfs/hotzfs/job"
	"github.com/hotzfs/hotzfs/replication"
	"github.com/hotzfs/hotzfs/snapshot"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/transport/tlsconf"
	"github.com/hotzfs/hotzfs/zfs"
)

// senderEnv loads the sender config and wires the systems a job needs.
func senderEnv(g *globalOptions, path string) (job.Env, error) {
	cfg, err := config.LoadSender(path)
	if err != nil {
		return job.Env{}, usageError{err}
	}
	log := g.logger()
	env := job.Env{ZFS: zfs.NewRunner(log), Log: log, Config: cfg}
	env.Dial = func(ctx context.Context, name string) (*replication.Client, error) {
		t, ok := cfg.Targets[name]
		if !ok {
			return nil, fmt.Errorf("no target %q in %s", name, cfg.File())
		}
		return dialTarget(ctx, t)
	}
	env.Guests = func(ctx context.Context) (*guest.Client, error) {
		return guest.Connect(ctx, guest.Options{URI: cfg.Libvirt.URI, Logger: log})
	}
	env.Guard = &snapshot.GuardSpec{URI: cfg.Libvirt.URI, Args: []string{guardCommand}, Wrap: guardWrap(log)}
	return env, nil
}

// dialTarget connects to a receiver over TLS, or runs ssh with the remote `hotzfs serve --stdio`.
func dialTarget(ctx context.Context, t config.Target) (*replication.Client, error) {
	host, _ := os.Hostname()
	if t.Kind() == config.TargetSSH {
		return dialSSH(ctx, t, host)
	}
	serverName := t.ServerName
	if serverName == "" {
		serverName, _, _ = net.SplitHostPort(t.Address)
	}
	conf, err := tlsconf.LoadClient(tlsconf.Files{CA: t.CA, Cert: t.Cert, Key: t.Key}, serverName, time.Now())
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", t.Address)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w (is `hotzfs serve` running there, and the port open?)", t.Address, err)
	}
	c := tls.Client(transport.Buffered(raw), conf)
	hctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	if err := c.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("connect to %s: TLS handshake: %w", t.Address, err)
	}
	return replication.NewClient(ctx, c, host, currentVersion().Version)
}

func dialSSH(ctx context.Context, t config.Target, host string) (*replication.Client, error) {
	args := []string{"-o", "BatchMode=yes", "-o", "ServerAliveInterval=15", "-p", strconv.Itoa(t.Port)}
	if t.Identity != "" {
		args = append(args, "-i", t.Identity)
	}
	if t.KnownHosts != "" {
		args = append(args, "-o", "UserKnownHostsFile="+t.KnownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
			"-o", "StrictHostKeyChecking=yes")
	}
	args = append(args, "--", t.SSH)
	args = append(args, strings.Fields(t.Command)...)
	cmd := exec.Command("ssh", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ssh: %w", err)
	}
	conn := transport.NewStdioConn(stdout, &sshCloser{stdin: stdin, cmd: cmd})
	return replication.NewClient(ctx, conn, host, currentVersion().Version)
}

// sshCloser ends the ssh session when the connection is closed.
type sshCloser struct {
	stdin interface {
		Write([]byte) (int, error)
		Close() error
	}
	cmd *exec.Cmd
}

func (s *sshCloser) Write(p []byte) (int, error) { return s.stdin.Write(p) }

func (s *sshCloser) Close() error {
	err := s.stdin.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	return err
}

// selectJobs returns the named jobs, or all of them.
func selectJobs(cfg *config.Sender, names []string) ([]config.Job, error) {
	if len(names) == 0 {
		return cfg.Jobs, nil
	}
	var out []config.Job
	for _, n := range names {
		found := false
		for _, j := range cfg.Jobs {
			if j.Name == n {
				out, found = append(out, j), true
			}
		}
		if !found {
			var known []string
			for _, j := range cfg.Jobs {
				known = append(known, j.Name)
			}
			return nil, usagef("no job %q in %s (jobs: %s)", n, cfg.File(), strings.Join(known, ", "))
		}
	}
	return out, nil
}
