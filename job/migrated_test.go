package job

import (
	"slices"
	"testing"
	"time"
)

func TestMigratedRecordRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if m, err := MigratedGuest(dir, "web:1"); err != nil || m != nil {
		t.Fatalf("before any record: %v, %v; want nil, nil", m, err)
	}
	want := Migrated{Guest: "web:1", To: "qemu+ssh://root@backup1/system", Target: "backup1", Set: "hz_20261204T010000Z",
		Suffix: "-migrated", At: time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)}
	if err := MarkMigrated(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := MigratedGuest(dir, "web:1")
	if err != nil || got == nil || *got != want {
		t.Fatalf("read back %+v, %v; want %+v", got, err, want)
	}
	if away := migratedAway(dir, []string{"db", "web*"}); !slices.Equal(away, []string{"web:1"}) {
		t.Errorf("migratedAway(web*) = %v, want [web:1]", away)
	}
	if away := migratedAway(dir, []string{"db"}); len(away) != 0 {
		t.Errorf("migratedAway(db) = %v, want none", away)
	}
	if err := ClearMigrated(dir, "web:1"); err != nil {
		t.Fatal(err)
	}
	if m, err := MigratedGuest(dir, "web:1"); err != nil || m != nil {
		t.Fatalf("after ClearMigrated: %v, %v; want nil, nil", m, err)
	}
	if err := ClearMigrated(dir, "web:1"); err != nil {
		t.Errorf("clearing no record: %v, want nil", err)
	}
}
