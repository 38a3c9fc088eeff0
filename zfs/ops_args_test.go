package zfs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordingZFS is a fake zfs that writes its arguments, one per line, to a file and prints stdout.
func recordingZFS(t *testing.T, stdout string) (*Runner, func() string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "args")
	r := fakeZFS(t, `printf '%s\n' "$@" >`+log+"\nprintf '"+stdout+"'")
	return r, func() string {
		b, err := os.ReadFile(log)
		if err != nil {
			return "" // not called
		}
		return strings.Join(strings.Fields(string(b)), " ")
	}
}

func TestPromoteRenameArgs(t *testing.T) {
	ctx := context.Background()
	r, args := recordingZFS(t, "")
	if err := r.Promote(ctx, "tank/vm/d-tmp"); err != nil {
		t.Fatal(err)
	}
	// zfs promote takes no "--" (2.1 and 2.3 read it as an invalid option).
	if got := args(); got != "promote tank/vm/d-tmp" {
		t.Errorf("promote args %q", got)
	}
	if err := r.Rename(ctx, "tank/vm/d", "tank/vm/d-diverged"); err != nil {
		t.Fatal(err)
	}
	if got := args(); got != "rename -- tank/vm/d tank/vm/d-diverged" {
		t.Errorf("rename args %q", got)
	}
}

func TestPromoteRenameRefuse(t *testing.T) {
	ctx := context.Background()
	r, args := recordingZFS(t, "")
	for _, name := range []string{"-r", "tank/a@s", "tank/a#b", ""} {
		if err := r.Promote(ctx, name); err == nil {
			t.Errorf("Promote(%q) accepted", name)
		}
	}
	bad := [][2]string{
		{"tank/a@s", "tank/a@t"}, // snapshots
		{"tank/a", "tank/b@t"},
		{"-r", "tank/b"},
		{"tank/a", "-f"},
		{"tank/a", "other/a"}, // across pools
		{"tank/a", "tank/a"},
		{"tank/a", "tank/a/b"}, // below itself
		{"tank/a#m", "tank/b"},
	}
	for _, b := range bad {
		if err := r.Rename(ctx, b[0], b[1]); err == nil {
			t.Errorf("Rename(%q, %q) accepted", b[0], b[1])
		}
	}
	if got := args(); got != "" {
		t.Errorf("zfs ran for a refused name: %q", got)
	}
}

func TestWrittenSinceAndLocalPropsArgs(t *testing.T) {
	ctx := context.Background()
	r, args := recordingZFS(t, `written@s1\t12582912\t-\n`)
	n, err := r.WrittenSince(ctx, "tank/vm/d", "s1")
	if err != nil || n != 12582912 {
		t.Fatalf("WrittenSince = %d, %v", n, err)
	}
	if got := args(); got != "get -H -p -o property,value,source -- written@s1 tank/vm/d" {
		t.Errorf("written args %q", got)
	}
	for _, c := range [][2]string{{"tank/d", "-x"}, {"tank/d", "a@b"}, {"tank/d", "a,b"}, {"tank/d@s", "s"}} {
		if _, err := r.WrittenSince(ctx, c[0], c[1]); err == nil {
			t.Errorf("WrittenSince(%q, %q) accepted", c[0], c[1])
		}
	}

	r, args = recordingZFS(t, `volmode\tdev\tlocal\nhotzfs:job\tj1\treceived\n`)
	props, err := r.LocalProps(ctx, "tank/vm/d")
	if err != nil || len(props) != 2 || props["volmode"] != "dev" || props["hotzfs:job"] != "j1" {
		t.Fatalf("LocalProps = %v, %v", props, err)
	}
	if got := args(); got != "get -H -p -s local,received -o property,value,source -- all tank/vm/d" {
		t.Errorf("local props args %q", got)
	}
	if _, err := r.LocalProps(ctx, "tank/d@s"); err == nil {
		t.Error("LocalProps of a snapshot accepted")
	}
}

func TestWrittenSinceRejectsGarbage(t *testing.T) {
	r, _ := recordingZFS(t, `written@s1\tlots\t-\n`)
	if _, err := r.WrittenSince(context.Background(), "tank/d", "s1"); err == nil {
		t.Error("non-numeric written accepted")
	}
}
