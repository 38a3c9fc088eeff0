#!/usr/bin/env bash
# setup-libvirt.sh — make this Debian 12 machine a libvirt/qemu host for the real-guest tests.
#
# Installs (only what is missing) libvirt, qemu (TCG), qemu-guest-agent and busybox-static, configures qemu
# to run as root (without udev /dev/kvm is root-only and libvirt would re-probe qemu on every call), and
# starts virtlogd and libvirtd by hand when systemd is not PID 1. Idempotent: safe to run again.
#
# --tcp also makes libvirtd listen on 127.0.0.1:16509 without authentication (qemu+tcp://127.0.0.1/system),
# for the end-to-end test, whose hotzfs runs in the OpenZFS VM and reaches the host's loopback as 10.0.2.2.
# Anyone with a shell on this host can then drive libvirt as root: use it on test machines only.
set -euo pipefail

TCP=0
case ${1:-} in
--tcp) TCP=1 ;;
"") ;;
*) echo "usage: $0 [--tcp]" >&2; exit 2 ;;
esac
TCP_URI=qemu+tcp://127.0.0.1:16509/system
LIBVIRTD_CONF=/etc/libvirt/libvirtd.conf

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

# set_conf FILE KEY VALUE — replace an existing (possibly commented) setting, append when absent. VALUE is
# written as given (quote strings). Returns 1 when the setting was already there.
set_conf() {
	local file=$1 key=$2 val=$3
	if grep -Fxq "$key = $val" "$file"; then
		return 1
	fi
	if grep -Eq "^#?[[:space:]]*${key}[[:space:]]*=" "$file"; then
		sed -i -E "0,/^#?[[:space:]]*${key}[[:space:]]*=.*/s//${key} = ${val//\//\\/}/" "$file"
	else
		printf '%s = %s\n' "$key" "$val" >>"$file"
	fi
	return 0
}
# qemu as root:root.
changed=0
set_conf "$QEMU_CONF" user '"root"' && changed=1
set_conf "$QEMU_CONF" group '"root"' && changed=1
if ((TCP)); then
	set_conf "$LIBVIRTD_CONF" listen_tls 0 && changed=1
	set_conf "$LIBVIRTD_CONF" listen_tcp 1 && changed=1
	set_conf "$LIBVIRTD_CONF" listen_addr '"127.0.0.1"' && changed=1
	set_conf "$LIBVIRTD_CONF" auth_tcp '"none"' && changed=1
	# A libvirtd started without --listen (by an earlier run) does not listen on TCP.
	if pgrep -x libvirtd >/dev/null && ! virsh -c "$TCP_URI" version >/dev/null 2>&1; then
		changed=1
	fi
fi

running() { pgrep -x "$1" >/dev/null; }

if ((changed)) && running libvirtd; then
	log "configuration changed: restarting libvirtd"
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
	if ((TCP)); then
		/usr/sbin/libvirtd --daemon --listen
	else
		/usr/sbin/libvirtd --daemon
	fi
fi

for _ in $(seq 1 300); do
	if [[ -S $SOCK ]] && virsh -c qemu:///system version >/dev/null 2>&1 &&
		{ ((!TCP)) || virsh -c "$TCP_URI" version >/dev/null 2>&1; }; then
		log "libvirtd ready ($SOCK$( ((TCP)) && echo " and $TCP_URI"))"
		exit 0
	fi
	sleep 0.1
done
log "libvirtd did not come up: no answer on $SOCK$( ((TCP)) && echo " or $TCP_URI") after 30 s"
exit 1
