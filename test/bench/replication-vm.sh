#!/usr/bin/env bash
# replication-vm.sh — runs INSIDE the OpenZFS test VM (started by test/bench/replication.sh).
#
# Compares, in one run on the same data, hotzfs replication over mTLS on loopback against the raw
# `zfs send | zfs receive` pipe and the `zstd -3 -T2` CLI pipe: full send of a mixed dataset (1/3 binaries,
# 1/3 random, 1/3 text; compression=off), an incremental of ~1/10 of it, a run with nothing to send, and a
# bandwidth-limited link. Prints a table of MB/s, ratios against the raw pipe, and bytes on the wire.
set -euo pipefail

SIZE_MB=${BENCH_SIZE_MB:-512}
RUNS=${BENCH_RUNS:-3}
HOTZFS=/mnt/share/hotzfs
W=/var/tmp/bench
SRC=bsrc
DST=bdst
mkdir -p $W/pki $W/state
modprobe zfs

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; } # calc EXPR [DECIMALS] — the VM has no bc
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
log() { printf '# %s\n' "$*" >&2; }

# shellcheck source-path=SCRIPTDIR source=setup-vm.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup-vm.sh"
$HOTZFS serve --config $W/receiver.yaml --log-level error --ready-file $W/addr &
SERVE=$!
trap 'kill $SERVE 2>/dev/null; zpool destroy -f $SRC; zpool destroy -f $DST' EXIT
for _ in $(seq 100); do [[ -s $W/addr ]] && break; sleep 0.1; done
hz_replicate() { $HOTZFS replicate --config $W/hotzfs.yaml --log-level error --json >$W/report.json; }
wire() { grep -o '"wire_bytes":[0-9]*' $W/report.json | head -1 | cut -d: -f2; }

HZ=$(getconf CLK_TCK)
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; } # jiffies the VM's CPUs were busy (all processes)

declare -A T WIRE CPU
measure() { # measure NAME COMMAND... — median wall time and CPU seconds of RUNS runs, target reset before each
	local name=$1 i s e b0 b1
	shift
	for i in $(seq "$RUNS"); do
		reset_target
		sync
		b0=$(busy)
		s=$(now)
		"$@"
		e=$(now)
		b1=$(busy)
		echo "$(calc "$e - $s") $(calc "($b1 - $b0) / $HZ" 1)"
	done | sort -g | awk '{w[NR]=$1; c[NR]=$2} END {m=int((NR+1)/2); print w[m], c[m]}' >$W/t.$name
	read -r "T[$name]" "CPU[$name]" <$W/t.$name
	WIRE[$name]=-
	[[ -s $W/report.json ]] && WIRE[$name]=$(wire) && : >$W/report.json
	log "$name: ${T[$name]} s"
}
raw_full() { zfs send $SRC/data@s1 | zfs receive -u $DST/raw; }
zstd_full() { zfs send $SRC/data@s1 | zstd -3 -T2 -q | zstd -d -q | zfs receive -u $DST/raw; }
zstd_bytes=$(zfs send $SRC/data@s1 | zstd -3 -T2 -q | wc -c)

: >$W/report.json
measure raw raw_full
measure zstd3 zstd_full
config none 0
measure hz_none hz_replicate
config default 0
measure hz_default hz_replicate
config fastest 0
measure hz_fastest hz_replicate

# incremental: ~1/10 of the data changes
reset_target
config none 0
hz_replicate
zfs receive -u $DST/raw < <(zfs send $SRC/data@s1)
head -c $((SIZE_MB / 10 << 20)) /dev/urandom >/$SRC/data/rand/incr.bin
sync
zfs snapshot $SRC/data@s2
incr=$(zfs send -nvP -i @s1 $SRC/data@s2 2>&1 | awk '$1=="size"{print $2}')
incr_raw() { zfs send -i @s1 $SRC/data@s2 | zfs receive -u -F $DST/raw; }
incr_hz() { hz_replicate; }
undo_incr() { release_all; zfs rollback -r $DST/raw@s1 2>/dev/null || true; zfs rollback -r $DST/r/bench/$SRC/data@s1 2>/dev/null || true; }
ti_raw=$(for i in $(seq "$RUNS"); do undo_incr; s=$(now); incr_raw; e=$(now); calc "$e - $s"; echo; done | median)
ti_hz=$(for i in $(seq "$RUNS"); do undo_incr; s=$(now); incr_hz; e=$(now); calc "$e - $s"; echo; done | median)
t_noop=$(for i in $(seq "$RUNS"); do s=$(now); hz_replicate; e=$(now); calc "$e - $s"; echo; done | median)

# the source's newest snapshot is @s1 again, so the runs below send the same full stream as the first ones
# (with @s2 left, each would also send the incremental, random data, that $total does not count)
zfs list -H -t snapshot -o name -r $SRC | while read -r s; do
	zfs holds -H "$s" | while IFS=$'\t' read -r _ tag _; do zfs release "$tag" "$s"; done
done
zfs destroy $SRC/data@s2

