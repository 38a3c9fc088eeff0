package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hotzfs/hotzfs/zfs"
)

// Receiver is the receiving host's config (receiver.yaml): where `hotzfs serve` listens, who may connect,
// and where their datasets land.
type Receiver struct {
	Listen string   `yaml:"listen"` // host:port for TLS clients
	TLS    TLSFiles `yaml:"tls"`    // unset: only ssh clients (`hotzfs serve --stdio`)
	// Root is the dataset under which client C's datasets live, as ROOT/C; a client can reach nothing else.
	Root         string            `yaml:"root"`
	Clients      map[string]Client `yaml:"clients"` // by certificate CN (TLS) or --client name (ssh)
	Metrics      string            `yaml:"metrics"` // host:port for Prometheus metrics; "" is off
	MaxStreams   int               `yaml:"max_streams"`
	IdleTimeout  Duration          `yaml:"idle_timeout"`  // a connection with no request for this long is closed
	StallTimeout Duration          `yaml:"stall_timeout"` // a stream with no bytes for this long is aborted
	Retention    Rules             `yaml:"retention"`     // the receiver's own pruning of clients with allow_prune: false

	// Limits on what connections and clients may take of the receiver (receiver_limits.go).
	MaxStreamsPerClient     int       `yaml:"max_streams_per_client"`     // of max_streams, one client's at most
	MaxConnections          int       `yaml:"max_connections"`            // being served at once, counted before TLS
	MaxConnectionsPerClient int       `yaml:"max_connections_per_client"` // authenticated connections of one client
	RequestTimeout          Duration  `yaml:"request_timeout"`            // a request, once begun, arrives whole within it
	HelloTimeout            Duration  `yaml:"hello_timeout"`              // TLS handshake, and banner and hello, each
	MinRate                 Bandwidth `yaml:"min_rate"`                   // a stream moving less, over rate_window, is cut
	RateWindow              Duration  `yaml:"rate_window"`

	src *source
}

// TLSFiles are the receiver's certificate, its key, and the CA that signs client certificates.
type TLSFiles struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// IsZero reports whether no TLS file is set.
func (t TLSFiles) IsZero() bool { return t == TLSFiles{} }

// Client is what one client may do.
type Client struct {
	Quota         Size  `yaml:"quota"`          // zfs quota on ROOT/<client>; 0 is none
	AllowRollback bool  `yaml:"allow_rollback"` // may the client's receives roll back (receive -F)?
	AllowPrune    *bool `yaml:"allow_prune"`    // may the client destroy its snapshots here? (default true)
	// AllowClone lets the client have its received snapshots cloned here into datasets a guest can run on
	// (hotzfs migrate). Default false.
	AllowClone bool `yaml:"allow_clone"`
}

// PruneAllowed reports whether the client may destroy snapshots in its root (true unless allow_prune: false).
func (c Client) PruneAllowed() bool { return c.AllowPrune == nil || *c.AllowPrune }

// Defaults and bounds of the receiver config.
const (
	DefaultListen       = ":7390"
	DefaultMaxStreams   = 8
	DefaultIdleTimeout  = Duration(60 * time.Second)
	DefaultStallTimeout = Duration(5 * time.Minute)

	MaxMaxStreams  = 256
	MinTimeout     = Duration(time.Second)
	MaxIdleTimeout = Duration(24 * time.Hour)
)

// LoadReceiver reads, decodes and validates a receiver config file. It does not open the TLS files; see
// CheckFiles.
func LoadReceiver(path string) (*Receiver, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read receiver config: %w%s", err, exampleHint(err, path, "receiver.yaml"))
	}
	return ParseReceiver(path, data)
}

