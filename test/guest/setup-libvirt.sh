#!/usr/bin/env bash
# setup-libvirt.sh — make this Debian 12 machine a libvirt/qemu host for the real-guest tests.
#
# Installs (only what is missing) libvirt, qemu (TCG), qemu-guest-agent and busybox-static, configures qemu
# to run as root (without udev /dev/kvm is root-only and libvirt would re-probe qemu on every call), and
# starts virtlogd and libvirtd by hand when systemd is not PID 1. Idempotent: safe to run again.
set -euo pipefail

PKGS=(libvirt-daemon libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils qemu-guest-agent
	busybox-static)
SOCK=/var/run/libvirt/libvirt-sock
QEMU_CONF=/etc/libvirt/qemu.conf

log() { printf 'setup-libvirt: %s\n' "$*" >&2; }

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if ((${#missing[@]})); then
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# policy-rc.d keeps package scripts from starting daemons we start ourselves below.
	had_policy=0
	[[ -e /usr/sbin/policy-rc.d ]] && had_policy=1
	if ((!had_policy)); then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
	fi
	apt-get install -y -q --no-install-recommends "${missing[@]}"
	((had_policy)) || rm -f /usr/sbin/policy-rc.d
fi

# qemu as root:root. Replace an existing (possibly commented) setting, append when absent.
set_conf() {
	local key=$1 val=$2
	if grep -Eq "^${key}[[:space:]]*=[[:space:]]*\"${val}\"" "$QEMU_CONF"; then
		return 1
	fi
	if grep -Eq "^#?[[:space:]]*${key}[[:space:]]*=" "$QEMU_CONF"; then
		sed -i -E "0,/^#?[[:space:]]*${key}[[:space:]]*=.*/s//${key} = \"${val}\"/" "$QEMU_CONF"
	else
		printf '%s = "%s"\n' "$key" "$val" >>"$QEMU_CONF"
	fi
	return 0
}
changed=0
set_conf user root && changed=1
set_conf group root && changed=1

running() { pgrep -x "$1" >/dev/null; }

if ((changed)) && running libvirtd; then
	log "qemu.conf changed: restarting libvirtd"
	kill "$(pgrep -x libvirtd)"
	for _ in $(seq 1 100); do running libvirtd || break; sleep 0.1; done
fi

if ! running virtlogd; then
	log "starting virtlogd"
	/usr/sbin/virtlogd --daemon
fi
if ! running libvirtd; then
	log "starting libvirtd"
	mkdir -p /var/run/libvirt
	/usr/sbin/libvirtd --daemon
fi

for _ in $(seq 1 300); do
	if [[ -S $SOCK ]] && virsh -c qemu:///system version >/dev/null 2>&1; then
		log "libvirtd ready ($SOCK)"
		exit 0
	fi
	sleep 0.1
done
log "libvirtd did not come up: no answer on $SOCK after 30 s"
exit 1
