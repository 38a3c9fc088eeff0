package transport

import "time"

// Message is a control message. Kind is its "type" on the wire; Validate checks its shape (names, sizes,
// required fields). [ReadMessage] calls Validate on everything it returns; the receiver must still map
// dataset names into the client's root with [ResolveDataset].
type Message interface {
	Kind() string
	Validate() error
}

// Message kinds on the wire.
const (
	KindHello          = "hello"
	KindListRequest    = "list-request"
	KindListResponse   = "list-response"
	KindReceiveRequest = "receive-request"
	KindSendRequest    = "send-request"
	KindReady          = "ready"
	KindResult         = "result"
	KindPruneRequest   = "prune-request"
	KindPruneResponse  = "prune-response"
	// KindSnapshotRequest and KindSnapshotResponse snapshot clones on the receiver (failback).
	KindSnapshotRequest  = "snapshot-request"
	KindSnapshotResponse = "snapshot-response"
	// KindCloneRequest and KindCloneResponse clone received snapshots on the receiver (migrate).
	KindCloneRequest  = "clone-request"
	KindCloneResponse = "clone-response"
	KindError         = "error"
)

// newMessage returns an empty message of the given kind, or nil for an unknown kind.
func newMessage(kind string) Message {
	switch kind {
	case KindHello:
		return &Hello{}
	case KindListRequest:
		return &ListRequest{}
	case KindListResponse:
		return &ListResponse{}
	case KindReceiveRequest:
		return &ReceiveRequest{}
	case KindSendRequest:
		return &SendRequest{}
	case KindReady:
		return &Ready{}
	case KindResult:
		return &Result{}
	case KindPruneRequest:
		return &PruneRequest{}
	case KindPruneResponse:
		return &PruneResponse{}
	case KindSnapshotRequest:
		return &SnapshotRequest{}
	case KindSnapshotResponse:
		return &SnapshotResponse{}
	case KindCloneRequest:
		return &CloneRequest{}
	case KindCloneResponse:
		return &CloneResponse{}
	case KindError:
		return &ErrorMsg{}
	}
	return nil
}

// CapabilityClone in the receiver's hello: this client may send a CloneRequest (its allow_clone policy).
const CapabilityClone = "clone"

// Hello is the first message of each side after the banner: who is talking and what it can do.
type Hello struct {
	Name         string   `json:"name"`    // client name (informational; identity comes from TLS or ssh)
	Version      string   `json:"version"` // hotzfs release, for messages and logs
	Capabilities []string `json:"capabilities,omitempty"`
}

// ListRequest asks the receiver for the client's datasets, their snapshots and resume tokens.
type ListRequest struct {
	Datasets []string `json:"datasets,omitempty"` // relative to the client's root; empty: all of them
}

// ListResponse answers a ListRequest, possibly in several messages: More is true on all but the last.
type ListResponse struct {
	Datasets []DatasetInfo `json:"datasets"`
	More     bool          `json:"more,omitempty"`
}

// DatasetInfo is one dataset as the receiver holds it.
type DatasetInfo struct {
	Name        string         `json:"name"`                   // relative to the client's root
	ResumeToken string         `json:"resume_token,omitempty"` // a partial receive waits to be resumed
	Snapshots   []SnapshotInfo `json:"snapshots"`              // oldest first (by createtxg)
	// Origin is set for a clone made from a snapshot of the same client (by failover): that snapshot,
	// relative to the client's root ("tank/vm@hotzfs_20261203T101500Z"), with its GUID. A clone of anything
	// outside the client's root has none. A restore (SendRequest) of the clone may name it as From (failback):
	// that stream is a clone stream, which zfs receives only as a new dataset (a clone of the client's own
	// snapshot with that GUID), not into an existing one.
	Origin     string `json:"origin,omitempty"`
	OriginGUID uint64 `json:"origin_guid,string,omitempty"`
}

// SnapshotInfo is one snapshot. Identity is GUID (+CreateTXG), never the name.
type SnapshotInfo struct {
	Name        string    `json:"name"` // short name, after '@'
	GUID        uint64    `json:"guid,string"`
	CreateTXG   uint64    `json:"createtxg"`
	Creation    time.Time `json:"creation"`
	Consistency string    `json:"consistency,omitempty"` // fs-frozen, crash, none; empty when unknown
	Size        uint64    `json:"size"`                  // bytes referenced
	// What the client's ReceiveRequest said of the snapshot, as the receiver recorded it (empty when the
	// stream said nothing, e.g. a resumed one). These are the client's own claims, not facts the receiver
	// checked, and only the frame limit bounds them in a listing: whoever acts on them (restore, failover)
	// checks them first ([CheckMountpoint], [CheckGuestNames], zfs.ValidateDataset).
	Source     string   `json:"source,omitempty"`
	Mountpoint string   `json:"mountpoint,omitempty"`
	Guests     []string `json:"guests,omitempty"`
}

