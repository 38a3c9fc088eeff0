package receiver

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hotzfs/hotzfs/zfs"
)

// The test binary doubles as a zfs binary that keeps its datasets in a JSON file (stateZFS): it answers
// `zfs list`, `get`, `snapshot`, `clone`, `mount` and `destroy` as OpenZFS does, for the checks that depend
// on what zfs holds (which dataset is a clone, of what, with how many snapshots, mounted or not).
const envFakeZFS = "HOTZFS_FAKE_ZFS_STATE"

func TestMain(m *testing.M) {
	if state := os.Getenv(envFakeZFS); state != "" {
		os.Exit(fakeZFS(state, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeDataset is one object the fake zfs holds.
type fakeDataset struct {
	Name     string
	Type     zfs.Type
	GUID     uint64
	TXG      uint64
	Origin   string `json:",omitempty"`
	UserRefs int    `json:",omitempty"`
	Props    map[string]string
}

type fakeState struct {
	Datasets []fakeDataset
	Calls    []string
	// Fail makes a call that starts with a key fail, doing nothing, with the value as its stderr.
	Fail map[string]string `json:",omitempty"`
	// MountFails is the number of mounts (by zfs clone or zfs mount) that fail before mounts succeed.
	MountFails int `json:",omitempty"`
}

// stateZFS returns a runner whose zfs is the fake, holding datasets, and a function returning the calls it
// has answered so far.
func stateZFS(t *testing.T, datasets []fakeDataset) (*zfs.Runner, func() []string) {
	t.Helper()
	return fakeZFSWith(t, fakeState{Datasets: datasets})
}

// fakeZFSWith is stateZFS starting from state, with its failures.
func fakeZFSWith(t *testing.T, state0 fakeState) (*zfs.Runner, func() []string) {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	b, _ := json.Marshal(state0)
	if err := os.WriteFile(state, b, 0o644); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "zfs")
	script := fmt.Sprintf("#!/bin/sh\n%s=%s exec %s \"$@\"\n", envFakeZFS, state, self)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	calls := func() []string {
		var s fakeState
		b, _ := os.ReadFile(state)
		_ = json.Unmarshal(b, &s)
		return s.Calls
	}
	return &zfs.Runner{ZFS: bin, Zpool: bin}, calls
}

func fakeZFS(path string, args []string) int {
	var s fakeState
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake zfs:", err)
		return 2
	}
	call := strings.Join(args, " ")
	s.Calls = append(s.Calls, call)
	code := 0
	for prefix, stderr := range s.Fail {
		if strings.HasPrefix(call, prefix) {
			fmt.Fprintln(os.Stderr, stderr)
			args = []string{"failed"}
			code = 1
		}
	}
	switch args[0] {
	case "failed":
	case "list":
		code = s.list(args[1:])
	case "get":
		code = s.get(args[1:])
	case "snapshot":
		code = s.snapshot(args[1:])
	case "clone":
		code = s.clone(args[1:])
	case "mount":
		code = s.mount(args[1:])
	case "destroy":
		code = s.destroy(args[1:])
	default:
		fmt.Fprintf(os.Stderr, "fake zfs: %s is not implemented\n", args[0])
		code = 2
	}
	b, _ = json.Marshal(s)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return 2
	}
	return code
}

// options splits args into flag values (the flag's last value) and the operands after "--".
func options(args []string) (map[string]string, []string) {
	flags := map[string]string{}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--":
			return flags, args[i+1:]
		case a == "-t" || a == "-o" || a == "-d":
			flags[a] = args[i+1]
			i++
		default:
			flags[a] = ""
		}
	}
	return flags, nil
}

func (s *fakeState) find(name string) *fakeDataset {
	for i := range s.Datasets {
		if s.Datasets[i].Name == name {
			return &s.Datasets[i]
		}
	}
	return nil
}

func (s *fakeState) list(args []string) int {
	flags, roots := options(args)
	types := strings.Split(flags["-t"], ",")
	cols := strings.Split(flags["-o"], ",")
	for _, root := range roots {
		if s.find(root) == nil {
			fmt.Fprintf(os.Stderr, "cannot open '%s': dataset does not exist\n", root)
			return 1
		}
	}
	for _, d := range s.Datasets {
		if !slices.Contains(types, string(d.Type)) {
			continue
		}
		under := false
		for _, root := range roots {
			rest, ok := strings.CutPrefix(d.Name, root)
			under = under || ok && (rest == "" || rest[0] == '@' ||
				rest[0] == '/' && (flags["-d"] != "1" || !strings.ContainsAny(rest[1:], "/@")))
		}
		if !under {
			continue
		}
		var out []string
		for _, c := range cols {
			out = append(out, d.value(c))
		}
		fmt.Println(strings.Join(out, "\t"))
	}
	return 0
}

