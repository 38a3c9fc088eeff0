package zfs

import (
	"fmt"
	"strings"
)

// MaxNameLen is the longest full name (dataset@snapshot or dataset#bookmark) zfs accepts.
const MaxNameLen = 255

// ValidateDataset checks a dataset name ("pool/a/b") with the rules zfs applies, plus hotzfs's own: no
// component may start with '-' (it would read as an option), no "." or ".." components, no empty components.
func ValidateDataset(name string) error {
	if name == "" {
		return fmt.Errorf("empty dataset name")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("dataset name %q is longer than %d bytes", name, MaxNameLen)
	}
	if strings.ContainsAny(name, "@#") {
		return fmt.Errorf("dataset name %q must not contain '@' or '#'", name)
	}
	for i, comp := range strings.Split(name, "/") {
		if err := validateComponent(comp); err != nil {
			return fmt.Errorf("dataset name %q: %w", name, err)
		}
		if i == 0 && !isLetter(comp[0]) {
			return fmt.Errorf("dataset name %q: pool name must start with a letter", name)
		}
	}
	return nil
}

// ValidateSnapshotName checks the short name of a snapshot or bookmark (the part after '@' or '#').
func ValidateSnapshotName(short string) error {
	if err := validateComponent(short); err != nil {
		return fmt.Errorf("snapshot name %q: %w", short, err)
	}
	return nil
}

// ValidateSnapshot checks a full snapshot name ("pool/a@snap").
func ValidateSnapshot(full string) error {
	ds, snap, ok := strings.Cut(full, "@")
	if !ok {
		return fmt.Errorf("snapshot name %q has no '@'", full)
	}
	if len(full) > MaxNameLen {
		return fmt.Errorf("snapshot name %q is longer than %d bytes", full, MaxNameLen)
	}
	if err := ValidateDataset(ds); err != nil {
		return err
	}
	return ValidateSnapshotName(snap)
}

// ValidateBookmark checks a full bookmark name ("pool/a#mark").
func ValidateBookmark(full string) error {
	ds, mark, ok := strings.Cut(full, "#")
	if !ok {
		return fmt.Errorf("bookmark name %q has no '#'", full)
	}
	if len(full) > MaxNameLen {
		return fmt.Errorf("bookmark name %q is longer than %d bytes", full, MaxNameLen)
	}
	if err := ValidateDataset(ds); err != nil {
		return err
	}
	return ValidateSnapshotName(mark)
}

func validateComponent(c string) error {
	switch {
	case c == "":
		return fmt.Errorf("empty name component")
	case c == "." || c == "..":
		return fmt.Errorf("component %q is not allowed", c)
	case c[0] == '-':
		return fmt.Errorf("component %q must not start with '-'", c)
	}
	for i := 0; i < len(c); i++ {
		if !isNameChar(c[i]) {
			return fmt.Errorf("component %q has a character zfs does not allow (%q); use letters, digits and _ - . :", c, c[i])
		}
	}
	return nil
}

func isLetter(b byte) bool { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') }

func isNameChar(b byte) bool {
	return isLetter(b) || (b >= '0' && b <= '9') || b == '_' || b == '-' || b == '.' || b == ':'
}

// Pool returns the pool part of a dataset, snapshot or bookmark name.
func Pool(name string) string {
	if i := strings.IndexAny(name, "/@#"); i >= 0 {
		return name[:i]
	}
	return name
}

// SplitSnapshot splits "pool/a@snap" into "pool/a" and "snap".
func SplitSnapshot(full string) (dataset, snap string, err error) {
	if err := ValidateSnapshot(full); err != nil {
		return "", "", err
	}
	dataset, snap, _ = strings.Cut(full, "@")
	return dataset, snap, nil
}
