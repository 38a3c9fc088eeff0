package zfs

import (
	"strings"
	"testing"
)

// A listing asked for the origin has one more column, after userrefs and before the user properties: "-" for
// anything not a clone, the origin snapshot's full name for a clone (as OpenZFS 2.1 and 2.3 print it).
func TestParseListOrigin(t *testing.T) {
	out := strings.Join([]string{
		"p/b/hv1/tank/web\tvolume\t11\t100\t1700000000\t0\t0\t-\t-\t-\t-\tfs-frozen",
		"p/b/hv1/tank/web@hotzfs_20261203T101500Z\tsnapshot\t12\t101\t1700000001\t0\t0\t-\t-\t1\t-\t-",
		"p/b/hv1/tank/web-failover\tvolume\t13\t102\t1700000002\t0\t0\t-\t-\t-\tp/b/hv1/tank/web@hotzfs_20261203T101500Z\t-",
		"p/b/hv1/tank/fs-failover\tfilesystem\t14\t103\t1700000003\t0\t0\t/p/b/hv1/tank/fs-failover\t-\t-\tp/b/hv1/tank/fs@s\tcrash",
	}, "\n")
	list, err := parseListing([]byte(out), true, []string{"hotzfs:consistency"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 {
		t.Fatalf("%d datasets parsed, want 4", len(list))
	}
	for i, want := range []string{"", "", "p/b/hv1/tank/web@hotzfs_20261203T101500Z", "p/b/hv1/tank/fs@s"} {
		if list[i].Origin != want {
			t.Errorf("%s: origin %q, want %q", list[i].Name, list[i].Origin, want)
		}
	}
	if list[0].Props["hotzfs:consistency"] != "fs-frozen" || list[3].Props["hotzfs:consistency"] != "crash" ||
		list[2].GUID != 13 || list[1].UserRefs != 1 {
		t.Errorf("columns around the origin misread: %+v", list)
	}
	// Without the origin column, the same line has one field too many.
	if _, err := parseList([]byte(out), []string{"hotzfs:consistency"}); err == nil {
		t.Error("a listing with an origin column parsed as one without")
	}
}

func TestParseListOriginRejectsMalformed(t *testing.T) {
	for name, line := range map[string]string{
		"not a snapshot":     "p/a\tfilesystem\t1\t2\t3\t4\t5\t-\t-\t-\tp/b",
		"option":             "p/a\tfilesystem\t1\t2\t3\t4\t5\t-\t-\t-\t-o@x",
		"origin of snapshot": "p/a@s\tsnapshot\t1\t2\t3\t4\t5\t-\t-\t0\tp/b@s",
	} {
		if list, err := parseListing([]byte(line), true, nil); err == nil {
			t.Errorf("%s: accepted as %+v", name, list)
		}
	}
}
