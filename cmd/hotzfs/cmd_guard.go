package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/hotzfs/hotzfs/snapshot"
)

// guardCommand is the hidden subcommand the freeze watchdog runs as (hotzfs re-executes itself).
const guardCommand = "__freeze-guard"

func newGuardCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:    guardCommand,
		Hidden: true,
		Args:   positional(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return snapshot.RunGuard(cmd.Context(), os.Stdin, os.Stdout, g.logger())
		},
	}
}

// guardScopes numbers the watchdog scopes of this process.
var guardScopes atomic.Int64

// guardWrap returns, when hotzfs runs inside a systemd service, a function giving the command prefix that
// starts each watchdog in a transient systemd scope of its own; nil otherwise.
//
// Why: the shipped units use KillMode=mixed. When hotzfs dies (a crash, the OOM killer, SIGKILL) systemd
// SIGKILLs every process left in the unit's cgroup, so a watchdog started there dies with it and a frozen guest
// stays frozen. `systemd-run --scope` asks systemd to move the process into a new scope unit and then execs the
// watchdog: it stays our child with the same pipes (EOF on its stdin still tells it that we died), but no kill
// of our unit reaches it. The scope ends with the watchdog (after "done", or after its thaw, at most its thaw
// timeout), and --collect unloads it even if it failed. The alternatives are worse: KillMode=process would
// leave zfs send/receive processes running after a crash, and an always-on watchdog service would need its own
// channel and a unit every user must enable. If systemd-run cannot start the scope, the watchdog does not start
// and the guests are not frozen (a crash-consistent snapshot, or a failure under quiesce: required).
func guardWrap(log *slog.Logger) func() []string {
	if !inSystemdService("/run/systemd/system", "/proc/self/cgroup", log) {
		return nil
	}
	if _, err := exec.LookPath("systemd-run"); err != nil {
		log.Warn("hotzfs runs in a systemd service but systemd-run is not on PATH: the freeze watchdog cannot "+
			"leave the unit's cgroup, so no guest will be frozen; add the systemd binaries' directory to PATH",
			"error", err)
	}
	return func() []string {
		unit := fmt.Sprintf("hotzfs-guard-%d-%d", os.Getpid(), guardScopes.Add(1))
		wrap := []string{"systemd-run", "--scope", "--quiet", "--collect", "--unit=" + unit,
			"--description=hotzfs freeze watchdog: thaws the guests if hotzfs dies"}
		if os.Geteuid() != 0 {
			wrap = append(wrap, "--user")
		}
		return append(wrap, "--")
	}
}

// inSystemdService reports whether systemd runs the system (its runtime directory exists) and this process
// is in the cgroup of a service unit (a path component of /proc/self/cgroup ending in .service).
func inSystemdService(runtimeDir, cgroupFile string, log *slog.Logger) bool {
	if fi, err := os.Stat(runtimeDir); err != nil || !fi.IsDir() {
		return false
	}
	f, err := os.Open(cgroupFile)
	if err != nil {
		return false
	}
	defer f.Close()
	in, err := serviceCgroup(f)
	if err != nil {
		log.Warn("the freeze watchdog starts in this process's cgroup", "file", cgroupFile, "error", err)
	}
	return in
}

// serviceCgroup reads a /proc/PID/cgroup file ("0::/system.slice/hotzfs-daemon.service" on cgroup v2,
// "1:name=systemd:/system.slice/…" on v1) and reports whether a path names a .service unit.
func serviceCgroup(r io.Reader) (bool, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[2], "/") {
			if strings.HasSuffix(c, ".service") {
				return true, nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return false, errors.Join(errors.New("cannot tell whether hotzfs runs in a systemd service"), err)
	}
	return false, nil
}
