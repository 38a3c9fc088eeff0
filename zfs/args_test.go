package zfs

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateNames(t *testing.T) {
	good := []string{"tank", "tank/a", "tank/a.b_c-d:e", "t1/x/y/z"}
	for _, n := range good {
		if err := ValidateDataset(n); err != nil {
			t.Errorf("ValidateDataset(%q) = %v", n, err)
		}
	}
	bad := []string{"", "-tank", "tank/-rf", "tank/../etc", "tank/.", "tank//a", "tank/a@s", "tank/a#b",
		"tank/a b", "tank/a\nb", "1tank", "/tank", "tank/", strings.Repeat("a", 256), "tank/a;rm"}
	for _, n := range bad {
		if err := ValidateDataset(n); err == nil {
			t.Errorf("ValidateDataset(%q) accepted", n)
		}
	}
	if err := ValidateSnapshot("tank/a@hotzfs_2026-01-02T03:04:05Z"); err != nil {
		t.Error(err)
	}
	for _, s := range []string{"tank/a", "tank/a@", "tank/a@-x", "tank/a@b@c", "tank/a@b/c", "tank/a@.."} {
		if err := ValidateSnapshot(s); err == nil {
			t.Errorf("ValidateSnapshot(%q) accepted", s)
		}
	}
	if err := ValidateBookmark("tank/a#m1"); err != nil {
		t.Error(err)
	}
	if err := ValidateBookmark("tank/a@m1"); err == nil {
		t.Error("bookmark with @ accepted")
	}
	if Pool("tank/a/b@s") != "tank" || Pool("tank#x") != "tank" {
		t.Error("Pool")
	}
}

func TestSendArgs(t *testing.T) {
	cases := []struct {
		opts SendOptions
		want string
		err  bool
	}{
		{SendOptions{Snapshot: "p/a@s"}, "-- p/a@s", false},
		{SendOptions{Snapshot: "p/a@s2", From: "@s1", Intermediates: true}, "-I p/a@s1 -- p/a@s2", false},
		{SendOptions{Snapshot: "p/a@s2", From: "p/a@s1"}, "-i p/a@s1 -- p/a@s2", false},
		{SendOptions{Snapshot: "p/a@s2", From: "#m"}, "-i p/a#m -- p/a@s2", false},
		{SendOptions{Snapshot: "p/a@s", Raw: true, Compressed: true, LargeBlocks: true, Embedded: true, Props: true},
			"-w -c -L -e -p -- p/a@s", false},
		{SendOptions{ResumeToken: "1-abc-def"}, "-t 1-abc-def", false},
		{SendOptions{ResumeToken: "1-abc", Embedded: true}, "-e -t 1-abc", false},
		{SendOptions{ResumeToken: "1-abc", Snapshot: "p/a@s"}, "", true},
		{SendOptions{ResumeToken: "-x"}, "", true},
		{SendOptions{Snapshot: "p/a@s2", From: "#m", Intermediates: true}, "", true},
		{SendOptions{Snapshot: "p/a@s", Intermediates: true}, "", true},
		{SendOptions{Snapshot: "p/a"}, "", true},
		{SendOptions{Snapshot: "p/a@s", From: "@-oops"}, "", true},
	}
	for _, c := range cases {
		args, err := c.opts.args()
		if (err != nil) != c.err {
			t.Errorf("%+v: err %v", c.opts, err)
			continue
		}
		if got := strings.Join(args, " "); !c.err && got != c.want {
			t.Errorf("%+v: args %q, want %q", c.opts, got, c.want)
		}
	}
}

func TestReceiveArgs(t *testing.T) {
	args, err := ReceiveOptions{Resumable: true, NoMount: true, Force: true,
		Set: map[string]string{"readonly": "on", "hotzfs:client": "c1"}, Exclude: []string{"mountpoint", "canmount"}}.args("p/dst")
	if err != nil {
		t.Fatal(err)
	}
	want := "receive -s -u -F -o hotzfs:client=c1 -o readonly=on -x canmount -x mountpoint -- p/dst"
	if got := strings.Join(args, " "); got != want {
		t.Errorf("args %q\nwant %q", got, want)
	}
	if _, err := (ReceiveOptions{}).args("-F"); err == nil {
		t.Error("target -F accepted")
	}
	if _, err := (ReceiveOptions{Set: map[string]string{"a=b": "c"}}).args("p/d"); err == nil {
		t.Error("property name with = accepted")
	}
}

