#!/usr/bin/env bash
# demo.sh — hotzfs end to end on throwaway file-backed pools, on a host with OpenZFS (run by demo/run.sh).
#
# Makes a source pool with a filesystem and a zvol full of data and a target pool, certificates for mTLS, a
# receiver on 127.0.0.1, then: backup (full), change data, backup (incremental), backup again after pruning,
# list, restore into new datasets, compare sha256 of every file and of the zvol. Cleans everything up.
# Needs: hotzfs on PATH or $HOTZFS, root, the zfs module loaded.
set -euo pipefail

HOTZFS=${HOTZFS:-hotzfs}
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/hotzfs-demo.XXXXXX")
SRC=hzdemo_src
DST=hzdemo_dst
SERVE_PID=
t0=$(date +%s)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
	[[ -n $SERVE_PID ]] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
	zpool destroy -f "$SRC" 2>/dev/null || true
	zpool destroy -f "$DST" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

step "pools: $SRC and $DST on sparse files in $WORK"
truncate -s 1G "$WORK/src.img" "$WORK/dst.img"
zpool create -f -O compression=lz4 -O mountpoint="/$SRC" "$SRC" "$WORK/src.img"
zpool create -f -O mountpoint="/$DST" "$DST" "$WORK/dst.img"
zfs create "$DST/backup" # the receiver's root: hotzfs serve does not start without it
zfs create "$SRC/data"
zfs create -V 64M "$SRC/vol"
for i in $(seq 1 20); do head -c $((200 * 1024)) /dev/urandom >"/$SRC/data/file$i.bin"; done
cp -r /usr/share/doc "/$SRC/data/doc" 2>/dev/null || true
udevadm settle 2>/dev/null || sleep 2
for _ in $(seq 50); do [[ -e /dev/zvol/$SRC/vol ]] && break; sleep 0.2; done
dd if=/dev/urandom of="/dev/zvol/$SRC/vol" bs=1M count=16 status=none conv=fsync

step "certificates (hotzfs certs) and configs"
PKI=$WORK/pki
mkdir -p "$PKI" "$WORK/state"
$HOTZFS certs ca --dir "$PKI"
$HOTZFS certs server localhost --ip 127.0.0.1 --dir "$PKI"
$HOTZFS certs client demo-host --dir "$PKI"
cat >"$WORK/receiver.yaml" <<YAML
listen: 127.0.0.1:17390
tls: {ca: $PKI/ca.crt, cert: $PKI/localhost.crt, key: $PKI/localhost.key}
root: $DST/backup
clients:
  demo-host: {}
YAML
$HOTZFS serve --config "$WORK/receiver.yaml" --log-format text --log-level warn --ready-file "$WORK/addr" &
SERVE_PID=$!
for _ in $(seq 100); do [[ -s $WORK/addr ]] && break; sleep 0.1; done
ADDR=$(cat "$WORK/addr")
echo "receiver listening on $ADDR"
cat >"$WORK/hotzfs.yaml" <<YAML
state_dir: $WORK/state
targets:
  backup: {address: "$ADDR", ca: $PKI/ca.crt, cert: $PKI/demo-host.crt, key: $PKI/demo-host.key, server_name: localhost}
jobs:
  - name: demo
    datasets: [$SRC/data, $SRC/vol]
    target: backup
    compression: default
    retention:
      source: {keep_last: 1}
      target: {keep_last: 2}
YAML
$HOTZFS config check "$WORK/hotzfs.yaml"
CFG=(--config "$WORK/hotzfs.yaml" --log-format text --log-level warn)

step "backup 1: full"
$HOTZFS backup "${CFG[@]}"
step "change data, backup 2: incremental"
for i in $(seq 21 25); do head -c $((300 * 1024)) /dev/urandom >"/$SRC/data/file$i.bin"; done
rm "/$SRC/data/file1.bin"
dd if=/dev/urandom of="/dev/zvol/$SRC/vol" bs=1M count=2 seek=8 status=none conv=fsync
sleep 1
$HOTZFS backup "${CFG[@]}"
step "what pruning would do now (dry run: nothing destroyed)"
$HOTZFS prune --dry-run "${CFG[@]}"
step "backup 3: incremental again after both sides pruned"
echo "more" >>"/$SRC/data/file2.bin"
sleep 1
$HOTZFS backup "${CFG[@]}"

step "what the target holds"
$HOTZFS list --remote "${CFG[@]}"

step "restore the latest backups into new datasets"
$HOTZFS restore "${CFG[@]}" "$SRC/data" --into "$SRC/data-restored"
$HOTZFS restore "${CFG[@]}" "$SRC/vol" --into "$SRC/vol-restored"

step "compare"
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
a=$(sums "/$SRC/data" | sha256sum | cut -c1-16)
b=$(sums "/$SRC/data-restored" | sha256sum | cut -c1-16)
nfiles=$(find "/$SRC/data" -type f | wc -l)
for _ in $(seq 50); do [[ -e /dev/zvol/$SRC/vol-restored ]] && break; sleep 0.2; done
va=$(sha256sum <"/dev/zvol/$SRC/vol" | cut -c1-16)
vb=$(sha256sum <"/dev/zvol/$SRC/vol-restored" | cut -c1-16)
echo "filesystem: $nfiles files, tree sha256 source $a restored $b"
echo "zvol:       sha256 source $va restored $vb"
if [[ $a != "$b" || $va != "$vb" ]]; then
	echo "DEMO FAILED: restored data differs from the source"
	exit 1
fi
echo
echo "demo passed in $(($(date +%s) - t0)) s: 3 backups (1 full, 2 incremental), pruned on both sides, restored data identical."
