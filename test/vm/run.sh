#!/usr/bin/env bash
# run.sh — run a script from a host directory inside the OpenZFS test VM (batch mode), then power off.
#
# Usage: test/vm/run.sh <2.1|2.3> <share-dir> <script-in-share> [timeout-seconds]
#
# Boots the cached image from build-image.sh under qemu TCG (its root disk with snapshot=on: the image is never
# modified), shares <share-dir> over 9p at /mnt/share, and the guest's hotzfs-run.service runs
# /mnt/share/<script-in-share> as root (clean environment, cwd /mnt/share, TMPDIR=/var/tmp, HOTZFS_IN_VM=1).
# The script's stdout+stderr go to <share-dir>/vm-output.log and, live, to the serial console, which this
# script streams to stdout (and saves as <share-dir>/vm-console.log). The guest writes the exit code to
# <share-dir>/vm-exit-code and powers off.
#
# Exit status: the script's exit code; 124 when the timeout (default 1800 s) expired and qemu was killed; 125
# when the VM never produced an exit code (boot failure, kernel panic, ...). The guest root fs has ~6 GiB free
# (file-backed pools go in /var/tmp); writes land in a throwaway overlay under $TMPDIR (default /var/tmp).
#
# Environment: HOTZFS_VM_CACHE (image cache), HOTZFS_VM_QUIET=1 (no live console; print vm-output.log at the
# end), HOTZFS_VM_DEBUG=1 (full boot messages and a root login on the console), HOTZFS_VM_MEM (MiB, default 4096),
# HOTZFS_VM_NET=none (no user-mode NIC), HOTZFS_VM_KVM=1 (let kvm load in the VM, for nested guests),
# HOTZFS_VM_HOSTFWD ("HOSTPORT:GUESTPORT ...": TCP ports of the VM forwarded to 127.0.0.1:HOSTPORT on the host),
# HOTZFS_VM_QEMU_ARGS (extra qemu arguments, split on spaces), HOTZFS_VM_IMAGE (boot this image directory instead
# of the version's, e.g. build-nested.sh's), HOTZFS_VM_WRITABLE=1 (write to the image's root disk: image builds).
# Runs for different versions (or with different share dirs) can go at the same time: no fixed ports or paths.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=run

QEMU_PID_FILE=
CLEANUP_DIR=
POWEROFF_GRACE=30
# Modules the guest must not load: cfg80211 (pulled in when systemd-networkd asks for the nl80211 netlink family)
# oopses under TCG ~30 s after boot and takes the guest down; kvm is useless without nested virtualisation.
GUEST_MODULE_BLACKLIST=cfg80211,kvm_amd,kvm_intel,kvm
# HOTZFS_VM_KVM=1 lets kvm load: the guest sees the svm of TCG's emulated CPU, so nested guests run under kvm_amd.
[[ ${HOTZFS_VM_KVM:-0} == 1 ]] && GUEST_MODULE_BLACKLIST=cfg80211

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [[ -n $QEMU_PID_FILE && -s $QEMU_PID_FILE ]]; then
		kill "$(cat "$QEMU_PID_FILE")" 2>/dev/null || true
	fi
	[[ -n $CLEANUP_DIR ]] && rm -rf "$CLEANUP_DIR"
	return 0
}

# qemu_args IMAGE_DIR SHARE SCRIPT — the qemu command line, one argument per line.
qemu_args() {
	local img=$1 share=$2 script=$3 append snapshot=on
	[[ ${HOTZFS_VM_WRITABLE:-0} == 1 ]] && snapshot=off
	append="root=/dev/vda rw console=ttyS0 panic=1 mitigations=off module_blacklist=$GUEST_MODULE_BLACKLIST"
	append+=" hotzfs.run=$script"
	if [[ ${HOTZFS_VM_DEBUG:-0} == 1 ]]; then
		append+=" systemd.show_status=true"
	else
		append+=" quiet loglevel=3 systemd.show_status=false systemd.mask=serial-getty@ttyS0.service"
	fi
	# shellcheck disable=SC2054 # commas belong to qemu option values
	local -a a=(
		qemu-system-x86_64 -name "hotzfs-zfs-test" -nodefaults -no-user-config -display none -monitor none
		-machine q35 -accel tcg,thread=multi,tb-size=512 -cpu max -smp 2 -m "${HOTZFS_VM_MEM:-4096}"
		-no-reboot -pidfile "$QEMU_PID_FILE"
		-kernel "$img/vmlinuz" -initrd "$img/initrd.img" -append "$append"
		-drive "file=$img/root.qcow2,if=virtio,format=qcow2,snapshot=$snapshot,cache=unsafe,discard=unmap"
		-virtfs "local,path=$share,mount_tag=share,security_model=none,multidevs=remap,id=share"
		-device virtio-rng-pci
		-serial stdio
	)
	# shellcheck disable=SC2054
	local nic=user,model=virtio-net-pci fwd
	for fwd in ${HOTZFS_VM_HOSTFWD:-}; do
		nic+=",hostfwd=tcp:127.0.0.1:${fwd%%:*}-:${fwd##*:}"
	done
	[[ ${HOTZFS_VM_NET:-user} == none ]] || a+=(-nic "$nic")
	local -a extra=()
	# shellcheck disable=SC2206 # split on spaces, documented above
	[[ -n ${HOTZFS_VM_QEMU_ARGS:-} ]] && extra=(${HOTZFS_VM_QEMU_ARGS})
	printf '%s\n' "${a[@]}" "${extra[@]}"
}

