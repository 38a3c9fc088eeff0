package main

import (
	"strings"
	"testing"
)

func TestServiceCgroup(t *testing.T) {
	for _, c := range []struct {
		file string
		want bool
	}{
		{"0::/system.slice/hotzfs-daemon.service\n", true},
		{"12:pids:/\n1:name=systemd:/system.slice/hotzfs-backup.service\n0::/system.slice/hotzfs-backup.service\n", true},
		{"0::/user.slice/user-0.slice/session-3.scope\n", false},
		{"0::/system.slice/hotzfs-guard-1-1.scope\n", false},
		{"0::/\n", false},
		{"", false},
	} {
		got, err := serviceCgroup(strings.NewReader(c.file))
		if err != nil || got != c.want {
			t.Errorf("serviceCgroup(%q) = %v, %v; want %v", c.file, got, err, c.want)
		}
	}
}
