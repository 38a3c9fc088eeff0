package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Migrated is what `hotzfs migrate` records of a guest it moved to another host. While the record is there,
// the guest's backups here leave it out: its disks here are the copy it left, and the snapshot they hold of
// the migration's set is the base its way home (failback) starts from. Failback removes the record.
type Migrated struct {
	Guest  string    `json:"guest"`
	To     string    `json:"to"`     // libvirt URI of the host it runs on now
	Target string    `json:"target"` // the config's target (receiver) that holds its clones
	Set    string    `json:"set"`    // the snapshot set it moved with (short name)
	Suffix string    `json:"suffix"` // of its clones on the receiver
	At     time.Time `json:"at"`
}

func migratedPath(stateDir, guest string) string {
	return filepath.Join(stateDir, "migrated", url.PathEscape(guest)+".json")
}

// MarkMigrated records that a guest was migrated away.
func MarkMigrated(stateDir string, m Migrated) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(stateDir, "migrated"), 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	return writeFileAtomic(migratedPath(stateDir, m.Guest), data)
}

// MigratedGuest returns the record of a guest migrated away, or nil when there is none.
func MigratedGuest(stateDir, guest string) (*Migrated, error) {
	data, err := os.ReadFile(migratedPath(stateDir, guest))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m Migrated
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w (remove it if guest %s runs here again)", migratedPath(stateDir, guest), err, guest)
	}
	return &m, nil
}

// ClearMigrated removes a guest's migration record; none is no error.
func ClearMigrated(stateDir, guest string) error {
	err := os.Remove(migratedPath(stateDir, guest))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// skipMigrated reports whether a guest of a job is left out because it was migrated away, and logs why.
func skipMigrated(stateDir, guest string, log *slog.Logger) (bool, error) {
	m, err := MigratedGuest(stateDir, guest)
	if err != nil || m == nil {
		return false, err
	}
	log.Warn("guest migrated away: left out of this run (hotzfs failback brings it home, and its backups here resume)",
		"guest", guest, "to", m.To, "at", m.At.Format(time.RFC3339), "set", m.Set)
	return true, nil
}

// migratedAway lists the guests migrated away that one of patterns (a job's guests) names.
func migratedAway(stateDir string, patterns []string) []string {
	files, _ := filepath.Glob(filepath.Join(stateDir, "migrated", "*.json"))
	var out []string
	for _, f := range files {
		name, err := url.PathUnescape(strings.TrimSuffix(filepath.Base(f), ".json"))
		if err != nil {
			continue
		}
		for _, p := range patterns {
			if ok, _ := path.Match(p, name); ok || p == name {
				out = append(out, name)
				break
			}
		}
	}
	return out
}