// ParseReceiver decodes and validates a receiver config; name is the file name used in messages, and
// relative paths are taken relative to its directory. Every problem is reported, joined.
func ParseReceiver(name string, data []byte) (*Receiver, error) {
	src, err := parseSource(name, data)
	if err != nil {
		return nil, err
	}
	r := &Receiver{src: src}
	if err := src.decode(r); err != nil {
		return nil, err
	}
	for _, p := range []*string{&r.TLS.CA, &r.TLS.Cert, &r.TLS.Key} {
		resolvePath(p, filepath.Dir(name))
	}
	r.applyDefaults()
	list := append(src.errs, Problems(r.Validate())...)
	if err := joinSorted(list); err != nil {
		return nil, err
	}
	return r, nil
}

// File is the file the config was read from ("" when built in code).
func (r *Receiver) File() string {
	if r.src == nil {
		return ""
	}
	return r.src.file
}

// applyDefaults fills in every setting left out (or set to 0 or ""). It is the one place receiver defaults
// are set.
func (r *Receiver) applyDefaults() {
	setDefault(&r.Listen, DefaultListen)
	setDefault(&r.MaxStreams, DefaultMaxStreams)
	setDefault(&r.IdleTimeout, DefaultIdleTimeout)
	setDefault(&r.StallTimeout, DefaultStallTimeout)
	r.applyLimitDefaults()
	for name, c := range r.Clients {
		if c.AllowPrune == nil {
			allow := true
			c.AllowPrune = &allow
		}
		r.Clients[name] = c
	}
}

// Validate checks the whole config and returns every problem found, joined and sorted by position.
// Settings left at 0 or "" are taken as "default".
func (r *Receiver) Validate() error {
	p := &problems{src: r.src}
	if r.Listen != "" {
		checkListen(p, "listen", r.Listen)
	}
	if r.Metrics != "" {
		checkListen(p, "metrics", r.Metrics)
		if r.Metrics == r.Listen {
			p.add("metrics", "metrics %q is the same address as listen; give metrics its own port", r.Metrics)
		}
	}
	if !r.TLS.IsZero() {
		for _, f := range []struct{ key, val string }{{"ca", r.TLS.CA}, {"cert", r.TLS.Cert}, {"key", r.TLS.Key}} {
			if f.val == "" {
				p.add("tls", "tls has no %s: file; TLS needs ca, cert and key (make them with hotzfs certs), "+
					"or remove tls: to accept only ssh clients", f.key)
			}
		}
	}
	if r.Root == "" {
		p.add("root", "no root: dataset; set root: to the dataset that holds the clients' backups, like tank/backup")
	} else if err := zfs.ValidateDataset(r.Root); err != nil {
		p.add("root", "root: %v", err)
	}
	if len(r.Clients) == 0 {
		p.add("clients", "no clients: nobody could send backups; add clients: with one entry per sending host")
	}
	for _, name := range sortedKeys(r.Clients) {
		r.validateClient(p, name)
	}
	if r.MaxStreams < 0 || r.MaxStreams > MaxMaxStreams {
		p.add("max_streams", "max_streams %d is out of range; use 1 to %d", r.MaxStreams, MaxMaxStreams)
	}
	for _, t := range []struct {
		key string
		d   Duration
	}{{"idle_timeout", r.IdleTimeout}, {"stall_timeout", r.StallTimeout}} {
		if t.d != 0 && (t.d < MinTimeout || t.d > MaxIdleTimeout) {
			p.add(t.key, "%s %s is out of range; use %s to %s", t.key, t.d, MinTimeout, MaxIdleTimeout)
		}
	}
	r.validateLimits(p)
	r.Retention.validate(p, "retention", "retention")
	return p.err()
}

// validateClient checks that a client's name can be a dataset name component under root.
func (r *Receiver) validateClient(p *problems, name string) {
	path := "clients." + name
	if strings.Contains(name, "/") {
		p.add(path, "client %q: a client name must not contain '/'; it becomes one dataset name under root", name)
		return
	}
	if err := zfs.ValidateDataset("x/" + name); err != nil {
		p.add(path, "client %q cannot be a dataset name under root (use letters, digits and _ - . :, "+
			"not starting with -)", name)
	}
}
