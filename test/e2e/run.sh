#!/usr/bin/env bash
# run.sh — the end-to-end test: a real guest on this host whose disk is a zvol on real OpenZFS, backed up hot
# with hotzfs, restored, and booted again. See docs/e2e.md.
#
# Usage: test/e2e/run.sh [go test flags for the test binary, e.g. -test.run X]
#
# Sets up libvirt on this host listening on 127.0.0.1:16509 too (test/guest/setup-libvirt.sh --tcp), builds
# or reuses the test guest and the OpenZFS 2.3 VM image, compiles hotzfs and the test, and boots the VM with
# two host ports forwarded to NBD ports inside it. Inside, the test (test/e2e/e2e_test.go) makes the pools and
# the zvol, serves it over NBD (qemu-nbd), and drives this host's libvirtd over TCP (10.0.2.2 is the host's
# loopback as the VM sees it): it starts the guest on this host with the NBD disk, runs hotzfs there, and so
# on. Exits with the test's status. Env: HOTZFS_E2E_ROUNDS (backups, default 4), HOTZFS_E2E_CRASH_ROUNDS
# (crash-consistent snapshots for the comparison, default 8), HOTZFS_E2E_TIMEOUT (seconds, default 2400).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PREFIX=hotzfs-guesttest-e2e-
URI=qemu:///system
export PATH=$PATH:/usr/local/go/bin

log() { printf '%s e2e: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cleanup_domains() {
	local d
	for d in $(virsh -c "$URI" list --all --name 2>/dev/null | grep "^$PREFIX" || true); do
		log "removing leftover domain $d"
		virsh -c "$URI" destroy "$d" >/dev/null 2>&1 || true
		virsh -c "$URI" undefine "$d" >/dev/null 2>&1 || true
	done
}

# free_port — a TCP port nobody listens on at 127.0.0.1 (the VM forwards it; a race with another program
# taking it in between only makes qemu fail to start, loudly).
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	log "no free port found"
	exit 1
}

cd "$ROOT"
bash test/guest/setup-libvirt.sh --tcp
GUEST_DIR=$(bash test/guest/build-guest.sh)
test/vm/build-image.sh 2.3

share=$(mktemp -d "${TMPDIR:-/var/tmp}/hotzfs-e2e.XXXXXX")
chmod 755 "$share"
cleanup_domains
trap 'cleanup_domains; rm -rf "$share"' EXIT
mkdir -p "$share/console"
log "building hotzfs and the test"
CGO_ENABLED=0 go build -trimpath -o "$share/hotzfs" ./cmd/hotzfs
CGO_ENABLED=0 go test -c -o "$share/e2e.test" ./test/e2e
cp -r examples/systemd "$share/systemd" # the shipped units, for TestE2ESystemdWatchdogSurvivesSIGKILL

p1=$(free_port)
p2=$(free_port)
while [[ $p2 == "$p1" ]]; do p2=$(free_port); done
{
	printf 'export HOTZFS_E2E=1 HOTZFS_REAL_ZFS=1\n'
	printf 'export HOTZFS_E2E_LIBVIRT=qemu+tcp://10.0.2.2:16509/system\n'
	printf 'export HOTZFS_E2E_GUEST_DIR=%q\n' "$GUEST_DIR"
	printf 'export HOTZFS_E2E_NBD_PORTS=%q\n' "$p1 $p2"
	printf 'export HOTZFS_E2E_CONSOLE=%q\n' "$share/console"
	printf 'export HOTZFS_E2E_HOTZFS=/mnt/share/hotzfs\n'
	printf 'export HOTZFS_E2E_UNITS=/mnt/share/systemd\n'
	printf 'export HOTZFS_E2E_ROUNDS=%q HOTZFS_E2E_CRASH_ROUNDS=%q\n' "${HOTZFS_E2E_ROUNDS:-4}" \
		"${HOTZFS_E2E_CRASH_ROUNDS:-8}"
} >"$share/env.sh"
{
	echo '#!/bin/bash'
	echo 'set -uo pipefail'
	echo 'source /mnt/share/env.sh'
	echo 'modprobe zfs || { echo "modprobe zfs failed"; exit 1; }'
	echo 'echo "OpenZFS: $(zfs version | tr "\n" " ")"'
	printf '/mnt/share/e2e.test -test.v -test.timeout 35m'
	printf ' %q' "$@"
	echo
} >"$share/in-vm.sh"
chmod +x "$share/in-vm.sh"

log "booting the OpenZFS 2.3 VM (NBD: host 127.0.0.1:$p1 and :$p2 → VM 10809 and 10810)"
rc=0
HOTZFS_VM_HOSTFWD="$p1:10809 $p2:10810" test/vm/run.sh 2.3 "$share" in-vm.sh "${HOTZFS_E2E_TIMEOUT:-2400}" || rc=$?
if ((rc != 0)); then
	for f in "$share"/console/*.log; do
		[[ -s $f ]] || continue
		log "console of the guest, $(basename "$f" .log):"
		tail -n 40 "$f" >&2
	done
fi
log "exit $rc"
exit "$rc"
