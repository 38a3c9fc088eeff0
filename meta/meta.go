// Package meta is hotzfs's vocabulary on ZFS, shared by the sender and the receiver: the user properties it
// sets on snapshots, the consistency levels, the hold tags, and the codec of the domain XML it stores.
package meta

import "strings"

// Consistency is what a snapshot's data is consistent with, recorded as the hotzfs:consistency property.
type Consistency string

// Consistency levels.
const (
	FSFrozen Consistency = "fs-frozen" // the agent froze all guest filesystems during the snapshot
	Crash    Consistency = "crash"     // as after a power cut: running or paused guest, not frozen
	Offline  Consistency = "offline"   // the guest was shut off: consistent without freezing
	None     Consistency = "none"      // a plain dataset, no guest
)

// User properties hotzfs sets on its snapshots.
const (
	PropOwner       = "hotzfs:owner" // always OwnerValue
	PropJob         = "hotzfs:job"
	PropConsistency = "hotzfs:consistency"
	PropGuest       = "hotzfs:guest"  // the guest(s) whose disks the dataset holds, comma-separated
	PropDomXML      = "hotzfs:domxml" // base of the domain XML chunks, see EncodeDomainXML
	// On received snapshots: the dataset's name and mountpoint on the sending host when it was sent, so that
	// a restore or failover maps the guest's disk paths (/dev/zvol/SOURCE/..., files under MOUNTPOINT) onto
	// the copies whatever target_root and mountpoints are in use. Client-supplied: only ever used to rewrite
	// paths of that client's own domain XML onto its own datasets.
	PropSource     = "hotzfs:source"
	PropMountpoint = "hotzfs:mountpoint"
	OwnerValue     = "hotzfs"
)

// Hold tags. On the receiver, ReceiverBaseHold marks the newest received snapshot of each dataset (the
// incremental base). On the sender, each target's base carries SenderBaseHold(target).
const (
	ReceiverBaseHold     = "hotzfs-base"
	senderBaseHoldPrefix = "hotzfs-base:"
)

// SenderBaseHold is the hold tag of the incremental base a sender keeps for one target.
func SenderBaseHold(target string) string { return senderBaseHoldPrefix + target }

// IsSenderBaseHold reports whether tag is a sender's base hold (of any target).
func IsSenderBaseHold(tag string) bool { return strings.HasPrefix(tag, senderBaseHoldPrefix) }
