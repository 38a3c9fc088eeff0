package config

import (
	"context"
	"fmt"

	"github.com/goccy/go-yaml/ast"
	"github.com/robfig/cron/v3"

	"github.com/hotzfs/hotzfs/transport"
)

// cronParser reads standard 5-field specs, descriptors (@hourly, @every 30m), and 6-field specs whose first
// field is seconds. A "CRON_TZ=Zone " prefix sets the zone.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month |
	cron.Dow | cron.Descriptor)

// Schedule is a cron spec, parsed when the config is loaded. The zero Schedule means "no schedule".
type Schedule struct {
	Spec string
	cron.Schedule
}

// ParseSchedule parses a cron spec (see the package doc for the forms it takes).
func ParseSchedule(spec string) (Schedule, error) {
	s, err := parseSchedule(spec)
	if err != nil {
		return Schedule{}, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return s, nil
}

func parseSchedule(spec string) (Schedule, error) {
	s, err := cronParser.Parse(spec)
	if err != nil {
		return Schedule{}, fmt.Errorf("%v; write 5 fields \"minute hour day-of-month month day-of-week\" "+
			"(e.g. \"*/15 * * * *\"), a descriptor (@hourly, @daily, @every 30m), or 6 fields with seconds first",
			err)
	}
	return Schedule{Spec: spec, Schedule: s}, nil
}

// IsZero reports whether no schedule is set.
func (s Schedule) IsZero() bool { return s.Schedule == nil }

// String is the spec as written.
func (s Schedule) String() string { return s.Spec }

// UnmarshalYAML parses the cron spec while the file is decoded.
func (s *Schedule) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	return decodeScalar(ctx, node, s, `a cron spec like "*/15 * * * *" or @hourly`, parseSchedule)
}

// Quiesce says what a job does about freezing a guest's filesystems through the guest agent.
type Quiesce string

const (
	QuiesceRequired  Quiesce = "required"  // fail the guest's snapshot unless the freeze succeeds
	QuiescePreferred Quiesce = "preferred" // try to freeze; take a crash-consistent snapshot if that fails
	QuiesceOff       Quiesce = "off"       // never freeze; snapshots are crash-consistent
)

func parseQuiesce(s string) (Quiesce, error) {
	switch q := Quiesce(s); q {
	case QuiesceRequired, QuiescePreferred, QuiesceOff:
		return q, nil
	}
	return "", fmt.Errorf("not a quiesce policy; use required, preferred or off%s",
		suggestIf(s, "required", "preferred", "off"))
}

// UnmarshalYAML accepts required, preferred or off.
func (q *Quiesce) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	return decodeScalar(ctx, node, q, "required, preferred or off", parseQuiesce)
}

// Compression is the zstd level a stream is compressed with on the wire: transport's enum (transport.Compression
// owns the levels and their parsing), read from YAML.
type Compression transport.Compression

const (
	CompressionNone    = Compression(transport.CompressionNone)
	CompressionFastest = Compression(transport.CompressionFastest)
	CompressionDefault = Compression(transport.CompressionDefault)
	CompressionBetter  = Compression(transport.CompressionBetter)
)

func parseCompression(s string) (Compression, error) {
	c, err := transport.ParseCompression(s)
	if err != nil {
		return "", fmt.Errorf("not a compression level; use none, fastest, default or better%s",
			suggestIf(s, "none", "fastest", "default", "better"))
	}
	return Compression(c), nil
}

// UnmarshalYAML accepts none, fastest, default or better ("zstd" is read as default).
func (c *Compression) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	return decodeScalar(ctx, node, c, "none, fastest, default or better", parseCompression)
}

// suggestIf returns ` (did you mean "x"?)` when one of the words is close to s, and "" otherwise.
func suggestIf(s string, words ...string) string {
	if hint := suggest(s, words); len(hint) > 5 && hint[:5] == " (did" {
		return hint
	}
	return ""
}
