package main

import (
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// globalOptions are the flags every command has.
type globalOptions struct {
	logLevel  choice
	logFormat choice
	readyFile string    // hidden: write the listen address here once listening (tests, demo)
	stderr    io.Writer // where logs go: the running command's stderr
}

// logLevels are the values --log-level takes.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

func (g *globalOptions) register(cmd *cobra.Command) {
	g.logLevel = choice{value: "info", allowed: []string{"debug", "info", "warn", "error"}}
	g.logFormat = choice{value: "auto", allowed: []string{"text", "json", "auto"}}
	f := cmd.PersistentFlags()
	f.Var(&g.logLevel, "log-level", "debug, info, warn or error")
	f.Var(&g.logFormat, "log-format", "text, json, or auto (text on a terminal, JSON otherwise)")
	f.StringVar(&g.readyFile, "ready-file", "", "write the listen address to this file once listening")
	_ = f.MarkHidden("ready-file")
}

// logger builds the slog logger the flags ask for; logs go to stderr.
func (g *globalOptions) logger() *slog.Logger {
	w := g.stderr
	opts := &slog.HandlerOptions{Level: logLevels[g.logLevel.value]}
	format := g.logFormat.value
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
