package replication

import (
	"fmt"
	"strings"

	"github.com/hotzfs/hotzfs/zfs"
)

// checkResumeToken decodes the receive_resume_token the receiver listed for ds's target and returns it only
// if resuming with it sends what the job would send anyway: a snapshot of ds.Source (by name and GUID), from a
// base of ds.Source, with the job's stream flags. The receiver is not trusted: a token naming another dataset
// or snapshot would send data the job does not cover, and one without rawok would send an encrypted dataset
// in plaintext. The error says why the token is refused; the caller then starts over without it.
func checkResumeToken(token string, ds Dataset, flags SendFlags) (zfs.ResumeToken, error) {
	t, err := zfs.ParseResumeToken(token)
	if err != nil {
		return t, err
	}
	dataset, short, _ := strings.Cut(t.ToName, "@")
	if dataset != ds.Source {
		return t, fmt.Errorf("the token resumes %s, not a snapshot of %s", t.ToName, ds.Source)
	}
	to, ok := findByGUID(ds.Snapshots, t.ToGUID, zfs.Snapshot)
	if !ok || to.Short() != short {
		return t, fmt.Errorf("the token resumes %s guid %d, which is not a snapshot of %s", t.ToName, t.ToGUID, ds.Source)
	}
	if t.FromGUID != 0 {
		from, ok := findByGUID(ds.Snapshots, t.FromGUID, zfs.Snapshot)
		if !ok {
			from, ok = findByGUID(ds.Snapshots, t.FromGUID, zfs.Bookmark)
		}
		if !ok || from.CreateTXG >= to.CreateTXG {
			return t, fmt.Errorf("the token's incremental base guid %d is not an older snapshot or bookmark of %s",
				t.FromGUID, ds.Source)
		}
	}
	if len(t.Other) > 0 || t.SavedOK {
		return t, fmt.Errorf("the token has fields hotzfs never sends (%s)", strings.Join(append(t.Other, savedOK(t)...), " "))
	}
	// Raw is exact: without it the stream would be plaintext. The others may be missing from a token (zfs
	// omits -L for a dataset without large blocks, -e while the pool has no embedded blocks) but never be
	// more than the job sends; raw implies -c and -e.
	switch {
	case t.RawOK != flags.Raw:
		return t, fmt.Errorf("the token's raw flag is %v, the job sends with raw %v", t.RawOK, flags.Raw)
	case t.CompressOK && !(flags.Compressed || flags.Raw):
		return t, fmt.Errorf("the token resumes a compressed (-c) stream; the job sends without -c")
	case t.LargeBlockOK && !flags.LargeBlocks:
		return t, fmt.Errorf("the token resumes a large-block (-L) stream; the job sends without -L")
	case t.EmbedOK && !(flags.Embedded || flags.Raw):
		return t, fmt.Errorf("the token resumes an embedded-data (-e) stream; the job sends without -e")
	}
	return t, nil
}

func savedOK(t zfs.ResumeToken) []string {
	if t.SavedOK {
		return []string{"savedok"}
	}
	return nil
}

func findByGUID(list []zfs.Dataset, guid uint64, kind zfs.Type) (zfs.Dataset, bool) {
	for _, d := range list {
		if d.Type == kind && d.GUID == guid {
			return d, true
		}
	}
	return zfs.Dataset{}, false
}
