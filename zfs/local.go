package zfs

import "context"

// Mount mounts a filesystem at its mountpoint.
func (r *Runner) Mount(ctx context.Context, filesystem string) error {
	if err := ValidateDataset(filesystem); err != nil {
		return err
	}
	_, err := r.zfs(ctx, "mount", "--", filesystem)
	return err
}

// LocalProps returns the properties set on the object itself (source "local"), native and user ones: what
// a dataset that takes its place must be given to behave the same.
func (r *Runner) LocalProps(ctx context.Context, name string) (map[string]string, error) {
	if err := validateAny(name); err != nil {
		return nil, err
	}
	out, err := r.zfs(ctx, "get", "-H", "-p", "-s", "local", "-o", "property,value,source", "--", "all", name)
	if err != nil {
		return nil, err
	}
	return parseGet(string(out))
}
