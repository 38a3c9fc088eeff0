package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hotzfs/hotzfs/config"
)

func newConfigCmd() *cobra.Command {
	cmd := commandGroup(&cobra.Command{Use: "config", Short: "Work with configuration files"})
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a sender or receiver config: syntax, values, references and readable files",
		Args:  positional("the sender or receiver config to check"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfigCheck(cmd.OutOrStdout(), args[0])
		},
	})
	return cmd
}

func runConfigCheck(w io.Writer, path string) error {
	kind, err := config.Check(path)
	if err != nil {
		return usageError{err}
	}
	_, err = fmt.Fprintf(w, "%s: valid %s config\n", path, kind)
	return err
}
