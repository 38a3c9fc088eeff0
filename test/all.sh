#!/usr/bin/env bash
# all.sh — the whole hotzfs test suite, as `make test` and CI run it.
#
# Usage: test/all.sh [unit|zfs|guest|e2e|nested|demo|package]...      (default: all seven tiers)
#
# Tiers: unit (go vet + go test on the host; tests that need real systems skip here and say where they run),
# zfs (real OpenZFS 2.1 and 2.3 in the test VM: test/zfs-suite.sh), guest (libvirt with a real guest running
# qemu-guest-agent: test/guest/run-tests.sh), e2e (a guest on a zvol of the OpenZFS VM, backed up hot,
# restored and booted: test/e2e/run.sh), nested (libvirt and ZFS on one host, the OpenZFS 2.3 VM with nested guests:
# a whole guest restored and booted, failover to a second libvirtd, failback, migrate: test/nested/run.sh), demo (the README's demo,
# demo/run.sh, in the test VM), package
# (goreleaser check and a snapshot build: static binaries, deb and rpm). Each tier installs what it needs. The last line is the total:
# "tests: N passed, N failed, N skipped". Exits non-zero if any tier failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
tiers=("$@")
((${#tiers[@]})) || tiers=(unit zfs guest e2e nested demo package)
logdir=$(mktemp -d "${TMPDIR:-/tmp}/hotzfs-tests.XXXXXX")
status=0
passed=0 failed=0 skipped=0

log() { printf '\n%s ==== %s\n' "$(date +%H:%M:%S)" "$*"; }

count() { # count FILE — add go test -v results in FILE to the totals
	passed=$((passed + $(grep -cE '^\s*--- PASS' "$1" || true)))
	failed=$((failed + $(grep -cE '^\s*--- FAIL' "$1" || true)))
	skipped=$((skipped + $(grep -cE '^\s*--- SKIP' "$1" || true)))
}

tier_unit() {
	log "unit: go vet ./..."
	go vet ./... || return 1
	log "unit: go test ./... (real-system tests skip here; they run in the zfs and guest tiers)"
	local rc=0
	go test -count=1 -v ./... >"$logdir/unit.log" 2>&1 || rc=$?
	grep -E '^(ok|FAIL|PASS|panic:|--- FAIL|--- SKIP|\s+--- FAIL|\s+\S+_test\.go:[0-9]+:)' "$logdir/unit.log"
	count "$logdir/unit.log"
	local f
	for f in FuzzFrameReader FuzzDecodeMessage; do
		log "unit: fuzzing $f for 150000 inputs (seed corpus in transport/testdata/fuzz)"
		go test ./transport -run '^$' -fuzz "^$f\$" -fuzztime 150000x || rc=1
	done
	return $rc
}

tier_zfs() {
	log "zfs: real OpenZFS 2.1 and 2.3 in the test VM"
	local rc=0
	test/zfs-suite.sh all 2>&1 | tee "$logdir/zfs.log" || rc=$?
	count "$logdir/zfs.log"
	return $rc
}

tier_guest() {
	log "guest: libvirt + a real guest with qemu-guest-agent"
	if [[ ! -x test/guest/run-tests.sh ]]; then
		echo "test/guest/run-tests.sh is missing"
		return 1
	fi
	local rc=0
	test/guest/run-tests.sh 2>&1 | tee "$logdir/guest.log" || rc=$?
	count "$logdir/guest.log"
	return $rc
}

tier_e2e() {
	log "e2e: a guest on a zvol, backed up hot, restored and booted (test/e2e/run.sh)"
	local rc=0
	test/e2e/run.sh 2>&1 | tee "$logdir/e2e.log" || rc=$?
	count "$logdir/e2e.log"
	if grep -qE '^\s*--- SKIP' "$logdir/e2e.log" || ! grep -qE '^--- PASS' "$logdir/e2e.log"; then
		echo "e2e: the end-to-end test did not run to a pass"
		rc=1
	fi
	return $rc
}

tier_nested() {
	log "nested: libvirt and ZFS on one host; restore a whole guest, fail over (test/nested/run.sh)"
	local rc=0
	test/nested/run.sh 2>&1 | tee "$logdir/nested.log" || rc=$?
	count "$logdir/nested.log"
	if grep -qE '^\s*--- SKIP' "$logdir/nested.log" || ! grep -qE '^--- PASS' "$logdir/nested.log"; then
		echo "nested: the nested-guest test did not run to a pass"
		rc=1
	fi
	return $rc
}

tier_demo() {
	log "demo: demo/run.sh (backup, incremental, prune, restore, checksums)"
	if demo/run.sh 2>&1 | tee "$logdir/demo.log" && grep -q '^demo passed' "$logdir/demo.log"; then
		passed=$((passed + 1))
		return 0
	fi
	failed=$((failed + 1))
	return 1
}

tier_package() {
	log "package: goreleaser check and snapshot build"
	local gr
	gr=$(go env GOPATH)/bin/goreleaser
	if [[ ! -x $gr ]]; then
		go install github.com/goreleaser/goreleaser/v2@v2.15.1 || return 1
	fi
	local rc=0
	"$gr" check && "$gr" release --snapshot --clean --skip=sign >"$logdir/package.log" 2>&1 || rc=1
	tail -n 12 "$logdir/package.log"
	if ((rc == 0)) && ls dist/*.deb dist/*.rpm >/dev/null 2>&1; then
		passed=$((passed + 1))
		return 0
	fi
	failed=$((failed + 1))
	return 1
}

for t in "${tiers[@]}"; do
	case $t in
	unit | zfs | guest | e2e | nested | demo | package) ;;
	*)
		echo "unknown tier $t (use unit, zfs, guest, e2e, nested, demo, package)" >&2
		exit 2
		;;
	esac
	start=$SECONDS
	if "tier_$t"; then
		log "$t: PASSED in $((SECONDS - start)) s"
	else
		log "$t: FAILED in $((SECONDS - start)) s"
		status=1
	fi
done
rm -rf "$logdir"
echo
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
