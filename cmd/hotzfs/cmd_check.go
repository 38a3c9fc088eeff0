package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/job"
	"github.com/hotzfs/hotzfs/retention"
	"github.com/hotzfs/hotzfs/zfs"
)

type checkOptions struct {
	config   string
	receiver bool // check the receiver (its clients, pool and certificates) instead of the sender
	jobs     []string
	warning  time.Duration // age of the newest backup that is a warning
	critical time.Duration // and that is critical
	pools    bool          // judge the health and capacity of the pools the backups live on
	// capacityWarning and capacityCritical are the percentages of a pool allocated that are a warning and
	// critical.
	capacityWarning, capacityCritical int
	certs                             bool // judge the expiry of the TLS certificates the config names
	// certWarning and certCritical are how long before a certificate expires that is a warning and critical.
	certWarning, certCritical time.Duration
}

// checkSystems are what check reads besides files; *zfs.Runner is one.
type checkSystems interface {
	PoolHealth(ctx context.Context) ([]zfs.PoolStatus, error)
	List(ctx context.Context, roots []string, opts zfs.ListOptions) ([]zfs.Dataset, error)
}

const checkLong = `check is a monitoring plugin (Nagios, Icinga, Checkmk, ...). It reads the status the runs record and
judges each job by the latest run of each step (a failed snapshot or replicate is CRITICAL, a failed prune
a WARNING) and each dataset of the job by the age of its last replication and its last snapshot (over
--warning: WARNING, over --critical or never replicated: CRITICAL). Datasets the config no longer names are
not judged. With --pools (the default) it also judges the pools those datasets live on: DEGRADED is a
WARNING, any other state but ONLINE CRITICAL, and so is a pool not imported; a capacity (allocated of size)
at or over --capacity-warning or --capacity-critical likewise. With --certs (the default) it judges the TLS
certificates the config names (the CA and the certificate of each target): expired or within --cert-critical
CRITICAL, within --cert-warning a WARNING. It prints one line, the performance data after '|', and exits:
  0 OK, 1 WARNING, 2 CRITICAL,
  3 UNKNOWN: the command line is wrong, or something could not be read (the config, the status, the
    pools, a certificate) and nothing found is worse.
With --receiver it checks the receiver instead (-c defaults to ` + defaultReceiverConfig + `): each client by the
age of its newest snapshot there (over --warning: WARNING, over --critical or none: CRITICAL), the pool of its
root, and its TLS certificates.
Durations take the config's units: 90m, 36h, 2d, 1w.`

