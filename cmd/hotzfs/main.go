// Command hotzfs makes hot backups of libvirt guests on ZFS and replicates them to a receiver.
//
// One binary is the sender (backup, daemon), the receiver (serve) and the restore tool (restore, failover).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hotzfs/hotzfs/job"
)

// Exit codes, one table for every command. check uses its own monitoring codes (0/1/2/3), documented there.
const (
	exitOK       = 0
	exitFailure  = 1   // the operation failed
	exitUsage    = 2   // bad arguments or configuration
	exitPartial  = 3   // some jobs or datasets failed, others succeeded
	exitLocked   = 4   // another hotzfs run holds the job's lock (failback, migrate; the job commands skip the job)
	exitCanceled = 130 // SIGINT or SIGTERM
)

const exitCodesHelp = `Exit codes:
  0    success
  1    the operation failed
  2    bad arguments or configuration
  3    partial failure: some jobs or datasets failed
  4    another hotzfs run holds the job's lock (failback, migrate); backup, snapshot,
       replicate and prune skip a locked job instead: "skipped, already running", exit 0
  130  interrupted (SIGINT, e.g. Ctrl-C, or SIGTERM)
check exits as a monitoring plugin instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
(also for a wrong command line); see hotzfs check --help.`

// usageError marks errors caused by the user's input; main exits with exitUsage for them.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitError carries a specific exit code, e.g. from check.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}
func (e exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile, err := startProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hotzfs:", err)
		os.Exit(exitFailure)
	}
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopProfile()
	os.Exit(code)
}

// execute runs one command line and returns its exit code, having printed its error, if any, to stderr.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return exitCode(ctx, root.ExecuteContext(ctx), stderr)
}

// exitCode prints err and returns its code in the table. An error after SIGINT or SIGTERM is an interruption,
// whatever it says.
func exitCode(ctx context.Context, err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	if ctx.Err() != nil {
		msg := fmt.Sprintf("interrupted (%v)", context.Cause(ctx))
		if !errors.Is(err, errInterrupted) {
			msg += ": " + err.Error()
		}
		fmt.Fprintln(stderr, "hotzfs:", msg)
		return exitCanceled
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, "hotzfs:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "hotzfs:", err)
	var ue usageError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, job.ErrLocked):
		return exitLocked
	}
	return exitFailure
}

func newRootCmd() *cobra.Command {
	g := &globalOptions{}
	root := commandGroup(&cobra.Command{
		Use:           "hotzfs",
		Short:         "Hot backup and replication of libvirt guests on ZFS",
		Long:          "hotzfs freezes libvirt guests through the qemu-guest-agent, takes one atomic ZFS snapshot of all their\ndisks, thaws them at once, and streams incremental zfs send diffs, zstd-compressed, to a receiver.\n\n" + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Before cobra's own checks of required flags, whose errors are not usage errors.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.stderr = cmd.ErrOrStderr()
			return requiredFlags(cmd)
		},
	})
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	g.register(root)
	root.AddCommand(newVersionCmd(), newServeCmd(g), newCertsCmd(), newConfigCmd(), newGuardCmd(g),
		newRestoreCmd(g), newListCmd(g), newDaemonCmd(g), newStatusCmd(), newCheckCmd(), newFailoverCmd(g), newFailbackCmd(g), newMigrateCmd(g),
		newRunCmd(g, "backup", "Snapshot, replicate and prune the configured jobs (all, or those named): the one-shot for cron", job.AllSteps),
		newRunCmd(g, "snapshot", "Take the jobs' snapshots (guests quiesced) without replicating", job.Steps{Snapshot: true}),
		newRunCmd(g, "replicate", "Send the jobs' snapshots to their targets", job.Steps{Replicate: true}),
		newRunCmd(g, "prune", "Apply the jobs' retention on both sides; --dry-run prints the plan with reasons", job.Steps{Prune: true}))
	return root
}
