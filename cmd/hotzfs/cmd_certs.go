package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotzfs/hotzfs/certs"
)

type certsOptions struct {
	dir      string
	validity time.Duration
	force    bool
	dns      []string
	ips      []string
}

func newCertsCmd() *cobra.Command {
	var opts certsOptions
	cmd := commandGroup(&cobra.Command{
		Use:   "certs",
		Short: "Create the CA, the receiver's certificate and client certificates for mTLS",
	})
	cmd.PersistentFlags().StringVar(&opts.dir, "dir", certs.DefaultDir, "directory of ca.crt/ca.key and the certificates")
	cmd.PersistentFlags().DurationVar(&opts.validity, "validity", 3*365*24*time.Hour, "how long certificates are valid")
	cmd.PersistentFlags().BoolVar(&opts.force, "force", false, "overwrite existing files")
	ca := &cobra.Command{Use: "ca", Short: "Create ca.crt and ca.key", Args: positional(),
		RunE: func(cmd *cobra.Command, _ []string) error { return runCertsCA(cmd.OutOrStdout(), opts) }}
	server := &cobra.Command{Use: "server NAME", Short: "Create NAME.crt/NAME.key for the receiver, signed by the CA",
		Args: positional("the receiver's host name, as clients connect to it"),
		RunE: func(cmd *cobra.Command, args []string) error { return runCertsServer(cmd.OutOrStdout(), opts, args[0]) }}
	server.Flags().StringSliceVar(&opts.dns, "dns", nil, "extra DNS names (NAME is always included)")
	server.Flags().StringSliceVar(&opts.ips, "ip", nil, "IP addresses clients connect to")
	client := &cobra.Command{Use: "client NAME", Short: "Create NAME.crt/NAME.key for a sending host; NAME becomes its client name",
		Args: positional("the sending host's client name"),
		RunE: func(cmd *cobra.Command, args []string) error { return runCertsClient(cmd.OutOrStdout(), opts, args[0]) }}
	cmd.AddCommand(ca, server, client)
	return cmd
}

func (o certsOptions) validityFrom(now time.Time) certs.Validity {
	return certs.Validity{Now: now, Duration: o.validity}
}

// leafValidity is the requested validity, cut so that the certificate does not outlive its CA.
func (o certsOptions) leafValidity(ca *certs.Pair, now time.Time) certs.Validity {
	v := o.validityFrom(now)
	if left := ca.Cert.NotAfter.Sub(now); left < v.Duration {
		v.Duration = left
	}
	return v
}

func runCertsCA(w io.Writer, opts certsOptions) error {
	ca, err := certs.NewCA("hotzfs CA", opts.validityFrom(time.Now()))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(opts.dir, 0o700); err != nil {
		return err
	}
	crt, key := filepath.Join(opts.dir, "ca.crt"), filepath.Join(opts.dir, "ca.key")
	if err := certs.Write(ca, crt, key, opts.force); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s and %s (keep ca.key offline once the certificates are made)\n", crt, key)
	return nil
}

func loadCA(dir string) (*certs.Pair, error) {
	ca, err := certs.Load(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, fmt.Errorf("%w (create the CA first: hotzfs certs ca --dir %s)", err, dir)
	}
	return ca, nil
}

func runCertsServer(w io.Writer, opts certsOptions, name string) error {
	ca, err := loadCA(opts.dir)
	if err != nil {
		return err
	}
	spec := certs.ServerSpec{Name: name, DNSNames: append([]string{name}, opts.dns...)}
	for _, s := range opts.ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return usagef("--ip %q is not an IP address", s)
		}
		spec.IPs = append(spec.IPs, ip)
	}
	pair, err := certs.NewServer(ca, spec, opts.leafValidity(ca, time.Now()))
	if err != nil {
		return err
	}
	return writePair(w, pair, opts, name)
}

func runCertsClient(w io.Writer, opts certsOptions, name string) error {
	if err := certs.CheckClientName(name); err != nil {
		return usageError{err}
	}
	ca, err := loadCA(opts.dir)
	if err != nil {
		return err
	}
	pair, err := certs.NewClient(ca, name, opts.leafValidity(ca, time.Now()))
	if err != nil {
		return err
	}
	return writePair(w, pair, opts, name)
}

func writePair(w io.Writer, p *certs.Pair, opts certsOptions, name string) error {
	crt, key := filepath.Join(opts.dir, name+".crt"), filepath.Join(opts.dir, name+".key")
	if err := certs.Write(p, crt, key, opts.force); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s and %s\n", crt, key)
	return nil
}
