#!/bin/bash
# capture-fixtures-guest.sh — runs INSIDE the OpenZFS test VM (started by test/vm/capture-fixtures.sh).
#
# Builds a pool with every kind of object hotzfs parses (filesystems, child, zvol, snapshots, bookmark, holds,
# user properties local and received, an encrypted dataset, an interrupted resumable receive, a clone) and
# records the raw stdout and stderr of each command into /mnt/share/out/<name>.stdout / <name>.stderr, plus
# MANIFEST.tsv (name, exit status, description, exact command). Failures are provoked on purpose to capture the
# exact error text. Exit 0 when every capture ran (a command's own failure is data, not an error here).
set -euo pipefail

POOL=hzfix
SMALL=hzsmall
VDEV=/var/tmp/$POOL.img
SMALL_VDEV=/var/tmp/$SMALL.img
OUT=${HOTZFS_SHARE:-/mnt/share}/out
PASS=passphrase123

step() { printf '== %s  %s\n' "$(date +%T)" "$*"; }

# cap NAME DESCRIPTION COMMAND — run COMMAND with bash (pipefail), keep both streams and the exit status.
cap() {
	local name=$1 desc=$2 cmd=$3 rc=0
	bash -o pipefail -c "$cmd" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr" || rc=$?
	printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$desc" "$cmd" >>"$OUT/MANIFEST.tsv"
	printf '   %-34s exit %-3s %s\n' "$name" "$rc" "$(head -c 100 "$OUT/$name.stderr" | head -n 1)"
}

# run COMMAND... — a setup step that must succeed.
run() {
	printf '   + %s\n' "$*"
	"$@"
}

cleanup() {
	[[ -n ${BUSY_PID:-} ]] && kill "$BUSY_PID" 2>/dev/null
	zpool destroy -f "$SMALL" 2>/dev/null || true
	zpool destroy -f "$POOL" 2>/dev/null || true
	rm -f "$VDEV" "$SMALL_VDEV"
}
trap cleanup EXIT

setup() {
	step "setup: pool $POOL with filesystems, zvol, snapshots, bookmark, holds, properties"
	rm -rf "$OUT"
	mkdir -p "$OUT"
	modprobe zfs
	truncate -s 1G "$VDEV"
	run zpool create -f -o ashift=12 -O compression=off -O atime=off "$POOL" "$VDEV"
	run zfs create "$POOL/fs"
	run dd if=/dev/urandom of="/$POOL/fs/a.bin" bs=1M count=4 status=none
	run zfs snapshot "$POOL/fs@s1"
	run zfs create "$POOL/fs/child"
	run dd if=/dev/urandom of="/$POOL/fs/b.bin" bs=1M count=2 status=none
	run zfs snapshot -r "$POOL/fs@s2"
	run dd if=/dev/urandom of="/$POOL/fs/c.bin" bs=1M count=1 status=none
	run zfs snapshot "$POOL/fs@s3"
	run zfs bookmark "$POOL/fs@s1" "$POOL/fs#b1"
	run zfs hold keep "$POOL/fs@s1"
	run zfs hold hotzfs-base "$POOL/fs@s1"
	run zfs set hotzfs:test=value "$POOL/fs"
	run zfs set hotzfs:consistency=fs-frozen "$POOL/fs@s2"
	run zfs create -V 64M "$POOL/vol"
	udevadm settle || true
	if [[ -e /dev/zvol/$POOL/vol ]]; then
		run dd if=/dev/urandom of="/dev/zvol/$POOL/vol" bs=1M count=2 status=none conv=fsync
	fi
	run zfs snapshot "$POOL/vol@v1"
	run zfs clone "$POOL/fs@s3" "$POOL/clone"
	# Received user property (source "received"): a replicated-properties send.
	zfs send -p "$POOL/fs@s1" | zfs receive "$POOL/recv"
	# Recursive snapshot of the whole pool with a recursive hold, for `zfs holds -r POOL@snap`.
	run zfs snapshot -r "$POOL@r1"
	run zfs hold -r hotzfs-r "$POOL@r1"
}

