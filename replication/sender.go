package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/hotzfs/hotzfs/meta"
	"github.com/hotzfs/hotzfs/transport"
	"github.com/hotzfs/hotzfs/zfs"
)

// SendFlags are the zfs send flags a job may ask for.
type SendFlags struct {
	Raw, Compressed, LargeBlocks, Embedded bool
}

// Sender replicates source datasets to a receiver through one client session.
type Sender struct {
	ZFS           *zfs.Runner
	Client        *Client
	Log           *slog.Logger
	Compression   transport.Compression
	Flags         SendFlags
	Bandwidth     int64  // bytes per second on the wire; 0: unlimited
	HoldTag       string // hold placed on the source's incremental base, e.g. "hotzfs-base:offsite"
	AllowRollback bool
	// Progress, if set, is called with each stream's progress counter when it starts.
	Progress func(dataset string, p *transport.Progress)
}

// Dataset is one source dataset to replicate: its name, its snapshots and bookmarks and its mountpoint (from
// the run's one listing), and its name on the receiver, relative to the client's root.
type Dataset struct {
	Source    string
	Snapshots []zfs.Dataset
	Target    string
	// Mountpoint is the filesystem's; "" for a volume or a filesystem with mountpoint=none or legacy. The
	// receiver records it with each snapshot, so a restore finds the guests' image files on the copy.
	Mountpoint string
}

// Report says what one Replicate did.
type Report struct {
	Source, Target string
	Steps          []StepReport
	Base           string // newest snapshot common to both sides afterwards (short name)
	BaseGUID       uint64
	TargetSnaps    []transport.SnapshotInfo
	// Held is the source snapshot now holding HoldTag (full name); Released lists those that no longer do.
	Held     string
	Released []string
}

// StepReport is one stream sent.
type StepReport struct {
	Step      string
	Bytes     uint64
	WireBytes uint64
	Duration  time.Duration
}

// maxRounds bounds plan-execute rounds: a resume is followed by a fresh plan, and a stale token by a restart.
const maxRounds = 4

// Replicate brings the target of ds up to date with ds's newest snapshot, then holds that snapshot on the
// source as the new incremental base.
func (s *Sender) Replicate(ctx context.Context, ds Dataset) (Report, error) {
	rep := Report{Source: ds.Source, Target: ds.Target}
	source := toSnaps(ds.Snapshots)
	ignoreToken := false
	resumeFailures := 0
	var known *transport.DatasetInfo // the target as the last stream's result described it
	for round := 0; round < maxRounds; round++ {
		info, found := transport.DatasetInfo{}, true
		if known != nil {
			info = *known
		} else {
			var err error
			if info, found, err = s.targetInfo(ds.Target); err != nil {
				return rep, err
			}
		}
		known = nil
		in := Input{Source: source, TargetExists: found, AllowRollback: s.AllowRollback}
		for _, t := range info.Snapshots {
			in.Target = append(in.Target, Snap{Name: t.Name, GUID: t.GUID, CreateTXG: t.CreateTXG})
		}
		if !ignoreToken && info.ResumeToken != "" {
			if _, err := checkResumeToken(info.ResumeToken, ds, s.Flags); err != nil {
				s.log().Warn("refusing the receiver's resume token; starting over without it", "dataset", ds.Source,
					"target", ds.Target, "reason", err)
				ignoreToken = true
			}
		}
		if !ignoreToken {
			in.ResumeToken = info.ResumeToken
		} else if info.ResumeToken != "" && len(info.Snapshots) == 0 {
			// The target is only an interrupted full receive, which the receiver discards before a new stream.
			in.TargetExists = false
		}
		plan, err := MakePlan(in)
		if err != nil {
			return rep, fmt.Errorf("%s → %s: %w", ds.Source, ds.Target, err)
		}
		if plan.UpToDate() {
			rep.TargetSnaps = info.Snapshots
			return rep, s.finish(ctx, ds, plan, &rep)
		}
		if len(plan.Discards) > 0 {
			s.log().Warn("rolling the target back", "dataset", ds.Source, "target", ds.Target, "discards", strings.Join(plan.Discards, " "))
		}
		for _, step := range plan.Steps {
			sr, target, err := s.runStep(ctx, ds, step)
			if err != nil && step.ResumeToken != "" && !refusedBusy(err) {
				// Try once more with a freshly read token; then, or at once when the token can never work,
				// start over: the receiver discards the partial state and keeps its last complete snapshot.
				resumeFailures++
				known = nil
				if resumeImpossible(err) || resumeFailures >= 2 {
					s.log().Warn("the interrupted receive cannot be resumed; starting over", "dataset", ds.Source, "err", err)
					ignoreToken = true
				} else {
					s.log().Warn("resume failed; trying again with the target's current token", "dataset", ds.Source, "err", err)
				}
				break
			}
			if err != nil {
				return rep, err
			}
			rep.Steps = append(rep.Steps, sr)
			known = target
			if step.ResumeToken != "" {
				break // the target changed under the plan: plan again
			}
		}
	}
	return rep, fmt.Errorf("%s → %s: not up to date after %d rounds", ds.Source, ds.Target, maxRounds)
}

