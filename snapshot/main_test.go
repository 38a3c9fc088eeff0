package snapshot

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/hotzfs/hotzfs/guest"
)

// envChild makes the test binary a child process that runs Take (see runChild), for the signal tests.
const envChild = "HOTZFS_SNAPSHOT_TEST_CHILD"

// TestMain dispatches the test binary into the watchdog mode (as `hotzfs` does with a hidden command) or into
// the signal tests' child mode; otherwise it runs the tests.
func TestMain(m *testing.M) {
	if IsGuardProcess() {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		err := RunGuard(ctx, os.Stdin, os.Stdout, log)
		stop()
		if err != nil {
			log.Error("watchdog failed", "error", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if cfg := os.Getenv(envChild); cfg != "" {
		os.Exit(runChild(cfg))
	}
	os.Exit(m.Run())
}

// childConfig configures the child process.
type childConfig struct {
	URI           string        `json:"uri"`
	Guest         string        `json:"guest"`
	FreezeTimeout time.Duration `json:"freeze_timeout"`
	StateDir      string        `json:"state_dir"`
}

// runChild takes a snapshot of one guest with a snapshot step that blocks until its context ends, printing
// "in-window" on stdout when the step starts and "result ..." when Take returns. SIGTERM cancels Take's context,
// as in hotzfs's main.
func runChild(raw string) int {
	var cfg childConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := guest.Connect(ctx, guest.Options{URI: cfg.URI, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer c.Close()
	d, err := c.Lookup(ctx, cfg.Guest)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	res, err := Take(ctx, Request{
		Job: "child", Prefix: "hotzfs", FreezeTimeout: cfg.FreezeTimeout, StateDir: cfg.StateDir,
		Guests:   []Guest{{Domain: d, Datasets: []string{"tank/" + d.Name}, Quiesce: Required}},
		Quiescer: c, Snapshotter: blockingSnapshotter{}, Guard: &GuardSpec{URI: cfg.URI}, Logger: log,
	})
	fmt.Printf("result window=%v thaw_err=%v err=%v\n", res.Window, res.Guests[0].ThawErr, err)
	return 0
}

type blockingSnapshotter struct{}

func (blockingSnapshotter) SnapshotAtomic(ctx context.Context, _ []string, _ map[string]string) error {
	fmt.Println("in-window")
	<-ctx.Done()
	return ctx.Err()
}

func (blockingSnapshotter) SetProps(context.Context, string, map[string]string) error { return nil }
