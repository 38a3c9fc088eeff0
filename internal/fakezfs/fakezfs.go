// Package fakezfs writes zpool and zfs stand-ins that print what OpenZFS prints, for tests of the code that
// reads them (through go-zfs, or as a whole command) where no real OpenZFS is.
package fakezfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Pool is one pool as the stand-in zpool reports it.
type Pool struct {
	Name, Health    string
	Size, Allocated uint64
}

// goZFSProps are the properties go-zfs asks `zpool get -Hp` for (go-zfs/v3's zpoolPropList).
const goZFSProps = "name,health,allocated,size,free,readonly,dedupratio,fragmentation,freeing,leaked"

// Path makes a new directory the whole PATH of the test and returns it, for the stand-ins to go in.
func Path(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("PATH", dir)
	return dir
}

// Zpool writes into dir a zpool that answers go-zfs's two commands as OpenZFS's does: `zpool list -Ho name`,
// then for each pool `zpool get -Hp <properties> POOL`, one "pool<TAB>property<TAB>value<TAB>source" line per
// property (with -p numbers are exact, dedupratio has no x, fragmentation no %). Other arguments fail.
func Zpool(t testing.TB, dir string, pools ...Pool) {
	t.Helper()
	var b strings.Builder
	b.WriteString("#!/bin/sh\ncase \"$*\" in\n\"list -Ho name\") printf '")
	for _, p := range pools {
		b.WriteString(p.Name + `\n`)
	}
	b.WriteString("' ;;\n")
	for _, p := range pools {
		fmt.Fprintf(&b, "\"get -Hp %s %s\") printf '", goZFSProps, p.Name)
		for _, kv := range [][2]string{{"name", p.Name}, {"health", p.Health}, {"allocated", fmt.Sprint(p.Allocated)},
			{"size", fmt.Sprint(p.Size)}, {"free", fmt.Sprint(p.Size - p.Allocated)}, {"readonly", "off"},
			{"dedupratio", "1.00"}, {"fragmentation", "0"}, {"freeing", "0"}, {"leaked", "0"}} {
			fmt.Fprintf(&b, `%s\t%s\t%s\t-\n`, p.Name, kv[0], kv[1])
		}
		b.WriteString("' ;;\n")
	}
	b.WriteString("*) echo \"unexpected arguments: $*\" >&2; exit 2 ;;\nesac\n")
	write(t, dir, "zpool", b.String())
}

// Zfs writes into dir a zfs that prints listing for every `zfs list` and fails anything else.
func Zfs(t testing.TB, dir, listing string) {
	t.Helper()
	out := filepath.Join(dir, "zfs-list.out")
	if err := os.WriteFile(out, []byte(listing), 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "zfs", fmt.Sprintf("#!/bin/sh\n[ \"$1\" = list ] || { echo \"unexpected arguments: $*\" >&2; exit 2; }\n"+
		"while IFS= read -r line; do printf '%%s\\n' \"$line\"; done < '%s'\n", out))
}

func write(t testing.TB, dir, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}
