package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Sender is the sending host's config (hotzfs.yaml): where guests and datasets are snapshotted and what
// they are replicated to.
type Sender struct {
	Libvirt  Libvirt           `yaml:"libvirt"`
	StateDir string            `yaml:"state_dir"` // run state, locks, the frozen-guest record
	Metrics  string            `yaml:"metrics"`   // host:port for the daemon's Prometheus metrics; "" is off
	Targets  map[string]Target `yaml:"targets"`
	Jobs     []Job             `yaml:"jobs"`

	src *source // the file it came from; nil when built in code
}

// Libvirt says how to reach libvirtd.
type Libvirt struct {
	URI string `yaml:"uri"`
}

// TargetKind is the carrier a target is reached over.
type TargetKind string

const (
	TargetTLS TargetKind = "tls" // hotzfs's own protocol over mutual TLS to `hotzfs serve`
	TargetSSH TargetKind = "ssh" // the same protocol over ssh stdin/stdout to `hotzfs serve --stdio`
)

// Target is a receiver. It is either TLS (Address, CA, Cert, Key, ServerName) or ssh (SSH, Port,
// Identity, KnownHosts, Command), never both.
type Target struct {
	Address    string `yaml:"address"`     // host:port of `hotzfs serve`
	CA         string `yaml:"ca"`          // CA that signed the receiver's certificate
	Cert       string `yaml:"cert"`        // this host's client certificate; its CN is the client name
	Key        string `yaml:"key"`         // its private key
	ServerName string `yaml:"server_name"` // name to verify the receiver's certificate against; default: the host

	SSH      string `yaml:"ssh"`      // [user@]host
	Port     int    `yaml:"port"`     // ssh port
	Identity string `yaml:"identity"` // private key file for ssh -i; "" uses ssh's defaults
	// KnownHosts pins the receiver's host key: ssh checks it against this file only (StrictHostKeyChecking);
	// "" uses ssh's own known_hosts files.
	KnownHosts string `yaml:"known_hosts"`
	Command    string `yaml:"command"` // remote command; a forced command in authorized_keys overrides it
}

// Kind is TargetSSH when SSH is set and TargetTLS otherwise.
func (t Target) Kind() TargetKind {
	if t.SSH != "" {
		return TargetSSH
	}
	return TargetTLS
}

// Job is one backup job: what to snapshot, when, how, where to send it, and what to keep.
type Job struct {
	Name          string      `yaml:"name"`
	Schedule      Schedule    `yaml:"schedule"` // when the daemon runs it; zero: only `hotzfs backup` runs it
	Guests        []string    `yaml:"guests"`   // libvirt domain names or globs ("web-*")
	Datasets      []string    `yaml:"datasets"` // plain datasets (no guest)
	Quiesce       Quiesce     `yaml:"quiesce"`
	FreezeTimeout Duration    `yaml:"freeze_timeout"` // longest a guest stays frozen
	Hooks         Hooks       `yaml:"hooks"`
	Target        string      `yaml:"target"`      // a key of Sender.Targets
	TargetRoot    string      `yaml:"target_root"` // dataset prefix on the receiver, inside the client's root
	Compression   Compression `yaml:"compression"`
	Bandwidth     Bandwidth   `yaml:"bandwidth"`
	Send          SendFlags   `yaml:"send"`
	// AllowRollback lets a replication roll the target back (zfs receive -F) when it has snapshots the
	// source does not; without it such a target is an error.
	AllowRollback  bool      `yaml:"allow_rollback"`
	SnapshotPrefix string    `yaml:"snapshot_prefix"` // hotzfs prunes only snapshots with its prefix
	Retention      Retention `yaml:"retention"`

	// DiskMap names the dataset of guest disks whose source does not show it: guest → disk target ("vda") →
	// zvol or filesystem, for disks served from this host over NBD or iSCSI to a hypervisor elsewhere.
	DiskMap map[string]map[string]string `yaml:"disk_map"`
}

// Hooks are command pairs run around a job's snapshot, nested like defers: the pre commands in list order
// before the guests are frozen (the first failure stops the run), then the post commands after the thaw, in
// reverse list order, of every entry whose pre command succeeded or that has none — also when the run failed.
// A post command thus undoes the pre command of its own entry (lock/unlock).
type Hooks []Hook

// Hook is one entry of Hooks: a pre command, a post command, or both; each is an argv run without a shell.
type Hook struct {
	Pre     []string `yaml:"pre"`     // argv; [0] is looked up in PATH unless it has a '/'
	Post    []string `yaml:"post"`    // argv, run after the snapshot if Pre succeeded (or is empty)
	Timeout Duration `yaml:"timeout"` // each command is killed after this long
}

