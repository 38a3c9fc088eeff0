package main

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/hotzfs/hotzfs/config"
	"github.com/hotzfs/hotzfs/job"
	"github.com/hotzfs/hotzfs/zfs"
)

// Flags that do not go together are usage errors (exit 2), refused before any config is read or any
// connection made.
func TestRestoreFlagsThatDoNotGoTogether(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"restore"}, "name the DATASET to restore, or --guest NAME"},
		{[]string{"restore", "tank/a", "--guest", "web1"}, "not both"},
		{[]string{"restore", "--guest", "web1", "--into", "tank/x"}, "--into-prefix P, not --into or --in-place"},
		{[]string{"restore", "--guest", "web1", "--in-place"}, "not --into or --in-place"},
		{[]string{"restore", "tank/a", "--allow-crash"}, "go with --guest"},
		{[]string{"restore", "tank/a", "--into-prefix", "tank/r"}, "go with --guest"},
		{[]string{"restore", "--guest", "web1", "--name", "w"}, "--name names the guest --define defines"},
		{[]string{"restore", "--guest", "web1", "--into-prefix", "tank/../x"}, "--into-prefix"},
		{[]string{"restore", "a", "b"}, "restore one DATASET (or --guest NAME), not 2"},
	} {
		var stderr bytes.Buffer
		code := execute(t.Context(), append(c.args, "--config", "/nonexistent/hotzfs.yaml"), io.Discard, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, %s; want a usage error saying %q", c.args, code, stderr.String(), c.want)
		}
	}
}

func TestJobForGuest(t *testing.T) {
	cfg := &config.Sender{Jobs: []config.Job{{Name: "plain", Datasets: []string{"tank/a"}},
		{Name: "web", Guests: []string{"web-*"}}, {Name: "db", Guests: []string{"db1"}}}}
	for guest, want := range map[string]string{"web-2": "web", "db1": "db"} {
		j, err := jobFor(cfg, "", "guest "+guest, func(j config.Job) bool { return backsGuest(j, guest) })
		if err != nil || j.Name != want {
			t.Errorf("guest %s: job %q (%v), want %s", guest, j.Name, err, want)
		}
	}
	if _, err := jobFor(cfg, "", "guest x", func(j config.Job) bool { return backsGuest(j, "x") }); err == nil ||
		!strings.Contains(err.Error(), "say which job backs guest x up: --job NAME") {
		t.Errorf("no job names guest x: %v", err)
	}
}

// restore DATASET --define moves only that dataset's disks: the plan says when the guest has others.
func TestRestoreDefineOfOneDatasetNamesTheOtherDisks(t *testing.T) {
	xml := `<domain type='kvm'><name>web1</name><memory>1</memory><os><type>hvm</type></os><devices>
  <disk type='block' device='disk'><source dev='/dev/zvol/tank/vm/web1-disk0'/><target dev='vda'/></disk>
  <disk type='block' device='disk'><source dev='/dev/zvol/tank/vm/web1-disk1'/><target dev='vdb'/></disk>
</devices></domain>`
	env := job.Env{ZFS: zfs.NewRunner(slog.New(slog.DiscardHandler))}
	var out bytes.Buffer
	if err := checkDefinable(t.Context(), env, &out, xml, "tank/vm/web1-disk0", "tank/vm/web1-disk0-r", ""); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "vdb (/dev/zvol/tank/vm/web1-disk1): not on a restored dataset") ||
		!strings.Contains(out.String(), "hotzfs restore --guest web1 restores all of them") {
		t.Errorf("plan of a one-dataset --define:\n%s", out.String())
	}
}
