package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotzfs/hotzfs/job"
	"github.com/hotzfs/hotzfs/snapshot"
	"github.com/hotzfs/hotzfs/zfs"
)

type listOptions struct {
	config string
	remote bool
	json   bool
}

func newListCmd(g *globalOptions) *cobra.Command {
	var opts listOptions
	cmd := &cobra.Command{
		Use:   "list [JOB...]",
		Short: "List the jobs' snapshots here, or on their targets with --remote",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runList(cmd.Context(), g, cmd.OutOrStdout(), opts, args)
		},
	}
	cmd.Flags().StringVarP(&opts.config, "config", "c", "/etc/hotzfs/hotzfs.yaml", "sender config file")
	cmd.Flags().BoolVar(&opts.remote, "remote", false, "list what the targets hold")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print as JSON")
	return cmd
}

type listRow struct {
	Job         string    `json:"job"`
	Side        string    `json:"side"`
	Dataset     string    `json:"dataset"`
	Snapshot    string    `json:"snapshot"`
	GUID        uint64    `json:"guid,string"`
	Consistency string    `json:"consistency,omitempty"`
	Size        uint64    `json:"size"`
	Created     time.Time `json:"created"`
}

func runList(ctx context.Context, g *globalOptions, w io.Writer, opts listOptions, names []string) error {
	env, err := senderEnv(g, opts.config)
	if err != nil {
		return err
	}
	jobs, err := selectJobs(env.Config, names)
	if err != nil {
		return err
	}
	var rows []listRow
	for _, j := range jobs {
		var r []listRow
		if opts.remote {
			r, err = remoteRows(ctx, env, j.Name, j.Target)
		} else {
			r, err = localRows(ctx, env, j.Name, j.Datasets)
		}
		if err != nil {
			return fmt.Errorf("job %q: %w", j.Name, err)
		}
		rows = append(rows, r...)
	}
	if opts.json {
		return json.NewEncoder(w).Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSIDE\tDATASET\tSNAPSHOT\tCONSISTENCY\tSIZE\tAGE")
	now := time.Now()
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Job, r.Side, r.Dataset, r.Snapshot, orDash(r.Consistency),
			humanBytes(r.Size), now.Sub(r.Created).Round(time.Second))
	}
	return tw.Flush()
}

func localRows(ctx context.Context, env job.Env, jobName string, datasets []string) ([]listRow, error) {
	if len(datasets) == 0 {
		return nil, nil
	}
	list, err := env.ZFS.List(ctx, datasets, zfs.ListOptions{Types: []zfs.Type{zfs.Snapshot}, Depth: 1,
		UserProps: []string{snapshot.PropConsistency}})
	if err != nil {
		return nil, err
	}
	var rows []listRow
	for _, d := range list {
		rows = append(rows, listRow{Job: jobName, Side: "local", Dataset: d.Dataset(), Snapshot: d.Short(), GUID: d.GUID,
			Consistency: d.Props[snapshot.PropConsistency], Size: d.Referenced, Created: d.Creation})
	}
	return rows, nil
}

func remoteRows(ctx context.Context, env job.Env, jobName, target string) ([]listRow, error) {
	client, err := env.Dial(ctx, target)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	infos, err := client.List(nil)
	if err != nil {
		return nil, err
	}
	var rows []listRow
	for _, info := range infos {
		for _, s := range info.Snapshots {
			rows = append(rows, listRow{Job: jobName, Side: target, Dataset: info.Name, Snapshot: s.Name, GUID: s.GUID,
				Consistency: s.Consistency, Size: s.Size, Created: s.Creation})
		}
	}
	return rows, nil
}