func (s *Sender) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// resumeImpossible reports a resume that can never succeed: the token is stale or its snapshot is gone.
func resumeImpossible(err error) bool {
	return errors.Is(err, zfs.ErrResumeTokenInvalid) || errors.Is(err, zfs.ErrDatasetNotFound)
}

// refusedBusy reports a stream the receiver turned away because another stream into the dataset is still
// running (a sender that died moments ago leaves one until the receiver sees its connection end) or its slots are
// taken. Nothing was received, so an interrupted receive and its token are as good as before: the caller retries
// later (a job run does, as for any transient failure) instead of counting the token as failed.
func refusedBusy(err error) bool {
	var re *transport.RemoteError
	return errors.As(err, &re) && re.Code == transport.CodeBusy
}

func (s *Sender) targetInfo(target string) (transport.DatasetInfo, bool, error) {
	infos, err := s.Client.List([]string{target})
	if err != nil {
		return transport.DatasetInfo{}, false, err
	}
	for _, info := range infos {
		if info.Name == target {
			return info, true, nil
		}
	}
	return transport.DatasetInfo{Name: target}, false, nil
}

func toSnaps(list []zfs.Dataset) []Snap {
	var out []Snap
	for _, d := range list {
		if d.Type != zfs.Snapshot && d.Type != zfs.Bookmark {
			continue
		}
		out = append(out, Snap{Name: d.Short(), GUID: d.GUID, CreateTXG: d.CreateTXG, Bookmark: d.Type == zfs.Bookmark})
	}
	return out
}

// runStep sends one stream and checks that the receiver got the snapshot with the GUID the source has. It
// returns the target's state after the stream when the receiver told it (nil: list it).
func (s *Sender) runStep(ctx context.Context, ds Dataset, step Step) (StepReport, *transport.DatasetInfo, error) {
	opts := zfs.SendOptions{ResumeToken: step.ResumeToken, Raw: s.Flags.Raw, Compressed: s.Flags.Compressed,
		LargeBlocks: s.Flags.LargeBlocks, Embedded: s.Flags.Embedded}
	req := &transport.ReceiveRequest{Dataset: ds.Target, Force: step.Force, Raw: s.Flags.Raw, Compression: s.Compression}
	if step.ResumeToken != "" {
		opts = zfs.SendOptions{ResumeToken: step.ResumeToken}
		// Checked again where it is used: `zfs send -t` only ever gets a token that resumes this job's stream.
		tok, err := checkResumeToken(step.ResumeToken, ds, s.Flags)
		if err != nil {
			return StepReport{}, nil, fmt.Errorf("%s → %s: resume token: %w", ds.Source, ds.Target, err)
		}
		_, short, _ := strings.Cut(tok.ToName, "@")
		req.Snapshot, req.GUID, req.Resume = short, tok.ToGUID, true
	} else {
		opts.Snapshot, opts.From, opts.Intermediates = ds.Source+"@"+step.To, step.From, step.Intermediates
		req.Snapshot, req.GUID = step.To, guidOf(ds.Snapshots, step.To, zfs.Snapshot)
		if step.From != "" {
			kind := zfs.Snapshot
			if step.From[0] == '#' {
				kind = zfs.Bookmark
			}
			req.From, req.FromGUID = step.From[1:], guidOf(ds.Snapshots, step.From[1:], kind)
		}
	}
	// The size estimate and the snapshot's metadata are two zfs calls that need not wait for each other.
	type estimated struct {
		size uint64
		err  error
	}
	est := make(chan estimated, 1)
	go func() {
		size, err := s.ZFS.Estimate(ctx, opts)
		est <- estimated{size, err}
	}()
	var metaErr error
	if step.ResumeToken == "" {
		metaErr = s.describe(ctx, ds, opts.Snapshot, req)
	}
	e := <-est
	if err := errors.Join(metaErr, e.err); err != nil {
		return StepReport{}, nil, err
	}
	estimate := e.size
	req.Estimate = estimate
	stream, err := s.ZFS.Send(ctx, opts)
	if err != nil {
		return StepReport{}, nil, err
	}
	defer stream.Close()
	start := time.Now()
	progress := transport.NewProgress(start, int64(estimate))
	if s.Progress != nil {
		s.Progress(ds.Source, progress)
	}
	var src io.Reader = stream
	s.log().Info("sending", "dataset", ds.Source, "target", ds.Target, "step", step.String(), "estimate", estimate)
	res, err := s.Client.Receive(req, src, transport.StreamOptions{Compression: s.Compression, Progress: progress},
		s.Bandwidth)
	if err != nil {
		return StepReport{}, nil, fmt.Errorf("%s → %s (%s): %w", ds.Source, ds.Target, step, err)
	}
	if res.GUID != req.GUID {
		return StepReport{}, nil, fmt.Errorf("%s → %s: receiver reports @%s guid %d, source has guid %d",
			ds.Source, ds.Target, res.Snapshot, res.GUID, req.GUID)
	}
	sr := StepReport{Step: step.String(), Bytes: res.Bytes, WireBytes: res.WireBytes, Duration: time.Since(start)}
	s.log().Info("sent", "dataset", ds.Source, "snapshot", res.Snapshot, "bytes", res.Bytes, "wire_bytes", res.WireBytes,
		"duration", sr.Duration.Round(time.Millisecond))
	if res.Target == nil || res.Target.Name != ds.Target {
		return sr, nil, nil
	}
	return sr, res.Target, nil
}

