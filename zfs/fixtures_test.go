package zfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fixtures are real output of OpenZFS 2.1 and 2.3, captured in the test VM by test/vm/capture-fixtures.sh
// (testdata/openzfs-*/MANIFEST.tsv lists each command).
var versions = []string{"2.1", "2.3"}

func fixture(t *testing.T, version, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "openzfs-"+version, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFixtureListParses(t *testing.T) {
	for _, v := range versions {
		// The capture lists without userrefs; add that column as 0.
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(fixture(t, v, "list-all.stdout")), "\n") {
			lines = append(lines, l+"\t0")
		}
		list, err := parseList([]byte(strings.Join(lines, "\n")), nil)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		types := map[Type]int{}
		for _, d := range list {
			types[d.Type]++
			if d.GUID == 0 || d.CreateTXG == 0 || d.Creation.Year() < 2020 {
				t.Errorf("%s: %s parsed without identity: %+v", v, d.Name, d)
			}
		}
		for _, want := range []Type{Filesystem, Volume, Snapshot, Bookmark} {
			if types[want] == 0 {
				t.Errorf("%s: no %s parsed from list-all (%v)", v, want, types)
			}
		}
		var partial *Dataset
		for i, d := range list {
			if d.Name == "hzfix/partial" {
				partial = &list[i]
			}
		}
		if partial == nil || !strings.HasPrefix(partial.ResumeToken, "1-") {
			t.Errorf("%s: resume token of hzfix/partial not parsed: %+v", v, partial)
		}
	}
}

func TestFixtureHoldsParse(t *testing.T) {
	for _, v := range versions {
		holds, err := parseHolds(fixture(t, v, "holds-snapshot.stdout"))
		if err != nil || len(holds) != 2 || holds[0].Snapshot != "hzfix/fs@s1" {
			t.Errorf("%s: holds %+v, %v", v, holds, err)
		}
		if h, err := parseHolds(fixture(t, v, "holds-none.stdout")); err != nil || len(h) != 0 {
			t.Errorf("%s: holds of an unheld snapshot: %+v, %v", v, h, err)
		}
	}
}

func TestFixtureGetParses(t *testing.T) {
	for _, v := range versions {
		// The capture has a leading name column; GetProps asks for property,value,source.
		strip := func(s string) string {
			var out []string
			for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
				_, rest, _ := strings.Cut(l, "\t")
				out = append(out, rest)
			}
			return strings.Join(out, "\n")
		}
		props, err := parseGet(strip(fixture(t, v, "get-user-prop-snapshot.stdout")))
		if err != nil || props["hotzfs:consistency"] == "" {
			t.Errorf("%s: %v, %v", v, props, err)
		}
		props, err = parseGet(strip(fixture(t, v, "get-user-prop-unset.stdout")))
		if err != nil || len(props) != 0 {
			t.Errorf("%s: unset property parsed as %v, %v", v, props, err)
		}
	}
}

func TestFixtureSendEstimates(t *testing.T) {
	for _, v := range versions {
		for _, name := range []string{"send-nvP-full", "send-nvP-incremental", "send-nvP-intermediates",
			"send-nvP-from-bookmark", "send-nvP-zvol", "send-nvP-raw-enc", "send-nvP-resume"} {
			out := fixture(t, v, name+".stdout") + "\n" + fixture(t, v, name+".stderr")
			if n, err := parseEstimate(out); err != nil || n == 0 {
				t.Errorf("%s %s: estimate %d, %v", v, name, n, err)
			}
		}
		// The token of hzfix/partial decodes to what `zfs send -nvP -t` read from it.
		tok, err := ParseResumeToken(strings.Split(strings.TrimSpace(fixture(t, v, "get-resume-token.stdout")), "\t")[2])
		dumped := dumpedToken(fixture(t, v, "send-nvP-resume.stdout"))
		if err != nil || tok.ToName != "hzfix/fs@s2" || fmt.Sprint(fieldsOf(tok)) != fmt.Sprint(dumped) {
			t.Errorf("%s: resume token %+v, %v; zfs read %v", v, tok, err, dumped)
		}
	}
}

func TestFixtureErrorsClassify(t *testing.T) {
	want := map[string]error{
		"err-list-missing":           ErrDatasetNotFound,
		"err-list-missing-pool":      ErrDatasetNotFound,
		"err-snapshot-exists":        ErrExists,
		"err-hold-exists":            ErrExists,
		"err-destroy-held":           ErrBusy,
		"err-destroy-children":       ErrBusy,
		"err-destroy-snapshot-clone": ErrBusy,
		"err-destroy-busy":           ErrBusy,
		"err-recv-exists":            ErrDestinationExists,
		"err-recv-incr-no-dest":      ErrDatasetNotFound,
		"err-recv-incr-modified":     ErrDestinationModified,
		"err-recv-incr-mismatch":     ErrIncrementalMismatch,
		"err-send-missing-base":      ErrDatasetNotFound,
		"err-send-missing-snapshot":  ErrDatasetNotFound,
		"err-send-base-newer":        ErrIncrementalMismatch,
		"err-send-bad-token":         ErrResumeTokenInvalid,
		"err-recv-enospc":            ErrNoSpace,
		"err-recv-into-partial-full": ErrDestinationExists,
	}
	for _, v := range versions {
		for name, kind := range want {
			stderr := fixture(t, v, name+".stderr")
			err := error(&CommandError{Stderr: stderr, Kind: classify(stderr), Err: errors.New("exit status 1")})
			if !errors.Is(err, kind) {
				t.Errorf("OpenZFS %s %s: %q classified as %v, want %v", v, name, strings.TrimSpace(stderr), classify(stderr), kind)
			}
		}
	}
}
