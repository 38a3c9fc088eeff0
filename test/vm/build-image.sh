#!/usr/bin/env bash
# build-image.sh — build (or reuse) the OpenZFS test VM image for hotzfs.
#
# Usage: test/vm/build-image.sh <2.1|2.3|all>      (as root, on Debian 12)
#
#   2.3  OpenZFS 2.3.x from bookworm-backports      2.1  OpenZFS 2.1.x from bookworm contrib
#
# Result: ${HOTZFS_VM_CACHE:-/var/cache/hotzfs-vm}/zfs-<ver>-<key>/{root.qcow2,vmlinuz,initrd.img,info,done}
# where <key> is a sha256 over this script, lib.sh and the files under guest/ copied into the image. A complete
# image (its `done` marker is written last) is reused; a changed script gives a new key and a rebuild. The
# Debian base (debootstrap + kernel + tools, everything but ZFS) is cached as base-<key>.tar.zst and shared by
# both versions; the zfs-dkms module build (~3-4 min per version under 2 cores) dominates.
#
# The Debian mirror is read from the host's apt config (override: HOTZFS_VM_MIRROR, HOTZFS_VM_SECURITY_MIRROR).
# Missing host tools (debootstrap, qemu, e2fsprogs, zstd) are installed with apt-get.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=build-image

SUITE=bookworm
ROOT_SIZE=8G # sparse; leaves ~6 GiB free in the guest for file-backed test pools under /var/tmp
KERNEL_PKGS=(linux-image-amd64 linux-headers-amd64)
# qemu-utils: qemu-nbd serves zvols to guests on the host in the end-to-end test (test/e2e).
# openssh-server, openssh-client: the ssh transport's real test (sshd on loopback, started by the test).
BASE_PKGS=(systemd-sysv udev kmod iproute2 qemu-guest-agent initramfs-tools zstd coreutils e2fsprogs procps
	psmisc util-linux qemu-utils openssh-server openssh-client)
INITRD_MODULES=(virtio_pci virtio_blk crc32c_generic ext4)
# Units that must not run at boot: the tests load and import ZFS themselves; timers only add noise.
MASK_UNITS=(apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer e2scrub_reap.service
	fstrim.timer dpkg-db-backup.timer systemd-networkd-wait-online.service ssh.service ssh.socket)

MOUNTED=()

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

# chroot_mount ROOT / chroot_umount — the pseudo filesystems apt, dkms and update-initramfs need.
chroot_mount() {
	local root=$1
	mount -t proc proc "$root/proc" && MOUNTED+=("$root/proc")
	mount -t sysfs sysfs "$root/sys" && MOUNTED+=("$root/sys")
	mount --bind /dev "$root/dev" && MOUNTED+=("$root/dev")
	mount --bind /dev/pts "$root/dev/pts" && MOUNTED+=("$root/dev/pts")
}
chroot_umount() {
	local i
	for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
		umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" || true
	done
	MOUNTED=()
}

# newest PATH... — the path with the highest version-sorted name.
newest() { printf '%s\n' "$@" | sort -V | tail -n 1; }

in_chroot() {
	local root=$1
	shift
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive "$@"
}

apt_in_chroot() {
	local root=$1
	shift
	in_chroot "$root" apt-get -y -q -o Dpkg::Use-Pty=0 -o APT::Install-Recommends=false "$@"
}

# write_sources ROOT MIRROR SECURITY — bookworm, -updates, -backports (main contrib) and -security.
write_sources() {
	local root=$1 mirror=$2 security=$3
	rm -f "$root/etc/apt/sources.list"
	cat >"$root/etc/apt/sources.list.d/debian.sources" <<-EOF
		Types: deb
		URIs: $mirror
		Suites: $SUITE $SUITE-updates $SUITE-backports
		Components: main contrib
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

		Types: deb
		URIs: $security
		Suites: $SUITE-security
		Components: main contrib
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
}

