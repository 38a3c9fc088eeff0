package zfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	gozfs "github.com/mistifyio/go-zfs/v3"
)

// PoolStatus is the health and space of a pool.
type PoolStatus struct {
	Name      string
	Health    string // ONLINE, DEGRADED, FAULTED, OFFLINE, UNAVAIL, REMOVED, SUSPENDED
	Size      uint64 // 0 when the pool cannot tell (e.g. UNAVAIL)
	Allocated uint64
	Free      uint64
}

// Capacity is the percentage of the pool allocated, as zpool's capacity property; 0 for a pool without a size.
func (p PoolStatus) Capacity() float64 {
	if p.Size == 0 {
		return 0
	}
	return float64(p.Allocated) * 100 / float64(p.Size)
}

// PoolHealth reads the health and space of every imported pool. This short metadata call goes through go-zfs,
// which runs `zpool list` and one `zpool get` per pool from PATH without a context; the call is logged here and
// abandoned (not killed) when ctx ends first.
func (r *Runner) PoolHealth(ctx context.Context) ([]PoolStatus, error) {
	type result struct {
		pools []*gozfs.Zpool
		err   error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		pools, err := gozfs.ListZpools()
		done <- result{pools, err}
	}()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("zpool list: %w", ctx.Err())
	case res := <-done:
		r.logDone(ctx, "zpool", []string{"list"}, start, res.err)
		if res.err != nil {
			return nil, fromGoZFS(res.err)
		}
		out := make([]PoolStatus, len(res.pools))
		for i, p := range res.pools {
			out[i] = PoolStatus{Name: p.Name, Health: p.Health, Size: p.Size, Allocated: p.Allocated, Free: p.Free}
		}
		return out, nil
	}
}

// fromGoZFS classifies a go-zfs error like our own.
func fromGoZFS(err error) error {
	var ge *gozfs.Error
	if errors.As(err, &ge) {
		args := strings.Fields(ge.Debug) // the binary's path, then its arguments
		if len(args) > 0 {
			args = args[1:]
		}
		ce := &CommandError{Cmd: "zpool", Args: args, Stderr: strings.TrimSpace(ge.Stderr), Err: ge.Err}
		ce.Kind = classify(ce.Stderr)
		if errors.Is(ge.Err, exec.ErrNotFound) {
			ce.Kind = ErrNoZFS
		}
		return ce
	}
	return err
}

func isNotFound(err error) bool { return errors.Is(err, ErrDatasetNotFound) }

func isPipeClosed(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}

// Pools lists the imported pools.
func (r *Runner) Pools(ctx context.Context) ([]string, error) {
	out, err := r.zpool(ctx, "list", "-H", "-o", "name")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}
