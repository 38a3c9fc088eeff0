#!/bin/bash
# capture-streams-guest.sh — runs INSIDE the OpenZFS test VM and records real `zfs send` streams for the
# stream-header parser's tests (zfs/testdata/streams-<version>/), and which receive property overrides a
# zvol receive accepts (props.txt).
#
# On the host:  share=$(mktemp -d); cp test/vm/scripts/capture-streams-guest.sh "$share"/
#               test/vm/run.sh 2.3 "$share" capture-streams-guest.sh 900
#               mkdir -p zfs/testdata/streams-2.3 && cp "$share"/out/* zfs/testdata/streams-2.3/
# The streams are small (bulk data is zeros, stored zstd-compressed). GUIDs and times change on every capture.
set -euo pipefail

POOL=hzs
VDEV=/var/tmp/$POOL.img
OUT=${HOTZFS_SHARE:-/mnt/share}/out
mkdir -p "$OUT"
rm -f "$OUT"/*

cleanup() {
	zpool destroy -f "$POOL" 2>/dev/null || true
	rm -f "$VDEV"
}
trap cleanup EXIT

modprobe zfs
zfs version | head -n 1 >"$OUT/zfs-version.txt"
truncate -s 512M "$VDEV"
zpool create -f -O compression=off -O mountpoint=/$POOL "$POOL" "$VDEV"

# send NAME ARGS... — one stream, zstd-compressed.
send() {
	local name=$1
	shift
	zfs send "$@" | zstd -q -19 >"$OUT/$name.zst"
	echo "captured $name: zfs send $*"
}

zfs create $POOL/fs
echo hello >/$POOL/fs/a
zfs snapshot $POOL/fs@s1
echo more >/$POOL/fs/b
zfs snapshot $POOL/fs@s2
zfs snapshot $POOL/fs@s3
zfs create -V 8M $POOL/vol
dd if=/dev/zero of=/dev/zvol/$POOL/vol bs=64k count=4 conv=fsync status=none 2>/dev/null ||
	{ udevadm settle; sleep 2; dd if=/dev/zero of=/dev/zvol/$POOL/vol bs=64k count=4 conv=fsync status=none; }
zfs snapshot $POOL/vol@v1
zfs snapshot $POOL/vol@v2
zfs clone $POOL/fs@s1 $POOL/clone
echo c >/$POOL/clone/c
zfs snapshot $POOL/clone@t
echo passphrase123 >/var/tmp/key
zfs create -o encryption=on -o keyformat=passphrase -o keylocation=file:///var/tmp/key $POOL/enc
echo secret >/$POOL/enc/x
zfs snapshot $POOL/enc@e1

send fs-full $POOL/fs@s1
send fs-incr -i @s1 $POOL/fs@s2
send fs-incr-I -I @s1 $POOL/fs@s3
send fs-props -p $POOL/fs@s1
send fs-replicate -R $POOL/fs@s3
send vol-full $POOL/vol@v1
send vol-incr -i @v1 $POOL/vol@v2
send enc-raw -w $POOL/enc@e1
send clone-i -i $POOL/fs@s1 $POOL/clone@t
send clone-I -I $POOL/fs@s1 $POOL/clone@t

# A resumed stream: an interrupted receive of a 4 MiB file, then `send -t` of its token.
zfs create $POOL/big
dd if=/dev/zero of=/$POOL/big/z bs=1M count=4 status=none
zfs snapshot $POOL/big@b1
zfs send $POOL/big@b1 | head -c 1500000 | zfs receive -s $POOL/partial || true
token=$(zfs get -H -o value receive_resume_token $POOL/partial)
echo "resume token: $token"
send resumed -t "$token"

# Which property overrides a receive accepts, per kind (exit code of each receive).
{
	zfs set mountpoint=/hostile setuid=on exec=on devices=on $POOL/fs
	zfs set sharenfs=on $POOL/fs 2>/dev/null || echo "(sharenfs=on could not be set: $?)"
	zfs snapshot $POOL/fs@p
	zfs snapshot $POOL/vol@p
	for kind in fs vol; do
		for flag in "-o canmount=noauto" "-x mountpoint" "-x sharenfs" "-x sharesmb" "-o exec=off" \
			"-o setuid=off" "-o devices=off" "-x volmode" "-x snapdev" "-o volmode=none"; do
			rc=0
			# shellcheck disable=SC2086 # flag is two words on purpose
			zfs send -p $POOL/$kind@p | zfs receive -u $flag $POOL/r-$kind 2>/var/tmp/err || rc=$?
			echo "$kind	$flag	exit $rc	$(head -n 1 /var/tmp/err)"
			zfs destroy -r $POOL/r-$kind 2>/dev/null || true
		done
	done
} | tee "$OUT/props.txt"
ls -l "$OUT"