capture_encryption() {
	step "encrypted dataset"
	cap err-create-enc-short-passphrase "create an encrypted dataset with a passphrase shorter than 8 bytes" \
		"echo pass | zfs create -o encryption=on -o keyformat=passphrase -o keylocation=prompt $POOL/enc"
	cap create-enc "create an encrypted dataset (passphrase on stdin)" \
		"echo $PASS | zfs create -o encryption=on -o keyformat=passphrase -o keylocation=prompt $POOL/enc"
	run dd if=/dev/urandom of="/$POOL/enc/e.bin" bs=1M count=1 status=none
	run zfs snapshot "$POOL/enc@e1"
	cap get-enc-props "encryption properties of the encrypted dataset" \
		"zfs get -H -p -o name,property,value,source encryption,keyformat,keylocation,keystatus,encryptionroot $POOL/enc"
	cap send-nvP-raw-enc "dry-run raw send of an encrypted snapshot" "zfs send -nvP -w $POOL/enc@e1"
	run zfs unmount "$POOL/enc"
	run zfs unload-key "$POOL/enc"
	cap err-send-enc-key-unloaded "non-raw send of an encrypted snapshot whose key is not loaded" \
		"zfs send $POOL/enc@e1 | cat >/dev/null"
	cap get-enc-keystatus-unloaded "keystatus after unload-key" \
		"zfs get -H -p -o name,property,value,source keystatus $POOL/enc"
	run bash -c "echo $PASS | zfs load-key $POOL/enc"
	run zfs mount "$POOL/enc"
}

capture_resumable() {
	step "interrupted resumable receive"
	cap recv-interrupted "receive -s of a full stream cut after 200000 bytes (leaves a resume token)" \
		"zfs send $POOL/fs@s2 2>/dev/null | head -c 200000 | zfs receive -s $POOL/partial"
	local token
	token=$(zfs get -H -o value receive_resume_token "$POOL/partial")
	cap get-resume-token "receive_resume_token of the partial receive" \
		"zfs get -H -p -o name,property,value,source receive_resume_token $POOL/partial"
	cap send-nvP-resume "dry-run send from the resume token" "zfs send -nvP -t $token"
	cap err-recv-into-partial-full "a new full receive into a dataset holding partial receive state" \
		"zfs send $POOL/fs@s1 2>/dev/null | zfs receive $POOL/partial"
}

capture_listings() {
	step "listings"
	cap zfs-version "zfs version" "zfs version"
	cap zfs-version-json "zfs version -j (JSON output; new in 2.3)" "zfs version -j"
	cap list-all "every dataset, snapshot, bookmark with identity and resume token" \
		"zfs list -H -p -t all -o name,type,guid,createtxg,creation,used,referenced,mountpoint,receive_resume_token -r $POOL"
	cap list-snapshots-bookmarks "snapshots and bookmarks with identity" \
		"zfs list -H -p -t snapshot,bookmark -o name,guid,createtxg,creation -r $POOL"
	cap list-json "zfs list -j --json-int (JSON output; new in 2.3)" \
		"zfs list -j --json-int -t snapshot -o name,guid,createtxg -r $POOL/fs"
	cap holds-recursive "holds on a recursive snapshot, -p (2.1 has no -p: usage error)" "zfs holds -H -p -r $POOL@r1"
	cap holds-recursive-no-p "holds on a recursive snapshot, human-readable time (works on 2.1)" "zfs holds -H -r $POOL@r1"
	cap holds-snapshot "two holds on one snapshot, human-readable time" "zfs holds -H $POOL/fs@s1"
	cap holds-snapshot-p "two holds on one snapshot, -p" "zfs holds -H -p $POOL/fs@s1"
	cap holds-none "a snapshot without holds" "zfs holds -H -p $POOL/fs@s3"
	cap get-user-props-fs "local and received properties of one filesystem" \
		"zfs get -H -p -o name,property,value,source -s local,received all $POOL/fs"
	cap get-user-props-recursive "local and received properties of everything in the pool" \
		"zfs get -H -p -o name,property,value,source -s local,received all -r $POOL"
	cap get-user-prop-snapshot "a user property set on a snapshot" \
		"zfs get -H -p -o name,property,value,source hotzfs:consistency $POOL/fs@s2"
	cap get-user-prop-unset "a user property that is not set (value '-', source '-')" \
		"zfs get -H -p -o name,property,value,source hotzfs:nope $POOL/fs"
	cap zpool-list "pool sizes, -p" "zpool list -H -p -o name,size,alloc,free"
	cap send-nvP-full "dry-run full send" "zfs send -nvP $POOL/fs@s1"
	cap send-nvP-incremental "dry-run incremental send -i" "zfs send -nvP -i @s1 $POOL/fs@s3"
	cap send-nvP-intermediates "dry-run incremental send -I (with intermediates)" "zfs send -nvP -I @s1 $POOL/fs@s3"
	cap send-nvP-from-bookmark "dry-run incremental send from a bookmark" "zfs send -nvP -i $POOL/fs#b1 $POOL/fs@s3"
	cap send-nvP-zvol "dry-run full send of a zvol snapshot" "zfs send -nvP $POOL/vol@v1"
}

