// Package snapshot takes a job's snapshot set: pre-hooks, freeze the guests, one atomic `zfs snapshot` per pool,
// a guaranteed thaw (watchdog process and state record included), post-hooks; snapshot naming and ownership.
package snapshot

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hotzfs/hotzfs/guest"
	"github.com/hotzfs/hotzfs/meta"
)

// Policy says what to do about freezing a guest's filesystems through its agent.
type Policy string

// Quiesce policies.
const (
	// Required: the guest's datasets are snapshotted only if the freeze succeeds (or the guest is shut off);
	// otherwise that guest fails (ErrQuiesceFailed) and the rest of the set is still taken.
	Required Policy = "required"
	// Preferred: try to freeze; take a crash-consistent snapshot (with a warning) if that is not possible.
	Preferred Policy = "preferred"
	// Off: never freeze; snapshots of running guests are crash-consistent.
	Off Policy = "off"
)

// Consistency is what a snapshot's data is consistent with (meta owns the levels and property names).
type Consistency = meta.Consistency

// Consistency levels and user properties, as meta defines them.
const (
	FSFrozen        = meta.FSFrozen
	Crash           = meta.Crash
	Offline         = meta.Offline
	None            = meta.None
	PropOwner       = meta.PropOwner
	PropJob         = meta.PropJob
	PropConsistency = meta.PropConsistency
	PropGuest       = meta.PropGuest
	PropDomXML      = meta.PropDomXML
	OwnerValue      = meta.OwnerValue
)

// Error kinds of Take (test with errors.Is).
var (
	// ErrQuiesceFailed: a guest with policy required could not be frozen; its datasets were not snapshotted.
	ErrQuiesceFailed = errors.New("guest could not be quiesced")
	// ErrNotThawed: a guest could not be confirmed thawed in time. The watchdog keeps trying, and
	// RecoverFrozen at the next start thaws it.
	ErrNotThawed = errors.New("guest not confirmed thawed")
	// ErrHookFailed: a pre- or post-hook failed or timed out.
	ErrHookFailed = errors.New("hook failed")
	// ErrSnapshotFailed: the zfs snapshot of a pool, or setting its properties, failed.
	ErrSnapshotFailed = errors.New("snapshot failed")
)

// Quiescer is the part of *guest.Client that Take, the watchdog and RecoverFrozen use.
type Quiescer interface {
	Lookup(ctx context.Context, name string) (guest.Domain, error)
	State(ctx context.Context, dom guest.Domain) (guest.State, error)
	XML(ctx context.Context, dom guest.Domain, inactive bool) (string, error)
	SetAgentTimeout(ctx context.Context, dom guest.Domain, d time.Duration) error
	Freeze(ctx context.Context, dom guest.Domain) (int, error)
	ThawUntilThawed(ctx context.Context, dom guest.Domain, interval time.Duration) error
}

// Snapshotter is the part of *zfs.Runner that Take uses.
type Snapshotter interface {
	SnapshotAtomic(ctx context.Context, snapshots []string, props map[string]string) error
	SetProps(ctx context.Context, name string, props map[string]string) error
}

// Guest is one guest of the set: its domain, the datasets/zvols holding its disks (guest.MapDisks) and its policy.
type Guest struct {
	Domain   guest.Domain
	Datasets []string
	Quiesce  Policy
}

// Hook is a host command pair around the snapshot, run without a shell. Pre runs before the guests are frozen
// (hooks in order; the first failure stops the run); Post runs after the thaw, in reverse order, for every hook
// whose Pre succeeded (or is empty) — also when the run failed. Each command is killed (its whole process group)
// after Timeout.
type Hook struct {
	Name      string
	Pre, Post []string // argv; [0] is looked up in PATH unless it contains a '/'
	Timeout   time.Duration
}

// Request is one snapshot set to take, with the systems to take it on.
type Request struct {
	Job      string  // recorded as hotzfs:job
	Prefix   string  // snapshot name prefix: PREFIX_20261126T011500Z
	Guests   []Guest // guests whose disks to snapshot
	Datasets []string
	Hooks    []Hook
	// At is the time in the snapshot name; zero means now.
	At time.Time
	// FreezeTimeout bounds how long any guest stays frozen, even if this process is killed (the watchdog).
	// Zero means DefaultFreezeTimeout.
	FreezeTimeout time.Duration
	// ThawTimeout bounds this process's own thaw retries (the watchdog goes on after it). Zero: DefaultThawTimeout.
	ThawTimeout time.Duration
	// StateDir holds the frozen-guest record (RecoverFrozen). Empty: no record (tests only).
	StateDir string

	Quiescer    Quiescer
	Snapshotter Snapshotter
	// Guard starts the watchdog process; nil runs without one (tests with fakes only).
	Guard *GuardSpec
	// Logger; nil means slog.Default() with a job attribute (a caller's own logger names the job itself).
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultFreezeTimeout = 10 * time.Second
	DefaultThawTimeout   = 2 * time.Minute
	thawInterval         = 500 * time.Millisecond
)

// Result reports what Take did, also when it returns an error.
type Result struct {
	Name      string          // the snapshot name (short); a pool that hit a name collision may use Name_N
	Snapshots []SnapshotInfo  // one per dataset, in request order
	Guests    []GuestOutcome  // one per guest, in request order
	Hooks     []HookOutcome   // pre and post runs, in the order they ran
	Window    time.Duration   // freeze window: first freeze start to last thaw done (0: nothing frozen)
	SnapTime  time.Duration   // wall time of the snapshot step (all pools, in parallel)
	FreezeFor []time.Duration // how long each freeze call took, for the guests whose freeze was attempted
}

// SnapshotInfo is one dataset's snapshot.
type SnapshotInfo struct {
	Dataset     string
	Snapshot    string // full name dataset@name; empty when not taken
	Guests      []string
	Consistency Consistency
	Err         error // why it was not taken, or why its properties could not be set
}

// GuestOutcome is what happened to one guest.
type GuestOutcome struct {
	Name        string
	State       guest.State
	Consistency Consistency // "" when the guest failed (its datasets were not snapshotted)
	Froze       bool        // the freeze succeeded
	Attempted   bool        // a freeze was attempted, so a thaw ran
	Err         error       // freeze failure (a warning under preferred) or the reason the guest failed
	ThawErr     error
}

// HookOutcome is one hook command run.
type HookOutcome struct {
	Name     string
	Phase    string // "pre" or "post"
	Duration time.Duration
	Err      error
}
