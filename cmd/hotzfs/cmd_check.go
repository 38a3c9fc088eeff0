package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/job"
)

// Monitoring exit codes (Nagios plugin convention).
const (
	checkOK       = 0
	checkWarning  = 1
	checkCritical = 2
	checkUnknown  = 3
)

type checkOptions struct {
	config   string
	warning  time.Duration
	critical time.Duration
}

func newCheckCmd() *cobra.Command {
	var opts checkOptions
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Monitoring check: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN on backup age and replication lag",
		Long: `check reads the status the jobs record and judges each dataset by the age of its last successful
replication (and each job by its last run). It prints one line and exits like a Nagios plugin:
0 OK, 1 WARNING (a lag over --warning), 2 CRITICAL (over --critical, a failed last run, or a dataset never
replicated), 3 UNKNOWN (no readable config or status).`,
		Args: positional(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			code, msg := runCheck(opts, time.Now())
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			if code != checkOK {
				return exitError{code: code}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&opts.config, "config", "c", "/etc/hotzfs/hotzfs.yaml", "sender config file")
	cmd.Flags().DurationVar(&opts.warning, "warning", 2*time.Hour, "replication lag that is a warning")
	cmd.Flags().DurationVar(&opts.critical, "critical", 24*time.Hour, "replication lag that is critical")
	return cmd
}

// runCheck returns the exit code and the one-line message.
func runCheck(opts checkOptions, now time.Time) (int, string) {
	cfg, err := config.LoadSender(opts.config)
	if err != nil {
		return checkUnknown, "HOTZFS UNKNOWN - " + firstLine(err.Error())
	}
	st, err := job.LoadStatus(cfg.StateDir)
	if err != nil {
		return checkUnknown, "HOTZFS UNKNOWN - " + firstLine(err.Error())
	}
	code := checkOK
	var problems []string
	worse := func(c int, msg string) {
		code = max(code, c)
		problems = append(problems, msg)
	}
	datasets := 0
	for _, j := range cfg.Jobs {
		js, ok := st.Jobs[j.Name]
		if !ok {
			worse(checkCritical, fmt.Sprintf("job %s never ran", j.Name))
			continue
		}
		if js.Error != "" {
			worse(checkCritical, fmt.Sprintf("job %s failed %s ago: %s", j.Name, age(now, js.LastRun), firstLine(js.Error)))
		}
		names := make([]string, 0, len(js.Datasets))
		for n := range js.Datasets {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			datasets++
			d := js.Datasets[n]
			lag := now.Sub(d.LastReplicated)
			switch {
			case d.LastReplicated.IsZero():
				worse(checkCritical, fmt.Sprintf("%s never replicated", n))
			case lag > opts.critical:
				worse(checkCritical, fmt.Sprintf("%s last replicated %s ago", n, age(now, d.LastReplicated)))
			case lag > opts.warning:
				worse(checkWarning, fmt.Sprintf("%s last replicated %s ago", n, age(now, d.LastReplicated)))
			}
		}
	}
	label := map[int]string{checkOK: "OK", checkWarning: "WARNING", checkCritical: "CRITICAL"}[code]
	if code == checkOK {
		return code, fmt.Sprintf("HOTZFS OK - %d job(s), %d dataset(s) replicated within %s", len(cfg.Jobs), datasets, opts.warning)
	}
	return code, "HOTZFS " + label + " - " + strings.Join(problems, "; ")
}
