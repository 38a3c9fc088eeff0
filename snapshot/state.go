package snapshot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// stateGlob matches frozen-guest records in a state directory.
const stateGlob = "frozen-*.json"

// recoverThawTimeout bounds RecoverFrozen's thaw of one guest.
const recoverThawTimeout = time.Minute

// stateRecord lists the guests a run is about to freeze. It exists from before the first freeze until every
// guest is confirmed thawed; the writing process holds an flock on it meanwhile, so a record that can be
// locked belongs to a run that is gone.
type stateRecord struct {
	Job     string    `json:"job"`
	PID     int       `json:"pid"`
	Written time.Time `json:"written"`
	Guests  []string  `json:"guests"`
}

// stateFile is a written, locked record.
type stateFile struct {
	path string
	f    *os.File
}

// writeState writes rec atomically (temp file, fsync, rename, fsync of the directory) as a new frozen-*.json
// in dir, and keeps it locked until remove or process exit.
func writeState(dir string, rec stateRecord) (*stateFile, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode frozen-guest record: %w", err)
	}
	rnd := make([]byte, 4)
	_, _ = rand.Read(rnd)
	final := filepath.Join(dir, fmt.Sprintf("frozen-%d-%s.json", rec.PID, hex.EncodeToString(rnd)))
	tmp := filepath.Join(dir, "."+filepath.Base(final)+".tmp")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("frozen-guest record: %w", err)
	}
	// Lock before the rename, so the record is never visible unlocked while this process lives.
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	if err == nil {
		_, err = f.Write(append(b, '\n'))
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		_ = f.Close()
		return nil, fmt.Errorf("write frozen-guest record in %s: %w", dir, err)
	}
	return &stateFile{path: final, f: f}, nil
}

// remove deletes the record (all its guests are thawed) and releases the lock.
func (s *stateFile) remove() error {
	if s == nil {
		return nil
	}
	err := os.Remove(s.path)
	if err == nil {
		err = syncDir(filepath.Dir(s.path))
	}
	return errors.Join(err, s.f.Close())
}

// unlock releases the record without removing it: its guests are not confirmed thawed.
func (s *stateFile) unlock() error {
	if s == nil {
		return nil
	}
	return s.f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// lockStale opens a record and locks it without waiting. ok is false when a live run holds it.
func lockStale(path string) (f *os.File, ok bool, err error) {
	f, err = os.Open(path)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, true, nil
}

// RecoverFrozen thaws every guest listed in a frozen-guest record that no live run holds (left by a run that
// was killed, or whose thaw was not confirmed), and removes each record once all its guests are thawed.
// Call it at every start, before taking snapshots. Guests that no longer exist or have no agent channel count
// as thawed. Each guest's thaw is bounded by one minute (and ctx); records not fully thawed stay for next time.
func RecoverFrozen(ctx context.Context, stateDir string, q Quiescer, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	paths, err := filepath.Glob(filepath.Join(stateDir, stateGlob))
	if err != nil {
		return fmt.Errorf("state dir %s: %w", stateDir, err)
	}
	var errs []error
	for _, p := range paths {
		errs = append(errs, recoverRecord(ctx, p, q, log))
	}
	return errors.Join(errs...)
}

func recoverRecord(ctx context.Context, path string, q Quiescer, log *slog.Logger) error {
	f, ok, err := lockStale(path)
	if err != nil || !ok {
		if errors.Is(err, os.ErrNotExist) {
			return nil // removed meanwhile by its run or the watchdog
		}
		if err == nil {
			log.Info("frozen-guest record belongs to a running hotzfs; leaving it", "record", path)
		}
		return err
	}
	defer f.Close()
	var rec stateRecord
	if err := json.NewDecoder(f).Decode(&rec); err != nil {
		return fmt.Errorf("frozen-guest record %s: %w — inspect it, thaw its guests by hand "+
			"(virsh domfsthaw), then delete it", path, err)
	}
	log.Warn("found a frozen-guest record of a run that did not finish; thawing its guests", "record", path,
		"job", rec.Job, "pid", rec.PID, "written", rec.Written, "guests", rec.Guests)
	if err := thawByName(ctx, q, rec.Guests, recoverThawTimeout, log); err != nil {
		return fmt.Errorf("frozen-guest record %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove frozen-guest record: %w", err)
	}
	log.Info("guests of the record thawed; record removed", "record", path)
	return nil
}

// thawByName looks up and thaws the named guests in parallel, each bounded by timeout (and ctx).
func thawByName(ctx context.Context, q Quiescer, names []string, timeout time.Duration, log *slog.Logger) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			tctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			dom, err := q.Lookup(tctx, name)
			if err == nil {
				err = q.ThawUntilThawed(tctx, dom, thawInterval)
			}
			if !nothingToThaw(err) {
				errs[i] = fmt.Errorf("%w: %w", ErrNotThawed, err)
				return
			}
			log.Info("guest thawed", "guest", name)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// removeIfStale removes a record whose writer is gone (used by the watchdog after it thawed the guests).
func removeIfStale(path string) error {
	f, ok, err := lockStale(path)
	if err != nil || !ok {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	defer f.Close()
	return os.Remove(path)
}