// SnapshotRef names a snapshot of a dataset the request is about.
type SnapshotRef struct {
	Name string `json:"name"` // short name
	GUID uint64 `json:"guid,string"`
}

// ReceiveRequest announces a data stream from the client into Dataset. The receiver answers Ready (or an
// error), reads the stream, and answers Result (or an error).
type ReceiveRequest struct {
	Dataset     string      `json:"dataset"`  // target, relative to the client's root
	Snapshot    string      `json:"snapshot"` // newest snapshot the stream carries (short name)
	GUID        uint64      `json:"guid,string"`
	From        string      `json:"from,omitempty"` // incremental base (short name); empty for a full stream
	FromGUID    uint64      `json:"from_guid,string,omitempty"`
	Resume      bool        `json:"resume,omitempty"` // the stream continues the target's partial receive
	Force       bool        `json:"force,omitempty"`  // zfs receive -F, when the job allows rollback
	Raw         bool        `json:"raw,omitempty"`    // raw (encrypted) stream
	Compression Compression `json:"compression"`
	Estimate    uint64      `json:"estimate,omitempty"`    // expected stream size from zfs send -nvP
	DomainXML   string      `json:"domain_xml,omitempty"`  // the guest's definition at snapshot time
	Consistency string      `json:"consistency,omitempty"` // of Snapshot: fs-frozen, crash, offline, none
	// Where Snapshot comes from on the client, recorded with it so that a restore or failover can map the
	// guests' disk paths onto the copies: the source dataset's name, its mountpoint (filesystems with an
	// absolute one only), and the guests whose disks it holds. Not sent with a resumed stream.
	Source     string   `json:"source,omitempty"`
	Mountpoint string   `json:"mountpoint,omitempty"`
	Guests     []string `json:"guests,omitempty"`
}

// SendRequest asks the receiver to send a snapshot back (restore). The receiver answers Ready and the stream,
// or an error.
type SendRequest struct {
	Dataset  string `json:"dataset"`  // relative to the client's root
	Snapshot string `json:"snapshot"` // short name
	GUID     uint64 `json:"guid,string,omitempty"`
	// From is the incremental base the client still has (short name): a snapshot of Dataset, or, when Dataset
	// is a clone, its origin (DatasetInfo.Origin's short name; FromGUID then required).
	From        string      `json:"from,omitempty"`
	FromGUID    uint64      `json:"from_guid,string,omitempty"`
	ResumeToken string      `json:"resume_token,omitempty"` // the client's partial restore
	Raw         bool        `json:"raw,omitempty"`
	Compression Compression `json:"compression"`
}

// Ready tells the peer to start (or expect) the data stream.
type Ready struct {
	Estimate  uint64 `json:"estimate,omitempty"`   // stream size estimate, for progress (send direction)
	DomainXML string `json:"domain_xml,omitempty"` // stored guest definition (send direction)
}

// Result ends a successful receive: what arrived.
type Result struct {
	Dataset   string `json:"dataset"`  // relative to the client's root
	Snapshot  string `json:"snapshot"` // short name
	GUID      uint64 `json:"guid,string"`
	Bytes     uint64 `json:"bytes"`      // stream bytes (uncompressed)
	WireBytes uint64 `json:"wire_bytes"` // bytes on the wire
	// Target is the target dataset as it is after the receive, so the client need not list it again; a
	// receiver may leave it out.
	Target *DatasetInfo `json:"target,omitempty"`
}

// PruneRequest asks the receiver to destroy snapshots of one dataset. The receiver destroys only snapshots
// hotzfs owns and never the current incremental base; it reports what it kept and why.
type PruneRequest struct {
	Dataset   string        `json:"dataset"`
	Snapshots []SnapshotRef `json:"snapshots"`
	DryRun    bool          `json:"dry_run,omitempty"`
}

// PruneResponse answers a PruneRequest.
type PruneResponse struct {
	Dataset   string        `json:"dataset"`
	Destroyed []SnapshotRef `json:"destroyed"`
	Kept      []PruneKept   `json:"kept,omitempty"`
}

// PruneKept is a requested snapshot the receiver refused to destroy.
type PruneKept struct {
	SnapshotRef
	Reason string `json:"reason"`
}

// MaxSnapshotDatasets is the most datasets one SnapshotRequest or CloneRequest may name.
const MaxSnapshotDatasets = 64

