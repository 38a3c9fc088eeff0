#!/usr/bin/env bash
# run-tests.sh — run the guest and snapshot packages' tests against a real libvirt guest with qemu-guest-agent.
#
# Sets up libvirt on this host (setup-libvirt.sh), builds or reuses the test guest (build-guest.sh), removes
# test domains left over by an interrupted run, then runs `go test ./guest/ ./snapshot/ -v` with the variables
# that enable the real-guest tests. Packages run one after the other (-p 1): one test guest at a time, and the
# timings the tests log are not skewed by a second TCG guest. Extra arguments go to `go test`
# (e.g. -run TestRealHungAgent).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
URI=${HOTZFS_TEST_LIBVIRT:-qemu:///system}
PREFIX=hotzfs-guesttest-

log() { printf 'run-tests: %s\n' "$*" >&2; }

cleanup_domains() {
	local d
	for d in $(virsh -c "$URI" list --all --name 2>/dev/null | grep "^$PREFIX" || true); do
		log "removing leftover test domain $d"
		virsh -c "$URI" destroy "$d" >/dev/null 2>&1 || true
		virsh -c "$URI" undefine "$d" >/dev/null 2>&1 || true
	done
}

bash "$HERE/setup-libvirt.sh"
GUEST_DIR=$(bash "$HERE/build-guest.sh")
log "guest: $GUEST_DIR"
cleanup_domains
trap cleanup_domains EXIT

export PATH=$PATH:/usr/local/go/bin
cd "$REPO"
HOTZFS_TEST_LIBVIRT=$URI HOTZFS_TEST_GUEST_DIR=$GUEST_DIR go test ./guest/ ./snapshot/ -v -count=1 -p 1 -timeout 40m "$@"