capture_errors() {
	step "errors"
	cap err-list-missing "list a dataset that does not exist" "zfs list -H -p -o name $POOL/nope"
	cap err-list-missing-pool "list in a pool that does not exist" "zfs list -H -p -o name nopool/x"
	cap err-snapshot-exists "snapshot that already exists" "zfs snapshot $POOL/fs@s1"
	cap err-bookmark-exists "bookmark that already exists" "zfs bookmark $POOL/fs@s1 $POOL/fs#b1"
	cap err-hold-exists "hold with a tag already on the snapshot" "zfs hold keep $POOL/fs@s1"
	cap err-release-missing "release a tag that is not held" "zfs release nope $POOL/fs@s1"
	cap err-destroy-held "destroy a held snapshot" "zfs destroy $POOL/fs@s1"
	cap err-destroy-children "destroy a filesystem that has children and snapshots" "zfs destroy $POOL/fs"
	cap err-destroy-snapshot-clone "destroy a snapshot that has a dependent clone" "zfs destroy $POOL/fs@s3"
	cap err-destroy-r-clone "destroy -r of a filesystem whose snapshot has a dependent clone" "zfs destroy -r $POOL/fs"
	cap err-rollback-not-latest "rollback to a snapshot that is not the latest" "zfs rollback $POOL/fs@s1"
	cap err-recv-exists "full receive into an existing dataset without -F" \
		"zfs send $POOL/fs@s1 2>/dev/null | zfs receive $POOL/recv"
	cap err-recv-incr-no-dest "incremental receive into a dataset that does not exist" \
		"zfs send -i @s1 $POOL/fs@s2 2>/dev/null | zfs receive $POOL/nodest"
	run touch "/$POOL/recv/modified"
	cap err-recv-incr-modified "incremental receive into a target modified since its last snapshot" \
		"zfs send -i @s1 $POOL/fs@s2 2>/dev/null | zfs receive $POOL/recv"
	cap err-recv-incr-mismatch "incremental receive whose base is not the target's latest snapshot" \
		"zfs send -i @s2 $POOL/fs@s3 2>/dev/null | zfs receive $POOL/recv"
	cap err-recv-abort-nothing "receive -A on a dataset without partial state" "zfs receive -A $POOL/recv"
	cap err-send-missing-base "incremental send with a missing base snapshot" \
		"zfs send -i $POOL/fs@nope $POOL/fs@s2 | cat >/dev/null"
	cap err-send-base-newer "incremental send whose base is newer than the target" \
		"zfs send -i @s3 $POOL/fs@s1 | cat >/dev/null"
	cap err-send-missing-snapshot "send of a snapshot that does not exist" "zfs send $POOL/fs@nope | cat >/dev/null"
	cap err-send-bad-token "send -t with a garbage token" "zfs send -t 1-garbage-token | cat >/dev/null"
	cap err-send-devnull "send straight into /dev/null (2.1 refuses with EINVAL)" "zfs send $POOL/fs@s1 >/dev/null"

	step "busy dataset"
	run zfs create "$POOL/busy"
	(cd "/$POOL/busy" && exec sleep 600) &
	BUSY_PID=$!
	sleep 1
	cap err-destroy-busy "destroy a mounted dataset that a process has as its cwd" "zfs destroy $POOL/busy"
	cap err-unmount-busy "unmount a mounted dataset that a process has as its cwd" "zfs unmount $POOL/busy"
	kill "$BUSY_PID"
	wait "$BUSY_PID" 2>/dev/null || true
	BUSY_PID=

	step "receive into a full pool"
	run zfs create "$POOL/big"
	run dd if=/dev/urandom of="/$POOL/big/big.bin" bs=1M count=96 status=none
	run zfs snapshot "$POOL/big@s"
	truncate -s 64M "$SMALL_VDEV"
	run zpool create -f -o ashift=12 -O compression=off -O mountpoint=none "$SMALL" "$SMALL_VDEV"
	cap zpool-list-two-pools "pool sizes with the small pool, -p" "zpool list -H -p -o name,size,alloc,free"
	cap err-recv-enospc "full receive of a 96 MiB stream into a 64 MiB pool" \
		"zfs send $POOL/big@s 2>/dev/null | zfs receive $SMALL/big"
	cap zpool-list-small-full "the small pool after the failed receive" "zpool list -H -p -o name,size,alloc,free $SMALL"
}