# configure_guest ROOT — everything about the guest system except ZFS.
configure_guest() {
	local root=$1
	echo hotzfs-vm >"$root/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\thotzfs-vm\n' >"$root/etc/hosts"
	# The kernel mounts / rw (root=/dev/vda rw); no fsck of a throwaway snapshot overlay.
	printf '/dev/vda\t/\text4\tdefaults,errors=remount-ro\t0\t0\n' >"$root/etc/fstab"
	in_chroot "$root" passwd -d root >/dev/null # serial console login for debugging (run.sh HOTZFS_VM_DEBUG)

	# Small initramfs: just enough to mount the virtio root disk.
	sed -i 's/^MODULES=.*/MODULES=list/' "$root/etc/initramfs-tools/initramfs.conf"
	printf '%s\n' "${INITRD_MODULES[@]}" >"$root/etc/initramfs-tools/modules"

	mkdir -p "$root/etc/systemd/journald.conf.d"
	printf '[Journal]\nStorage=volatile\nForwardToConsole=no\n' >"$root/etc/systemd/journald.conf.d/hotzfs.conf"
	install -m 0644 "$VM_DIR/guest/99-hotzfs.network" "$root/etc/systemd/network/99-hotzfs.network"
	install -m 0755 "$VM_DIR/guest/hotzfs-run" "$root/usr/local/sbin/hotzfs-run"
	install -m 0644 "$VM_DIR/guest/hotzfs-run.service" "$root/etc/systemd/system/hotzfs-run.service"
	printf '9pnet_virtio\n9p\n' >"$root/etc/modules-load.d/hotzfs-9p.conf"
	in_chroot "$root" systemctl enable -q systemd-networkd.service hotzfs-run.service
	in_chroot "$root" systemctl mask -q "${MASK_UNITS[@]}"
}

# build_base BASE_TAR — debootstrap + kernel + tools + guest config, packed as a zstd tarball.
build_base() {
	local tar=$1 mirror security work root
	mirror=$(debian_mirror)
	security=$(security_mirror "$mirror")
	work=$(mktemp -d "$VM_CACHE/base-work.XXXXXX")
	root=$work/rootfs
	trap 'chroot_umount; rm -rf "$work"' EXIT

	log "debootstrap $SUITE from $mirror (minbase, main+contrib)"
	debootstrap --variant=minbase --components=main,contrib "$SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
		{
			tail -n 30 "$work/debootstrap.log" >&2
			die "debootstrap failed (log above) — is $mirror reachable? Set HOTZFS_VM_MIRROR to override"
		}
	write_sources "$root" "$mirror" "$security"
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	chroot_mount "$root"

	log "apt-get update in the chroot"
	apt_in_chroot "$root" update >/dev/null
	log "installing base packages: ${BASE_PKGS[*]}"
	apt_in_chroot "$root" install "${BASE_PKGS[@]}" >"$work/apt-base.log" 2>&1 ||
		{ tail -n 30 "$work/apt-base.log" >&2 && die "base package install failed"; }
	log "installing kernel: ${KERNEL_PKGS[*]}"
	apt_in_chroot "$root" install "${KERNEL_PKGS[@]}" >"$work/apt-kernel.log" 2>&1 ||
		{ tail -n 30 "$work/apt-kernel.log" >&2 && die "kernel install failed"; }

	configure_guest "$root"
	log "building the initramfs"
	in_chroot "$root" update-initramfs -u -k all >/dev/null 2>&1 || die "update-initramfs failed in the chroot"
	apt_in_chroot "$root" clean
	chroot_umount

	log "packing the base into $(basename "$tar")"
	tar --numeric-owner --xattrs --acls -C "$root" -cf - . | zstd -q -T0 -3 -o "$work/base.tar.zst"
	mv "$work/base.tar.zst" "$tar"
	rm -rf "$work"
	trap - EXIT
}

