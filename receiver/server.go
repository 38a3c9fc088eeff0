// Package receiver is the daemon side of replication: it accepts clients over mTLS or ssh stdio, confines
// each to ROOT/<client>, and serves list, receive, send (restore) and prune requests with zfs.
package receiver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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
	Quota         uint64 // bytes, set on ROOT/<client> when it is created; 0: none
	// Retention, when set, is the receiver's own pruning of the client's datasets, applied after each receive.
	Retention *retention.Policy
}

// Options configures a Server.
type Options struct {
	Root         string            // every client lives in Root/<client>
	Clients      map[string]Client // known clients; anyone else is refused
	MaxStreams   int               // concurrent receive/send streams; default 4
	IdleTimeout  time.Duration     // between requests; default 60 s
	StallTimeout time.Duration     // no byte in a stream for this long; default 5 min
	Version      string            // hotzfs release, sent in hello
	Logger       *slog.Logger
	Metrics      *Metrics // optional
}

// Server serves clients. It is safe for concurrent use by many connections.
type Server struct {
	opts    Options
	zfs     *zfs.Runner
	log     *slog.Logger
	streams chan struct{} // semaphore of MaxStreams
	mu      sync.Mutex
	busy    map[string]bool // datasets with a stream in progress
	// createMu serializes creating client roots and parents, which concurrent streams may share.
	createMu sync.Mutex
	wg       sync.WaitGroup
}

// bannerTimeout bounds the handshake and hello of a new connection.
const bannerTimeout = 10 * time.Second

// New returns a server using z for every zfs operation.
func New(z *zfs.Runner, opts Options) (*Server, error) {
	if err := zfs.ValidateDataset(opts.Root); err != nil {
		return nil, fmt.Errorf("receiver root: %w", err)
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = 4
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 60 * time.Second
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = 5 * time.Minute
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, zfs: z, log: log, streams: make(chan struct{}, opts.MaxStreams),
		busy: map[string]bool{}}, nil
}

// ServeTLS accepts connections on ln until ctx ends, then waits for the sessions in progress: each ends at
// its next frame boundary or, mid-stream, by killing zfs receive, which leaves a resumable state.
func (s *Server) ServeTLS(ctx context.Context, ln net.Listener, conf *tls.Config) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveTLSConn(ctx, tls.Server(transport.Buffered(c), conf))
		}()
	}
}

func (s *Server) serveTLSConn(ctx context.Context, c *tls.Conn) {
	defer c.Close()
	client, err := tlsconf.Accept(ctx, c, bannerTimeout)
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
	conn := transport.Guard(ctx, c, transport.Timeouts{Read: bannerTimeout, Write: bannerTimeout})
	defer conn.Close()
	if err := transport.Handshake(ctx, conn, bannerTimeout); err != nil {
		return err
	}
	if _, err := transport.Expect[*transport.Hello](conn); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	if err := transport.WriteMessage(conn, &transport.Hello{Name: "hotzfs-receiver", Version: s.opts.Version}); err != nil {
		return err
	}
	sess := &session{srv: s, conn: conn, client: client, root: root, policy: policy,
		log: s.log.With("client", client)}
	return sess.loop(ctx)
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
		ss.conn.SetTimeouts(transport.Timeouts{Read: ss.srv.opts.IdleTimeout, Write: ss.srv.opts.StallTimeout})
		m, err := transport.ReadMessage(ss.conn)
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
	default:
		connErr = fmt.Errorf("unexpected %s message", m.Kind())
		reqErr = connErr
	}
	if reqErr != nil {
		ss.srv.opts.Metrics.failed(m.Kind())
		ss.log.Warn("request failed", "request", m.Kind(), "err", reqErr)
		if err := transport.WriteError(ss.conn, errorCode(reqErr), reqErr); err != nil && connErr == nil {
			connErr = err
		}
	}
	return connErr
}
