package transport

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hotzfs/hotzfs/zfs"
)

// Bounds on control message contents, beyond the frame limit.
const (
	maxNames        = 10000  // datasets in a ListRequest; snapshots in a prune request or response
	maxSnapshots    = 100000 // snapshots of one dataset in a ListResponse
	maxCapabilities = 64
	capabilityLen   = 64
	consistencyLen  = 32
	shortTextLen    = 256
	codeLen         = 64
	messageLen      = 8 << 10
	domainXMLLen    = 256 << 10
	resumeTokenMax  = 8 << 10
	mountpointLen   = 1024 // MAXPATHLEN, the longest mountpoint zfs takes
	maxGuests       = 16
	guestNameLen    = 256
	cloneSuffixLen  = 32 // characters of a clone suffix after its '-'
	zvolDir         = "/dev/zvol/"
)

// Validate checks a Hello.
func (m *Hello) Validate() error {
	if err := checkText("hello name", m.Name, shortTextLen, true); err != nil {
		return err
	}
	if err := checkText("hello version", m.Version, shortTextLen, true); err != nil {
		return err
	}
	if len(m.Capabilities) > maxCapabilities {
		return fmt.Errorf("hello lists %d capabilities, more than %d", len(m.Capabilities), maxCapabilities)
	}
	for _, c := range m.Capabilities {
		if err := checkToken("capability", c, capabilityLen); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks a ListRequest.
func (m *ListRequest) Validate() error {
	if len(m.Datasets) > maxNames {
		return fmt.Errorf("list request names %d datasets, more than %d", len(m.Datasets), maxNames)
	}
	for _, d := range m.Datasets {
		if err := CheckRelativeDataset(d); err != nil {
			return fmt.Errorf("list request: %w", err)
		}
	}
	return nil
}

// Validate checks a ListResponse.
func (m *ListResponse) Validate() error {
	for i := range m.Datasets {
		if err := m.Datasets[i].validate(); err != nil {
			return fmt.Errorf("list response: %w", err)
		}
	}
	return nil
}

func (d *DatasetInfo) validate() error {
	if err := CheckRelativeDataset(d.Name); err != nil {
		return err
	}
	if err := checkResumeToken(d.ResumeToken); err != nil {
		return fmt.Errorf("dataset %q: %w", d.Name, err)
	}
	if len(d.Snapshots) > maxSnapshots {
		return fmt.Errorf("dataset %q: %d snapshots, more than %d", d.Name, len(d.Snapshots), maxSnapshots)
	}
	for _, s := range d.Snapshots {
		if err := checkSnapshotRef("snapshot", s.Name, s.GUID); err != nil {
			return fmt.Errorf("dataset %q: %w", d.Name, err)
		}
		if s.Consistency != "" {
			if err := checkToken("consistency", s.Consistency, consistencyLen); err != nil {
				return fmt.Errorf("dataset %q snapshot %q: %w", d.Name, s.Name, err)
			}
		}
	}
	if d.Origin != "" || d.OriginGUID != 0 {
		if err := CheckRelativeSnapshot(d.Origin); err != nil {
			return fmt.Errorf("dataset %q: origin: %w", d.Name, err)
		}
		if d.OriginGUID == 0 {
			return fmt.Errorf("dataset %q: origin %q without its guid", d.Name, d.Origin)
		}
	}
	return nil
}

// checkConsistency checks a consistency level: empty (unknown) or one of meta's levels.
func checkConsistency(c string) error {
	switch c {
	case "", "fs-frozen", "crash", "offline", "none":
		return nil
	}
	return fmt.Errorf("unknown consistency %.20q; use fs-frozen, crash, offline or none", c)
}

// checkBase checks an optional incremental base: name and guid together or neither.
func checkBase(from string, fromGUID uint64) error {
	if from == "" {
		if fromGUID != 0 {
			return errors.New("from_guid without from")
		}
		return nil
	}
	return checkSnapshotRef("incremental base", from, fromGUID)
}

// Validate checks a ReceiveRequest.
func (m *ReceiveRequest) Validate() error {
	if err := CheckRelativeDataset(m.Dataset); err != nil {
		return fmt.Errorf("receive request: %w", err)
	}
	if err := checkSnapshotRef("snapshot", m.Snapshot, m.GUID); err != nil {
		return fmt.Errorf("receive request: %w", err)
	}
	if err := checkBase(m.From, m.FromGUID); err != nil {
		return fmt.Errorf("receive request: %w", err)
	}
	if err := m.Compression.Validate(); err != nil {
		return fmt.Errorf("receive request: %w", err)
	}
	if len(m.DomainXML) > domainXMLLen {
		return fmt.Errorf("receive request: domain XML is %d bytes, more than %d", len(m.DomainXML), domainXMLLen)
	}
	if err := checkConsistency(m.Consistency); err != nil {
		return fmt.Errorf("receive request: %w", err)
	}
	if m.Source != "" {
		if err := zfs.ValidateDataset(m.Source); err != nil {
			return fmt.Errorf("receive request: source: %w", err)
		}
	}
	if m.Mountpoint != "" {
		if err := CheckMountpoint(m.Mountpoint); err != nil {
			return fmt.Errorf("receive request: %w", err)
		}
	}
	if err := CheckGuestNames(m.Guests); err != nil {
		return fmt.Errorf("receive request: %w", err)
	}
	return nil
}

// CheckMountpoint checks a filesystem's mountpoint as a client reports it: an absolute path already in
// filepath.Clean's form (no "..", "." or empty components, no trailing '/'), UTF-8 without control characters,
// at most 1024 bytes.
func CheckMountpoint(p string) error {
	if err := checkText("mountpoint", p, mountpointLen, true); err != nil {
		return err
	}
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return fmt.Errorf("mountpoint %.70q is not an absolute path in its shortest form", p)
	}
	return nil
}

// CheckGuestNames checks the guests a client reports for a snapshot: at most 16, each a name libvirt could
// have given a domain — 1 to 256 bytes of UTF-8 without control characters, ',' (hotzfs:guest separates the
// names with it) or '/' (it would read as a path).
func CheckGuestNames(names []string) error {
	if len(names) > maxGuests {
		return fmt.Errorf("guests: %d names, more than %d", len(names), maxGuests)
	}
	for _, g := range names {
		if err := checkText("guest name", g, guestNameLen, true); err != nil {
			return err
		}
		if strings.ContainsAny(g, ",/") {
			return fmt.Errorf("guest name %.70q contains ',' or '/'", g)
		}
	}
	return nil
}

// Validate checks a SendRequest. The snapshot may be omitted only when resuming with a token.
func (m *SendRequest) Validate() error {
	if err := CheckRelativeDataset(m.Dataset); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	if err := checkResumeToken(m.ResumeToken); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	if m.Snapshot != "" || m.ResumeToken == "" {
		if err := checkSnapshotRef("snapshot", m.Snapshot, max(m.GUID, 1)); err != nil {
			return fmt.Errorf("send request: %w", err)
		}
	}
	if err := checkBase(m.From, m.FromGUID); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	if err := m.Compression.Validate(); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	return nil
}

// Validate checks a Ready.
func (m *Ready) Validate() error {
	if len(m.DomainXML) > domainXMLLen {
		return fmt.Errorf("ready: domain XML is %d bytes, more than %d", len(m.DomainXML), domainXMLLen)
	}
	return nil
}

// Validate checks a Result.
func (m *Result) Validate() error {
	if err := CheckRelativeDataset(m.Dataset); err != nil {
		return fmt.Errorf("result: %w", err)
	}
	if err := checkSnapshotRef("snapshot", m.Snapshot, m.GUID); err != nil {
		return fmt.Errorf("result: %w", err)
	}
	return nil
}

// Validate checks a PruneRequest.
func (m *PruneRequest) Validate() error {
	if err := CheckRelativeDataset(m.Dataset); err != nil {
		return fmt.Errorf("prune request: %w", err)
	}
	if len(m.Snapshots) == 0 || len(m.Snapshots) > maxNames {
		return fmt.Errorf("prune request: %d snapshots; name 1 to %d", len(m.Snapshots), maxNames)
	}
	for _, s := range m.Snapshots {
		if err := checkSnapshotRef("snapshot", s.Name, s.GUID); err != nil {
			return fmt.Errorf("prune request: %w", err)
		}
	}
	return nil
}

// Validate checks a PruneResponse.
func (m *PruneResponse) Validate() error {
	if err := CheckRelativeDataset(m.Dataset); err != nil {
		return fmt.Errorf("prune response: %w", err)
	}
	if len(m.Destroyed)+len(m.Kept) > maxNames {
		return fmt.Errorf("prune response: more than %d snapshots", maxNames)
	}
	for _, s := range m.Destroyed {
		if err := checkSnapshotRef("destroyed snapshot", s.Name, s.GUID); err != nil {
			return fmt.Errorf("prune response: %w", err)
		}
	}
	for _, k := range m.Kept {
		if err := checkSnapshotRef("kept snapshot", k.Name, k.GUID); err != nil {
			return fmt.Errorf("prune response: %w", err)
		}
		if err := checkText("reason", k.Reason, shortTextLen, true); err != nil {
			return fmt.Errorf("prune response: snapshot %q: %w", k.Name, err)
		}
	}
	return nil
}

// Validate checks a SnapshotRequest: 1 to MaxSnapshotDatasets distinct datasets, a snapshot name, a known
// consistency level.
func (m *SnapshotRequest) Validate() error {
	if len(m.Datasets) == 0 || len(m.Datasets) > MaxSnapshotDatasets {
		return fmt.Errorf("snapshot request: %d datasets; name 1 to %d", len(m.Datasets), MaxSnapshotDatasets)
	}
	seen := make(map[string]bool, len(m.Datasets))
	for _, d := range m.Datasets {
		if err := CheckRelativeDataset(d); err != nil {
			return fmt.Errorf("snapshot request: %w", err)
		}
		if seen[d] {
			return fmt.Errorf("snapshot request: dataset %q named twice", d)
		}
		seen[d] = true
	}
	if err := zfs.ValidateSnapshotName(m.Name); err != nil {
		return fmt.Errorf("snapshot request: %w", err)
	}
	if err := checkConsistency(m.Consistency); err != nil {
		return fmt.Errorf("snapshot request: %w", err)
	}
	return nil
}

// Validate checks a SnapshotResponse: at most MaxSnapshotDatasets datasets, each with one snapshot.
func (m *SnapshotResponse) Validate() error {
	if len(m.Datasets) > MaxSnapshotDatasets {
		return fmt.Errorf("snapshot response: %d datasets, more than %d", len(m.Datasets), MaxSnapshotDatasets)
	}
	for i := range m.Datasets {
		d := &m.Datasets[i]
		if err := d.validate(); err != nil {
			return fmt.Errorf("snapshot response: %w", err)
		}
		if len(d.Snapshots) != 1 {
			return fmt.Errorf("snapshot response: dataset %q with %d snapshots, want the one made", d.Name, len(d.Snapshots))
		}
		if err := checkConsistency(d.Snapshots[0].Consistency); err != nil {
			return fmt.Errorf("snapshot response: dataset %q: %w", d.Name, err)
		}
	}
	return nil
}

// Validate checks a CloneRequest: 1 to MaxSnapshotDatasets distinct datasets, each with a GUID, a snapshot
// name, and a suffix ('-' and 1 to 32 of [A-Za-z0-9_.:]) that makes of each dataset's name a valid name
// that is none of the request's datasets.
func (m *CloneRequest) Validate() error {
	if len(m.Datasets) == 0 || len(m.Datasets) > MaxSnapshotDatasets {
		return fmt.Errorf("clone request: %d datasets; name 1 to %d", len(m.Datasets), MaxSnapshotDatasets)
	}
	if len(m.GUIDs) != len(m.Datasets) {
		return fmt.Errorf("clone request: %d guids for %d datasets; give the snapshot's guid on each dataset",
			len(m.GUIDs), len(m.Datasets))
	}
	if err := zfs.ValidateSnapshotName(m.Snapshot); err != nil {
		return fmt.Errorf("clone request: %w", err)
	}
	if err := checkCloneSuffix(m.Suffix); err != nil {
		return fmt.Errorf("clone request: %w", err)
	}
	seen := make(map[string]bool, len(m.Datasets))
	for _, d := range m.Datasets {
		if err := CheckRelativeDataset(d); err != nil {
			return fmt.Errorf("clone request: %w", err)
		}
		if seen[d] {
			return fmt.Errorf("clone request: dataset %q named twice", d)
		}
		seen[d] = true
	}
	for i, d := range m.Datasets {
		if m.GUIDs[i] == 0 {
			return fmt.Errorf("clone request: %s@%s: missing guid", d, m.Snapshot)
		}
		if err := CheckRelativeDataset(d + m.Suffix); err != nil {
			return fmt.Errorf("clone request: clone of %q: %w", d, err)
		}
		if seen[d+m.Suffix] {
			return fmt.Errorf("clone request: the clone of %q would be %q, another dataset of the request", d, d+m.Suffix)
		}
	}
	return nil
}

// checkCloneSuffix checks a clone suffix: '-' and 1 to cloneSuffixLen letters, digits, '_', '.' or ':'.
func checkCloneSuffix(s string) error {
	bad := len(s) < 2 || len(s) > 1+cloneSuffixLen || s[0] != '-'
	for i := 1; i < len(s) && !bad; i++ {
		c := s[i]
		bad = (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '.' && c != ':'
	}
	if bad {
		return fmt.Errorf("suffix %.40q: use '-' and 1 to %d letters, digits, '_', '.' or ':', like -migrated",
			s, cloneSuffixLen)
	}
	return nil
}

// Validate checks a CloneResponse: at most MaxSnapshotDatasets distinct datasets, each with its clone and
// either a device under /dev/zvol/ (a volume) or an absolute mountpoint (a filesystem).
func (m *CloneResponse) Validate() error {
	if len(m.Clones) > MaxSnapshotDatasets {
		return fmt.Errorf("clone response: %d clones, more than %d", len(m.Clones), MaxSnapshotDatasets)
	}
	seen := make(map[string]bool, len(m.Clones))
	for _, c := range m.Clones {
		if err := CheckRelativeDataset(c.Dataset); err != nil {
			return fmt.Errorf("clone response: %w", err)
		}
		if seen[c.Dataset] {
			return fmt.Errorf("clone response: dataset %q named twice", c.Dataset)
		}
		seen[c.Dataset] = true
		if err := CheckRelativeDataset(c.Clone); err != nil {
			return fmt.Errorf("clone response: clone of %q: %w", c.Dataset, err)
		}
		var err error
		switch {
		case (c.Device == "") == (c.Mountpoint == ""):
			err = errors.New("want a device (a volume) or a mountpoint (a filesystem), exactly one")
		case c.Device != "":
			err = checkZvolDevice(c.Device)
		default:
			err = CheckMountpoint(c.Mountpoint)
		}
		if err != nil {
			return fmt.Errorf("clone response: clone %q: %w", c.Clone, err)
		}
	}
	return nil
}

// checkZvolDevice checks a volume's device path: /dev/zvol/ and a valid dataset name.
func checkZvolDevice(p string) error {
	name, ok := strings.CutPrefix(p, zvolDir)
	if !ok {
		return fmt.Errorf("device %.70q is not under %s", p, zvolDir)
	}
	if err := zfs.ValidateDataset(name); err != nil {
		return fmt.Errorf("device %.70q: %w", p, err)
	}
	return nil
}

// Validate checks an ErrorMsg. The message may span lines (zfs stderr) but holds no other control characters.
func (m *ErrorMsg) Validate() error {
	if err := checkToken("error code", m.Code, codeLen); err != nil {
		return err
	}
	if len(m.Message) > messageLen {
		return fmt.Errorf("error message is %d bytes, more than %d", len(m.Message), messageLen)
	}
	return checkText("error message", stripNewlines(m.Message), messageLen, false)
}

func stripNewlines(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\t' {
			b[i] = ' '
		}
	}
	return string(b)
}