// SnapshotRequest asks the receiver to snapshot datasets of the client's atomically (one zfs snapshot), all
// as @Name. The receiver takes only clones of the client's own received snapshots (what failover runs the
// guest on), never a received dataset, whose next incremental receive a snapshot would break. It answers a
// SnapshotResponse or an error.
type SnapshotRequest struct {
	Datasets    []string `json:"datasets"`              // relative to the client's root
	Name        string   `json:"name"`                  // short name, hotzfs-style: PREFIX_YYYYMMDDTHHMMSSZ
	Consistency string   `json:"consistency,omitempty"` // recorded with the snapshots: fs-frozen, crash, offline, none
}

// SnapshotResponse answers a SnapshotRequest: each dataset with the one snapshot made in it.
type SnapshotResponse struct {
	Datasets []DatasetInfo `json:"datasets"`
}

// CloneRequest asks the receiver to clone one snapshot set of datasets the client sent into new datasets a
// guest can run on there (migrate): each Datasets[i]@Snapshot, whose GUID must be GUIDs[i], to
// Datasets[i]+Suffix. The receiver clones only received datasets (not clones), makes no clone whose name
// exists, and serves the request only for clients with allow_clone. It answers a CloneResponse or an error;
// when it fails, the clones it made for the request are destroyed again.
type CloneRequest struct {
	Datasets []string `json:"datasets"` // received datasets, relative to the client's root
	Snapshot string   `json:"snapshot"` // short name of the snapshot set, on every dataset
	GUIDs    []uint64 `json:"guids"`    // the snapshot's GUID on each dataset, in the order of Datasets
	Suffix   string   `json:"suffix"`   // appended to each dataset's name to name its clone, e.g. "-migrated"
}

// CloneResponse answers a CloneRequest: one clone for each of its datasets, in the request's order.
type CloneResponse struct {
	Clones []CloneInfo `json:"clones"`
}

// CloneInfo is one clone a CloneRequest made. Device is udev's link for the volume's block device, which may
// appear a moment after the answer.
type CloneInfo struct {
	Dataset    string `json:"dataset"`              // the received dataset, relative to the client's root
	Clone      string `json:"clone"`                // the clone, relative to the client's root (Dataset+Suffix)
	Device     string `json:"device,omitempty"`     // a volume clone's block device: /dev/zvol/FULLNAME
	Mountpoint string `json:"mountpoint,omitempty"` // a filesystem clone's mountpoint, mounted
}

// Error codes carried by ErrorMsg.
const (
	CodeBadRequest  = "bad-request" // malformed or invalid request
	CodeForbidden   = "forbidden"   // outside the client's root, or not hotzfs's to touch
	CodeNotFound    = "not-found"   // no such dataset or snapshot
	CodeConflict    = "conflict"    // divergent target, base mismatch, partial receive in the way
	CodeBusy        = "busy"        // another stream into the same dataset, or concurrency limit
	CodeNoSpace     = "no-space"    // target pool full or quota reached
	CodeSource      = "source"      // the stream's source failed (zfs send)
	CodeUnsupported = "unsupported" // capability the peer lacks
	CodeInternal    = "internal"    // anything else
	CodeCanceled    = "canceled"    // shutdown or cancellation
	CodeCorrupt     = "corrupt"     // the stream arrived damaged
	CodeTimeout     = "timeout"     // idle or stall timeout
	CodeVersion     = "version"     // software version the peer refuses
)

// ErrorMsg reports a failed request; as a stream's error trailer it carries the sender's error.
type ErrorMsg struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Err returns the message as a *RemoteError.
func (m *ErrorMsg) Err() error { return &RemoteError{Code: m.Code, Message: m.Message} }

// Kind methods.
func (*Hello) Kind() string            { return KindHello }
func (*ListRequest) Kind() string      { return KindListRequest }
func (*ListResponse) Kind() string     { return KindListResponse }
func (*ReceiveRequest) Kind() string   { return KindReceiveRequest }
func (*SendRequest) Kind() string      { return KindSendRequest }
func (*Ready) Kind() string            { return KindReady }
func (*Result) Kind() string           { return KindResult }
func (*PruneRequest) Kind() string     { return KindPruneRequest }
func (*PruneResponse) Kind() string    { return KindPruneResponse }
func (*SnapshotRequest) Kind() string  { return KindSnapshotRequest }
func (*SnapshotResponse) Kind() string { return KindSnapshotResponse }
func (*CloneRequest) Kind() string     { return KindCloneRequest }
func (*CloneResponse) Kind() string    { return KindCloneResponse }
func (*ErrorMsg) Kind() string         { return KindError }
