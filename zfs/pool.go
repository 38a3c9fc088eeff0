package zfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	gozfs "github.com/mistifyio/go-zfs/v3"
)

// PoolStatus is the health and space of a pool.
type PoolStatus struct {
	Name   string
	Health string // ONLINE, DEGRADED, ...
	Size   uint64
	Free   uint64
}

// Pool reads a pool's health and space. This short metadata call goes through go-zfs, which runs `zpool get`
// from PATH without a context; the call is logged here and abandoned (not killed) when ctx ends first.
func (r *Runner) Pool(ctx context.Context, name string) (PoolStatus, error) {
	if err := ValidateDataset(name); err != nil || strings.Contains(name, "/") {
		return PoolStatus{}, fmt.Errorf("invalid pool name %q", name)
	}
	type result struct {
		p   *gozfs.Zpool
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		p, err := gozfs.GetZpool(name)
		done <- result{p, err}
	}()
	select {
	case <-ctx.Done():
		return PoolStatus{}, fmt.Errorf("zpool get %s: %w", name, ctx.Err())
	case res := <-done:
		r.logDone(ctx, "zpool", []string{"get", name}, start, res.err)
		if res.err != nil {
			return PoolStatus{}, fromGoZFS(res.err)
		}
		return PoolStatus{Name: name, Health: res.p.Health, Size: res.p.Size, Free: res.p.Free}, nil
	}
}

// fromGoZFS classifies a go-zfs error like our own.
func fromGoZFS(err error) error {
	var ge *gozfs.Error
	if errors.As(err, &ge) {
		ce := &CommandError{Cmd: "zpool", Args: strings.Fields(ge.Debug), Stderr: strings.TrimSpace(ge.Stderr), Err: ge.Err}
		ce.Kind = classify(ce.Stderr)
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
