package zfs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// SnapshotAtomic creates all the given snapshots ("pool/a@s", "pool/b@s", ...) in one zfs call, which zfs
// makes atomic: they share one transaction group. All must be in the same pool. props are set on each.
func (r *Runner) SnapshotAtomic(ctx context.Context, snapshots []string, props map[string]string) error {
	if len(snapshots) == 0 {
		return fmt.Errorf("no snapshots to create")
	}
	pool := Pool(snapshots[0])
	for _, s := range snapshots {
		if err := ValidateSnapshot(s); err != nil {
			return err
		}
		if Pool(s) != pool {
			return fmt.Errorf("snapshots %s and %s are in different pools; one atomic snapshot covers one pool", snapshots[0], s)
		}
	}
	args := []string{"snapshot"}
	propArgs, err := propertyArgs(props)
	if err != nil {
		return err
	}
	args = append(args, propArgs...)
	args = append(args, "--")
	args = append(args, snapshots...)
	_, err = r.zfs(ctx, args...)
	return err
}

// propertyArgs turns props into sorted "-o k=v" arguments.
func propertyArgs(props map[string]string) ([]string, error) {
	keys := make([]string, 0, len(props))
	for k := range props {
		if err := validateProperty(k, props[k]); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var args []string
	for _, k := range keys {
		args = append(args, "-o", k+"="+props[k])
	}
	return args, nil
}

// MaxUserPropValue is the largest user property value OpenZFS stores.
const MaxUserPropValue = 8191

func validateProperty(k, v string) error {
	if k == "" || strings.ContainsAny(k, "= \t\n") || k[0] == '-' {
		return fmt.Errorf("invalid property name %q", k)
	}
	if strings.Contains(k, ":") && len(v) > MaxUserPropValue {
		return fmt.Errorf("value of user property %q is %d bytes; zfs stores at most %d", k, len(v), MaxUserPropValue)
	}
	return nil
}

// destroyBatch bounds the number of snapshots named in one `zfs destroy ds@a,b,c` call.
const destroyBatch = 200

// DestroySnapshots destroys the named snapshots (short names) of one dataset, batched as `ds@a,b,c`.
func (r *Runner) DestroySnapshots(ctx context.Context, dataset string, shorts []string) error {
	if err := ValidateDataset(dataset); err != nil {
		return err
	}
	for _, s := range shorts {
		if err := ValidateSnapshotName(s); err != nil {
			return err
		}
	}
	for start := 0; start < len(shorts); start += destroyBatch {
		end := min(start+destroyBatch, len(shorts))
		if _, err := r.zfs(ctx, "destroy", "--", dataset+"@"+strings.Join(shorts[start:end], ",")); err != nil {
			return err
		}
	}
	return nil
}

// Destroy destroys a filesystem, volume or bookmark; recursive also destroys children and snapshots.
func (r *Runner) Destroy(ctx context.Context, name string, recursive bool) error {
	if err := validateAny(name); err != nil {
		return err
	}
	args := []string{"destroy"}
	if recursive {
		args = append(args, "-r")
	}
	_, err := r.zfs(ctx, append(args, "--", name)...)
	return err
}

func validateAny(name string) error {
	switch {
	case strings.Contains(name, "@"):
		return ValidateSnapshot(name)
	case strings.Contains(name, "#"):
		return ValidateBookmark(name)
	}
	return ValidateDataset(name)
}

// Hold places a hold with tag on each snapshot, in one call.
func (r *Runner) Hold(ctx context.Context, tag string, snapshots ...string) error {
	return r.holdOp(ctx, "hold", tag, snapshots)
}

// Release removes the hold with tag from each snapshot, in one call.
func (r *Runner) Release(ctx context.Context, tag string, snapshots ...string) error {
	return r.holdOp(ctx, "release", tag, snapshots)
}

func (r *Runner) holdOp(ctx context.Context, op, tag string, snapshots []string) error {
	if tag == "" || tag[0] == '-' || strings.ContainsAny(tag, "\t\n") {
		return fmt.Errorf("invalid hold tag %q", tag)
	}
	if len(snapshots) == 0 {
		return nil
	}
	for _, s := range snapshots {
		if err := ValidateSnapshot(s); err != nil {
			return err
		}
	}
	_, err := r.zfs(ctx, append([]string{op, "--", tag}, snapshots...)...)
	return err
}

// Hold is one hold on a snapshot.
type Hold struct {
	Snapshot string
	Tag      string
}

// Holds lists the holds on the given snapshots, in one call.
func (r *Runner) Holds(ctx context.Context, snapshots ...string) ([]Hold, error) {
	if len(snapshots) == 0 {
		return nil, nil
	}
	for _, s := range snapshots {
		if err := ValidateSnapshot(s); err != nil {
			return nil, err
		}
	}
	// No -p: OpenZFS 2.1 does not accept it for holds, and the time column is not used.
	out, err := r.zfs(ctx, append([]string{"holds", "-H", "--"}, snapshots...)...)
	if err != nil {
		return nil, err
	}
	return parseHolds(string(out))
}

// HoldWhileListing places tag on snapshot (a hold of that tag already there counts as placed) and, at the
// same time, lists the holds on others. It returns them only once the hold is in place, so a caller moving
// a hold may release the old ones right away: at no moment is none held.
func (r *Runner) HoldWhileListing(ctx context.Context, tag, snapshot string, others ...string) ([]Hold, error) {
	placed := make(chan error, 1)
	go func() { placed <- r.Hold(ctx, tag, snapshot) }()
	holds, err := r.Holds(ctx, others...)
	if herr := <-placed; herr != nil && !errors.Is(herr, ErrExists) {
		return nil, fmt.Errorf("hold %s on %s: %w", tag, snapshot, herr)
	}
	return holds, err
}

// parseHolds parses `zfs holds -H` output: snapshot, tag, time, tab-separated.
func parseHolds(out string) ([]Hold, error) {
	var holds []Hold
	for i, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("zfs holds line %d: %d fields, want 3: %q", i+1, len(f), line)
		}
		holds = append(holds, Hold{Snapshot: f[0], Tag: f[1]})
	}
	return holds, nil
}

