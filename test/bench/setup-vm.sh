# shellcheck shell=bash
# setup-vm.sh — sourced INSIDE the OpenZFS test VM by replication-vm.sh and profile-vm.sh: two file-backed
# pools, the mixed dataset SRC/data@s1 (1/3 binaries, 1/3 random, 1/3 text; sets total to its stream size),
# a PKI and a receiver config for loopback, and config/reset_target. Needs SIZE_MB, HOTZFS, W, SRC, DST, log.
truncate -s $((SIZE_MB * 3 + 1024))M $W/src.img $W/dst.img
zpool create -f -O compression=off -O mountpoint=/$SRC $SRC $W/src.img
zpool create -f -O compression=off -O mountpoint=/$DST $DST $W/dst.img
zfs create $SRC/data
zfs create $DST/r # the receiver's root: hotzfs serve does not start without it
third=$((SIZE_MB / 3))
log "making ${SIZE_MB} MB of mixed data"
mkdir -p /$SRC/data/bin /$SRC/data/rand /$SRC/data/text
set +o pipefail # the generators below end with SIGPIPE once head has its bytes
(find /usr/lib /usr/bin -type f -size +8k 2>/dev/null | while read -r f; do cat "$f"; done) 2>/dev/null |
	head -c $((third << 20)) >/$SRC/data/bin/binaries
head -c $((third << 20)) /dev/urandom >/$SRC/data/rand/random
awk 'BEGIN { for (i = 0; ; i++) printf "%08d the quick brown fox jumps over the lazy dog; status=%s size=%d\n", i, (i % 7 ? "ok" : "retry"), i * 37 % 100003 }' 2>/dev/null |
	head -c $((third << 20)) >/$SRC/data/text/text
set -o pipefail
ls -l /$SRC/data/*/ >&2
sync
zfs snapshot $SRC/data@s1
total=$(zfs send -nvP $SRC/data@s1 2>&1 | awk '$1=="size"{print $2}')
log "full stream: $total bytes"

# certificates and a receiver on loopback
$HOTZFS certs ca --dir $W/pki >/dev/null
$HOTZFS certs server localhost --ip 127.0.0.1 --dir $W/pki >/dev/null
$HOTZFS certs client bench --dir $W/pki >/dev/null
cat >$W/receiver.yaml <<YAML
listen: 127.0.0.1:17391
tls: {ca: $W/pki/ca.crt, cert: $W/pki/localhost.crt, key: $W/pki/localhost.key}
root: $DST/r
max_streams: 32
clients: {bench: {}}
YAML
config() { # config COMPRESSION BANDWIDTH
	cat >$W/hotzfs.yaml <<YAML
state_dir: $W/state
targets:
  t: {address: "127.0.0.1:17391", ca: $W/pki/ca.crt, cert: $W/pki/bench.crt, key: $W/pki/bench.key, server_name: localhost}
jobs:
  - name: bench
    datasets: [$SRC/data]
    target: t
    compression: $1
    bandwidth: "$2"
YAML
}
release_all() { # the receiver holds its base; tests reset the target, so drop those holds first
	zfs list -H -t snapshot -o name -r $DST 2>/dev/null | while read -r s; do zfs release hotzfs-base "$s" 2>/dev/null || true; done
}
# reset_target empties the target (the receiver's root stays) and waits until the pool has freed the space in
# the background, so the next run does not compete with that freeing (it stalls zfs receive, which a
# bandwidth-limited run cannot make up).
reset_target() {
	release_all
	zfs list -H -o name -d 1 $DST/r | tail -n +2 | while read -r d; do zfs destroy -r "$d" 2>/dev/null || true; done
	zfs destroy -r $DST/raw 2>/dev/null || true
	zpool wait -t free $DST
}