// shapeHint explains the form hooks had before they were paired (hooks: {pre: [...], post: [...]}).
func (Hooks) shapeHint(found ast.Node) string {
	if _, ok := unwrap(found).(*ast.MappingNode); !ok {
		return ""
	}
	return "the separate pre: and post: lists are gone, because a post-hook must undo its own pre-hook: " +
		"write one entry per pair, hooks: [{pre: [/usr/local/sbin/app-lock], post: [/usr/local/sbin/app-unlock], " +
		"timeout: 30s}, …] (pre: {run: X} becomes pre: X; a post-hook with no pre-hook is an entry with only post:)"
}

// SendFlags choose zfs send's stream options.
type SendFlags struct {
	Raw         bool `yaml:"raw"`          // -w: encrypted datasets travel encrypted; the receiver needs no key
	Compressed  bool `yaml:"compressed"`   // -c: blocks compressed on disk stay compressed
	LargeBlocks bool `yaml:"large_blocks"` // -L: keep records larger than 128 KiB
	Embedded    bool `yaml:"embedded"`     // -e: keep embedded data blocks
}

// Defaults and bounds of the sender config.
const (
	DefaultLibvirtURI     = "qemu:///system"
	DefaultStateDir       = "/var/lib/hotzfs"
	DefaultSSHPort        = 22
	DefaultSSHCommand     = "hotzfs serve --stdio"
	DefaultQuiesce        = QuiescePreferred
	DefaultFreezeTimeout  = Duration(10 * time.Second)
	DefaultCompression    = CompressionDefault
	DefaultSnapshotPrefix = "hotzfs"
	DefaultHookTimeout    = Duration(time.Minute)

	MinFreezeTimeout = Duration(time.Second)
	MaxFreezeTimeout = Duration(10 * time.Minute)
	MinHookTimeout   = Duration(time.Second)
	MaxHookTimeout   = Duration(time.Hour)
)

// LoadSender reads, decodes and validates a sender config file. It does not open the files the config
// names; see CheckFiles.
func LoadSender(path string) (*Sender, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sender config: %w%s", err, exampleHint(err, path, "hotzfs.yaml"))
	}
	return ParseSender(path, data)
}

// ParseSender decodes and validates a sender config; name is the file name used in messages, and relative
// paths in the config are taken relative to its directory. Every problem is reported, joined.
func ParseSender(name string, data []byte) (*Sender, error) {
	src, err := parseSource(name, data)
	if err != nil {
		return nil, err
	}
	s := &Sender{src: src}
	if err := src.decode(s); err != nil {
		return nil, err
	}
	s.resolvePaths(filepath.Dir(name))
	s.applyDefaults()
	list := append(src.errs, Problems(s.Validate())...)
	if err := joinSorted(list); err != nil {
		return nil, err
	}
	return s, nil
}

// File is the file the config was read from ("" when built in code).
func (s *Sender) File() string {
	if s.src == nil {
		return ""
	}
	return s.src.file
}

// applyDefaults fills in every setting left out (or set to 0 or ""). It is the one place sender defaults
// are set.
func (s *Sender) applyDefaults() {
	setDefault(&s.Libvirt.URI, DefaultLibvirtURI)
	setDefault(&s.StateDir, DefaultStateDir)
	for name, t := range s.Targets {
		if t.Kind() == TargetSSH {
			setDefault(&t.Port, DefaultSSHPort)
			setDefault(&t.Command, DefaultSSHCommand)
		}
		s.Targets[name] = t
	}
	for i := range s.Jobs {
		j := &s.Jobs[i]
		setDefault(&j.Quiesce, DefaultQuiesce)
		setDefault(&j.FreezeTimeout, DefaultFreezeTimeout)
		setDefault(&j.Compression, DefaultCompression)
		setDefault(&j.SnapshotPrefix, DefaultSnapshotPrefix)
		for k := range j.Hooks {
			setDefault(&j.Hooks[k].Timeout, DefaultHookTimeout)
		}
	}
}

// resolvePaths makes the file paths in the config absolute, relative to dir (the config file's directory).
func (s *Sender) resolvePaths(dir string) {
	for name, t := range s.Targets {
		for _, p := range []*string{&t.CA, &t.Cert, &t.Key, &t.Identity, &t.KnownHosts} {
			resolvePath(p, dir)
		}
		s.Targets[name] = t
	}
}

// setDefault sets *v to def when it is the zero value.
func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// resolvePath makes *p absolute relative to dir, unless it is empty, absolute already, or starts with ~
// (which Validate reports).
func resolvePath(p *string, dir string) {
	if *p != "" && !filepath.IsAbs(*p) && !strings.HasPrefix(*p, "~") {
		if abs, err := filepath.Abs(filepath.Join(dir, *p)); err == nil {
			*p = abs
		}
	}
}
