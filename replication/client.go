package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/hotzfs/hotzfs/transport"
)

// Client speaks the hotzfs protocol to a receiver over an established carrier (TLS or ssh stdio).
// It is not safe for concurrent use: one request at a time.
type Client struct {
	conn *transport.Conn
	Peer transport.Hello
}

// Timeouts used by the client: requests must be answered within RequestTimeout; streams may not stall for
// longer than StallTimeout.
const (
	RequestTimeout = 2 * time.Minute
	StallTimeout   = 5 * time.Minute
	handshakeWait  = 15 * time.Second
)

// NewClient runs the handshake on c and returns a client. Closing the client closes c.
func NewClient(ctx context.Context, c net.Conn, name, version string) (*Client, error) {
	conn := transport.Guard(ctx, c, transport.Timeouts{Read: handshakeWait, Write: handshakeWait})
	if err := transport.Handshake(ctx, conn, handshakeWait); err != nil {
		conn.Close()
		return nil, err
	}
	if err := transport.WriteMessage(conn, &transport.Hello{Name: name, Version: version}); err != nil {
		conn.Close()
		return nil, err
	}
	peer, err := transport.ExpectLimit[*transport.Hello](conn, transport.MaxHelloPayload)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("receiver hello: %w", err)
	}
	conn.SetTimeouts(transport.Timeouts{Read: RequestTimeout, Write: RequestTimeout})
	return &Client{conn: conn, Peer: *peer}, nil
}

// Offers reports whether the receiver's hello lists capability c, e.g. transport.CapabilityClone.
func (c *Client) Offers(capability string) bool {
	return slices.Contains(c.Peer.Capabilities, capability)
}

// Close ends the session.
func (c *Client) Close() error { return c.conn.Close() }

// List returns the receiver's datasets (relative to the client's root) with their snapshots, oldest first.
// Empty datasets means all.
func (c *Client) List(datasets []string) ([]transport.DatasetInfo, error) {
	if err := transport.WriteMessage(c.conn, &transport.ListRequest{Datasets: datasets}); err != nil {
		return nil, err
	}
	var out []transport.DatasetInfo
	index := map[string]int{}
	for {
		resp, err := transport.Expect[*transport.ListResponse](c.conn)
		if err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		for _, d := range resp.Datasets {
			if i, ok := index[d.Name]; ok { // a dataset split over several responses
				out[i].Snapshots = append(out[i].Snapshots, d.Snapshots...)
				continue
			}
			index[d.Name] = len(out)
			out = append(out, d)
		}
		if !resp.More {
			return out, nil
		}
	}
}

