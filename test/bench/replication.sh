#!/usr/bin/env bash
# replication.sh — the replication benchmark: hotzfs against the raw zfs send | zfs receive pipe, in one VM run.
#
# Usage: test/bench/replication.sh [2.1|2.3]     (env: BENCH_SIZE_MB, default 512; BENCH_RUNS, default 3)
# Builds hotzfs, boots the OpenZFS test VM and runs replication-vm.sh there; prints markdown tables and the host's
# load average before and after (the VM shares the host's cores: compare only ratios from one run).
#
# With BENCH_PROFILE=OUT-DIR it runs profile-vm.sh instead (default 192 MB): CPU profiles of `hotzfs serve` and
# `hotzfs replicate` per method (env METHODS, see profile-vm.sh) and CPU seconds per process, left with the
# binaries in OUT-DIR/out (`go tool pprof -top OUT-DIR/out/hotzfs.bin OUT-DIR/out/none-send.pprof`);
# BASE=<git rev> also builds that revision as the baseline for old-<method> runs.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
version=${1:-2.3}
export PATH=$PATH:/usr/local/go/bin
cd "$ROOT"
if [[ -n ${BENCH_PROFILE:-} ]]; then
	mkdir -p "$BENCH_PROFILE"
	share=$(cd "$BENCH_PROFILE" && pwd)
	rm -rf "$share/out" "$share"/vm-* "$share/hotzfs.old"
	script=profile-vm.sh
	CGO_ENABLED=0 go test -c -o "$share/transport.test" ./transport
	CGO_ENABLED=0 go test -c -o "$share/tlsconf.test" ./transport/tlsconf
	if [[ -n ${BASE:-} ]]; then
		src=$(mktemp -d "${TMPDIR:-/tmp}/hotzfs-base.XXXXXX")
		git archive "$BASE" | tar -x -C "$src"
		(cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$share/hotzfs.old" ./cmd/hotzfs)
		rm -rf "$src"
	fi
else
	share=$(mktemp -d "${TMPDIR:-/tmp}/hotzfs-bench.XXXXXX")
	trap 'rm -rf "$share"' EXIT
	script=replication-vm.sh
fi
CGO_ENABLED=0 go build -trimpath -o "$share/hotzfs" ./cmd/hotzfs
cp test/bench/$script test/bench/setup-vm.sh "$share/"
cat >"$share/env.sh" <<ENV
export BENCH_SIZE_MB=${BENCH_SIZE_MB:-$([[ $script == profile-vm.sh ]] && echo 192 || echo 512)} BENCH_RUNS=${BENCH_RUNS:-3}
export METHODS="${METHODS:-none default fastest}"
ENV
cat >"$share/in-vm.sh" <<INVM
#!/bin/bash
source /mnt/share/env.sh
exec /mnt/share/$script
INVM
chmod +x "$share/in-vm.sh"
test/vm/build-image.sh "$version"
echo "host load before: $(uptime)"
HOTZFS_VM_QUIET=1 test/vm/run.sh "$version" "$share" in-vm.sh 3600
echo "host load after: $(uptime)"
