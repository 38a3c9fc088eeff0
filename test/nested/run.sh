#!/usr/bin/env bash
# run.sh — the nested-guest tier: restore a whole guest, fail over, fail back, migrate, with real guests where libvirt and ZFS share
# a host. See the package comment of test/nested/nested_test.go.
#
# Usage: test/nested/run.sh [go test flags for the test binary, e.g. -test.run X]
#
# Builds or reuses the test guest (test/guest/build-guest.sh) and the OpenZFS 2.3 image with libvirt
# (test/vm/build-nested.sh), compiles hotzfs and the test, and boots the VM with kvm allowed in it
# (HOTZFS_VM_KVM=1). Inside, test/nested/hosts.sh starts the libvirtd of hv1 and backup1, then the test runs.
# Exits with the test's status. Env: HOTZFS_NESTED_TIMEOUT (seconds, default 2700).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PATH=$PATH:/usr/local/go/bin
log() { printf '%s nested: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cd "$ROOT"
# build-guest.sh needs busybox-static and qemu-guest-agent on this host (setup-libvirt.sh installs them).
bash test/guest/setup-libvirt.sh >/dev/null
GUEST_DIR=$(bash test/guest/build-guest.sh)
IMAGE=$(test/vm/build-nested.sh 2.3)

share=$(mktemp -d "${TMPDIR:-/var/tmp}/hotzfs-nested.XXXXXX")
chmod 755 "$share"
trap 'rm -rf "$share"' EXIT
mkdir "$share/guest"
cp "$GUEST_DIR"/vmlinuz "$GUEST_DIR"/initrd.img "$GUEST_DIR"/data.img "$share/guest/"
cp test/nested/hosts.sh "$share/"
log "building hotzfs and the test"
CGO_ENABLED=0 go build -trimpath -o "$share/hotzfs" ./cmd/hotzfs
CGO_ENABLED=0 go test -c -o "$share/nested.test" ./test/nested
{
	echo '#!/bin/bash'
	echo 'set -uo pipefail'
	echo 'export HOTZFS_NESTED=1 HOTZFS_REAL_ZFS=1 HOTZFS_NESTED_GUEST_DIR=/mnt/share/guest HOTZFS_NESTED_HOTZFS=/mnt/share/hotzfs'
	echo 'modprobe zfs || { echo "modprobe zfs failed"; exit 1; }'
	echo 'echo "OpenZFS: $(zfs version | tr "\n" " ")"'
	echo '/mnt/share/hosts.sh || exit 1'
	printf 'cd /var/tmp && /mnt/share/nested.test -test.v -test.timeout 40m'
	printf ' %q' "$@"
	echo
} >"$share/in-vm.sh"
chmod +x "$share/in-vm.sh"
log "booting the OpenZFS 2.3 VM with libvirt ($(basename "$IMAGE"))"
rc=0
HOTZFS_VM_KVM=1 HOTZFS_VM_IMAGE=$IMAGE test/vm/run.sh 2.3 "$share" in-vm.sh "${HOTZFS_NESTED_TIMEOUT:-2700}" || rc=$?
log "exit $rc"
exit "$rc"