# token NAME DESCRIPTION — capture the resume token left on $POOL/tok-NAME and the dry run zfs makes of it.
token() {
	local name=$1 desc=$2 tok
	cap "token-$name" "resume token: $desc" "zfs get -H -o value receive_resume_token $POOL/tok-$name"
	tok=$(cat "$OUT/token-$name.stdout")
	cap "send-nvP-token-$name" "dry-run send from the resume token: $desc" "zfs send -nvP -t $tok"
}

# Resume tokens of interrupted receives of every kind of stream hotzfs sends (the sender decodes them and
# checks their target and flags before it resumes).
capture_tokens() {
	step "resume tokens"
	local cut="head -c 200000"
	run bash -c "dd if=/dev/urandom of=/$POOL/enc/f.bin bs=1M count=1 status=none"
	run zfs snapshot "$POOL/enc@e2"
	run zfs create -o recordsize=1M "$POOL/lb"
	run dd if=/dev/urandom of="/$POOL/lb/l.bin" bs=1M count=4 status=none
	run zfs snapshot "$POOL/lb@l1"
	bash -o pipefail -c "zfs send $POOL/fs@s2 2>/dev/null | $cut | zfs receive -s $POOL/tok-full" || true
	token full "full send, no flags"
	run bash -o pipefail -c "zfs send $POOL/fs@s1 | zfs receive $POOL/tok-incr"
	bash -o pipefail -c "zfs send -i @s1 $POOL/fs@s2 2>/dev/null | $cut | zfs receive -s $POOL/tok-incr" || true
	token incr "incremental send -i @s1 (fromguid)"
	bash -o pipefail -c "zfs send -c -e $POOL/fs@s2 2>/dev/null | $cut | zfs receive -s $POOL/tok-ce" || true
	token ce "full send -c -e"
	bash -o pipefail -c "zfs send -L $POOL/fs@s2 2>/dev/null | $cut | zfs receive -s $POOL/tok-Lsmall" || true
	token Lsmall "full send -L of a dataset without large blocks"
	bash -o pipefail -c "zfs send -L $POOL/lb@l1 2>/dev/null | $cut | zfs receive -s $POOL/tok-L" || true
	token L "full send -L of a dataset with 1 MiB records"
	bash -o pipefail -c "zfs send -w $POOL/enc@e1 2>/dev/null | $cut | zfs receive -s $POOL/tok-raw" || true
	token raw "raw full send -w of an encrypted snapshot"
	run bash -o pipefail -c "zfs send -w $POOL/enc@e1 | zfs receive $POOL/tok-rawincr"
	bash -o pipefail -c "zfs send -w -i @e1 $POOL/enc@e2 2>/dev/null | $cut | zfs receive -s $POOL/tok-rawincr" || true
	token rawincr "raw incremental send -w -i @e1 of an encrypted snapshot"
	bash -o pipefail -c "zfs send $POOL/enc@e1 2>/dev/null | $cut | zfs receive -s $POOL/tok-plainenc" || true
	token plainenc "non-raw full send of an encrypted snapshot (plaintext)"
}

main() {
	setup
	capture_encryption
	capture_resumable
	capture_listings
	capture_errors
	capture_tokens
	step "done: $(wc -l <"$OUT/MANIFEST.tsv") commands captured"
}

main "$@"
