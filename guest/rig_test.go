package guest

// The real-guest test rig: a thin layer over internal/guesttest (which boots the tiny guest built by
// test/guest/build-guest.sh and drives it through the agent) that hands out Domains of this package.

import (
	"context"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/internal/guesttest"
)

const testDomainPrefix = guesttest.DomainPrefix

type rig struct {
	c  *Client
	gt *guesttest.Rig
}

// newRig connects to the libvirt daemon named by HOTZFS_TEST_LIBVIRT, or skips the test telling how to enable it.
func newRig(t *testing.T) *rig {
	t.Helper()
	gt := guesttest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Connect(ctx, Options{URI: gt.URI, Logger: guesttest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rig{c: c, gt: gt}
}

type bootOptions = guesttest.BootOptions

// boot starts a transient test domain (see guesttest.Rig.Boot) and looks it up.
func (r *rig) boot(t *testing.T, opts bootOptions) Domain {
	t.Helper()
	name := r.gt.Boot(t, opts)
	d, err := r.c.Lookup(testCtx(t, 30*time.Second), name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (r *rig) exec(t *testing.T, d Domain, script string) string {
	t.Helper()
	return r.gt.Exec(t, d.Name, script)
}

func (r *rig) ticks(t *testing.T, d Domain) []float64 {
	t.Helper()
	return r.gt.Ticks(t, d.Name)
}

func (r *rig) uptime(t *testing.T, d Domain) float64 {
	t.Helper()
	return r.gt.Uptime(t, d.Name)
}

func (r *rig) hookLog(t *testing.T, d Domain) []guesttest.HookCall {
	t.Helper()
	return r.gt.HookLog(t, d.Name)
}

func ticksBetween(ticks []float64, from, to float64) int {
	return guesttest.TicksBetween(ticks, from, to)
}

func libvirtCode(err error) string { return guesttest.LibvirtCode(err) }

func testCtx(t *testing.T, d time.Duration) context.Context { return guesttest.Ctx(t, d) }
