// Package replication decides what to send from a source dataset to its target and carries it out: a pure
// planner over GUID-identified snapshots, and a sender that streams the plan through the transport.
package replication

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Snap is a snapshot or bookmark as the planner sees it. Identity is the GUID; names are for people.
type Snap struct {
	Name      string // short name, after '@' or '#'
	GUID      uint64
	CreateTXG uint64
	Bookmark  bool
}

// Input is what the planner knows about one source dataset and its target.
type Input struct {
	Source        []Snap // snapshots and bookmarks of the source dataset, any order
	Target        []Snap // snapshots of the target dataset, any order; empty when it does not exist
	TargetExists  bool
	ResumeToken   string // receive_resume_token of the target, if a receive was interrupted
	AllowRollback bool   // the job allows `zfs receive -F` to discard target snapshots newer than the base
}

// Step is one zfs send. Exactly one of ResumeToken or To is set.
type Step struct {
	ResumeToken   string
	From          string // "" for a full send, "@name" or "#name" for an incremental
	To            string // short name of the snapshot to send
	Intermediates bool   // -I: carry every snapshot between From and To
	Force         bool   // receive with -F (only when the plan rolls the target back)
}

func (s Step) String() string {
	switch {
	case s.ResumeToken != "":
		return "resume interrupted receive"
	case s.From == "":
		return "full @" + s.To
	case s.Intermediates:
		return fmt.Sprintf("incremental %s..@%s (with intermediates)", s.From, s.To)
	}
	return fmt.Sprintf("incremental %s..@%s", s.From, s.To)
}

// Plan is the next steps to bring the target up to date. The executor runs them in order and plans again
// after a resume, since the target's state changes under it.
type Plan struct {
	Steps    []Step
	Base     *Snap    // newest snapshot common to source and target, nil when there is none
	Discards []string // target snapshots a rollback (-F) will destroy
}

// UpToDate reports whether nothing needs sending.
func (p Plan) UpToDate() bool { return len(p.Steps) == 0 }

// Conflict kinds; a *ConflictError wraps one of them.
var (
	ErrNoSourceSnapshots = errors.New("source has no snapshots")
	ErrNoCommonSnapshot  = errors.New("target has snapshots but none in common with the source")
	ErrTargetDiverged    = errors.New("target has snapshots newer than the newest common one")
	ErrTargetNotEmpty    = errors.New("target exists without snapshots")
)

// ConflictError says why the planner refuses, and what the user can do.
type ConflictError struct {
	Kind error
	Msg  string
}

func (e *ConflictError) Error() string { return e.Kind.Error() + ": " + e.Msg }
func (e *ConflictError) Unwrap() error { return e.Kind }

// MakePlan decides what to send. It is a pure function of its input.
func MakePlan(in Input) (Plan, error) {
	if in.ResumeToken != "" {
		return Plan{Steps: []Step{{ResumeToken: in.ResumeToken}}}, nil
	}
	var snaps, marks []Snap
	for _, s := range in.Source {
		if s.Bookmark {
			marks = append(marks, s)
		} else {
			snaps = append(snaps, s)
		}
	}
	if len(snaps) == 0 {
		return Plan{}, &ConflictError{ErrNoSourceSnapshots, "take a snapshot first (hotzfs snapshot)"}
	}
	sortByTXG(snaps)
	sortByTXG(marks)
	target := append([]Snap(nil), in.Target...)
	sortByTXG(target)
	newest := snaps[len(snaps)-1]

	if len(target) == 0 {
		if in.TargetExists && !in.AllowRollback {
			return Plan{}, &ConflictError{ErrTargetNotEmpty, "the target dataset exists but holds no snapshot; " +
				"destroy it on the receiver or allow rollback to overwrite it"}
		}
		return fullThenIncremental(snaps, in.TargetExists), nil
	}
	baseIdx, srcBase, ok := newestCommon(target, snaps, marks)
	if !ok {
		return Plan{}, &ConflictError{ErrNoCommonSnapshot, fmt.Sprintf(
			"target's newest is @%s (guid %d); replicating would need a full resend into a new target",
			target[len(target)-1].Name, target[len(target)-1].GUID)}
	}
	plan := Plan{Base: &srcBase}
	force := false
	if extra := target[baseIdx+1:]; len(extra) > 0 {
		names := make([]string, len(extra))
		for i, s := range extra {
			names[i] = "@" + s.Name
		}
		if !in.AllowRollback {
			return Plan{}, &ConflictError{ErrTargetDiverged, fmt.Sprintf(
				"target has %s after the common @%s; refusing to discard them (set allow_rollback to roll the target back)",
				strings.Join(names, " "), target[baseIdx].Name)}
		}
		plan.Discards = names
		force = true
	}
	if srcBase.GUID == newest.GUID {
		if force {
			// Nothing newer to send, but the target must still be rolled back: an empty plan would hide it.
			return Plan{}, &ConflictError{ErrTargetDiverged, "target is ahead of the source; nothing to send"}
		}
		return plan, nil
	}
	if srcBase.Bookmark && srcBase.CreateTXG >= newest.CreateTXG {
		return Plan{}, &ConflictError{ErrTargetDiverged, fmt.Sprintf(
			"the common point #%s is newer than every source snapshot; take a new snapshot first", srcBase.Name)}
	}
	plan.Steps = incrementalSteps(srcBase, snaps, newest, force)
	return plan, nil
}

func fullThenIncremental(snaps []Snap, force bool) Plan {
	oldest, newest := snaps[0], snaps[len(snaps)-1]
	steps := []Step{{To: oldest.Name, Force: force}}
	if newest.GUID != oldest.GUID {
		steps = append(steps, Step{From: "@" + oldest.Name, To: newest.Name, Intermediates: true})
	}
	return Plan{Steps: steps}
}

// incrementalSteps sends from the base to the newest source snapshot. A base that survives only as a
// bookmark allows -i to the next snapshot, then -I for the rest.
func incrementalSteps(base Snap, snaps []Snap, newest Snap, force bool) []Step {
	if !base.Bookmark {
		return []Step{{From: "@" + base.Name, To: newest.Name, Intermediates: true, Force: force}}
	}
	var next Snap
	for _, s := range snaps {
		if s.CreateTXG > base.CreateTXG {
			next = s
			break
		}
	}
	steps := []Step{{From: "#" + base.Name, To: next.Name, Force: force}}
	if next.GUID != newest.GUID {
		steps = append(steps, Step{From: "@" + next.Name, To: newest.Name, Intermediates: true})
	}
	return steps
}

// newestCommon finds the newest target snapshot whose GUID the source has, as a snapshot or a bookmark.
func newestCommon(target, snaps, marks []Snap) (int, Snap, bool) {
	byGUID := make(map[uint64]Snap, len(snaps)+len(marks))
	for _, m := range marks {
		byGUID[m.GUID] = m
	}
	for _, s := range snaps { // a snapshot beats a bookmark of the same GUID
		byGUID[s.GUID] = s
	}
	for i := len(target) - 1; i >= 0; i-- {
		if s, ok := byGUID[target[i].GUID]; ok {
			return i, s, true
		}
	}
	return 0, Snap{}, false
}

func sortByTXG(s []Snap) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].CreateTXG != s[j].CreateTXG {
			return s[i].CreateTXG < s[j].CreateTXG
		}
		return s[i].Name < s[j].Name
	})
}
