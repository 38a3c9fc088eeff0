#!/usr/bin/env bash
# capture-fixtures.sh — record real OpenZFS command output as parser fixtures for the zfs package.
#
# Usage: test/vm/capture-fixtures.sh [2.1|2.3|all]      (default: all; builds the image if needed)
#
# Runs scripts/capture-fixtures-guest.sh in the test VM and replaces zfs/testdata/openzfs-<ver>/ with its
# output: <name>.stdout and <name>.stderr per command, MANIFEST.tsv (name, exit status, description, command)
# and a generated README.md. GUIDs, txgs and times differ on every run; the shapes do not.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=capture-fixtures

REPO=$(cd "$VM_DIR/../.." && pwd)
MAX_FIXTURE_BYTES=51200

# write_readme DIR VERSION — README.md from DIR/MANIFEST.tsv.
# shellcheck disable=SC2016 # backquotes are markdown
write_readme() {
	local dir=$1 version=$2 name rc desc cmd zver
	zver=$(head -n 1 "$dir/zfs-version.stdout" 2>/dev/null || echo unknown)
	{
		printf '# Real OpenZFS %s output (parser fixtures)\n\n' "$version"
		printf 'Captured by `test/vm/capture-fixtures.sh %s` in the OpenZFS test VM (`%s`, Debian 12 kernel),\n' \
			"$version" "$zver"
		printf 'from `test/vm/scripts/capture-fixtures-guest.sh`. Do not edit by hand: re-run the script.\n\n'
		printf 'Each command has `<name>.stdout` and `<name>.stderr` (raw bytes, possibly empty) and a line in\n'
		printf '`MANIFEST.tsv` (name, exit status, description, command; tab-separated). Names starting with `err-`\n'
		printf 'are failures provoked on purpose to record the exact error text. The pool is `hzfix` (1 GiB file vdev):\n'
		printf '`hzfix/fs` (snapshots s1 s2 s3, bookmark `#b1`, holds `keep` and `hotzfs-base` on s1, user property\n'
		printf '`hotzfs:test=value`, `hotzfs:consistency` on s2), `hzfix/fs/child`, `hzfix/vol` (64M zvol, @v1),\n'
		printf '`hzfix/clone` (of fs@s3), `hzfix/recv` (received with `send -p`: received properties), `hzfix/enc`\n'
		printf '(encrypted, passphrase), `hzfix/partial` (interrupted `receive -s`: resume token), `hzfix@r1`\n'
		printf '(recursive snapshot, recursive hold `hotzfs-r`), `hzfix/tok-*` (interrupted receives of each kind of\n'
		printf 'stream hotzfs sends: `token-*` are their resume tokens); `hzsmall` is a 64 MiB pool for the ENOSPC case.\n'
		printf 'GUIDs, txgs and times change on every capture.\n\n'
		printf '| file | exit | what | command |\n|---|---|---|---|\n'
		while IFS=$'\t' read -r name rc desc cmd; do
			cmd=${cmd//|/\\|}
			printf '| `%s` | %s | %s | `%s` |\n' "$name" "$rc" "$desc" "$cmd"
		done <"$dir/MANIFEST.tsv"
	} >"$dir/README.md"
}

capture_version() {
	local version=$1 share dest f
	share=$(mktemp -d "${TMPDIR:-/tmp}/hotzfs-fixtures-$version.XXXXXX")
	cp "$VM_DIR/scripts/capture-fixtures-guest.sh" "$share/"
	"$VM_DIR/run.sh" "$version" "$share" capture-fixtures-guest.sh 1800 ||
		die "capture failed for OpenZFS $version (exit $?); files kept in $share"
	[[ -s $share/out/MANIFEST.tsv ]] || die "no MANIFEST.tsv in $share/out"
	dest=$REPO/zfs/testdata/openzfs-$version
	rm -rf "$dest"
	mkdir -p "$dest"
	cp "$share"/out/* "$dest/"
	write_readme "$dest" "$version"
	for f in "$dest"/*; do
		(($(stat -c %s "$f") <= MAX_FIXTURE_BYTES)) || log "WARNING: $f is larger than $MAX_FIXTURE_BYTES bytes"
	done
	rm -rf "$share"
	log "OpenZFS $version: $(wc -l <"$dest/MANIFEST.tsv") commands captured into $dest"
}

main() {
	local which=${1:-all} v
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
		capture_version "$v"
	done
}

main "$@"