// Receive asks the receiver to take a stream into req.Dataset and sends src as that stream. A failure
// reported by the receiver mid-stream stops the sending at once. The stream is ended with an error trailer
// when src fails, so the receiver keeps a resumable state and the session stays usable.
// bandwidth limits the wire bytes per second (0: unlimited).
func (c *Client) Receive(req *transport.ReceiveRequest, src io.Reader, opts transport.StreamOptions, bandwidth int64) (*transport.Result, error) {
	if err := transport.WriteMessage(c.conn, req); err != nil {
		return nil, err
	}
	if _, err := transport.Expect[*transport.Ready](c.conn); err != nil {
		return nil, fmt.Errorf("receiver refused %s: %w", req.Dataset, err)
	}
	c.conn.SetTimeouts(transport.Timeouts{Read: 0, Write: StallTimeout})
	defer c.conn.SetTimeouts(transport.Timeouts{Read: RequestTimeout, Write: RequestTimeout})

	// The answer (Result, or an error as soon as the receiver fails) is read while the stream is written.
	type answer struct {
		res *transport.Result
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		res, err := transport.Expect[*transport.Result](c.conn)
		answered <- answer{res, err}
	}()
	var wire io.Writer = c.conn
	if bandwidth > 0 {
		wire = transport.LimitWriter(context.Background(), c.conn, bandwidth)
	}
	opts.Authenticated = c.conn.Authenticated()
	opts.Queue = queueFor(bandwidth)
	w, err := transport.NewStreamWriter(wire, opts)
	if err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	copyErr := make(chan error, 1)
	go func() { // ReadFrom reads src straight into the frame buffer (or the encoder's)
		_, err := w.ReadFrom(&stoppable{src: src, stop: stop})
		copyErr <- err
	}()

	select {
	case err := <-copyErr:
		if err != nil {
			_ = w.CloseWithError(err)
			a := <-answered
			return nil, errors.Join(fmt.Errorf("sending %s: %w", req.Dataset, err), a.err)
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		a := <-answered
		return a.res, a.err
	case a := <-answered:
		// The receiver answered before the stream ended: it failed (or misbehaves). Stop and close the stream.
		close(stop)
		err := <-copyErr
		if a.err == nil {
			a.err = fmt.Errorf("receiver answered before the stream ended")
		}
		if err == nil {
			err = a.err
		}
		_ = w.CloseWithError(err)
		return nil, a.err
	}
}

// queueFor sizes the queue of frames that wait for the carrier while zfs send is read and compressed:
// transport.DefaultQueue (2 MiB), or, behind a bandwidth limit, about 4 seconds of the link (at most 64 MiB),
// so the link stays busy through stretches of the stream that compress slowly (text after random data, say)
// — what mbuffer does for syncoid. Measured in docs/benchmarks.md.
func queueFor(bandwidth int64) int {
	const least, most = transport.DefaultQueue, 64 << 20
	if bandwidth <= 0 {
		return least
	}
	return int(min(max(4*bandwidth, least), most))
}

// errStopped ends a copy the receiver no longer wants.
var errStopped = errors.New("receiver stopped the stream")

// stoppable reads src until stop is closed, then fails with errStopped.
type stoppable struct {
	src  io.Reader
	stop <-chan struct{}
}

func (s *stoppable) Read(p []byte) (int, error) {
	select {
	case <-s.stop:
		return 0, errStopped
	default:
	}
	return s.src.Read(p)
}

// Fetch asks the receiver to send a snapshot back (restore) and returns its announcement and the stream.
// The stream must be read to its end (io.EOF) before the next request.
func (c *Client) Fetch(req *transport.SendRequest) (*transport.Ready, *transport.StreamReader, error) {
	if err := transport.WriteMessage(c.conn, req); err != nil {
		return nil, nil, err
	}
	ready, err := transport.Expect[*transport.Ready](c.conn)
	if err != nil {
		return nil, nil, fmt.Errorf("receiver refused to send %s@%s: %w", req.Dataset, req.Snapshot, err)
	}
	c.conn.SetTimeouts(transport.Timeouts{Read: StallTimeout, Write: StallTimeout})
	return ready, transport.NewStreamReader(c.conn, transport.ReaderOptions{Authenticated: c.conn.Authenticated()}), nil
}

// Prune asks the receiver to destroy snapshots; it answers what it destroyed and what it kept, and why.
func (c *Client) Prune(req *transport.PruneRequest) (*transport.PruneResponse, error) {
	c.conn.SetTimeouts(transport.Timeouts{Read: RequestTimeout, Write: RequestTimeout})
	if err := transport.WriteMessage(c.conn, req); err != nil {
		return nil, err
	}
	return transport.Expect[*transport.PruneResponse](c.conn)
}

// Snapshot asks the receiver to snapshot clones of the client's snapshots (what failover runs guests on)
// atomically as @req.Name; it answers each dataset with the snapshot made.
func (c *Client) Snapshot(req *transport.SnapshotRequest) (*transport.SnapshotResponse, error) {
	c.conn.SetTimeouts(transport.Timeouts{Read: RequestTimeout, Write: RequestTimeout})
	if err := transport.WriteMessage(c.conn, req); err != nil {
		return nil, err
	}
	resp, err := transport.Expect[*transport.SnapshotResponse](c.conn)
	if err != nil {
		return nil, fmt.Errorf("snapshot @%s: %w", req.Name, err)
	}
	// The answer must be the request's datasets, each with the snapshot asked for (validated: one each).
	asked := map[string]bool{}
	for _, d := range req.Datasets {
		asked[d] = true
	}
	for _, d := range resp.Datasets {
		if !asked[d.Name] || d.Snapshots[0].Name != req.Name {
			return nil, fmt.Errorf("snapshot @%s: the receiver answered %s@%s, which was not asked for",
				req.Name, d.Name, d.Snapshots[0].Name)
		}
		delete(asked, d.Name)
	}
	if len(asked) > 0 {
		return nil, fmt.Errorf("snapshot @%s: the receiver's answer leaves out %d of the datasets", req.Name, len(asked))
	}
	return resp, nil
}

// Clone asks the receiver to clone the snapshot set req.Snapshot of received datasets, each checked by its
// GUID, to Dataset+Suffix, where a guest can run on them there (migrate). It answers each clone, in the
// request's order, with its device (a volume) or mountpoint (a filesystem).
func (c *Client) Clone(req *transport.CloneRequest) (*transport.CloneResponse, error) {
	c.conn.SetTimeouts(transport.Timeouts{Read: RequestTimeout, Write: RequestTimeout})
	if err := transport.WriteMessage(c.conn, req); err != nil {
		return nil, err
	}
	resp, err := transport.Expect[*transport.CloneResponse](c.conn)
	if err != nil {
		return nil, fmt.Errorf("clone of @%s: %w", req.Snapshot, err)
	}
	// The answer must be the request's datasets, in order, each with the clone asked for (validated: a device
	// under /dev/zvol/ or a mountpoint), and a device must be the clone's.
	if len(resp.Clones) != len(req.Datasets) {
		return nil, fmt.Errorf("clone of @%s: the receiver answered %d clones for %d datasets", req.Snapshot,
			len(resp.Clones), len(req.Datasets))
	}
	for i, ci := range resp.Clones {
		switch want := req.Datasets[i]; {
		case ci.Dataset != want:
			return nil, fmt.Errorf("clone of @%s: the receiver answered %s where %s was asked for", req.Snapshot,
				ci.Dataset, want)
		case ci.Clone != want+req.Suffix:
			return nil, fmt.Errorf("clone of @%s: the receiver answered clone %s of %s, not %s", req.Snapshot,
				ci.Clone, want, want+req.Suffix)
		case ci.Device != "" && !strings.HasSuffix(ci.Device, "/"+ci.Clone):
			return nil, fmt.Errorf("clone of @%s: the receiver answered device %s for clone %s, not the clone's",
				req.Snapshot, ci.Device, ci.Clone)
		}
	}
	return resp, nil
}
