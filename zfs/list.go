package zfs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Type is the kind of a zfs object.
type Type string

// The types this package lists.
const (
	Filesystem Type = "filesystem"
	Volume     Type = "volume"
	Snapshot   Type = "snapshot"
	Bookmark   Type = "bookmark"
)

// Dataset is one line of a listing: a filesystem, volume, snapshot or bookmark.
type Dataset struct {
	Name        string // full name: pool/a, pool/a@snap, pool/a#mark
	Type        Type
	GUID        uint64
	CreateTXG   uint64
	Creation    time.Time
	Used        uint64
	Referenced  uint64
	Mountpoint  string // "" when not applicable or not mounted anywhere
	ResumeToken string // receive_resume_token of a filesystem or volume with a partial receive
	UserRefs    uint64 // number of holds on a snapshot
	// Origin is the full name of the snapshot a clone was made from ("pool/a@s"); "" for anything else, and
	// unless ListOptions.Origin asked for it.
	Origin string
	Props  map[string]string
}

// Dataset returns the dataset part of the name: "pool/a" for pool/a, pool/a@s and pool/a#m.
func (d Dataset) Dataset() string {
	if i := strings.IndexAny(d.Name, "@#"); i >= 0 {
		return d.Name[:i]
	}
	return d.Name
}

// Short returns the part after '@' or '#', or "" for filesystems and volumes.
func (d Dataset) Short() string {
	if i := strings.IndexAny(d.Name, "@#"); i >= 0 {
		return d.Name[i+1:]
	}
	return ""
}

// listColumns are the fixed columns of every listing, in order; user properties follow.
var listColumns = []string{"name", "type", "guid", "createtxg", "creation", "used", "referenced",
	"mountpoint", "receive_resume_token", "userrefs"}

// ListOptions selects what List returns.
type ListOptions struct {
	Types     []Type   // empty: filesystems, volumes, snapshots and bookmarks
	Depth     int      // 0: whole subtree (-r); n > 0: -d n
	UserProps []string // user properties to read, e.g. "hotzfs:job"
	Origin    bool     // also read the origin property (Dataset.Origin)
}

// List lists the given roots and everything below them with one zfs call, however many roots are given.
func (r *Runner) List(ctx context.Context, roots []string, opts ListOptions) ([]Dataset, error) {
	if len(roots) == 0 {
		return nil, nil
	}
	for _, root := range roots {
		if err := ValidateDataset(root); err != nil {
			return nil, err
		}
	}
	for _, p := range opts.UserProps {
		if !strings.Contains(p, ":") || strings.ContainsAny(p, ", \t") {
			return nil, fmt.Errorf("user property %q must look like module:name", p)
		}
	}
	types := opts.Types
	if len(types) == 0 {
		types = []Type{Filesystem, Volume, Snapshot, Bookmark}
	}
	typeArgs := make([]string, len(types))
	for i, t := range types {
		typeArgs[i] = string(t)
	}
	cols := append([]string{}, listColumns...)
	if opts.Origin {
		cols = append(cols, "origin")
	}
	cols = append(cols, opts.UserProps...)
	args := []string{"list", "-H", "-p", "-t", strings.Join(typeArgs, ","), "-o", strings.Join(cols, ",")}
	if opts.Depth > 0 {
		args = append(args, "-d", strconv.Itoa(opts.Depth))
	} else {
		args = append(args, "-r")
	}
	args = append(args, "--")
	args = append(args, roots...)
	out, err := r.zfs(ctx, args...)
	if err != nil {
		return nil, err
	}
	return parseListing(out, opts.Origin, opts.UserProps)
}

// parseList parses `zfs list -H -p -o <listColumns>,<userProps>` output.
func parseList(out []byte, userProps []string) ([]Dataset, error) {
	return parseListing(out, false, userProps)
}

// parseListing parses `zfs list -H -p -o <listColumns>[,origin],<userProps>` output.
func parseListing(out []byte, origin bool, userProps []string) ([]Dataset, error) {
	fixed := len(listColumns)
	if origin {
		fixed++
	}
	want := fixed + len(userProps)
	var result []Dataset
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if text == "" {
			continue
		}
		fields := strings.Split(text, "\t")
		if len(fields) != want {
			return nil, fmt.Errorf("zfs list line %d: %d fields, want %d: %q", line, len(fields), want, text)
		}
		d, err := parseListFields(fields, userProps, fields[fixed:])
		if err == nil && origin {
			d.Origin, err = parseOrigin(d, fields[len(listColumns)])
		}
		if err != nil {
			return nil, fmt.Errorf("zfs list line %d: %w", line, err)
		}
		result = append(result, d)
	}
	return result, sc.Err()
}

// parseListFields parses the listColumns of f, then props, the values of userProps (in order).
func parseListFields(f []string, userProps, props []string) (Dataset, error) {
	d := Dataset{Name: f[0], Type: Type(f[1]), Mountpoint: dash(f[7]), ResumeToken: dash(f[8])}
	switch d.Type {
	case Filesystem, Volume, Snapshot, Bookmark:
	default:
		return d, fmt.Errorf("unknown type %q for %s", f[1], f[0])
	}
	if d.Mountpoint == "none" || d.Mountpoint == "legacy" {
		d.Mountpoint = ""
	}
	var err error
	nums := []struct {
		dst *uint64
		s   string
		col string
	}{{&d.GUID, f[2], "guid"}, {&d.CreateTXG, f[3], "createtxg"}, {&d.Used, f[5], "used"},
		{&d.Referenced, f[6], "referenced"}, {&d.UserRefs, f[9], "userrefs"}}
	for _, n := range nums {
		if *n.dst, err = parseUint(n.s); err != nil {
			return d, fmt.Errorf("%s of %s: %w", n.col, d.Name, err)
		}
	}
	secs, err := parseUint(f[4])
	if err != nil {
		return d, fmt.Errorf("creation of %s: %w", d.Name, err)
	}
	d.Creation = time.Unix(int64(secs), 0).UTC()
	if len(userProps) > 0 {
		d.Props = make(map[string]string, len(userProps))
		for i, p := range userProps {
			if v := props[i]; v != "-" {
				d.Props[p] = v
			}
		}
	}
	return d, nil
}

// parseOrigin checks the origin column of d: "-" or the full name of a snapshot, for a filesystem or volume.
func parseOrigin(d Dataset, s string) (string, error) {
	if s == "-" || s == "" {
		return "", nil
	}
	if d.Type != Filesystem && d.Type != Volume {
		return "", fmt.Errorf("%s %s has origin %q", d.Type, d.Name, s)
	}
	if err := ValidateSnapshot(s); err != nil {
		return "", fmt.Errorf("origin of %s: %w", d.Name, err)
	}
	return s, nil
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

func parseUint(s string) (uint64, error) {
	if s == "-" || s == "" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}