func newCheckCmd() *cobra.Command {
	var opts checkOptions
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Monitoring plugin: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN on failed steps and backup age",
		Long:  checkLong,
		Args: func(cmd *cobra.Command, args []string) error {
			return checkUsage(cmd, positional()(cmd, args))
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.receiver && !cmd.Flags().Changed("config") {
				opts.config = defaultReceiverConfig
			}
			code, msg := runCheck(cmd.Context(), opts, zfs.NewRunner(nil), time.Now())
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			if code != checkOK {
				return exitError{code: code}
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(checkUsage)
	f := cmd.Flags()
	f.StringVarP(&opts.config, "config", "c", "/etc/hotzfs/hotzfs.yaml", "sender config file (with --receiver: the receiver's, default "+defaultReceiverConfig+")")
	f.BoolVar(&opts.receiver, "receiver", false, "check the receiver: each client by the age of its newest backup there")
	f.StringSliceVar(&opts.jobs, "job", nil, "check only these jobs (repeat, or separate with commas)")
	opts.warning, opts.critical = 2*time.Hour, 24*time.Hour
	f.Var((*flagDuration)(&opts.warning), "warning", "age of the last replication or snapshot that is a warning")
	f.Var((*flagDuration)(&opts.critical), "critical", "age of the last replication or snapshot that is critical")
	f.BoolVar(&opts.pools, "pools", true, "judge the health and capacity of the pools (--pools=false: leave them out)")
	f.IntVar(&opts.capacityWarning, "capacity-warning", 80, "percentage of a pool allocated that is a warning")
	f.IntVar(&opts.capacityCritical, "capacity-critical", 90, "percentage of a pool allocated that is critical")
	f.BoolVar(&opts.certs, "certs", true, "judge the expiry of the TLS certificates (--certs=false: leave them out)")
	opts.certWarning, opts.certCritical = 30*24*time.Hour, 7*24*time.Hour
	f.Var((*flagDuration)(&opts.certWarning), "cert-warning", "how long before a certificate expires is a warning")
	f.Var((*flagDuration)(&opts.certCritical), "cert-critical", "how long before a certificate expires is critical")
	return cmd
}

// checkUsage turns a wrong command line into the plugin's UNKNOWN: the line on stdout, exit 3.
func checkUsage(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	_, msg := unknown(fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath()))
	fmt.Fprintln(cmd.OutOrStdout(), msg)
	return exitError{code: checkUnknown}
}

// defaultReceiverConfig is the config check --receiver reads unless told otherwise.
const defaultReceiverConfig = "/etc/hotzfs/receiver.yaml"

// validate refuses thresholds in the wrong order, and options of the other side.
func (o checkOptions) validate() error {
	if o.receiver && len(o.jobs) > 0 {
		return errors.New("--job is for the sender; check --receiver judges every client of the receiver")
	}
	if o.warning > o.critical {
		return fmt.Errorf("--warning %s is longer than --critical %s; the warning must come first",
			config.Duration(o.warning), config.Duration(o.critical))
	}
	if o.capacityWarning < 1 || o.capacityWarning > o.capacityCritical || o.capacityCritical > 100 {
		return fmt.Errorf("--capacity-warning %d and --capacity-critical %d: use percentages with 1 <= warning <= critical <= 100",
			o.capacityWarning, o.capacityCritical)
	}
	if o.certCritical > o.certWarning {
		return fmt.Errorf("--cert-critical %s is longer than --cert-warning %s; the warning must come first",
			config.Duration(o.certCritical), config.Duration(o.certWarning))
	}
	return nil
}

// runCheck returns the exit code and the plugin's line.
func runCheck(ctx context.Context, opts checkOptions, sys checkSystems, now time.Time) (int, string) {
	if err := opts.validate(); err != nil {
		return unknown(err)
	}
	if opts.receiver {
		return runReceiverCheck(ctx, opts, sys, now)
	}
	cfg, err := config.LoadSender(opts.config)
	if err != nil {
		return unknown(err)
	}
	jobs, err := selectJobs(cfg, opts.jobs)
	if err != nil {
		return unknown(err)
	}
	st, err := job.LoadStatus(cfg.StateDir)
	if err != nil {
		return unknown(err)
	}
	var v verdict
	datasets := judgeJobs(&v, jobs, st, now, opts)
	if opts.pools && len(datasets) > 0 {
		var names []string
		for _, ds := range datasets {
			names = append(names, zfs.Pool(ds))
		}
		judgeSystemPools(ctx, &v, sys, names, opts)
	}
	if opts.certs {
		judgeCerts(&v, senderCertFiles(cfg, jobs), now, opts)
	}
	return v.state, v.line()
}

// judgeSystemPools reads the pools and judges those named; pools that cannot be read are UNKNOWN.
func judgeSystemPools(ctx context.Context, v *verdict, sys checkSystems, names []string, opts checkOptions) {
	pools, err := sys.PoolHealth(ctx)
	if err != nil {
		v.add(checkUnknown, "cannot read the pools (--pools=false leaves them out): %s", firstLine(err.Error()))
		return
	}
	judgePools(v, pools, names, opts)
}

// flagDuration is a flag holding a duration in the config's grammar: "90m", "36h", "2d", "1w".
type flagDuration time.Duration

func (d *flagDuration) String() string { return config.Duration(*d).String() }
func (d *flagDuration) Type() string   { return "duration" }

func (d *flagDuration) Set(s string) error {
	v, err := retention.ParseDurationTerms(s)
	if err != nil {
		return errors.New(firstLine(err.Error()))
	}
	*d = flagDuration(v)
	return nil
}
