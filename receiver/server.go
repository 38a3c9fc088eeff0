// Package receiver is the daemon side of replication: it accepts clients over mTLS or ssh stdio, confines
// each to ROOT/<client>, and serves list, receive, send (restore), prune, snapshot (of failover clones) and
// clone (of received snapshots, for migrate) requests with zfs.
package receiver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hotzfs/hotzfs/retention"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/transport/tlsconf"
	"github.com/hotzfs/hotzfs/zfs"
)

// Client is what the receiver allows one client (certificate CN or ssh identity).
type Client struct {
	AllowRollback bool   // receive -F when the client asks for it
	AllowPrune    bool   // destroy snapshots on request
	AllowClone    bool   // clone received snapshots on request (migrate)
	Quota         uint64 // bytes, set on ROOT/<client> when it is created; 0: none
	// Retention, when set, is the receiver's own pruning of the client's datasets, applied after each receive.
	Retention *retention.Policy
}

// Options configures a Server. Every limit left at 0 takes its default.
type Options struct {
	Root                string            // every client lives in Root/<client>
	Clients             map[string]Client // known clients; anyone else is refused
	MaxStreams          int               // concurrent receive/send streams; default 4
	MaxStreamsPerClient int               // of them, streams of one client; default DefaultMaxStreamsPerClient, at most MaxStreams
	// MaxConnections bounds the connections being served, from accept (before TLS) to close; more wait in
	// the listen backlog. Default 64.
	MaxConnections          int
	MaxConnectionsPerClient int           // authenticated connections of one client; default 8
	IdleTimeout             time.Duration // between requests; default 60 s
	RequestTimeout          time.Duration // a request, once begun, must arrive whole within this; default 30 s
	HelloTimeout            time.Duration // TLS handshake, and banner and hello, each; default 10 s
	StallTimeout            time.Duration // no byte in a stream for this long; default 5 min
	// MinRate (bytes/s) over RateWindow: a stream whose peer moves less is cut (see transport.Conn.SetMinRate).
	// Defaults 64 KiB/s and 60 s.
	MinRate    int64
	RateWindow time.Duration
	Version    string // hotzfs release, sent in hello
	Logger     *slog.Logger
	Metrics    *Metrics // optional
}

// Defaults of Options.
const (
	DefaultMaxStreams              = 8
	DefaultMaxStreamsPerClient     = 4
	DefaultMaxConnections          = 64
	DefaultMaxConnectionsPerClient = 8
	DefaultIdleTimeout             = 60 * time.Second
	DefaultRequestTimeout          = 30 * time.Second
	DefaultHelloTimeout            = 10 * time.Second
	DefaultStallTimeout            = 5 * time.Minute
	DefaultMinRate                 = 64 << 10
	DefaultRateWindow              = 60 * time.Second
)

// Server serves clients. It is safe for concurrent use by many connections.
type Server struct {
	opts    Options
	zfs     *zfs.Runner
	log     *slog.Logger
	streams chan struct{} // semaphore of MaxStreams
	conns   chan struct{} // semaphore of MaxConnections
	mu      sync.Mutex
	busy    map[string]bool // datasets with a stream in progress
	// streamsOf and connsOf count each client's streams and connections.
	streamsOf map[string]int
	connsOf   map[string]int
	// createMu serializes creating client roots and parents, which concurrent streams may share.
	createMu sync.Mutex
	// cloneMu serializes clone requests, which count a client's clones before they add to them.
	cloneMu sync.Mutex
	wg      sync.WaitGroup
}

// New returns a server using z for every zfs operation.
func New(z *zfs.Runner, opts Options) (*Server, error) {
	if err := zfs.ValidateDataset(opts.Root); err != nil {
		return nil, fmt.Errorf("receiver root: %w", err)
	}
	setDefault(&opts.MaxStreams, DefaultMaxStreams)
	setDefault(&opts.MaxStreamsPerClient, min(DefaultMaxStreamsPerClient, opts.MaxStreams))
	opts.MaxStreamsPerClient = min(opts.MaxStreamsPerClient, opts.MaxStreams)
	setDefault(&opts.MaxConnections, DefaultMaxConnections)
	setDefault(&opts.MaxConnectionsPerClient, DefaultMaxConnectionsPerClient)
	setDefault(&opts.IdleTimeout, DefaultIdleTimeout)
	setDefault(&opts.RequestTimeout, DefaultRequestTimeout)
	setDefault(&opts.HelloTimeout, DefaultHelloTimeout)
	setDefault(&opts.StallTimeout, DefaultStallTimeout)
	setDefault(&opts.MinRate, DefaultMinRate)
	setDefault(&opts.RateWindow, DefaultRateWindow)
	setDefault(&opts.Version, "dev")
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, zfs: z, log: log, streams: make(chan struct{}, opts.MaxStreams),
		conns: make(chan struct{}, opts.MaxConnections), busy: map[string]bool{}, streamsOf: map[string]int{},
		connsOf: map[string]int{}}, nil
}

