#!/usr/bin/env bash
# profile-vm.sh — runs INSIDE the OpenZFS test VM (BENCH_PROFILE=DIR test/bench/replication.sh): the cipher timing and the
# transport benchmark over mTLS, then the replication data path per method with CPU profiles of both hotzfs
# processes (HOTZFS_CPUPROFILE) and CPU seconds per process. Profiles land in /mnt/share/out/.
# Methods (env METHODS): none, default, fastest, lim-none, lim-default (8 MiB/s link); prefixed with old-, the
# binary /mnt/share/hotzfs.old runs instead (a baseline in the same run).
set -uo pipefail
SIZE_MB=${BENCH_SIZE_MB:-192}
HOTZFS=/mnt/share/hotzfs
OUT=/mnt/share/out
W=/var/tmp/bench
SRC=bsrc
DST=bdst
mkdir -p $W/pki $W/state $OUT
modprobe zfs
log() { printf '# %s\n' "$*"; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }
log "cpu flags: $(grep -m1 flags /proc/cpuinfo | tr ' ' '\n' | grep -E '^(aes|pclmulqdq|avx|avx2|sse4_2|ssse3|sha_ni|vaes|vpclmulqdq)$' | tr '\n' ' ')"
log "loadavg in VM: $(cat /proc/loadavg)"
/mnt/share/tlsconf.test -test.run TimeAEADs -test.v 2>&1 | grep -i aes
log "transport benchmark over mTLS"
/mnt/share/transport.test -test.run '^$' -test.bench 'StreamTLS$' -test.benchtime 1x 2>&1 | grep Benchmark

# shellcheck source-path=SCRIPTDIR source=setup-vm.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup-vm.sh"
# cpu: system-wide busy/idle jiffies from /proc/stat
sysjif() { awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6}' /proc/stat; }
# pidcpu PID: utime stime cutime cstime (ticks)
pidcpu() { awk '{print $14, $15, $16, $17}' /proc/$1/stat 2>/dev/null; }
HZ=$(getconf CLK_TCK)

timed() { # timed NAME CMD... — wall time and system-wide CPU busy
	local name=$1 s e b0 i0 b1 i1
	shift
	reset_target; sync
	read -r b0 i0 < <(sysjif); s=$(now)
	"$@"
	e=$(now); read -r b1 i1 < <(sysjif)
	log "$name: wall $(calc "$e - $s") s, $(calc "$total/1000000/($e - $s)" 1) MB/s, system CPU busy $(calc "($b1-$b0)/$HZ") s of $(calc "($b1-$b0+$i1-$i0)/$HZ") s"
}
raw_full() { zfs send $SRC/data@s1 | zfs receive -u $DST/raw; }
send_only() { zfs send $SRC/data@s1 | cat >/dev/null; }
timed raw raw_full
timed send-only send_only
zfs send $SRC/data@s1 >$W/stream.bin.tmp 2>/dev/null || zfs send $SRC/data@s1 | cat >$W/stream.bin.tmp
mv $W/stream.bin.tmp $W/stream.bin
recv_only() { zfs receive -u $DST/raw <$W/stream.bin; }
timed recv-only recv_only
rm -f $W/stream.bin

hz_run() { # hz_run TAG METHOD [BINARY] — one replication with profiles and CPU seconds of both processes
	local tag=$1 comp=$2 HOTZFS=${3:-$HOTZFS} bw=0 s e sv srv rp last x
	case $comp in lim-*) comp=${comp#lim-}; bw=8MiB/s ;; esac
	config "$comp" "$bw"
	reset_target; sync
	rm -f $W/addr
	HOTZFS_CPUPROFILE=$OUT/$tag-serve.pprof $HOTZFS serve --config $W/receiver.yaml --log-level error --ready-file $W/addr &
	srv=$!
	for _ in $(seq 100); do [[ -s $W/addr ]] && break; sleep 0.1; done
	read -r b0 i0 < <(sysjif)
	s=$(now)
	HOTZFS_CPUPROFILE=$OUT/$tag-send.pprof $HOTZFS replicate --config $W/hotzfs.yaml --log-level error --json >$W/report.json &
	rp=$! last=""
	while kill -0 $rp 2>/dev/null; do
		x=$(pidcpu $rp); [[ -n $x ]] && last=$x
		sleep 0.2
	done
	wait $rp
	e=$(now)
	read -r b1 i1 < <(sysjif)
	sv=$(pidcpu $srv)
	kill $srv; wait $srv
	read -r su ss scu scs <<<"$last"
	read -r ru rs rcu rcs <<<"$sv"
	log "hotzfs $tag: wall $(calc "$e - $s") s, $(calc "$total/1000000/($e - $s)" 1) MB/s; system CPU busy $(calc "($b1-$b0)/$HZ") s of $(calc "($b1-$b0+$i1-$i0)/$HZ") s"
	log "   replicate self user $(calc "$su/$HZ") sys $(calc "$ss/$HZ"); children (zfs send etc) user $(calc "$scu/$HZ") sys $(calc "$scs/$HZ") (children at last sample)"
	log "   serve self user $(calc "$ru/$HZ") sys $(calc "$rs/$HZ"); children (zfs receive) user $(calc "$rcu/$HZ") sys $(calc "$rcs/$HZ")"
	grep -o '"wire_bytes":[0-9]*' $W/report.json | head -1
}
for m in ${METHODS:-none default fastest}; do
	case $m in
	old-*) hz_run $m ${m#old-} /mnt/share/hotzfs.old ;;
	*) hz_run $m $m ;;
	esac
done
cp $HOTZFS $OUT/hotzfs.bin
[[ -x /mnt/share/hotzfs.old ]] && cp /mnt/share/hotzfs.old $OUT/hotzfs.old.bin
zpool destroy -f $SRC; zpool destroy -f $DST
