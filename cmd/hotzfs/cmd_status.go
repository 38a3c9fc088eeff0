package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/job"
)

type statusOptions struct {
	config string
	json   bool
}

func newStatusCmd() *cobra.Command {
	var opts statusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the last run of each step of each job, and each dataset's latest snapshot and replication",
		Args:  positional(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.OutOrStdout(), opts, time.Now())
		},
	}
	cmd.Flags().StringVarP(&opts.config, "config", "c", "/etc/hotzfs/hotzfs.yaml", "sender config file")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print as JSON")
	return cmd
}

func runStatus(w io.Writer, opts statusOptions, now time.Time) error {
	cfg, err := config.LoadSender(opts.config)
	if err != nil {
		return usageError{err}
	}
	st, err := job.LoadStatus(cfg.StateDir)
	if err != nil {
		return err
	}
	if opts.json {
		return json.NewEncoder(w).Encode(st)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTEP\tLAST RUN\tRESULT\tLAST SUCCESS")
	for _, j := range cfg.Jobs {
		js, ok := st.Jobs[j.Name]
		if !ok {
			fmt.Fprintf(tw, "%s\t-\tnever\t-\t-\n", j.Name)
			continue
		}
		for _, step := range job.AllSteps.List() {
			s, ok := js.Steps[step]
			if !ok {
				fmt.Fprintf(tw, "%s\t%s\tnever\t-\t-\n", j.Name, step)
				continue
			}
			result := "ok"
			if s.Error != "" {
				result = "FAILED: " + firstLine(s.Error)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.Name, step, ago(now, s.LastRun), result, ago(now, s.LastSuccess))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tDATASET\tLAST SNAPSHOT\tREPLICATED\tLAG")
	for _, j := range cfg.Jobs {
		js := st.Jobs[j.Name]
		tracked := js.Tracked(j)
		for _, n := range tracked {
			d := js.Datasets[n]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.Name, n, orDash(d.LastSnapshot), orDash(d.ReplicatedSnap), lag(now, d))
		}
		for _, n := range slices.Sorted(maps.Keys(js.Datasets)) {
			if !slices.Contains(tracked, n) {
				d := js.Datasets[n]
				fmt.Fprintf(tw, "%s\t%s (not in the config)\t%s\t%s\t%s\n", j.Name, n, orDash(d.LastSnapshot),
					orDash(d.ReplicatedSnap), lag(now, d))
			}
		}
	}
	return tw.Flush()
}

// ago says how long before now t was: "5m0s ago", or "-" for the zero time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return age(now, t) + " ago"
}

// lag is the time since the dataset's target last got a new snapshot, "-" if never.
func lag(now time.Time, d job.DatasetStatus) string {
	if d.LastReplicated.IsZero() {
		return "-"
	}
	return age(now, d.LastReplicated)
}

func age(now, t time.Time) string { return now.Sub(t).Round(time.Second).String() }

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
