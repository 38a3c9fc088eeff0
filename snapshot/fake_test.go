package snapshot

// Fakes for faults a real system cannot produce on demand, and for ordering logic.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/guest"
)

type fakeDom struct {
	state       guest.State
	xml         string
	frozen      bool
	freezeErrs  []error // returned by successive Freeze calls (nil entries: success)
	freezeLands bool    // a failed freeze still freezes the guest (a timed-out freeze landing later)
	setTOErr    error
	thawErr     error // returned by ThawUntilThawed (the guest stays frozen)
}

type fakeQuiescer struct {
	mu      sync.Mutex
	doms    map[string]*fakeDom
	calls   []string
	thawCtx []error // ctx.Err() seen by each ThawUntilThawed when called
}

func newFakeQuiescer(doms map[string]*fakeDom) *fakeQuiescer {
	for _, d := range doms {
		if d.state == "" {
			d.state = guest.StateRunning
		}
	}
	return &fakeQuiescer{doms: doms}
}

func (f *fakeQuiescer) dom(name string) (*fakeDom, error) {
	d, ok := f.doms[name]
	if !ok {
		return nil, fmt.Errorf("guest %q: %w", name, guest.ErrDomainNotFound)
	}
	return d, nil
}

func (f *fakeQuiescer) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeQuiescer) Lookup(_ context.Context, name string) (guest.Domain, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := f.dom(name)
	return guest.Domain{Name: name}, err
}

func (f *fakeQuiescer) State(_ context.Context, d guest.Domain) (guest.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := f.dom(d.Name)
	if err != nil {
		return "", err
	}
	return fd.state, nil
}

func (f *fakeQuiescer) XML(_ context.Context, d guest.Domain, _ bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := f.dom(d.Name)
	if err != nil {
		return "", err
	}
	return fd.xml, nil
}

func (f *fakeQuiescer) SetAgentTimeout(_ context.Context, d guest.Domain, t time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("timeout %s %v", d.Name, t)
	return f.doms[d.Name].setTOErr
}

func (f *fakeQuiescer) Freeze(ctx context.Context, d guest.Domain) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("freeze %s", d.Name)
	fd, err := f.dom(d.Name)
	if err != nil {
		return 0, err
	}
	if len(fd.freezeErrs) > 0 {
		err = fd.freezeErrs[0]
		fd.freezeErrs = fd.freezeErrs[1:]
	}
	if err == nil && fd.frozen {
		err = fmt.Errorf("guest %q: %w", d.Name, guest.ErrAlreadyFrozen)
	}
	if err == nil || fd.freezeLands {
		fd.frozen = true
	}
	if err != nil {
		return 0, err
	}
	return 1, nil
}

func (f *fakeQuiescer) ThawUntilThawed(ctx context.Context, d guest.Domain, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("thaw %s", d.Name)
	f.thawCtx = append(f.thawCtx, ctx.Err())
	fd, err := f.dom(d.Name)
	if err != nil {
		return err
	}
	if fd.thawErr != nil {
		return fd.thawErr
	}
	fd.frozen = false
	return nil
}

func (f *fakeQuiescer) frozen(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.doms[name].frozen
}

func (f *fakeQuiescer) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// snapCall is one SnapshotAtomic call and which guests were frozen at that moment.
type snapCall struct {
	snapshots []string
	props     map[string]string
	frozen    []string
}

type fakeSnapshotter struct {
	mu       sync.Mutex
	q        *fakeQuiescer
	calls    []snapCall
	setProps map[string]map[string]string
	// errs returns the error for a call (nil: success); block makes calls wait for ctx.
	errs  func(call int, snapshots []string) error
	block chan struct{} // closed by the snapshotter when a blocking call starts
}

func (s *fakeSnapshotter) SnapshotAtomic(ctx context.Context, snaps []string, props map[string]string) error {
	s.mu.Lock()
	c := snapCall{snapshots: slices.Clone(snaps), props: props}
	if s.q != nil {
		for name := range s.q.doms {
			if s.q.frozen(name) {
				c.frozen = append(c.frozen, name)
			}
		}
		slices.Sort(c.frozen)
	}
	s.calls = append(s.calls, c)
	n := len(s.calls) - 1
	block := s.block
	s.mu.Unlock()
	if block != nil {
		close(block)
		<-ctx.Done()
		return ctx.Err()
	}
	if s.errs != nil {
		return s.errs(n, snaps)
	}
	return nil
}

func (s *fakeSnapshotter) SetProps(_ context.Context, name string, props map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.setProps == nil {
		s.setProps = map[string]map[string]string{}
	}
	s.setProps[name] = props
	return nil
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func dom(name string) guest.Domain { return guest.Domain{Name: name} }