# install_zfs ROOT VERSION — zfs-dkms (module compiled for the image's kernel) and zfsutils-linux.
install_zfs() {
	local root=$1 version=$2 kver log=$3
	local -a target=()
	[[ $version == 2.3 ]] && target=(-t "$SUITE-backports")
	kver=$(basename "$(newest "$root"/lib/modules/*)")
	log "installing OpenZFS $version (zfs-dkms compiles the module for $kver; ~3-4 min)"
	apt_in_chroot "$root" update >/dev/null
	apt_in_chroot "$root" install "${target[@]}" zfs-dkms zfsutils-linux >"$log" 2>&1 ||
		{ tail -n 40 "$log" >&2 && die "zfs install failed (log: $log)"; }
	if ! compgen -G "$root/lib/modules/$kver/updates/dkms/zfs.ko*" >/dev/null; then
		log "zfs.ko missing for $kver after install; running dkms autoinstall"
		in_chroot "$root" dkms autoinstall -k "$kver" >>"$log" 2>&1 || { tail -n 40 "$log" >&2 && die "dkms failed"; }
	fi
	compgen -G "$root/lib/modules/$kver/updates/dkms/zfs.ko*" >/dev/null ||
		die "no zfs.ko for kernel $kver in the image (log: $log)"
	local zver
	# shellcheck disable=SC2016 # ${Version} is a dpkg-query format field
	zver=$(in_chroot "$root" dpkg-query -W -f='${Version}' zfsutils-linux)
	[[ $zver == "$version".* || $zver == *:"$version".* ]] ||
		die "wanted OpenZFS $version, apt installed zfsutils-linux $zver — has the archive moved on?"
	# The tests load the module and import pools themselves.
	local -a units=()
	mapfile -t units < <(cd "$root/lib/systemd/system" && ls -d zfs* 2>/dev/null)
	((${#units[@]})) && in_chroot "$root" systemctl mask -q "${units[@]}"
	rm -rf "$root"/var/lib/dkms/zfs/*/build "$root"/var/lib/dkms/zfs/*/*/*/log
	apt_in_chroot "$root" clean
	rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/sbin/policy-rc.d
	find "$root/var/log" -type f -delete
	printf 'kernel=%s\nzfsutils=%s\n' "$kver" "$zver"
}

# build_version VERSION — the cached image for one OpenZFS version.
build_version() {
	local version=$1 key dir base work root t0
	key=$(image_key)
	dir=$(image_dir "$version")
	if image_complete "$dir"; then
		log "OpenZFS $version: image is up to date: $dir"
		return 0
	fi
	t0=$SECONDS
	base=$VM_CACHE/base-$key.tar.zst
	if [[ -f $base ]]; then
		log "reusing the Debian base $base"
	else
		build_base "$base"
		log "base ready after $((SECONDS - t0)) s"
	fi

	work=$(mktemp -d "$VM_CACHE/zfs-$version-work.XXXXXX")
	root=$work/rootfs
	trap 'chroot_umount; rm -rf "$work"' EXIT
	mkdir "$root"
	log "unpacking the base"
	zstd -q -d -c "$base" | tar --numeric-owner --xattrs --acls -C "$root" -xf -
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	chroot_mount "$root"
	local t1=$SECONDS info
	info=$(install_zfs "$root" "$version" "$work/apt-zfs.log")
	log "OpenZFS installed in $((SECONDS - t1)) s ($(tr '\n' ' ' <<<"$info"))"
	chroot_umount

	mkdir "$work/out"
	cp "$(newest "$root"/boot/vmlinuz-*)" "$work/out/vmlinuz"
	cp "$(newest "$root"/boot/initrd.img-*)" "$work/out/initrd.img"
	log "making the ext4 root ($ROOT_SIZE sparse) and the compressed qcow2"
	mkfs.ext4 -q -F -L hotzfs-root -E lazy_itable_init=1,lazy_journal_init=1 -d "$root" "$work/root.img" "$ROOT_SIZE" >/dev/null
	qemu-img convert -c -O qcow2 "$work/root.img" "$work/out/root.qcow2"
	rm -f "$work/root.img"
	{
		printf 'openzfs=%s\nkey=%s\nbuilt=%s\nmirror=%s\n' "$version" "$key" "$(date -u +%FT%TZ)" "$(debian_mirror)"
		printf '%s\n' "$info"
	} >"$work/out/info"
	rm -rf "$dir"
	mv "$work/out" "$dir"
	touch "$dir/done"
	rm -rf "$work"
	trap - EXIT
	log "OpenZFS $version: image ready in $((SECONDS - t0)) s: $dir ($(du -sh "$dir/root.qcow2" | cut -f1) qcow2)"
}

main() {
	(($# == 1)) || usage
	local -a versions
	case $1 in
	all) versions=("${VM_VERSIONS[@]}") ;;
	-h | --help) usage ;;
	*)
		check_version "$1"
		versions=("$1")
		;;
	esac
	((EUID == 0)) || die "must run as root (debootstrap, chroot and mounts) — try: sudo $0 $*"
	ensure_host_packages debootstrap:debootstrap qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils \
		mkfs.ext4:e2fsprogs zstd:zstd
	mkdir -p "$VM_CACHE"
	# One build at a time (2 cores; and two builders must not race on the same cache entry).
	exec {lock}>"$VM_CACHE/build.lock"
	if ! flock -n "$lock"; then
		log "another build holds $VM_CACHE/build.lock; waiting"
		flock "$lock"
	fi
	local v
	for v in "${versions[@]}"; do
		build_version "$v"
	done
}

main "$@"
