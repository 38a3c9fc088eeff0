package guest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/digitalocean/go-libvirt"
)

// FreezeStatus is what qemu-guest-agent reports about the guest's filesystems.
type FreezeStatus string

// Freeze states reported by guest-fsfreeze-status.
const (
	Frozen FreezeStatus = "frozen"
	Thawed FreezeStatus = "thawed"
)

// Filesystem is one guest filesystem as the agent reports it (guest-get-fsinfo).
type Filesystem struct {
	Mountpoint string
	Name       string   // guest device name, e.g. "vda1"
	Type       string   // e.g. "ext4"
	Disks      []string // targets of the domain disks it lives on, e.g. ["vda"]
}

// SetAgentTimeout sets how long libvirt waits for the domain's agent before an agent call (freeze, thaw, status)
// fails with ErrAgentTimeout. d is rounded up to whole seconds; d <= 0 means "block until the agent answers",
// which a backup must never use: a freeze stuck on a hung agent then holds the domain's agent job, and every
// thaw or status call waits 30 s for that job and fails with ErrBusy (measured with libvirt 9.0). The setting
// stays on the running domain (other clients see it too) until the domain is restarted.
func (c *Client) SetAgentTimeout(ctx context.Context, dom Domain, d time.Duration) error {
	secs := int32(libvirt.DomainAgentResponseTimeoutBlock)
	if d > 0 {
		secs = int32(min(math.Ceil(d.Seconds()), math.MaxInt32))
	}
	_, err := call(ctx, dom.Name, "set agent response timeout", func() (int32, error) {
		return c.lv.DomainAgentSetResponseTimeout(dom.ref, secs, 0)
	})
	return err
}

// Freeze freezes all of the guest's filesystems through the agent (fsfreeze hook first, if the guest has one)
// and returns how many were frozen. It fails with ErrAlreadyFrozen, ErrFreezeHookFailed, ErrAgentTimeout,
// ErrAgentNotConnected, ErrNotRunning or ErrDomainNotFound. After any failure the guest may still be frozen, or
// become frozen later (a hung agent runs the queued freeze when it wakes up): always thaw afterwards.
func (c *Client) Freeze(ctx context.Context, dom Domain) (int, error) {
	start := time.Now()
	n, err := call(ctx, dom.Name, "freeze filesystems", func() (int32, error) {
		return c.lv.DomainFsfreeze(dom.ref, nil, 0)
	})
	c.log.Debug("guest freeze", "guest", dom.Name, "filesystems", n, "duration", time.Since(start), "error", err)
	return int(n), err
}

// Thaw thaws all of the guest's filesystems and returns how many were thawed (0 when nothing was frozen).
// It cannot thaw a subset: libvirt refuses a mountpoint list for thaw (error 74).
func (c *Client) Thaw(ctx context.Context, dom Domain) (int, error) {
	start := time.Now()
	n, err := call(ctx, dom.Name, "thaw filesystems", func() (int32, error) {
		return c.lv.DomainFsthaw(dom.ref, nil, 0)
	})
	c.log.Debug("guest thaw", "guest", dom.Name, "filesystems", n, "duration", time.Since(start), "error", err)
	return int(n), err
}

// Status asks the agent whether the guest's filesystems are frozen (guest-fsfreeze-status). The agent has
// timeout to answer (rounded up to seconds; <= 0: the domain's agent response timeout).
func (c *Client) Status(ctx context.Context, dom Domain, timeout time.Duration) (FreezeStatus, error) {
	raw, err := c.AgentCommand(ctx, dom, "guest-fsfreeze-status", nil, timeout)
	if err != nil {
		return "", err
	}
	var s FreezeStatus
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("guest %q: fsfreeze status: unexpected agent answer %s: %w", dom.Name, raw, err)
	}
	if s != Frozen && s != Thawed {
		return "", fmt.Errorf("guest %q: fsfreeze status: unexpected agent answer %q", dom.Name, s)
	}
	return s, nil
}

