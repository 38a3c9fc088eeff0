#!/bin/bash
# hosts.sh — inside the OpenZFS VM (nested image): start the libvirtd of two simulated hosts.
#
# hv1 is the VM's own libvirtd (qemu:///system, and qemu+tcp://127.0.0.1:16509/system). backup1 is a second
# libvirtd in a mount namespace of its own — its own /etc/libvirt/qemu (domain definitions), /run/libvirt and
# /var/lib/libvirt — listening on qemu+tcp://127.0.0.1:16510/system only. The namespace is a slave of the VM's:
# a dataset hotzfs mounts later (a failover's clone) appears in it, as on a host of its own. Both share the kernel, so the pools
# and zvols of one are visible to the other: the tests name each host's pool and check where disks are.
set -euo pipefail

log() { printf '%s hosts: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

conf() { # conf PORT — a libvirtd.conf listening on 127.0.0.1:PORT without auth (test VM only)
	printf 'listen_tls = 0\nlisten_tcp = 1\ntcp_port = "%s"\nlisten_addr = "127.0.0.1"\nauth_tcp = "none"\n' "$1"
	printf 'unix_sock_group = "root"\nunix_sock_rw_perms = "0770"\n'
}

wait_tcp() {
	local port=$1 i
	for i in $(seq 1 120); do
		virsh -c "qemu+tcp://127.0.0.1:$port/system" version >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	log "libvirtd on port $port did not answer in 60 s"
	return 1
}

modprobe kvm_amd 2>/dev/null || true
[[ -e /dev/kvm ]] || { log "no /dev/kvm in the VM (boot it with HOTZFS_VM_KVM=1)"; exit 1; }
mkdir -p /etc/hotzfs-hosts
conf 16509 >/etc/hotzfs-hosts/hv1.conf
conf 16510 >/etc/hotzfs-hosts/backup1.conf
# qemu's output straight to files: no virtlogd to share between the two daemons.
grep -q '^stdio_handler' /etc/libvirt/qemu.conf || echo 'stdio_handler = "file"' >>/etc/libvirt/qemu.conf

# Nothing of systemd's libvirt may run: these daemons are the only ones (each with its own pidfile).
systemctl stop libvirtd.service libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket 2>/dev/null || true
libvirtd -d -l -f /etc/hotzfs-hosts/hv1.conf -p /run/hotzfs-hv1-libvirtd.pid
mount --make-rshared /
unshare --mount --propagation slave bash -c '
	set -e
	for d in /etc/libvirt/qemu /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do
		mkdir -p "$d"
		mount -t tmpfs -o mode=0755 tmpfs "$d"
	done
	mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/qemu
	exec libvirtd -d -l -f /etc/hotzfs-hosts/backup1.conf -p /run/hotzfs-backup1-libvirtd.pid
'
wait_tcp 16509
wait_tcp 16510
log "libvirtd up: hv1 qemu+tcp://127.0.0.1:16509/system, backup1 qemu+tcp://127.0.0.1:16510/system"
