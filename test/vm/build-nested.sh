#!/usr/bin/env bash
# build-nested.sh [VERSION] — the OpenZFS test image with libvirt and qemu added, for nested guests.
#
# Usage: test/vm/build-nested.sh [2.1|2.3]   (default 2.3)
#
# libvirt and ZFS on one host exist here only inside the OpenZFS VM (the host kernel cannot load ZFS), so the
# tests of restore --guest, failover, failback and migrate run their guests nested in it. This adds libvirt and
# qemu to the version's image (test/vm/build-image.sh builds it first if needed) as a qcow2 overlay on it: the
# VM is booted once with a writable root, installs the packages from the Debian mirror the host uses, configures
# qemu to run as root, and powers off. Cached in $HOTZFS_VM_CACHE/nested-VERSION-KEY, KEY covering the base
# image and this script; prints the directory, for HOTZFS_VM_IMAGE of test/vm/run.sh. Boot it with
# HOTZFS_VM_KVM=1: the inner guests then run under kvm_amd on TCG's emulated SVM (measured: ~4x faster to the
# agent than a nested TCG guest; docs/benchmarks.md).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=build-nested

PKGS=(qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients)

main() {
	local version=${1:-2.3}
	check_version "$version"
	((EUID == 0)) || die "must run as root"
	"$VM_DIR/build-image.sh" "$version" >&2
	local base key dir
	base=$(image_dir "$version")
	key=$( { basename "$base"; sha256sum <"${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)
	dir=$VM_CACHE/nested-$version-$key
	if image_complete "$dir"; then
		log "up to date: $dir"
		echo "$dir"
		return 0
	fi
	exec {lock}>"$VM_CACHE/build.lock"
	flock "$lock"
	local work t0=$SECONDS
	work=$(mktemp -d "$VM_CACHE/nested-$version-work.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	mkdir "$work/out" "$work/share"
	cp "$base/vmlinuz" "$base/initrd.img" "$work/out/"
	qemu-img create -q -f qcow2 -b "$base/root.qcow2" -F qcow2 "$work/out/root.qcow2"
	touch "$work/out/done" # run.sh boots only complete images; this one is, once the install below succeeds
	cat >"$work/share/install.sh" <<EOF
#!/bin/bash
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends ${PKGS[*]}
# Without udev rules for it /dev/kvm is root-only: qemu runs as root, or libvirt re-probes it on every call.
printf 'user = "root"\ngroup = "root"\n' >>/etc/libvirt/qemu.conf
# The tests start libvirtd themselves (several, one per simulated host); nothing of it at boot.
systemctl disable -q libvirtd.service libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket virtlogd.socket \
	virtlockd.socket 2>/dev/null || true
systemctl mask -q libvirt-guests.service
apt-get clean
rm -rf /var/lib/apt/lists/*
dpkg-query -W -f='\${Package}=\${Version}\n' ${PKGS[*]} >/mnt/share/versions
sync
EOF
	chmod +x "$work/share/install.sh"
	log "installing ${PKGS[*]} in the OpenZFS $version VM (network, ~5 min under TCG)"
	HOTZFS_VM_IMAGE=$work/out HOTZFS_VM_WRITABLE=1 HOTZFS_VM_QUIET=1 \
		"$VM_DIR/run.sh" "$version" "$work/share" install.sh 1800 >&2 ||
		die "the package install in the VM failed (output above)"
	{
		cat "$base/info"
		printf 'nested=%s\n' "$key"
		cat "$work/share/versions"
	} >"$work/out/info"
	rm -f "$work/out/done"
	rm -rf "$dir"
	mv "$work/out" "$dir"
	touch "$dir/done"
	log "OpenZFS $version with libvirt: ready in $((SECONDS - t0)) s: $dir ($(du -sh "$dir/root.qcow2" | cut -f1) overlay)"
	echo "$dir"
}

main "$@"