func TestClassify(t *testing.T) {
	cases := map[string]error{
		"cannot open 'p/x': dataset does not exist":                                                         ErrDatasetNotFound,
		"cannot create snapshot 'p/a@s': dataset already exists":                                            ErrExists,
		"cannot destroy snapshot p/a@s: dataset is busy":                                                    ErrBusy,
		"cannot receive new filesystem stream: destination 'p/d' exists\nmust specify -F to overwrite it":   ErrDestinationExists,
		"cannot receive incremental stream: destination p/d has been modified\nsince most recent snapshot":  ErrDestinationModified,
		"cannot receive incremental stream: most recent snapshot of p/d does not\nmatch incremental source": ErrIncrementalMismatch,
		"cannot receive new filesystem stream: out of space":                                                ErrNoSpace,
		"cannot resume send: 'x' is not a valid resume token":                                               ErrResumeTokenInvalid,
		"cannot receive: destination contains partially-complete state from \"zfs receive -s\".":            ErrPartialReceive,
		"something new": ErrUnknown,
	}
	for stderr, want := range cases {
		if got := classify(stderr); got != want {
			t.Errorf("classify(%q) = %v, want %v", stderr, got, want)
		}
	}
	err := error(&CommandError{Cmd: "zfs", Args: []string{"list"}, Stderr: "x", Kind: ErrBusy, Err: errors.New("exit status 1")})
	if !errors.Is(err, ErrBusy) || errors.Is(err, ErrNoSpace) {
		t.Error("CommandError does not unwrap to its kind")
	}
}

func TestCappedBuffer(t *testing.T) {
	c := &cappedBuffer{max: 5}
	n, err := c.Write([]byte("abcdefgh"))
	if n != 8 || err != nil {
		t.Fatalf("Write = %d, %v: must report all bytes consumed", n, err)
	}
	c.Write([]byte("ij"))
	if got := c.String(); got != "abcde\n[stderr truncated]" {
		t.Errorf("got %q", got)
	}
}

func TestParseEstimate(t *testing.T) {
	out := "full\tp/a@s\t12345\nsize\t12345\n"
	if n, err := parseEstimate(out); n != 12345 || err != nil {
		t.Errorf("parseEstimate = %d, %v", n, err)
	}
	if _, err := parseEstimate("nothing\n"); err == nil {
		t.Error("no size line accepted")
	}
}

func TestParseHoldsAndGet(t *testing.T) {
	holds, err := parseHolds("p/a@s\thotzfs\t1700000000\np/a@s\tother\t1700000001\n")
	if err != nil || len(holds) != 2 || holds[1].Tag != "other" {
		t.Fatalf("parseHolds = %+v, %v", holds, err)
	}
	if _, err := parseHolds("p/a@s\thotzfs\n"); err == nil {
		t.Error("short holds line accepted")
	}
	props, err := parseGet("hotzfs:job\tj1\tlocal\nhotzfs:none\t-\t-\norigin\t-\t-\ntype\tfilesystem\t-\n")
	if err != nil || props["hotzfs:job"] != "j1" || props["type"] != "filesystem" || len(props) != 2 {
		t.Fatalf("parseGet = %v, %v", props, err)
	}
}

func TestParseListRejectsMalformed(t *testing.T) {
	if _, err := parseList([]byte("p/a\tfilesystem\t1\n"), nil); err == nil {
		t.Error("short line accepted")
	}
	line := "p/a\tweird\t1\t2\t3\t4\t5\t-\t-\t-\n"
	if _, err := parseList([]byte(line), nil); err == nil {
		t.Error("unknown type accepted")
	}
	line = "p/a@s\tsnapshot\tx\t2\t3\t4\t5\t-\t-\t0\n"
	if _, err := parseList([]byte(line), nil); err == nil {
		t.Error("non-numeric guid accepted")
	}
}