# boot_vm TIMEOUT CONSOLE_LOG QEMU_CMD... — run qemu bounded by TIMEOUT; the serial console goes to stdout and
# CONSOLE_LOG. The snapshot=on overlay is created in $TMPDIR (default /var/tmp).
boot_vm() {
	local timeout=$1 console_log=$2
	shift 2
	TMPDIR=${TMPDIR:-/var/tmp} timeout -k 10 "$timeout" "$@" </dev/null 2>&1 | tr -d '\r' | tee "$console_log"
}

# wait_for_vm PID EXIT_CODE_FILE — wait for the background boot_vm PID; once the guest has written its exit code,
# give it POWEROFF_GRACE seconds to power off, then stop qemu (a guest stuck in shutdown must not cost the whole
# timeout). Returns boot_vm's status.
wait_for_vm() {
	local pid=$1 exit_file=$2 deadline=
	while kill -0 "$pid" 2>/dev/null; do
		if [[ -z $deadline && -s $exit_file ]]; then
			deadline=$((SECONDS + POWEROFF_GRACE))
		elif [[ -n $deadline ]] && ((SECONDS >= deadline)); then
			log "the guest did not power off within ${POWEROFF_GRACE}s after the script finished; stopping qemu"
			[[ -s $QEMU_PID_FILE ]] && kill "$(cat "$QEMU_PID_FILE")" 2>/dev/null
			deadline=$((SECONDS + 3600))
		fi
		sleep 0.5
	done
	wait "$pid"
}

main() {
	(($# == 3 || $# == 4)) || usage
	local version=$1 share=$2 script=$3 timeout=${4:-1800}
	check_version "$version"
	[[ $timeout =~ ^[0-9]+$ && $timeout -gt 0 ]] || die "timeout must be a positive number of seconds, got '$timeout'"
	[[ -d $share ]] || die "share directory '$share' does not exist"
	share=$(cd "$share" && pwd)
	[[ $script =~ ^[A-Za-z0-9._/+-]+$ && $script != /* && $script != *..* ]] ||
		die "script '$script' must be a path relative to the share dir (letters, digits, . _ - + /, no '..')"
	[[ -f $share/$script && -x $share/$script ]] || die "$share/$script is not an executable file (chmod +x it)"
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing — run test/vm/build-image.sh $version"

	local img
	img=${HOTZFS_VM_IMAGE:-$(image_dir "$version")}
	image_complete "$img" || die "no image for OpenZFS $version at $img — build it: test/vm/build-image.sh $version"

	rm -f "$share/vm-output.log" "$share/vm-exit-code" "$share/vm-exit-code.tmp" "$share/vm-console.log"
	CLEANUP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hotzfs-vm-run.XXXXXX")
	QEMU_PID_FILE=$CLEANUP_DIR/qemu.pid
	trap cleanup EXIT
	trap 'log "interrupted; stopping the VM"; exit 130' INT TERM

	local -a cmd
	mapfile -t cmd < <(qemu_args "$img" "$share" "$script")
	log "booting OpenZFS $version VM ($(basename "$img")), running $script, timeout ${timeout}s"
	local t0=$SECONDS status=0
	if [[ ${HOTZFS_VM_QUIET:-0} == 1 ]]; then
		boot_vm "$timeout" "$share/vm-console.log" "${cmd[@]}" >/dev/null &
	else
		boot_vm "$timeout" "$share/vm-console.log" "${cmd[@]}" &
	fi
	wait_for_vm $! "$share/vm-exit-code" || status=$?
	QEMU_PID_FILE=

	if [[ ${HOTZFS_VM_QUIET:-0} == 1 && -f $share/vm-output.log ]]; then
		cat "$share/vm-output.log"
	fi
	local elapsed=$((SECONDS - t0)) rc
	if [[ -s $share/vm-exit-code ]]; then
		rc=$(<"$share/vm-exit-code")
		[[ $rc =~ ^[0-9]+$ ]] || die "vm-exit-code holds '$rc', not a number"
		log "OpenZFS $version: $script exited with code $rc (VM ran ${elapsed}s)"
		exit "$rc"
	fi
	if ((status == 124 || status == 137)); then
		log "OpenZFS $version: TIMEOUT after ${timeout}s — qemu was killed before $script finished;" \
			"partial output in $share/vm-output.log, console in $share/vm-console.log"
		exit 124
	fi
	log "OpenZFS $version: the VM exited (qemu status $status after ${elapsed}s) without writing an exit code —" \
		"the script never ran or the guest crashed; see $share/vm-console.log (HOTZFS_VM_DEBUG=1 shows the boot)"
	exit 125
}

main "$@"
