package transport

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hotzfs/hotzfs/zfs"
)

// CheckRelativeDataset checks the shape of a dataset name relative to a client's root ("vm/web1-disk0"):
// not empty, not absolute, every component a name zfs accepts and none of ".", ".." or starting with '-'.
// The receiver then builds the full name with [ResolveDataset], which checks the whole name again.
func CheckRelativeDataset(rel string) error {
	if rel == "" {
		return errors.New("empty dataset name")
	}
	if len(rel) > zfs.MaxNameLen {
		return fmt.Errorf("dataset name %.40q... is longer than %d bytes", rel, zfs.MaxNameLen)
	}
	for _, comp := range strings.Split(rel, "/") {
		if err := zfs.ValidateSnapshotName(comp); err != nil {
			if inner := errors.Unwrap(err); inner != nil {
				err = inner // drop the validator's "snapshot name" context: this is a dataset component
			}
			return fmt.Errorf("dataset name %q: %w", rel, err)
		}
	}
	return nil
}

// CheckRelativeSnapshot checks a snapshot name relative to a client's root ("tank/vm@s"): a relative dataset
// name (see [CheckRelativeDataset]), '@' and a short snapshot name, at most zfs.MaxNameLen bytes in all.
func CheckRelativeSnapshot(rel string) error {
	ds, snap, ok := strings.Cut(rel, "@")
	if !ok {
		return fmt.Errorf("snapshot name %.70q has no '@'", rel)
	}
	if len(rel) > zfs.MaxNameLen {
		return fmt.Errorf("snapshot name %.40q... is longer than %d bytes", rel, zfs.MaxNameLen)
	}
	if err := CheckRelativeDataset(ds); err != nil {
		return err
	}
	return zfs.ValidateSnapshotName(snap)
}

// ClientRoot returns the dataset a client is confined to: base/client. The client name (certificate CN or
// ssh identity) must be a single valid dataset component.
func ClientRoot(base, client string) (string, error) {
	if err := zfs.ValidateDataset(base); err != nil {
		return "", fmt.Errorf("receiver root: %w", err)
	}
	if strings.Contains(client, "/") {
		return "", fmt.Errorf("client name %q must not contain '/'", client)
	}
	if err := CheckRelativeDataset(client); err != nil {
		return "", fmt.Errorf("client name: %w", err)
	}
	root := base + "/" + client
	if err := zfs.ValidateDataset(root); err != nil {
		return "", fmt.Errorf("client %q: %w", client, err)
	}
	return root, nil
}

// ResolveDataset maps a client's relative dataset name into its root and validates the full name. Whatever
// rel holds, a nil error means the result is root or lies beneath it.
func ResolveDataset(root, rel string) (string, error) {
	if err := zfs.ValidateDataset(root); err != nil {
		return "", fmt.Errorf("client root: %w", err)
	}
	if err := CheckRelativeDataset(rel); err != nil {
		return "", err
	}
	full := root + "/" + rel
	if err := zfs.ValidateDataset(full); err != nil {
		return "", err
	}
	return full, nil
}

func checkSnapshotRef(what, name string, guid uint64) error {
	if err := zfs.ValidateSnapshotName(name); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if guid == 0 {
		return fmt.Errorf("%s %q: missing guid", what, name)
	}
	return nil
}

// checkText bounds a free-form string and refuses control characters and invalid UTF-8.
func checkText(what, s string, maxLen int, required bool) error {
	if required && s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if len(s) > maxLen {
		return fmt.Errorf("%s is %d bytes, more than %d", what, len(s), maxLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s contains a control character", what)
		}
	}
	return nil
}

// checkToken checks a word from a small vocabulary: lowercase letters, digits, '-' and '.'.
func checkToken(what, s string, maxLen int) error {
	if s == "" || len(s) > maxLen {
		return fmt.Errorf("%s %.70q must be 1 to %d bytes", what, s, maxLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '.' {
			return fmt.Errorf("%s %q: only a-z, 0-9, '-' and '.' are allowed", what, s)
		}
	}
	return nil
}

// checkResumeToken checks the shape of a zfs receive resume token ("1-hex-hex-hex...").
func checkResumeToken(tok string) error {
	if len(tok) > resumeTokenMax {
		return fmt.Errorf("resume token is %d bytes, more than %d", len(tok), resumeTokenMax)
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && c != '-' {
			return fmt.Errorf("resume token has a character other than 0-9, a-f and '-'")
		}
	}
	if tok != "" && tok[0] == '-' {
		return fmt.Errorf("resume token must not start with '-'")
	}
	return nil
}
