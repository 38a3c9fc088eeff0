package guest

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConnectErrors(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sock := filepath.Join(t.TempDir(), "no-libvirt-sock")
	_, err := Connect(ctx, Options{URI: "qemu+unix:///system?socket=" + sock})
	if err == nil || !strings.Contains(err.Error(), "is libvirtd running") || !strings.Contains(err.Error(), sock) {
		t.Errorf("connect to a missing socket: %v", err)
	}
	if _, err := Connect(ctx, Options{URI: "/var/run/libvirt/libvirt-sock"}); err == nil ||
		!strings.Contains(err.Error(), "no scheme") {
		t.Errorf("connect with a path instead of a URI: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Connect(canceled, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("connect with a canceled context: %v", err)
	}
}

// TestRealConnectOverTCP reaches libvirtd through the qemu+tcp:// form, via a loopback TCP proxy to the local
// socket (libvirtd itself need not listen on TCP for the test).
func TestRealConnectOverTCP(t *testing.T) {
	r := newRig(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				proxyToSocket(c, "/var/run/libvirt/libvirt-sock")
			}()
		}
	}()
	ctx := testCtx(t, 30*time.Second)
	c, err := Connect(ctx, Options{URI: "qemu+tcp://" + ln.Addr().String() + "/system"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want, err := r.c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.List(ctx)
	if err != nil || len(got) != len(want) {
		t.Fatalf("List over TCP = %v, %v; over the socket %v", got, err, want)
	}
}

func proxyToSocket(c net.Conn, sock string) {
	defer c.Close()
	u, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
	<-done
}
