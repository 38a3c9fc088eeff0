package guest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
)

// The messages below are what the real qemu driver (libvirt 9.0, qemu-ga 7.2) answered in the real-guest tests;
// the libvirt test driver answers differently and is no reference.
func TestTranslateRealLibvirtErrors(t *testing.T) {
	tests := []struct {
		name  string
		code  libvirt.ErrorNumber
		msg   string
		kinds []error
		not   []error
		hint  string
	}{
		{"already frozen", 1, "internal error: unable to execute QEMU agent command 'guest-fsfreeze-freeze': " +
			"Command guest-fsfreeze-freeze has been disabled: the agent is in frozen state",
			[]error{ErrAlreadyFrozen}, nil, "thaw it first"},
		{"hook failed", 1, "internal error: unable to execute QEMU agent command 'guest-fsfreeze-freeze': " +
			"fsfreeze hook has failed with status 3", []error{ErrFreezeHookFailed}, nil, "fsfreeze hook"},
		{"hung agent", 86, "Guest agent is not responding: Guest agent not available for now",
			[]error{ErrAgentTimeout}, []error{ErrAgentNotConnected}, "keep thawing"},
		{"agent not running", 86, "Guest agent is not responding: QEMU guest agent is not connected",
			[]error{ErrAgentNotConnected}, []error{ErrAgentNotConfigured, ErrAgentTimeout}, "is qemu-guest-agent installed"},
		{"no agent channel", 74, "argument unsupported: QEMU guest agent is not configured",
			[]error{ErrAgentNotConnected, ErrAgentNotConfigured}, nil, "org.qemu.guest_agent.0"},
		{"paused", 55, "Requested operation is not valid: domain is not running", []error{ErrNotRunning}, nil, "resume it"},
		{"no domain", 42, "Domain not found: no domain with matching name 'x'", []error{ErrDomainNotFound}, nil, "virsh list"},
		{"state change lock", 68, "Timed out during operation: cannot acquire state change lock (held by agent=remoteDispatchDomainFSFreeze)",
			[]error{ErrBusy}, nil, "retry later"},
		{"thaw with mountpoints", 74, "argument unsupported: specifying mountpoints is not supported",
			nil, []error{ErrAgentNotConnected, ErrAgentNotConfigured}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			le := libvirt.Error{Code: uint32(tt.code), Message: tt.msg}
			err := translate("web1", "freeze filesystems", fmt.Errorf("wrapped: %w", le))
			for _, k := range tt.kinds {
				if !errors.Is(err, k) {
					t.Errorf("errors.Is(%v, %v) = false", err, k)
				}
			}
			for _, k := range tt.not {
				if errors.Is(err, k) {
					t.Errorf("errors.Is(%v, %v) = true", err, k)
				}
			}
			var got libvirt.Error
			if !errors.As(err, &got) || got.Code != uint32(tt.code) {
				t.Errorf("libvirt error not reachable with errors.As: %v", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, `guest "web1": freeze filesystems: wrapped: `) || !strings.Contains(msg, tt.hint) {
				t.Errorf("message %q: want guest, operation, libvirt message and hint %q", msg, tt.hint)
			}
		})
	}
}

func TestTranslateNonLibvirtError(t *testing.T) {
	err := translate("web1", "thaw filesystems", context.DeadlineExceeded)
	if !errors.Is(err, context.DeadlineExceeded) || err.Error() != `guest "web1": thaw filesystems: context deadline exceeded` {
		t.Errorf("translate = %v", err)
	}
	if translate("x", "y", nil) != nil {
		t.Error("translate(nil) != nil")
	}
}

func TestSelectDomains(t *testing.T) {
	all := []Domain{{Name: "db1"}, {Name: "web-1"}, {Name: "web-2"}, {Name: "web[3]"}}
	names := func(ds []Domain) string {
		var s []string
		for _, d := range ds {
			s = append(s, d.Name)
		}
		return strings.Join(s, ",")
	}
	for _, tt := range []struct {
		patterns []string
		want     string
		errWant  []string
	}{
		{[]string{"web-*"}, "web-1,web-2", nil},
		{[]string{"web-2", "db1", "web-?"}, "db1,web-1,web-2", nil},
		{[]string{"web[3]"}, "web[3]", nil}, // exact name wins even when it is a glob that does not match itself
		{[]string{"db1", "mail*", "dns"}, "", []string{`"mail*"`, `"dns"`, "known domains: db1, web-1"}},
	} {
		got, err := selectDomains(all, tt.patterns)
		if tt.errWant == nil {
			if err != nil || names(got) != tt.want {
				t.Errorf("select %v = %s, %v; want %s", tt.patterns, names(got), err, tt.want)
			}
			continue
		}
		if !errors.Is(err, ErrNoMatch) {
			t.Fatalf("select %v: error = %v, want ErrNoMatch", tt.patterns, err)
		}
		for _, w := range tt.errWant {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("select %v: error %q does not contain %q", tt.patterns, err, w)
			}
		}
	}
}

func TestBoundedGivesUpOnContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	release := make(chan struct{})
	discarded := make(chan int, 1)
	start := time.Now()
	_, err := bounded(ctx, func() (int, error) { <-release; return 7, nil }, func(v int) { discarded <- v })
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("bounded = %v after %v", err, time.Since(start))
	}
	close(release)
	select {
	case v := <-discarded:
		if v != 7 {
			t.Errorf("discarded %d, want 7", v)
		}
	case <-time.After(5 * time.Second):
		t.Error("late result never handed to discard")
	}
}
