package replication

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// snaps builds snapshots from "name:guid:txg" specs; a leading '#' makes a bookmark.
func snaps(specs ...string) []Snap {
	var out []Snap
	for _, spec := range specs {
		var s Snap
		if strings.HasPrefix(spec, "#") {
			s.Bookmark = true
			spec = spec[1:]
		}
		parts := strings.Split(spec, ":")
		s.Name = parts[0]
		fmt.Sscan(parts[1], &s.GUID)
		fmt.Sscan(parts[2], &s.CreateTXG)
		out = append(out, s)
	}
	return out
}

func steps(p Plan) string {
	var s []string
	for _, st := range p.Steps {
		x := st.String()
		if st.Force {
			x += " -F"
		}
		s = append(s, x)
	}
	return strings.Join(s, "; ")
}

func TestMakePlan(t *testing.T) {
	cases := []struct {
		name string
		in   Input
		want string
		err  error
	}{
		{"empty target: full of oldest then -I to newest",
			Input{Source: snaps("a:1:10", "b:2:20", "c:3:30")},
			"full @a; incremental @a..@c (with intermediates)", nil},
		{"single snapshot, empty target", Input{Source: snaps("a:1:10")}, "full @a", nil},
		{"input order does not matter",
			Input{Source: snaps("c:3:30", "a:1:10", "b:2:20"), Target: snaps("a:1:5"), TargetExists: true},
			"incremental @a..@c (with intermediates)", nil},
		{"up to date", Input{Source: snaps("a:1:10", "b:2:20"), Target: snaps("a:1:1", "b:2:2"), TargetExists: true}, "", nil},
		{"common found by guid, not name",
			Input{Source: snaps("x:1:10", "y:2:20", "z:3:30"), Target: snaps("renamed:2:7"), TargetExists: true},
			"incremental @y..@z (with intermediates)", nil},
		{"same name, different guid is not common",
			Input{Source: snaps("a:1:10", "b:2:20"), Target: snaps("b:99:7"), TargetExists: true}, "", ErrNoCommonSnapshot},
		{"base only as bookmark on source",
			Input{Source: snaps("#a:1:10", "b:2:20", "c:3:30"), Target: snaps("a:1:3"), TargetExists: true},
			"incremental #a..@b; incremental @b..@c (with intermediates)", nil},
		{"bookmark base, one newer snapshot",
			Input{Source: snaps("#a:1:10", "b:2:20"), Target: snaps("a:1:3"), TargetExists: true},
			"incremental #a..@b", nil},
		{"snapshot preferred over bookmark of same guid",
			Input{Source: snaps("#a:1:10", "a:1:10", "b:2:20"), Target: snaps("a:1:3"), TargetExists: true},
			"incremental @a..@b (with intermediates)", nil},
		{"target diverged, refused",
			Input{Source: snaps("a:1:10", "b:2:20"), Target: snaps("a:1:3", "t:77:4"), TargetExists: true}, "", ErrTargetDiverged},
		{"target diverged, rollback allowed",
			Input{Source: snaps("a:1:10", "b:2:20"), Target: snaps("a:1:3", "t:77:4"), TargetExists: true, AllowRollback: true},
			"incremental @a..@b (with intermediates) -F", nil},
		{"target ahead of source",
			Input{Source: snaps("a:1:10"), Target: snaps("a:1:3", "b:2:4"), TargetExists: true, AllowRollback: true}, "", ErrTargetDiverged},
		{"newest common is used, not oldest",
			Input{Source: snaps("a:1:10", "b:2:20", "c:3:30", "d:4:40"), Target: snaps("a:1:1", "b:2:2", "c:3:3"), TargetExists: true},
			"incremental @c..@d (with intermediates)", nil},
		{"no source snapshots", Input{Source: snaps("#a:1:10")}, "", ErrNoSourceSnapshots},
		{"target exists empty", Input{Source: snaps("a:1:10"), TargetExists: true}, "", ErrTargetNotEmpty},
		{"target exists empty, rollback allowed", Input{Source: snaps("a:1:10"), TargetExists: true, AllowRollback: true}, "full @a -F", nil},
		{"resume token first", Input{Source: snaps("a:1:10"), Target: snaps("a:1:1"), ResumeToken: "1-abc"}, "resume interrupted receive", nil},
		{"bookmark newer than all snapshots",
			Input{Source: snaps("a:1:10", "#b:2:20"), Target: snaps("a:1:1", "b:2:2"), TargetExists: true}, "", ErrTargetDiverged},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := MakePlan(c.in)
			if c.err != nil {
				var ce *ConflictError
				if !errors.Is(err, c.err) || !errors.As(err, &ce) || ce.Msg == "" {
					t.Fatalf("err %v, want %v with an explanation", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := steps(p); got != c.want {
				t.Errorf("plan %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestMakePlanDiscardsNamesTheRolledBackSnapshots(t *testing.T) {
	p, err := MakePlan(Input{Source: snaps("a:1:10", "b:2:20"), Target: snaps("a:1:3", "x:8:4", "y:9:5"),
		TargetExists: true, AllowRollback: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.Discards, " ") != "@x @y" || p.Base == nil || p.Base.Name != "a" {
		t.Errorf("discards %v base %+v", p.Discards, p.Base)
	}
}

// After executing a plan the target holds every source snapshot from the base on; planning again is a no-op.
func TestMakePlanConvergesOnRandomHistories(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 2000; iter++ {
		n := 1 + rng.IntN(12)
		var src []Snap
		for i := 0; i < n; i++ {
			src = append(src, Snap{Name: fmt.Sprint("s", i), GUID: uint64(1000 + i), CreateTXG: uint64(10 * (i + 1))})
		}
		// The target holds a prefix-free subset of the older snapshots (retention pruned some).
		var tgt []Snap
		k := rng.IntN(n + 1)
		for i := 0; i < k; i++ {
			if rng.IntN(3) > 0 || i == k-1 {
				tgt = append(tgt, Snap{Name: src[i].Name, GUID: src[i].GUID, CreateTXG: uint64(i + 1)})
			}
		}
		p, err := MakePlan(Input{Source: src, Target: tgt, TargetExists: len(tgt) > 0})
		if err != nil {
			t.Fatalf("iter %d: %v", iter, err)
		}
		after := apply(t, src, tgt, p)
		p2, err := MakePlan(Input{Source: src, Target: after, TargetExists: true})
		if err != nil || !p2.UpToDate() {
			t.Fatalf("iter %d: second plan %q, err %v", iter, steps(p2), err)
		}
		if after[len(after)-1].GUID != src[len(src)-1].GUID {
			t.Fatalf("iter %d: newest not replicated", iter)
		}
	}
}

// apply simulates zfs receive of the plan's steps on the target snapshot list.
func apply(t *testing.T, src, tgt []Snap, p Plan) []Snap {
	out := append([]Snap(nil), tgt...)
	idx := map[string]int{}
	for i, s := range src {
		idx[s.Name] = i
	}
	for _, st := range p.Steps {
		to := idx[st.To]
		from := -1
		if st.From != "" {
			from = idx[st.From[1:]]
			if out[len(out)-1].GUID != src[from].GUID {
				t.Fatalf("step %s: target's newest is %s, not the base", st, out[len(out)-1].Name)
			}
		}
		lo := to
		if st.Intermediates {
			lo = from + 1
		}
		for i := lo; i <= to; i++ {
			out = append(out, src[i])
		}
	}
	return out
}
