// Package guest talks to libvirt about the guests hotzfs backs up: it finds domains, maps their disks to ZFS
// datasets and zvols, and freezes/thaws their filesystems through qemu-guest-agent.
//
// Calls and contexts: go-libvirt calls cannot be cancelled. Every Client method runs its libvirt call in a
// goroutine and returns when the call ends or ctx is done, whichever comes first; a call given up on keeps
// running in libvirtd until libvirt's own timeout (for agent calls: the domain's agent response timeout, see
// SetAgentTimeout). A freeze that was given up on, or that failed with ErrAgentTimeout, may still freeze the guest
// later: callers must thaw after any freeze attempt (ThawUntilThawed).
package guest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/digitalocean/go-libvirt"
)

// DefaultURI is the libvirt URI used when Options.URI is empty: the system qemu driver over the local socket.
const DefaultURI = "qemu:///system"

// Options configure Connect.
type Options struct {
	// URI of the libvirt daemon, as libvirt spells it: "qemu:///system" (local socket, the default),
	// "qemu+unix:///system?socket=/path/to/libvirt-sock", or "qemu+tcp://HOST:PORT/system" for a remote
	// libvirtd listening on TCP (also qemu+tls, qemu+ssh as go-libvirt supports them).
	URI string
	// Logger for connection events and agent calls; nil means slog.Default().
	Logger *slog.Logger
}

// Client is a connection to one libvirt daemon. Its methods are safe for concurrent use.
type Client struct {
	lv  *libvirt.Libvirt
	uri string
	log *slog.Logger
}

// Domain identifies a libvirt domain (a guest).
type Domain struct {
	Name string
	UUID string // canonical 8-4-4-4-12 hex form
	ref  libvirt.Domain
}

// Connect opens a connection to libvirt. The connection attempt is abandoned when ctx ends.
func Connect(ctx context.Context, opts Options) (*Client, error) {
	raw := opts.URI
	if raw == "" {
		raw = DefaultURI
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("libvirt URI %q: %w", raw, err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("libvirt URI %q: no scheme; use e.g. qemu:///system or qemu+tcp://HOST:16509/system", raw)
	}
	lv, err := bounded(ctx, func() (*libvirt.Libvirt, error) { return libvirt.ConnectToURI(u) },
		func(lv *libvirt.Libvirt) { _ = lv.Disconnect() })
	if err != nil {
		return nil, fmt.Errorf("connect to libvirt at %s: %w — is libvirtd running and its socket reachable?",
			raw, err)
	}
	log.Debug("connected to libvirt", "uri", raw)
	return &Client{lv: lv, uri: raw, log: log}, nil
}

// Close disconnects from libvirt. Calls still pending in libvirtd keep running there.
func (c *Client) Close() error {
	if err := c.lv.Disconnect(); err != nil {
		return fmt.Errorf("disconnect from libvirt at %s: %w", c.uri, err)
	}
	return nil
}

// bounded runs f in a goroutine and waits for it or for ctx. When ctx wins, f keeps running and its result is
// handed to discard (if not nil) once it arrives.
func bounded[T any](ctx context.Context, f func() (T, error), discard func(T)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		if discard != nil {
			go func() {
				if r := <-done; r.err == nil {
					discard(r.v)
				}
			}()
		}
		return zero, fmt.Errorf("gave up waiting for libvirt (the call may still complete): %w", ctx.Err())
	}
}

// call runs one libvirt call for a domain under ctx and translates its error.
func call[T any](ctx context.Context, dom, op string, f func() (T, error)) (T, error) {
	v, err := bounded(ctx, f, nil)
	if err != nil {
		return v, translate(dom, op, err)
	}
	return v, nil
}

func newDomain(d libvirt.Domain) Domain {
	u := d.UUID
	return Domain{
		Name: d.Name,
		UUID: fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]),
		ref:  d,
	}
}

// Lookup finds a domain by its exact name.
func (c *Client) Lookup(ctx context.Context, name string) (Domain, error) {
	d, err := call(ctx, name, "look up domain", func() (libvirt.Domain, error) {
		return c.lv.DomainLookupByName(name)
	})
	if err != nil {
		return Domain{}, err
	}
	return newDomain(d), nil
}

