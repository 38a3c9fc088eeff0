package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/hotzfs/hotzfs/snapshot"
)

// guardCommand is the hidden subcommand the freeze watchdog runs as (hotzfs re-executes itself).
const guardCommand = "__freeze-guard"

func newGuardCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:    guardCommand,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return snapshot.RunGuard(cmd.Context(), os.Stdin, os.Stdout, g.logger())
		},
	}
}
