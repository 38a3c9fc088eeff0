package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
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
		Short: "Show the last run of each job and each dataset's latest snapshot and replication",
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
	fmt.Fprintln(tw, "JOB\tDATASET\tLAST RUN\tRESULT\tLAST SNAPSHOT\tREPLICATED\tLAG")
	for _, j := range cfg.Jobs {
		js, ok := st.Jobs[j.Name]
		if !ok {
			fmt.Fprintf(tw, "%s\t-\tnever\t-\t-\t-\t-\n", j.Name)
			continue
		}
		result := "ok"
		if js.Error != "" {
			result = "FAILED: " + firstLine(js.Error)
		}
		names := make([]string, 0, len(js.Datasets))
		for n := range js.Datasets {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 {
			fmt.Fprintf(tw, "%s\t-\t%s ago\t%s\t-\t-\t-\n", j.Name, age(now, js.LastRun), result)
		}
		for _, n := range names {
			d := js.Datasets[n]
			lag := "-"
			if !d.LastReplicated.IsZero() {
				lag = age(now, d.LastReplicated)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s ago\t%s\t%s\t%s\t%s\n", j.Name, n, age(now, js.LastRun), result,
				orDash(d.LastSnapshot), orDash(d.ReplicatedSnap), lag)
		}
	}
	return tw.Flush()
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