// CreateBookmark creates bookmark ("pool/a#mark") from snapshot ("pool/a@snap").
func (r *Runner) CreateBookmark(ctx context.Context, snapshot, bookmark string) error {
	if err := ValidateSnapshot(snapshot); err != nil {
		return err
	}
	if err := ValidateBookmark(bookmark); err != nil {
		return err
	}
	_, err := r.zfs(ctx, "bookmark", "--", snapshot, bookmark)
	return err
}

// Rollback rolls a dataset back to snapshot; destroyNewer (-r) also destroys later snapshots.
func (r *Runner) Rollback(ctx context.Context, snapshot string, destroyNewer bool) error {
	if err := ValidateSnapshot(snapshot); err != nil {
		return err
	}
	args := []string{"rollback"}
	if destroyNewer {
		args = append(args, "-r")
	}
	_, err := r.zfs(ctx, append(args, "--", snapshot)...)
	return err
}

// Clone creates dataset target from snapshot, with props set on it.
func (r *Runner) Clone(ctx context.Context, snapshot, target string, props map[string]string) error {
	if err := ValidateSnapshot(snapshot); err != nil {
		return err
	}
	if err := ValidateDataset(target); err != nil {
		return err
	}
	propArgs, err := propertyArgs(props)
	if err != nil {
		return err
	}
	args := append([]string{"clone"}, propArgs...)
	_, err = r.zfs(ctx, append(args, "--", snapshot, target)...)
	return err
}

// CreateFilesystem creates a filesystem and any missing parents (-p).
func (r *Runner) CreateFilesystem(ctx context.Context, name string, props map[string]string) error {
	return r.create(ctx, name, 0, props)
}

// CreateVolume creates a volume of size bytes and any missing parents (-p).
func (r *Runner) CreateVolume(ctx context.Context, name string, size uint64, props map[string]string) error {
	if size == 0 {
		return fmt.Errorf("volume %s: size must be > 0", name)
	}
	return r.create(ctx, name, size, props)
}

func (r *Runner) create(ctx context.Context, name string, size uint64, props map[string]string) error {
	if err := ValidateDataset(name); err != nil {
		return err
	}
	propArgs, err := propertyArgs(props)
	if err != nil {
		return err
	}
	args := append([]string{"create", "-p"}, propArgs...)
	if size > 0 {
		args = append(args, "-V", strconv.FormatUint(size, 10))
	}
	_, err = r.zfs(ctx, append(args, "--", name)...)
	return err
}

// SetProps sets properties on a dataset, snapshot or bookmark-less object, in one call.
func (r *Runner) SetProps(ctx context.Context, name string, props map[string]string) error {
	if err := validateAny(name); err != nil {
		return err
	}
	if len(props) == 0 {
		return nil
	}
	propArgs, err := propertyArgs(props)
	if err != nil {
		return err
	}
	// No "--": OpenZFS 2.1's zfs set takes no options and reads "--" as a bad one. The property names and
	// the target are validated above and cannot start with '-'.
	args := []string{"set"}
	for i := 1; i < len(propArgs); i += 2 {
		args = append(args, propArgs[i])
	}
	_, err = r.zfs(ctx, append(args, name)...)
	return err
}

