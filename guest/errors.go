package guest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/digitalocean/go-libvirt"
)

// Error kinds. Every error returned by a Client method that stems from libvirt carries one or more of these
// (test with errors.Is) and the original libvirt.Error (errors.As).
var (
	// ErrDomainNotFound: no domain with that name (libvirt error 42).
	ErrDomainNotFound = errors.New("domain not found")
	// ErrNoMatch: a name or glob given to Select matches no domain.
	ErrNoMatch = errors.New("no domain matches")
	// ErrNotRunning: the domain is paused or shut off, so its agent cannot be reached (libvirt error 55).
	ErrNotRunning = errors.New("domain is not running")
	// ErrAgentNotConnected: the guest agent is not there to answer: the channel is missing from the domain
	// XML, or qemu-guest-agent is not installed or not running in the guest (libvirt errors 74 and 86).
	ErrAgentNotConnected = errors.New("guest agent not connected")
	// ErrAgentNotConfigured: the domain XML has no org.qemu.guest_agent.0 channel. Also ErrAgentNotConnected.
	ErrAgentNotConfigured = errors.New("guest agent channel not configured")
	// ErrAgentTimeout: the agent did not answer within the domain's agent response timeout (libvirt error 86
	// "Guest agent not available for now"). A freeze that timed out may still happen when the agent wakes up.
	ErrAgentTimeout = errors.New("guest agent did not answer in time")
	// ErrAlreadyFrozen: a freeze was asked while the guest's filesystems are frozen.
	ErrAlreadyFrozen = errors.New("guest filesystems already frozen")
	// ErrFreezeHookFailed: the guest's fsfreeze hook script exited non-zero; nothing was frozen.
	ErrFreezeHookFailed = errors.New("guest fsfreeze hook failed")
	// ErrBusy: another job holds the domain (libvirt error 68, "cannot acquire state change lock").
	ErrBusy = errors.New("domain busy with another operation")
	// ErrNotOnZFS: one or more disks of a domain are not backed by a ZFS dataset or zvol.
	ErrNotOnZFS = errors.New("disk not on ZFS")
)

// libvirt error numbers observed from the real qemu driver (libvirt 9.0, qemu-ga 7.2).
const (
	codeInternal           = libvirt.ErrInternalError       // 1: agent command errors, e.g. frozen state, hook failed
	codeNoDomain           = libvirt.ErrNoDomain            // 42
	codeOperationInvalid   = libvirt.ErrOperationInvalid    // 55: "domain is not running"
	codeOperationTimeout   = libvirt.ErrOperationTimeout    // 68: state change lock
	codeArgUnsupported     = libvirt.ErrArgumentUnsupported // 74: "QEMU guest agent is not configured"
	codeAgentUnresponsive  = libvirt.ErrAgentUnresponsive   // 86
	codeAgentCommandTimout = libvirt.ErrAgentCommandTimeout // 112 (newer libvirt)
)

// Error is a libvirt failure translated for the user: which domain, which operation, what kind of failure
// (the Err* values above) and what to do about it.
type Error struct {
	Domain string  // domain name
	Op     string  // operation, e.g. "freeze"
	Kinds  []error // the Err* kinds it matches
	Hint   string  // what the user can do, may be empty
	Err    error   // the underlying error (a libvirt.Error when it came from libvirt)
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Domain != "" {
		fmt.Fprintf(&b, "guest %q: ", e.Domain)
	}
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if e.Hint != "" {
		b.WriteString(" — ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap exposes both the kinds and the underlying error to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	return append(append([]error(nil), e.Kinds...), e.Err)
}

const (
	hintAgent = "is qemu-guest-agent installed and running in the guest? " +
		"is the org.qemu.guest_agent.0 channel in the domain XML?"
	hintChannel = "add <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel> " +
		"to the domain XML and restart the guest"
	hintTimeout = "the agent is hung or the guest is overloaded; a freeze may still land when it answers, " +
		"so keep thawing until the status is thawed"
	hintNotRunning = "the guest is paused or shut off: resume it, or take a crash-consistent snapshot without freezing"
	hintFrozen     = "the guest is already frozen (by another tool or an earlier run): thaw it first"
	hintHook       = "the guest's fsfreeze hook (qemu-ga -F, usually /etc/qemu/fsfreeze-hook) exited non-zero; " +
		"see its log in the guest; nothing was frozen"
	hintBusy = "another operation on this domain is still running (maybe a hung agent call): retry later"
)

// translate turns an error from a go-libvirt call into an *Error with kinds and a hint. Errors that are not
// from libvirt (context, connection) are wrapped with domain and operation only.
func translate(domain, op string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Domain: domain, Op: op, Err: err}
	var le libvirt.Error
	if !errors.As(err, &le) {
		return e
	}
	msg := le.Message
	switch libvirt.ErrorNumber(le.Code) {
	case codeNoDomain:
		e.Kinds, e.Hint = []error{ErrDomainNotFound}, "check the name with `virsh list --all`"
	case codeOperationInvalid:
		if strings.Contains(msg, "not running") {
			e.Kinds, e.Hint = []error{ErrNotRunning}, hintNotRunning
		}
	case codeOperationTimeout:
		e.Kinds, e.Hint = []error{ErrBusy}, hintBusy
	case codeArgUnsupported:
		if strings.Contains(msg, "agent is not configured") {
			e.Kinds, e.Hint = []error{ErrAgentNotConnected, ErrAgentNotConfigured}, hintChannel
		}
	case codeAgentUnresponsive:
		if strings.Contains(msg, "not available for now") {
			e.Kinds, e.Hint = []error{ErrAgentTimeout}, hintTimeout
		} else {
			e.Kinds, e.Hint = []error{ErrAgentNotConnected}, hintAgent
		}
	case codeAgentCommandTimout:
		e.Kinds, e.Hint = []error{ErrAgentTimeout}, hintTimeout
	}
	switch {
	case strings.Contains(msg, "agent is in frozen state"):
		e.Kinds, e.Hint = []error{ErrAlreadyFrozen}, hintFrozen
	case strings.Contains(msg, "fsfreeze hook has failed"):
		e.Kinds, e.Hint = []error{ErrFreezeHookFailed}, hintHook
	}
	return e
}
