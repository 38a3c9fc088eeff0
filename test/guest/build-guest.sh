#!/usr/bin/env bash
# build-guest.sh [OUTDIR] — build the smallest Linux guest that runs qemu-guest-agent, for the real-guest tests.
#
# Output (in OUTDIR, default: the cache directory; its path is printed on stdout):
#   vmlinuz      Debian cloud kernel
#   initrd.img   busybox + the host's qemu-ga + virtio modules + init; the whole root filesystem
#   data.img     32 MiB ext4 image, mounted at /data in the guest (copy it per domain: the guest writes to it);
#                a second ext4 disk (vdb), when the domain has one, is mounted at /data2
#
# The guest, once booted:
#   - mounts /data and runs a ticker that appends /proc/uptime to /data/ticks every 100 ms, with fsync;
#     writes stop while /data is frozen, so gaps in /data/ticks show a real freeze;
#   - runs qemu-ga -m virtio-serial on /dev/virtio-ports/org.qemu.guest_agent.0 with fsfreeze hook /bin/fsfreeze-hook;
#   - fault injection, driven through the agent's guest-exec:
#       /bin/hook-mode ok|fail|"sleep N"   the hook succeeds / exits 3 on freeze / sleeps N s before the freeze
#       /bin/hang-agent N                  after 0.3 s, SIGSTOP qemu-ga for N s, then SIGCONT it
#     the hook logs each call ("freeze|thaw MODE UPTIME") to /run/hook.log.
#
# The build is cached in ${HOTZFS_GUEST_CACHE:-/var/cache/hotzfs-guest}/<key>, the key being a hash of this
# script, the cloud kernel package name and the qemu-guest-agent version. Needs: apt-get, dpkg-deb, busybox-static,
# qemu-guest-agent, e2fsprogs (test/guest/setup-libvirt.sh installs them).
set -euo pipefail

log() { printf 'build-guest: %s\n' "$*" >&2; }

OUTDIR=${1:-}
CACHE_ROOT=${HOTZFS_GUEST_CACHE:-/var/cache/hotzfs-guest}
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk virtio_console)

KPKG=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
if [[ -z $KPKG ]]; then
	log "cannot resolve the package linux-image-cloud-amd64 depends on; run apt-get update first"
	exit 1
fi
QGA_VERSION=$(dpkg-query -W -f='${Version}' qemu-guest-agent)
KEY=$( { cat "${BASH_SOURCE[0]}"; echo "$KPKG $QGA_VERSION"; } | sha256sum | cut -c1-16)
CACHE=$CACHE_ROOT/$KEY

deliver() {
	if [[ -n $OUTDIR && $(realpath -m "$OUTDIR") != "$(realpath -m "$CACHE")" ]]; then
		mkdir -p "$OUTDIR"
		cp --sparse=always "$CACHE"/vmlinuz "$CACHE"/initrd.img "$CACHE"/data.img "$OUTDIR"/
		realpath "$OUTDIR"
	else
		echo "$CACHE"
	fi
}

if [[ -f $CACHE/.complete ]]; then
	log "using cached guest $CACHE"
	deliver
	exit 0
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
log "building guest (kernel $KPKG, qemu-ga $QGA_VERSION) in $WORK"

# Kernel and modules.
(cd "$WORK" && apt-get download "$KPKG" >/dev/null 2>&1) || { log "apt-get download $KPKG failed"; exit 1; }
dpkg-deb -x "$WORK"/"$KPKG"_*.deb "$WORK/kernel"
KVER=${KPKG#linux-image-}

ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,data,data2,etc,lib/modules,var}
ln -s ../run "$ROOT"/var/run
cp "$WORK"/kernel/boot/vmlinuz-"$KVER" "$WORK"/vmlinuz
for m in "${MODULES[@]}"; do
	f=$(find "$WORK/kernel/lib/modules/$KVER" -name "$m.ko*" | head -n1)
	[[ -n $f ]] || { log "module $m not found in $KPKG"; exit 1; }
	case $f in
	*.xz) xz -dc "$f" >"$ROOT/lib/modules/$m.ko" ;;
	*.zst) zstd -qdc "$f" >"$ROOT/lib/modules/$m.ko" ;;
	*) cp "$f" "$ROOT/lib/modules/$m.ko" ;;
	esac
done

# busybox and the host's qemu-ga with its libraries.
cp /bin/busybox "$ROOT"/bin/busybox
for a in $("$ROOT"/bin/busybox --list); do
	[[ -e $ROOT/bin/$a ]] || ln -s busybox "$ROOT/bin/$a"
