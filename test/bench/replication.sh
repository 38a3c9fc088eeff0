#!/usr/bin/env bash
# replication.sh — the replication benchmark: hotzfs against the raw zfs send | zfs receive pipe, in one VM run.
#
# Usage: test/bench/replication.sh [2.1|2.3]     (env: BENCH_SIZE_MB, default 512; BENCH_RUNS, default 3)
# Builds hotzfs, boots the OpenZFS test VM and runs replication-vm.sh there; prints markdown tables and the host's
# load average before and after (the VM shares the host's cores: compare only ratios from one run).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
version=${1:-2.3}
export PATH=$PATH:/usr/local/go/bin
share=$(mktemp -d "${TMPDIR:-/tmp}/hotzfs-bench.XXXXXX")
trap 'rm -rf "$share"' EXIT
cd "$ROOT"
CGO_ENABLED=0 go build -trimpath -o "$share/hotzfs" ./cmd/hotzfs
cp test/bench/replication-vm.sh "$share/"
cat >"$share/env.sh" <<ENV
export BENCH_SIZE_MB=${BENCH_SIZE_MB:-512} BENCH_RUNS=${BENCH_RUNS:-3}
ENV
cat >"$share/in-vm.sh" <<'INVM'
#!/bin/bash
source /mnt/share/env.sh
exec /mnt/share/replication-vm.sh
INVM
chmod +x "$share/in-vm.sh"
test/vm/build-image.sh "$version"
echo "host load before: $(uptime)"
HOTZFS_VM_QUIET=1 test/vm/run.sh "$version" "$share" in-vm.sh 3600
echo "host load after: $(uptime)"