# bandwidth-limited link: 8 MB/s, far below the raw pipe here
limit=8
config none "${limit}MiB/s"
measure lim_none hz_replicate
config default "${limit}MiB/s"
measure lim_default hz_replicate
# and a link at half that, where the compressed stream is bound by the link, not by the VM's CPUs
limit2=$((limit / 2))
config default "${limit2}MiB/s"
measure lim2_default hz_replicate

# P5: receiver memory with 16 streams at once (one replicate process per dataset, compression default), peak
# RSS of the `hotzfs serve` process (VmHWM) from a fresh start
streams=16
per=$((SIZE_MB / streams / 2 + 1))
set +o pipefail # the text generator ends with SIGPIPE once head has its bytes
for i in $(seq $streams); do
	zfs create $SRC/m$i
	head -c $((per << 20)) /dev/urandom >/$SRC/m$i/random
	awk -v seed="$i" 'BEGIN { for (i = 0; ; i++) printf "%08d %d status=%s\n", i, seed, (i % 7 ? "ok" : "retry") }' 2>/dev/null |
		head -c $((per << 20)) >/$SRC/m$i/text
	zfs snapshot $SRC/m$i@s1
	sed -e "s|state_dir: .*|state_dir: $W/state-m$i|" -e "s|name: bench|name: m$i|" -e "s|\[$SRC/data\]|[$SRC/m$i]|" \
		-e 's|compression: .*|compression: default|' -e 's|bandwidth: .*|bandwidth: "0"|' $W/hotzfs.yaml >$W/m$i.yaml
	mkdir -p $W/state-m$i
done
set -o pipefail
kill $SERVE 2>/dev/null
wait $SERVE 2>/dev/null || true
rm -f $W/addr
$HOTZFS serve --config $W/receiver.yaml --log-level error --ready-file $W/addr &
SERVE=$!
for _ in $(seq 100); do [[ -s $W/addr ]] && break; sleep 0.1; done
pids=()
for i in $(seq $streams); do
	$HOTZFS replicate --config $W/m$i.yaml --log-level error >/dev/null &
	pids+=($!)
done
any_alive() { local p; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
peak_streams=0
while any_alive; do
	n=$(pgrep -c -f '^zfs receive' || true)
	((n > peak_streams)) && peak_streams=$n
	sleep 0.2
done
p5_fail=0
for p in "${pids[@]}"; do wait "$p" || p5_fail=$((p5_fail + 1)); done
hwm_kb=$(awk '/^VmHWM/ {print $2}' /proc/$SERVE/status)
log "P5: serve peak RSS ${hwm_kb} kB, up to $peak_streams zfs receive at once, $p5_fail runs failed"

mbs() { calc "$total / 1000000 / $1" 1; }
ratio() { calc "${T[raw]} / $1" 2; }
echo
echo "OpenZFS $(zfs version | head -1 | sed 's/zfs-//'), ${SIZE_MB} MB mixed dataset (stream $total bytes), median of $RUNS runs"
echo
echo "| method (full send) | s | MB/s | × raw | bytes on the wire | CPU s (VM, all processes) |"
echo "|---|---|---|---|---|---|"
echo "| raw zfs send \| zfs receive | ${T[raw]} | $(mbs "${T[raw]}") | 1.00 | — | ${CPU[raw]} |"
echo "| zfs send \| zstd -3 -T2 \| zstd -d \| zfs receive | ${T[zstd3]} | $(mbs "${T[zstd3]}") | $(ratio "${T[zstd3]}") | $zstd_bytes | ${CPU[zstd3]} |"
for m in hz_none hz_fastest hz_default; do
	echo "| hotzfs over mTLS, compression ${m#hz_} | ${T[$m]} | $(mbs "${T[$m]}") | $(ratio "${T[$m]}") | ${WIRE[$m]} | ${CPU[$m]} |"
done
echo
echo "| incremental ($incr bytes) | s | × raw time |"
echo "|---|---|---|"
echo "| raw zfs send -i \| zfs receive | $ti_raw | 1.00 |"
echo "| hotzfs replicate (none) | $ti_hz | $(calc "$ti_hz / $ti_raw" 2) |"
echo "| hotzfs replicate, nothing to send | $t_noop | — |"
echo
echo "| link limited to | s | effective MB/s | × raw pipe rate at the limit |"
echo "|---|---|---|---|"
for m in lim_none lim_default; do
	echo "| ${limit} MiB/s, compression ${m#lim_} | ${T[$m]} | $(mbs "${T[$m]}") | $(calc "$total / 1048576 / ${T[$m]} / $limit" 2) |"
done
echo "| ${limit2} MiB/s, compression default | ${T[lim2_default]} | $(mbs "${T[lim2_default]}") | $(calc "$total / 1048576 / ${T[lim2_default]} / $limit2" 2) |"
echo
echo "| receiver, $streams streams at once ($per MiB random + $per MiB text each, compression default) | value |"
echo "|---|---|"
echo "| peak RSS of hotzfs serve (VmHWM) | $(calc "$hwm_kb / 1024" 1) MiB |"
echo "| most zfs receive processes seen at once | $peak_streams |"
echo "| replicate runs that failed | $p5_fail |"