done
cp /usr/sbin/qemu-ga "$ROOT"/usr/sbin/qemu-ga
for lib in $(ldd /usr/sbin/qemu-ga | grep -o '/[^ ]*'); do
	mkdir -p "$ROOT$(dirname "$lib")"
	cp -L "$lib" "$ROOT$lib"
done

cat >"$ROOT"/init <<'INIT'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
mkdir -p /dev/virtio-ports
echo ok >/run/hook-mode
for pass in 1 2 3; do
	for m in MODULE_LIST; do
		[ -d /sys/module/$m ] || insmod /lib/modules/$m.ko 2>/dev/null
	done
done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mount -t ext4 /dev/vda /data || echo "init: cannot mount /dev/vda on /data" >/dev/console
# A second disk, when the domain has one, is mounted at /data2 (the two-disk restore and failover tests).
if [ -b /dev/vdb ]; then
	mount -t ext4 /dev/vdb /data2 || echo "init: cannot mount /dev/vdb on /data2" >/dev/console
fi
/bin/ticker </dev/null >/dev/null 2>&1 &
i=0
while [ $i -lt 50 ]; do
	for p in /sys/class/virtio-ports/*; do
		[ -e "$p/name" ] || continue
		n=$(cat "$p/name")
		[ -n "$n" ] && ln -sf "/dev/${p##*/}" "/dev/virtio-ports/$n"
	done
	[ -e /dev/virtio-ports/org.qemu.guest_agent.0 ] && break
	sleep 0.1
	i=$((i + 1))
done
echo "init: ready" >/dev/console
# qemu-ga is restarted if it exits (for example in a guest without the agent channel, where it cannot start).
while :; do
	qemu-ga -m virtio-serial -p /dev/virtio-ports/org.qemu.guest_agent.0 -F/bin/fsfreeze-hook -t /run </dev/null >/dev/console 2>&1
	sleep 1
done
INIT
sed -i "s/MODULE_LIST/${MODULES[*]}/" "$ROOT"/init

cat >"$ROOT"/bin/ticker <<'TICKER'
#!/bin/sh
# One line per 100 ms: the guest's uptime in seconds, fsynced. Blocks (leaves a gap) while /data is frozen.
while :; do
	read up _ </proc/uptime
	echo "$up" >>/data/ticks
	sync -d /data/ticks
	sleep 0.1
done
TICKER

cat >"$ROOT"/bin/fsfreeze-hook <<'HOOK'
#!/bin/sh
# qemu-ga fsfreeze hook: called with "freeze" before the freeze and "thaw" after the thaw.
mode=$(cat /run/hook-mode 2>/dev/null)
read up _ </proc/uptime
echo "$1 ${mode:-ok} $up" >>/run/hook.log
[ "$1" = freeze ] || exit 0
case "$mode" in
fail) exit 3 ;;
"sleep "*) sleep "${mode#sleep }" ;;
esac
exit 0
HOOK

cat >"$ROOT"/bin/hook-mode <<'MODE'
#!/bin/sh
# hook-mode ok|fail|"sleep N": what /bin/fsfreeze-hook does on the next freeze.
echo "$*" >/run/hook-mode
MODE

cat >"$ROOT"/bin/hang-agent <<'HANG'
#!/bin/sh
# hang-agent N: in the background, after 0.3 s, stop qemu-ga for N seconds, then continue it.
p=$(pidof qemu-ga)
[ -n "$p" ] || { echo "hang-agent: qemu-ga not running" >&2; exit 1; }
setsid sh -c "sleep 0.3; kill -STOP $p; sleep $1; kill -CONT $p" </dev/null >/dev/null 2>&1 &
echo "$p"
HANG
chmod +x "$ROOT"/init "$ROOT"/bin/ticker "$ROOT"/bin/fsfreeze-hook "$ROOT"/bin/hook-mode "$ROOT"/bin/hang-agent

(cd "$ROOT" && find . | "$ROOT"/bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$WORK"/initrd.img

mkdir -p "$WORK"/datafs
echo "hotzfs test guest data disk" >"$WORK"/datafs/README
mkfs.ext4 -q -F -L data -d "$WORK"/datafs "$WORK"/data.img 32M >&2

mkdir -p "$CACHE_ROOT"
TMPCACHE=$(mktemp -d "$CACHE_ROOT/.build.XXXXXX")
mv "$WORK"/vmlinuz "$WORK"/initrd.img "$WORK"/data.img "$TMPCACHE"/
touch "$TMPCACHE"/.complete
rm -rf "$CACHE"
mv "$TMPCACHE" "$CACHE"
log "built $CACHE"
deliver