// value is a column of `zfs list -H -p` or a value of `zfs get -H -p`.
func (d fakeDataset) value(col string) string {
	switch col {
	case "name":
		return d.Name
	case "type":
		return string(d.Type)
	case "guid":
		return fmt.Sprint(d.GUID)
	case "createtxg":
		return fmt.Sprint(d.TXG)
	case "creation":
		return fmt.Sprint(1767225600 + d.TXG)
	case "used", "referenced":
		return "4096"
	case "userrefs":
		if d.Type != zfs.Snapshot {
			return "-"
		}
		return fmt.Sprint(d.UserRefs)
	case "origin":
		if d.Origin == "" {
			return "-"
		}
		return d.Origin
	case "encryption":
		return "off"
	}
	if v, ok := d.Props[col]; ok {
		return v
	}
	return "-"
}

func (s *fakeState) get(args []string) int {
	_, ops := options(args)
	d := s.find(ops[1])
	if d == nil {
		fmt.Fprintf(os.Stderr, "cannot open '%s': dataset does not exist\n", ops[1])
		return 1
	}
	for _, p := range strings.Split(ops[0], ",") {
		v, src := d.value(p), "-"
		if _, ok := d.Props[p]; ok {
			src = "local"
		}
		fmt.Printf("%s\t%s\t%s\n", p, v, src)
	}
	return 0
}

// setProps returns the values of the -o k=v options before "--".
func setProps(args []string) map[string]string {
	props := map[string]string{}
	for i := 0; i < len(args) && args[i] != "--"; i++ {
		if args[i] == "-o" {
			k, v, _ := strings.Cut(args[i+1], "=")
			props[k] = v
			i++
		}
	}
	return props
}

func (s *fakeState) snapshot(args []string) int {
	props := setProps(args)
	_, names := options(args)
	for _, n := range names {
		ds, _, _ := strings.Cut(n, "@")
		if s.find(ds) == nil {
			fmt.Fprintf(os.Stderr, "cannot open '%s': dataset does not exist\n", ds)
			return 1
		}
		if s.find(n) != nil {
			fmt.Fprintf(os.Stderr, "cannot create snapshot '%s': dataset already exists\n", n)
			return 1
		}
	}
	txg := uint64(len(s.Datasets) + 1000)
	for i, n := range names {
		s.Datasets = append(s.Datasets, fakeDataset{Name: n, Type: zfs.Snapshot, GUID: 9000 + uint64(i), TXG: txg, Props: props})
	}
	return 0
}

// clone makes a clone of a snapshot, of its dataset's type, and mounts a filesystem clone at /NAME as zfs
// clone does: a clone it could not mount stays, and the command fails.
func (s *fakeState) clone(args []string) int {
	_, ops := options(args)
	snap, target := ops[0], ops[1]
	origin := s.find(snap)
	if origin == nil || origin.Type != zfs.Snapshot {
		fmt.Fprintf(os.Stderr, "cannot open '%s': dataset does not exist\n", snap)
		return 1
	}
	if s.find(target) != nil {
		fmt.Fprintf(os.Stderr, "cannot create '%s': dataset already exists\n", target)
		return 1
	}
	if s.find(target[:strings.LastIndex(target, "/")]) == nil {
		fmt.Fprintf(os.Stderr, "cannot create '%s': parent does not exist\n", target)
		return 1
	}
	d := fakeDataset{Name: target, Type: s.find(snap[:strings.Index(snap, "@")]).Type, GUID: 8000 + uint64(len(s.Datasets)),
		TXG: 2000 + uint64(len(s.Datasets)), Origin: snap, Props: setProps(args)}
	if d.Type == zfs.Filesystem {
		d.Props["mountpoint"], d.Props["mounted"] = "/"+target, "no"
	}
	s.Datasets = append(s.Datasets, d)
	if d.Type == zfs.Filesystem && s.mount([]string{"--", target}) != 0 {
		fmt.Fprintln(os.Stderr, "clone successfully created, but not mounted")
		return 1
	}
	return 0
}

func (s *fakeState) mount(args []string) int {
	_, ops := options(args)
	d := s.find(ops[0])
	if d == nil {
		fmt.Fprintf(os.Stderr, "cannot open '%s': dataset does not exist\n", ops[0])
		return 1
	}
	if s.MountFails > 0 {
		s.MountFails--
		fmt.Fprintf(os.Stderr, "cannot mount '%s': directory is not empty\n", d.Props["mountpoint"])
		return 1
	}
	d.Props["mounted"] = "yes"
	return 0
}

// destroy destroys a filesystem or volume without snapshots or children, as zfs destroy without -r does.
func (s *fakeState) destroy(args []string) int {
	flags, ops := options(args)
	if _, ok := flags["-r"]; ok || s.find(ops[0]) == nil {
		fmt.Fprintf(os.Stderr, "fake zfs: destroy %q is not implemented\n", args)
		return 2
	}
	for _, d := range s.Datasets {
		if strings.HasPrefix(d.Name, ops[0]+"@") || strings.HasPrefix(d.Name, ops[0]+"/") {
			fmt.Fprintf(os.Stderr, "cannot destroy '%s': filesystem has children\n", ops[0])
			return 1
		}
	}
	s.Datasets = slices.DeleteFunc(s.Datasets, func(d fakeDataset) bool { return d.Name == ops[0] })
	return 0
}
