#!/usr/bin/env bash
# zfs-suite.sh — run the real-OpenZFS test tier inside the OpenZFS test VM, for one version or both.
#
# Usage: test/zfs-suite.sh [2.1|2.3|all] [go test -run regex] [go test -bench regex]
#
# Builds the VM images if needed (test/vm/build-image.sh, cached), compiles the test binary of every package
# whose tests use internal/zfstest, boots one VM per OpenZFS version (both at once with `all`) and runs the
# binaries there as root with HOTZFS_REAL_ZFS=1. Prints each package's `go test -v` output, then one line per
# version: "real-zfs <version>: N passed, N failed, N skipped". Exits non-zero if any test failed, if any
# real-ZFS test was skipped, or if none ran — CI must never pass without the real tier.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VM=$ROOT/test/vm
which=${1:-all}
run_re=${2:-.}
bench_re=${3:-}
case $which in
all) versions=(2.1 2.3) ;;
2.1 | 2.3) versions=("$which") ;;
*)
	echo "usage: test/zfs-suite.sh [2.1|2.3|all] [run-regex]" >&2
	exit 2
	;;
esac

log() { printf '%s zfs-suite: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

for v in "${versions[@]}"; do
	"$VM/build-image.sh" "$v"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/hotzfs-zfs-suite.XXXXXX")
trap 'rm -rf "$work"' EXIT
bins=$work/bins
mkdir -p "$bins"

# Packages whose tests import internal/zfstest carry real-ZFS tests; test/e2e and test/nested have their own
# runners (test/e2e/run.sh needs the host's libvirt as well, test/nested/run.sh a VM image with libvirt in it).
cd "$ROOT"
mapfile -t pkgs < <(go list -f '{{.ImportPath}}|{{.Dir}}|{{join .TestImports " "}} {{join .XTestImports " "}}' ./... |
	awk -F'|' '$3 ~ /internal\/zfstest/ && $1 !~ /\/test\/(e2e|nested)$/ {print $1 "|" $2}')
((${#pkgs[@]})) || { log "no package has real-ZFS tests"; exit 1; }
for entry in "${pkgs[@]}"; do
	pkg=${entry%%|*}
	dir=${entry#*|}
	name=$(echo "${pkg#github.com/hotzfs/hotzfs/}" | tr / _)
	mkdir -p "$bins/$name"
	log "compiling $pkg"
	CGO_ENABLED=0 go test -c -o "$bins/$name/$name.test" "$pkg"
	[[ -d $dir/testdata ]] && cp -r "$dir/testdata" "$bins/$name/"
	echo "$pkg" >"$bins/$name/pkg"
done

cat >"$bins/in-vm.sh" <<'INVM'
#!/bin/bash
# Runs inside the VM: every test binary in its own directory (so testdata/ resolves), one after another.
set -uo pipefail
modprobe zfs || { echo "modprobe zfs failed"; exit 1; }
echo "OpenZFS: $(zfs version | tr '\n' ' ')"
export HOTZFS_REAL_ZFS=1
rc=0
for d in /mnt/share/*/; do
	[[ -f $d/pkg ]] || continue
	name=$(basename "$d")
	bench=()
	[[ -s /mnt/share/bench-re ]] && bench=(-test.bench "$(cat /mnt/share/bench-re)" -test.benchtime 5x)
	(cd "$d" && "./$name.test" -test.v -test.timeout 40m -test.run "$(cat /mnt/share/run-re)" "${bench[@]}") >"$d/test.log" 2>&1
	code=$?
	echo "$code" >"$d/rc"
	echo "$(cat "$d/pkg"): exit $code"
	((code == 0)) || rc=1
done
exit $rc
INVM
chmod +x "$bins/in-vm.sh"
echo "$run_re" >"$bins/run-re"
echo "$bench_re" >"$bins/bench-re"

pids=()
for v in "${versions[@]}"; do
	share=$work/share-$v
	cp -r "$bins" "$share"
	log "OpenZFS $v: booting the VM"
	HOTZFS_VM_QUIET=1 "$VM/run.sh" "$v" "$share" in-vm.sh 3000 >"$work/vm-$v.log" 2>&1 &
	pids+=($!)
done

status=0
for i in "${!versions[@]}"; do
	v=${versions[$i]}
	share=$work/share-$v
	vmrc=0
	wait "${pids[$i]}" || vmrc=$?
	passed=0 failed=0 skipped=0 realpassed=0
	for d in "$share"/*/; do
		[[ -f $d/pkg ]] || continue
		pkg=$(cat "$d/pkg")
		echo "=== OpenZFS $v: $pkg"
		if [[ -f $d/test.log ]]; then
			cat "$d/test.log"
			passed=$((passed + $(grep -c -- '^\s*--- PASS' "$d/test.log" || true)))
			failed=$((failed + $(grep -c -- '^\s*--- FAIL' "$d/test.log" || true)))
			skipped=$((skipped + $(grep -c -- '^\s*--- SKIP' "$d/test.log" || true)))
			realpassed=$((realpassed + $(grep -c -- '^--- PASS: TestReal' "$d/test.log" || true)))
			if grep -q -- '--- SKIP: TestReal' "$d/test.log"; then
				echo "real-ZFS tests were skipped in the VM for $pkg — that must not happen"
				status=1
			fi
			rc=$(cat "$d/rc" 2>/dev/null || echo missing)
			[[ $rc == 0 ]] || { echo "$pkg: test binary exit $rc"; status=1; }
		else
			echo "no test output for $pkg (the VM did not run it)"
			status=1
		fi
	done
	if ((vmrc != 0)); then
		echo "--- VM log (OpenZFS $v, exit $vmrc) ---"
		tail -n 60 "$work/vm-$v.log"
		status=1
	fi
	if ((realpassed == 0)); then
		echo "no real-ZFS test passed on OpenZFS $v"
		status=1
	fi
	echo "real-zfs $v: $passed passed, $failed failed, $skipped skipped"
done
exit $status