// GetProps reads properties of one object. Unset properties are absent from the result.
func (r *Runner) GetProps(ctx context.Context, name string, props ...string) (map[string]string, error) {
	if err := validateAny(name); err != nil {
		return nil, err
	}
	for _, p := range props {
		if err := validateProperty(p, ""); err != nil {
			return nil, err
		}
	}
	out, err := r.zfs(ctx, "get", "-H", "-p", "-o", "property,value,source", "--", strings.Join(props, ","), name)
	if err != nil {
		return nil, err
	}
	return parseGet(string(out))
}

// parseGet parses `zfs get -H -p -o property,value,source`. A user property that is not set prints "-" as
// value and source; a native one that does not apply prints "-" as value.
func parseGet(out string) (map[string]string, error) {
	res := map[string]string{}
	for i, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("zfs get line %d: %d fields, want 3: %q", i+1, len(f), line)
		}
		if f[1] == "-" && f[2] == "-" {
			continue
		}
		res[f[0]] = f[1]
	}
	return res, nil
}

// TypeOf returns the type of name, or an error that errors.Is ErrDatasetNotFound when it does not exist.
func (r *Runner) TypeOf(ctx context.Context, name string) (Type, error) {
	props, err := r.GetProps(ctx, name, "type")
	if err != nil {
		return "", err
	}
	return Type(props["type"]), nil
}

// Exists reports whether a dataset, snapshot or bookmark exists.
func (r *Runner) Exists(ctx context.Context, name string) (bool, error) {
	_, err := r.TypeOf(ctx, name)
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, err
}

// Promote makes clone independent of its origin: the origin's snapshots up to and including the one clone
// was made from move to clone (with their GUIDs, holds and properties), and the origin becomes a clone of
// clone's copy of that snapshot.
func (r *Runner) Promote(ctx context.Context, clone string) error {
	if err := ValidateDataset(clone); err != nil {
		return err
	}
	// No "--": zfs promote reads any argument starting with '-' as an (invalid) option, "--" included. The
	// name is validated above and cannot start with '-'.
	_, err := r.zfs(ctx, "promote", clone)
	return err
}

// Rename renames a filesystem or volume (with its snapshots) within its pool. Snapshots, bookmarks and the
// options -r, -f and -p are not offered: a rename here moves exactly one dataset whose new parent exists.
func (r *Runner) Rename(ctx context.Context, from, to string) error {
	if err := ValidateDataset(from); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	if err := ValidateDataset(to); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	if Pool(from) != Pool(to) {
		return fmt.Errorf("rename %s to %s: a dataset stays in its pool; zfs cannot rename across pools", from, to)
	}
	if from == to || strings.HasPrefix(to, from+"/") {
		return fmt.Errorf("rename %s to %s: the new name must not be the dataset itself or below it", from, to)
	}
	_, err := r.zfs(ctx, "rename", "--", from, to)
	return err
}

// WrittenSince returns the bytes dataset references that its snapshot @short does not (written@short): 0
// means nothing was written since that snapshot and no later snapshot holds data it lacks.
func (r *Runner) WrittenSince(ctx context.Context, dataset, short string) (uint64, error) {
	if err := ValidateDataset(dataset); err != nil {
		return 0, err
	}
	if err := ValidateSnapshotName(short); err != nil {
		return 0, err
	}
	prop := "written@" + short
	props, err := r.GetProps(ctx, dataset, prop)
	if err != nil {
		return 0, err
	}
	v, ok := props[prop]
	if !ok {
		return 0, fmt.Errorf("zfs get %s %s: no value", prop, dataset)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("zfs get %s %s: %q is not a byte count", prop, dataset, v)
	}
	return n, nil
}

// LocalProps returns the properties set explicitly on a dataset: those whose source is local or received
// (native and user properties; values in parseable form, as zfs get -p prints them). Inherited and default
// values are absent.
func (r *Runner) LocalProps(ctx context.Context, name string) (map[string]string, error) {
	if err := ValidateDataset(name); err != nil {
		return nil, err
	}
	out, err := r.zfs(ctx, "get", "-H", "-p", "-s", "local,received", "-o", "property,value,source", "--", "all", name)
	if err != nil {
		return nil, err
	}
	return parseGet(string(out))
}
