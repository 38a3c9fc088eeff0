package retention

import (
	"bufio"
	"io"
	"strings"
)

// WriteText writes the plan for people, one snapshot a line in plan order (by dataset, newest first):
//
//	keep     tank/vm1@hotzfs-2024-03-10T1200  Sun 2024-03-10 12:00 UTC  newest, last 1/4, hourly 1/24
//	destroy  tank/vm1@hotzfs-2024-03-10T1100  Sun 2024-03-10 11:00 UTC
//
// Times are shown in the policy's zone. snaps must be the slice the plan was made from.
func (r *Result) WriteText(w io.Writer, snaps []Snapshot) error {
	width := 0
	for _, s := range snaps {
		width = max(width, len(s.Dataset)+1+len(s.Name))
	}
	loc := r.policy.location()
	bw := bufio.NewWriter(w)
	var line []byte
	for _, i := range r.Order {
		s := &snaps[i]
		line = line[:0]
		if r.Decisions[i].Keep() {
			line = append(line, "keep     "...)
		} else {
			line = append(line, "destroy  "...)
		}
		name := s.Dataset + "@" + s.Name
		line = append(line, name...)
		line = append(line, strings.Repeat(" ", width-len(name)+2)...)
		line = s.Created.In(loc).AppendFormat(line, "Mon 2006-01-02 15:04:05 MST")
		for j, why := range r.Reasons(i) {
			if j == 0 {
				line = append(line, "  "...)
			} else {
				line = append(line, ", "...)
			}
			line = append(line, why.String()...)
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}
