#!/usr/bin/env bash
# run.sh — the hotzfs demo (`make demo`): a real end-to-end run on throwaway file-backed pools.
#
# Builds hotzfs, then runs demo/demo.sh where OpenZFS is: on this host if it has kernel ZFS, otherwise inside
# the OpenZFS test VM (test/vm, built and cached on first use; ~6 minutes the first time).
# Usage: demo/run.sh [2.1|2.3]   (the VM's OpenZFS version; default 2.3)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${1:-2.3}
export PATH=$PATH:/usr/local/go/bin
cd "$ROOT"
share=$(mktemp -d "${TMPDIR:-/tmp}/hotzfs-demo-share.XXXXXX")
trap 'rm -rf "$share"' EXIT
echo "building hotzfs"
CGO_ENABLED=0 go build -trimpath -o "$share/hotzfs" ./cmd/hotzfs
cp demo/demo.sh "$share/"

if [[ -e /dev/zfs ]] || modprobe zfs 2>/dev/null; then
	echo "this host has OpenZFS: running the demo here"
	HOTZFS="$share/hotzfs" "$share/demo.sh"
	exit
fi
echo "no kernel ZFS on this host: running the demo inside the OpenZFS $version test VM"
cat >"$share/in-vm.sh" <<'INVM'
#!/bin/bash
set -euo pipefail
modprobe zfs
HOTZFS=/mnt/share/hotzfs /mnt/share/demo.sh
INVM
chmod +x "$share/in-vm.sh"
test/vm/build-image.sh "$version"
test/vm/run.sh "$version" "$share" in-vm.sh 1200
