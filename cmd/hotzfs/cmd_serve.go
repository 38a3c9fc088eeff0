package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/receiver"
	"github.com/hotzfs/hotzfs/retention"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/transport/tlsconf"
	"github.com/hotzfs/hotzfs/zfs"
)

type serveOptions struct {
	config string
	stdio  bool
	client string
}

func newServeCmd(g *globalOptions) *cobra.Command {
	var opts serveOptions
	cmd := &cobra.Command{
		Use:   "serve --config receiver.yaml [--stdio --client NAME]",
		Short: "Run the receiver: accept backups over mTLS, or one ssh session on stdin/stdout",
		Long: `serve runs the receiver daemon. Each client (certificate CN, or --client for ssh) is confined to
ROOT/<client>. It does not start without zfs or without ROOT (create it once: zfs create ROOT). With
--stdio it serves one session on stdin/stdout, for an authorized_keys forced command:
  command="hotzfs serve --stdio --config /etc/hotzfs/receiver.yaml --client web01",no-pty,... ssh-ed25519 ...`,
		Args: positional(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), g, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.config, "config", "c", "/etc/hotzfs/receiver.yaml", "receiver config file")
	cmd.Flags().BoolVar(&opts.stdio, "stdio", false, "serve one session on stdin/stdout (ssh forced command)")
	cmd.Flags().StringVar(&opts.client, "client", "", "client name for --stdio (fixed by the forced command)")
	return cmd
}

func runServe(ctx context.Context, g *globalOptions, opts serveOptions) error {
	cfg, err := config.LoadReceiver(opts.config)
	if err != nil {
		return usageError{err}
	}
	if opts.stdio != (opts.client != "") {
		return usagef("--stdio and --client go together")
	}
	log := g.logger()
	ropts := receiver.Options{Root: cfg.Root,
		MaxStreams: cfg.MaxStreams, MaxStreamsPerClient: cfg.MaxStreamsPerClient,
		MaxConnections: cfg.MaxConnections, MaxConnectionsPerClient: cfg.MaxConnectionsPerClient,
		IdleTimeout: time.Duration(cfg.IdleTimeout), RequestTimeout: time.Duration(cfg.RequestTimeout),
		HelloTimeout: time.Duration(cfg.HelloTimeout), StallTimeout: time.Duration(cfg.StallTimeout),
		MinRate: int64(cfg.MinRate), RateWindow: time.Duration(cfg.RateWindow),
		Version: currentVersion().Version, Logger: log}
	if ropts.Clients, err = receiverClients(cfg); err != nil {
		return usageError{fmt.Errorf("%s: %w", opts.config, err)}
	}
	reg := prometheus.NewRegistry()
	if !opts.stdio && cfg.Metrics != "" {
		ropts.Metrics = receiver.NewMetrics(reg)
	}
	srv, err := receiver.New(zfs.NewRunner(log), ropts)
	if err != nil {
		return usageError{err}
	}
	if err := srv.CheckRoot(ctx); err != nil {
		return err
	}
	if ropts.Metrics != nil {
		go serveMetrics(ctx, cfg.Metrics, reg, log)
	}
	if opts.stdio {
		conn := transport.NewStdioConn(os.Stdin, os.Stdout)
		return srv.ServeConn(ctx, conn, opts.client)
	}
	if cfg.TLS.IsZero() {
		return usagef("%s: no tls section: the receiver can only serve ssh clients (serve --stdio)", opts.config)
	}
	tlsConf, err := tlsconf.LoadServer(tlsconf.Files{CA: cfg.TLS.CA, Cert: cfg.TLS.Cert, Key: cfg.TLS.Key}, time.Now())
	if err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	log.Info("receiver listening", "address", ln.Addr().String(), "root", cfg.Root, "clients", len(cfg.Clients))
	if g.readyFile != "" { // tests and the demo wait for this file, which holds the address
		if err := os.WriteFile(g.readyFile, []byte(ln.Addr().String()), 0o644); err != nil {
			return err
		}
	}
	return srv.ServeTLS(ctx, ln, tlsConf)
}

// receiverClients is the receiver's policy for each configured client. The receiver's retention is for the
// clients it owns the pruning of: those that may not prune themselves (allow_prune: false).
func receiverClients(cfg *config.Receiver) (map[string]receiver.Client, error) {
	var owned *retention.Policy
	if !cfg.Retention.IsEmpty() {
		p, err := cfg.Retention.Policy(retention.Policy{})
		if err != nil {
			return nil, fmt.Errorf("retention: %w", err)
		}
		owned = &p
	}
	clients := map[string]receiver.Client{}
	for name, c := range cfg.Clients {
		rc := receiver.Client{AllowRollback: c.AllowRollback, AllowPrune: c.PruneAllowed(), AllowClone: c.AllowClone,
			Quota: uint64(c.Quota)}
		if !rc.AllowPrune {
			rc.Retention = owned
		}
		clients[name] = rc
	}
	return clients, nil
}

func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, log interface{ Error(string, ...any) }) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = hs.Close()
	}()
	if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics server", "address", addr, "err", err)
	}
}
