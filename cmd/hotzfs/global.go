package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// globalOptions are the flags every command has.
type globalOptions struct {
	logLevel  string
	logFormat string
	readyFile string // hidden: write the listen address here once listening (tests, demo)
}

func (g *globalOptions) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&g.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&g.logFormat, "log-format", "auto", "text, json, or auto (text on a terminal, JSON otherwise)")
	f.StringVar(&g.readyFile, "ready-file", "", "write the listen address to this file once listening")
	_ = f.MarkHidden("ready-file")
}

// logger builds the slog logger the flags ask for; logs go to stderr.
func (g *globalOptions) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	format := g.logFormat
	if format == "auto" {
		format = "json"
		if term.IsTerminal(int(os.Stderr.Fd())) {
			format = "text"
		}
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