// CheckRoot checks that zfs is installed and Root is an existing filesystem, so that a receiver that could
// receive nothing says so when it starts rather than to its first client.
func (s *Server) CheckRoot(ctx context.Context) error {
	root := s.opts.Root
	typ, err := s.zfs.TypeOf(ctx, root)
	switch {
	case errors.Is(err, zfs.ErrDatasetNotFound) || errors.Is(err, zfs.ErrNoSuchPool):
		pool, _, _ := strings.Cut(root, "/")
		return fmt.Errorf("receiver root %s does not exist: create it with zfs create %s (pool %s must be "+
			"imported), or set root: to an existing filesystem", root, root, pool)
	case err != nil:
		return fmt.Errorf("receiver root %s: %w", root, err)
	case typ != zfs.Filesystem:
		return fmt.Errorf("receiver root %s is a %s; set root: to a filesystem", root, typ)
	}
	return nil
}

// setDefault sets *v to def when it is zero or negative.
func setDefault[T int | int64 | time.Duration | string](v *T, def T) {
	var zero T
	if *v <= zero {
		*v = def
	}
}

// ServeTLS accepts connections on ln until ctx ends, then waits for the sessions in progress: each ends at
// its next frame boundary or, mid-stream, by killing zfs receive, which leaves a resumable state. A failed
// accept (out of file descriptors, a connection aborted before it was accepted) is retried after a pause
// that grows from 5 ms to 1 s; only a closed listener ends the loop.
func (s *Server) ServeTLS(ctx context.Context, ln net.Listener, conf *tls.Config) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer s.wg.Wait()
	var pause time.Duration
	for {
		// A slot first: beyond max_connections, connections wait in the listen backlog and hold no descriptor.
		select {
		case s.conns <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		c, err := ln.Accept()
		if err != nil {
			<-s.conns
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("accept: %w", err)
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "err", err, "retry_in", pause)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		pause = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.conns }()
			s.serveTLSConn(ctx, tls.Server(transport.Buffered(c), conf))
		}()
	}
}

func (s *Server) serveTLSConn(ctx context.Context, c *tls.Conn) {
	defer c.Close()
	client, err := tlsconf.Accept(ctx, c, s.opts.HelloTimeout)
	if err != nil {
		s.log.Warn("connection refused", "remote", c.RemoteAddr().String(), "err", err)
		s.opts.Metrics.refused()
		return
	}
	if err := s.ServeConn(ctx, c, client); err != nil {
		s.log.Warn("session ended with an error", "client", client, "remote", c.RemoteAddr().String(), "err", err)
	}
}

