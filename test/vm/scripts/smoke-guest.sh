#!/bin/bash
# smoke-guest.sh — runs INSIDE the OpenZFS test VM (started by test/vm/smoke.sh through run.sh).
#
# Proves the whole path: load the module, make a file-backed pool in /var/tmp, write data to a dataset,
# snapshot it, `zfs send | zfs receive` it into another dataset, compare sha256, destroy the pool. Exit 0 = ok.
set -euo pipefail

POOL=hzsmoke
VDEV=/var/tmp/hzsmoke.img

step() { printf '== %s  %s\n' "$(date +%T)" "$*"; }
cleanup() { zpool destroy -f "$POOL" 2>/dev/null || true; rm -f "$VDEV"; }
trap cleanup EXIT

step "modprobe zfs"
modprobe zfs
step "zfs version"
zfs version
df -h /var/tmp | tail -n 1

step "zpool create $POOL on a 512M file"
truncate -s 512M "$VDEV"
zpool create -f -o ashift=12 -O mountpoint=/$POOL -O compression=off "$POOL" "$VDEV"
zfs create "$POOL/src"
step "write 32 MiB of random data"
dd if=/dev/urandom of="/$POOL/src/data.bin" bs=1M count=32 status=none
want=$(sha256sum <"/$POOL/src/data.bin" | cut -d' ' -f1)
zfs snapshot "$POOL/src@s1"

step "zfs send | zfs receive"
zfs send "$POOL/src@s1" | zfs receive "$POOL/dst"
got=$(sha256sum <"/$POOL/dst/data.bin" | cut -d' ' -f1)
zfs list -H -p -t all -o name,type,guid,used -r "$POOL"
src_guid=$(zfs get -H -p -o value guid "$POOL/src@s1")
dst_guid=$(zfs get -H -p -o value guid "$POOL/dst@s1")
[[ $want == "$got" ]] || { echo "FAIL: sha256 differs: $want vs $got"; exit 1; }
[[ $src_guid == "$dst_guid" ]] || { echo "FAIL: snapshot guid differs: $src_guid vs $dst_guid"; exit 1; }
echo "sha256 ok ($want), guid ok ($src_guid)"

step "zpool destroy"
zpool destroy "$POOL"
rm -f "$VDEV"
trap - EXIT
step "SMOKE OK"