// describe fills in what the receiver records with the snapshot a stream ends at: the guest definition,
// consistency level and guests recorded on it when it was taken, and the dataset's name and mountpoint. A
// mountpoint or guest names the receiver would refuse are left out (and logged) rather than failing the backup.
func (s *Sender) describe(ctx context.Context, ds Dataset, snap string, req *transport.ReceiveRequest) error {
	props, err := s.ZFS.GetProps(ctx, snap, "all")
	if err != nil {
		return err
	}
	req.Consistency, req.Source = props[meta.PropConsistency], ds.Source
	if _, ok := props[meta.PropDomXML+".sha256"]; ok {
		if req.DomainXML, err = meta.DecodeDomainXML(props); err != nil {
			return fmt.Errorf("%s: %w", snap, err)
		}
	}
	if ds.Mountpoint != "" {
		if err := transport.CheckMountpoint(ds.Mountpoint); err != nil {
			s.log().Warn("the receiver will not know the dataset's mountpoint", "dataset", ds.Source, "err", err)
		} else {
			req.Mountpoint = ds.Mountpoint
		}
	}
	guests := meta.GuestNames(props)
	if err := transport.CheckGuestNames(guests); err != nil {
		s.log().Warn("the receiver will not know the snapshot's guests", "snapshot", snap, "err", err)
	} else {
		req.Guests = guests
	}
	return nil
}

func guidOf(list []zfs.Dataset, short string, kind zfs.Type) uint64 {
	for _, d := range list {
		if d.Type == kind && d.Short() == short {
			return d.GUID
		}
	}
	return 0
}

// finish records the base and moves the source's hold to it: hold the new base first, then release the tag
// from any other snapshot, so the dataset never lacks a held base.
func (s *Sender) finish(ctx context.Context, ds Dataset, plan Plan, rep *Report) error {
	if plan.Base == nil || plan.Base.Bookmark {
		return nil
	}
	rep.Base, rep.BaseGUID = plan.Base.Name, plan.Base.GUID
	if s.HoldTag == "" {
		return nil
	}
	base := ds.Source + "@" + plan.Base.Name
	var held []string
	for _, d := range ds.Snapshots {
		if d.Type == zfs.Snapshot && d.UserRefs > 0 && d.Name != base {
			held = append(held, d.Name)
		}
	}
	holds, err := s.ZFS.HoldWhileListing(ctx, s.HoldTag, base, held...)
	if err != nil {
		return err
	}
	rep.Held = base
	var stale []string
	for _, h := range holds {
		if h.Tag == s.HoldTag {
			stale = append(stale, h.Snapshot)
		}
	}
	if err := s.ZFS.Release(ctx, s.HoldTag, stale...); err != nil {
		return err
	}
	rep.Released = stale
	return nil
}