// ServeConn runs one session with an authenticated client on c (a TLS connection, or ssh stdin/stdout with
// the identity fixed by the forced command).
func (s *Server) ServeConn(ctx context.Context, c net.Conn, client string) error {
	policy, ok := s.opts.Clients[client]
	if !ok {
		s.opts.Metrics.refused()
		return fmt.Errorf("client %q is not in the receiver's clients list", client)
	}
	root, err := transport.ClientRoot(s.opts.Root, client)
	if err != nil {
		return err
	}
	admitted := s.enter(client)
	defer s.leave(client)
	// Banner and hello must be complete by one deadline, however slowly their bytes arrive.
	deadline := time.Now().Add(s.opts.HelloTimeout)
	conn := transport.Guard(ctx, c, transport.Timeouts{Read: s.opts.HelloTimeout, Write: s.opts.HelloTimeout})
	defer conn.Close()
	if err := transport.Handshake(ctx, conn, time.Until(deadline)); err != nil {
		return err
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := transport.ExpectLimit[*transport.Hello](conn, transport.MaxHelloPayload); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	if !admitted {
		s.opts.Metrics.refused()
		err := fmt.Errorf("client %q already has %d connections (max_connections_per_client); retry later",
			client, s.opts.MaxConnectionsPerClient)
		return errors.Join(err, transport.WriteError(conn, transport.CodeBusy, err))
	}
	hello := &transport.Hello{Name: "hotzfs-receiver", Version: s.opts.Version}
	if policy.AllowClone {
		hello.Capabilities = append(hello.Capabilities, transport.CapabilityClone)
	}
	if err := transport.WriteMessage(conn, hello); err != nil {
		return err
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return err
	}
	sess := &session{srv: s, conn: conn, client: client, root: root, policy: policy,
		log: s.log.With("client", client)}
	return sess.loop(ctx)
}

// enter counts a connection of client and reports whether it is within max_connections_per_client; leave
// undoes it, admitted or not.
func (s *Server) enter(client string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connsOf[client]++
	return s.connsOf[client] <= s.opts.MaxConnectionsPerClient
}

func (s *Server) leave(client string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connsOf[client]--; s.connsOf[client] <= 0 {
		delete(s.connsOf, client)
	}
}

// session is one client connection.
type session struct {
	srv    *Server
	conn   *transport.Conn
	client string
	root   string
	policy Client
	log    *slog.Logger
}

func (ss *session) loop(ctx context.Context) error {
	for {
		m, err := ss.readRequest()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if errors.Is(err, transport.ErrProtocol) {
				_ = transport.WriteError(ss.conn, transport.CodeBadRequest, err)
			}
			return err
		}
		if err := ss.handle(ctx, m); err != nil {
			return err
		}
	}
}

// readRequest waits up to idle_timeout for the next request to begin; once its first byte is in, the whole
// request must arrive within request_timeout, however slowly its bytes trickle.
func (ss *session) readRequest() (transport.Message, error) {
	ss.conn.SetTimeouts(transport.Timeouts{Read: ss.srv.opts.IdleTimeout, Write: ss.srv.opts.StallTimeout})
	r := &requestReader{conn: ss.conn, timeout: ss.srv.opts.RequestTimeout}
	m, err := transport.ReadMessage(r)
	if derr := ss.conn.SetReadDeadline(time.Time{}); err == nil && derr != nil {
		return nil, derr
	}
	if r.started && errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("request not complete within %s (request_timeout): %w", ss.srv.opts.RequestTimeout, err)
	}
	return m, err
}

// requestReader sets the connection's absolute read deadline when the first byte of a request arrives.
type requestReader struct {
	conn    *transport.Conn
	timeout time.Duration
	started bool
}

func (r *requestReader) Read(p []byte) (int, error) {
	n, err := r.conn.Read(p)
	if n > 0 && !r.started {
		r.started = true
		if derr := r.conn.SetReadDeadline(time.Now().Add(r.timeout)); derr != nil && err == nil {
			err = derr
		}
	}
	return n, err
}

// handle serves one request. A request that fails is answered with an error message and the session goes on;
// an error returned here ends the session (the connection is no longer in a known state).
func (ss *session) handle(ctx context.Context, m transport.Message) error {
	var reqErr, connErr error
	switch req := m.(type) {
	case *transport.ListRequest:
		reqErr = ss.list(ctx, req)
	case *transport.ReceiveRequest:
		reqErr, connErr = ss.receive(ctx, req)
	case *transport.SendRequest:
		reqErr, connErr = ss.send(ctx, req)
	case *transport.PruneRequest:
		reqErr = ss.prune(ctx, req)
	case *transport.SnapshotRequest:
		reqErr = ss.snapshot(ctx, req)
	case *transport.CloneRequest:
		reqErr = ss.clone(ctx, req)
	default:
		connErr = fmt.Errorf("unexpected %s message", m.Kind())
		reqErr = connErr
	}
	if reqErr != nil {
		ss.srv.opts.Metrics.failed(m.Kind())
		ss.log.Warn("request failed", "request", m.Kind(), "err", reqErr)
		if err := ss.writeError(requestLabel(m), reqErr); err != nil && connErr == nil {
			connErr = err
		}
	}
	return connErr
}
