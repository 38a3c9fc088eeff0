package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Pos is a 1-based line and column in a config file. The zero Pos means "unknown" (a config built in code).
type Pos struct {
	Line, Col int
}

// IsZero reports whether the position is unknown.
func (p Pos) IsZero() bool { return p.Line == 0 }

// Error is one problem in a config file: where it is and what is wrong, in words that say what to do.
type Error struct {
	File string
	Pos  Pos
	Msg  string
}

// Error formats the problem as "file:line:col: message", leaving out what is unknown.
func (e *Error) Error() string {
	switch {
	case e.File != "" && !e.Pos.IsZero():
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
	case !e.Pos.IsZero():
		return fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Col, e.Msg)
	case e.File != "":
		return e.File + ": " + e.Msg
	}
	return e.Msg
}

// Problems returns every *Error in err (which may be one error or a join of many), in order.
func Problems(err error) []*Error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*Error
		for _, sub := range j.Unwrap() {
			out = append(out, Problems(sub)...)
		}
		return out
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return nil
}

// problems collects validation errors with the positions of the nodes they are about.
type problems struct {
	src  *source // nil for a config built in code
	list []*Error
}

// add records a problem about the value at path (see source.pos for how a path names a node).
func (p *problems) add(path, format string, args ...any) {
	e := &Error{Msg: fmt.Sprintf(format, args...)}
	if p.src != nil {
		e.File = p.src.file
		e.Pos = p.src.pos(path)
		if p.src.failed[e.Pos] {
			return // the value could not be decoded; that was reported already
		}
	}
	p.list = append(p.list, e)
}

// err joins the problems, sorted by position, or returns nil when there are none.
func (p *problems) err() error {
	return joinSorted(p.list)
}

// joinSorted joins problems sorted by position (stable, so problems at one node keep their order).
func joinSorted(list []*Error) error {
	if len(list) == 0 {
		return nil
	}
	slices.SortStableFunc(list, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	errs := make([]error, len(list))
	for i, e := range list {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// suggest returns ` (did you mean "x"?)` for the closest of the allowed words when it is close enough, and
// otherwise the list of allowed words.
func suggest(word string, allowed []string) string {
	best, bestDist := "", len(word)/3+2 // a third of the word may be wrong, and at least two letters
	for _, a := range allowed {
		if d := editDistance(strings.ToLower(word), a); d < bestDist {
			best, bestDist = a, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (allowed: " + strings.Join(allowed, ", ") + ")"
}

// editDistance is the Damerau–Levenshtein distance (with adjacent swaps) between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// quoteList renders names as `"a", "b"` for messages, or "none" when there are none.
func quoteList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
