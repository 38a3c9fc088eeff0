#!/usr/bin/env bash
# smoke.sh — self-test of the OpenZFS test VM: build the image if needed, then run scripts/smoke-guest.sh in it.
#
# Usage: test/vm/smoke.sh [2.1|2.3|all]      (default: all; versions run one after the other)
#
# The guest script loads zfs, makes a file-backed pool in /var/tmp, sends a snapshot into another dataset with
# `zfs send | zfs receive`, compares sha256 and guid, and destroys the pool. Exits non-zero if any version fails.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=smoke

main() {
	local which=${1:-all} v share t0 rc failed=()
	local -a versions
	if [[ $which == all ]]; then
		versions=("${VM_VERSIONS[@]}")
	else
		check_version "$which"
		versions=("$which")
	fi
	for v in "${versions[@]}"; do
		"$VM_DIR/build-image.sh" "$v"
	done
	for v in "${versions[@]}"; do
		share=$(mktemp -d "${TMPDIR:-/tmp}/hotzfs-smoke-$v.XXXXXX")
		cp "$VM_DIR/scripts/smoke-guest.sh" "$share/"
		t0=$SECONDS
		rc=0
		"$VM_DIR/run.sh" "$v" "$share" smoke-guest.sh 900 || rc=$?
		if ((rc == 0)); then
			log "OpenZFS $v: smoke PASSED in $((SECONDS - t0)) s (boot to exit)"
			rm -rf "$share"
		else
			log "OpenZFS $v: smoke FAILED (exit $rc); files kept in $share"
			failed+=("$v")
		fi
	done
	((${#failed[@]} == 0)) || die "smoke failed for OpenZFS ${failed[*]}"
	log "all smoke tests passed: ${versions[*]}"
}

main "$@"