// List returns all domains, running and defined, sorted by name.
func (c *Client) List(ctx context.Context) ([]Domain, error) {
	flags := libvirt.ConnectListDomainsActive | libvirt.ConnectListDomainsInactive
	ds, err := call(ctx, "", "list domains", func() ([]libvirt.Domain, error) {
		ds, _, err := c.lv.ConnectListAllDomains(1, flags)
		return ds, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Domain, 0, len(ds))
	for _, d := range ds {
		out = append(out, newDomain(d))
	}
	slices.SortFunc(out, func(a, b Domain) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Select returns the domains matching any of the patterns, each once, sorted by name. A pattern is an exact
// name or a path.Match glob ("web-*"). Every pattern must match at least one domain: the error for those that
// do not wraps ErrNoMatch and lists the known domains.
func (c *Client) Select(ctx context.Context, patterns []string) ([]Domain, error) {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("guest pattern %q: %w", p, err)
		}
	}
	all, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	return selectDomains(all, patterns)
}

func selectDomains(all []Domain, patterns []string) ([]Domain, error) {
	var out []Domain
	var errs []error
	for _, p := range patterns {
		n := 0
		for _, d := range all {
			if ok, _ := path.Match(p, d.Name); ok || p == d.Name {
				n++
				if !slices.ContainsFunc(out, func(o Domain) bool { return o.Name == d.Name }) {
					out = append(out, d)
				}
			}
		}
		if n == 0 {
			errs = append(errs, fmt.Errorf("guest pattern %q: %w (known domains: %s)", p, ErrNoMatch, knownNames(all)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Domain) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func knownNames(all []Domain) string {
	const max = 10
	if len(all) == 0 {
		return "none"
	}
	names := make([]string, 0, max)
	for i, d := range all {
		if i == max {
			names = append(names, fmt.Sprintf("and %d more", len(all)-max))
			break
		}
		names = append(names, d.Name)
	}
	return strings.Join(names, ", ")
}

// State is a domain's run state as libvirt reports it.
type State string

// Domain states.
const (
	StateRunning     State = "running"
	StatePaused      State = "paused"
	StateShutoff     State = "shutoff"
	StateShutdown    State = "shutdown" // shutting down
	StateCrashed     State = "crashed"
	StateBlocked     State = "blocked"
	StatePMSuspended State = "pmsuspended"
	StateNoState     State = "nostate"
)

var stateNames = map[libvirt.DomainState]State{
	libvirt.DomainNostate:     StateNoState,
	libvirt.DomainRunning:     StateRunning,
	libvirt.DomainBlocked:     StateBlocked,
	libvirt.DomainPaused:      StatePaused,
	libvirt.DomainShutdown:    StateShutdown,
	libvirt.DomainShutoff:     StateShutoff,
	libvirt.DomainCrashed:     StateCrashed,
	libvirt.DomainPmsuspended: StatePMSuspended,
}

// State returns the domain's run state.
func (c *Client) State(ctx context.Context, dom Domain) (State, error) {
	st, err := call(ctx, dom.Name, "get state", func() (int32, error) {
		st, _, err := c.lv.DomainGetState(dom.ref, 0)
		return st, err
	})
	if err != nil {
		return "", err
	}
	if s, ok := stateNames[libvirt.DomainState(st)]; ok {
		return s, nil
	}
	return State(fmt.Sprintf("unknown(%d)", st)), nil
}

// XML returns the domain's XML as libvirt reports it now (the live definition when running). With inactive
// set it returns the persistent definition instead, the one to keep with a backup for re-defining the guest.
func (c *Client) XML(ctx context.Context, dom Domain, inactive bool) (string, error) {
	var flags libvirt.DomainXMLFlags
	if inactive {
		flags = libvirt.DomainXMLInactive
	}
	return call(ctx, dom.Name, "read domain XML", func() (string, error) {
		return c.lv.DomainGetXMLDesc(dom.ref, flags)
	})
}
