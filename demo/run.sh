#!/usr/bin/env bash
# run.sh — the hotzfs demo (`make demo`): a real end-to-end run on throwaway file-backed pools.
#
# Builds hotzfs, then runs demo/demo.sh where OpenZFS is: on this host if it has kernel ZFS, otherwise inside
# the OpenZFS test VM (test/vm, built and cached on first use; ~6 minutes the first time). In the VM case, if
# libvirt runs on this host, it then shows the same with a running guest (test/e2e/run.sh, shortened).
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

# With libvirt on this host, the same with a guest: a running guest whose disk is a zvol in the VM, backed up
# hot twice, restored and booted again (the end-to-end test, shortened; docs/e2e.md). HOTZFS_DEMO_GUEST=0
# leaves it out.
if [[ ${HOTZFS_DEMO_GUEST:-1} == 0 ]]; then
	exit 0
fi
if ! virsh -c qemu:///system version >/dev/null 2>&1; then
	echo
	echo "(no libvirt on this host: the part with a guest is left out; test/guest/setup-libvirt.sh installs it)"
	exit 0
fi
echo
echo "== libvirt is here: the same with a running guest whose disk is a zvol (test/e2e/run.sh, 2 backups)"
rc=0
HOTZFS_E2E_ROUNDS=2 HOTZFS_E2E_CRASH_ROUNDS=2 test/e2e/run.sh >"$share/guest.log" 2>&1 || rc=$?
sed -nE 's/^ +e2e_test.go:[0-9]+: ((guest|round|restored|in-place|FIGURE).*)/\1/p' "$share/guest.log" | cut -c1-200
if ((rc != 0)); then
	tail -n 40 "$share/guest.log"
	echo "DEMO FAILED: the part with a guest failed (exit $rc)"
	exit 1
fi
echo "demo with a guest passed: backed up hot while it wrote, restored, booted; filesystem clean, data complete."