// FsInfo lists the guest's mounted filesystems as the agent sees them.
func (c *Client) FsInfo(ctx context.Context, dom Domain) ([]Filesystem, error) {
	infos, err := call(ctx, dom.Name, "get filesystem info", func() ([]libvirt.DomainFsinfo, error) {
		infos, _, err := c.lv.DomainGetFsinfo(dom.ref, 0)
		return infos, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Filesystem, 0, len(infos))
	for _, fi := range infos {
		out = append(out, Filesystem{Mountpoint: fi.Mountpoint, Name: fi.Name, Type: fi.Fstype, Disks: fi.DevAliases})
	}
	return out, nil
}

// AgentCommand runs one qemu-guest-agent command ({"execute": command, "arguments": args}; args may be nil)
// and returns the agent's "return" value. The agent has timeout to answer (rounded up to seconds; <= 0: the
// domain's agent response timeout). While the guest is frozen the agent refuses most commands (ErrAlreadyFrozen).
func (c *Client) AgentCommand(ctx context.Context, dom Domain, command string, args any,
	timeout time.Duration) (json.RawMessage, error) {
	req := map[string]any{"execute": command}
	if args != nil {
		req["arguments"] = args
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("guest %q: agent command %s: encode arguments: %w", dom.Name, command, err)
	}
	secs := int32(libvirt.DomainAgentResponseTimeoutDefault)
	if timeout > 0 {
		secs = int32(min(math.Ceil(timeout.Seconds()), math.MaxInt32))
	}
	op := "agent command " + command
	res, err := call(ctx, dom.Name, op, func() (libvirt.OptString, error) {
		return c.lv.QEMUDomainAgentCommand(dom.ref, string(body), secs, 0)
	})
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("guest %q: %s: empty answer from the agent", dom.Name, op)
	}
	var reply struct {
		Return json.RawMessage `json:"return"`
	}
	if err := json.Unmarshal([]byte(res[0]), &reply); err != nil {
		return nil, fmt.Errorf("guest %q: %s: unexpected agent answer %q: %w", dom.Name, op, res[0], err)
	}
	return reply.Return, nil
}

// ThawUntilThawed thaws the guest and checks its status, again every interval, until the agent reports
// thawed or ctx ends. It is the undo of Freeze: a hung agent can fail thaw and status calls for a while and
// then still run an earlier, queued freeze, so a single thaw is not enough. Each agent call is bounded by the
// domain's agent response timeout (SetAgentTimeout) and by ctx. A shut-off domain counts as thawed; a domain
// that no longer exists or has no agent channel ends the loop with that error; a paused domain is retried (it
// may be frozen underneath) until it is resumed or ctx ends. On ctx end it returns ctx's
// error joined with the last failure.
func (c *Client) ThawUntilThawed(ctx context.Context, dom Domain, interval time.Duration) error {
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	var last error
	for attempt := 1; ; attempt++ {
		_, terr := c.Thaw(ctx, dom)
		st, serr := c.Status(ctx, dom, 0)
		if serr == nil && st == Thawed {
			if attempt > 1 {
				c.log.Info("guest thawed", "guest", dom.Name, "attempts", attempt)
			}
			return nil
		}
		last = errors.Join(terr, serr)
		if serr == nil {
			last = errors.Join(terr, fmt.Errorf("guest %q: still %s after thaw", dom.Name, st))
		}
		if errors.Is(last, ErrDomainNotFound) || errors.Is(last, ErrAgentNotConfigured) {
			return last
		}
		if errors.Is(last, ErrNotRunning) {
			if s, err := c.State(ctx, dom); err == nil && s == StateShutoff {
				return nil
			}
		}
		c.log.Warn("guest not thawed yet, retrying", "guest", dom.Name, "attempt", attempt, "error", last)
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(fmt.Errorf("guest %q: not confirmed thawed after %d attempts: %w",
				dom.Name, attempt, ctx.Err()), last)
		case <-t.C:
		}
	}
}
