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
