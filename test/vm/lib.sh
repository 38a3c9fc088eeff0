# shellcheck shell=bash
# lib.sh — helpers shared by the test/vm scripts (sourced, not executed).
#
# Owns: logging with timestamps, the cache layout (${HOTZFS_VM_CACHE:-/var/cache/hotzfs-vm}), the image key
# (sha256 over every file that shapes the image), the Debian mirror read from the host's apt config, and the
# host-package check. Callers set `set -euo pipefail` themselves.

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_CACHE=${HOTZFS_VM_CACHE:-/var/cache/hotzfs-vm}
VM_VERSIONS=(2.1 2.3)

# Files whose content decides what the image contains. Changing any of them changes the key → rebuild.
# run.sh, smoke.sh and the scripts/ directory are host-side or share-side only and are not part of the key.
VM_IMAGE_INPUTS=(build-image.sh lib.sh guest/hotzfs-run guest/hotzfs-run.service guest/99-hotzfs.network)

log() { printf '%s %s: %s\n' "$(date +%H:%M:%S)" "${LOG_TAG:-vm}" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# check_version V — V must be one of VM_VERSIONS.
check_version() {
	local v
	for v in "${VM_VERSIONS[@]}"; do
		[[ $1 == "$v" ]] && return 0
	done
	die "unknown OpenZFS version '$1' (use one of: ${VM_VERSIONS[*]})"
}

# image_key — first 16 hex digits of sha256 over the image inputs (names and contents).
image_key() {
	local f
	(
		cd "$VM_DIR" || exit 1
		for f in "${VM_IMAGE_INPUTS[@]}"; do
			[[ -f $f ]] || die "image input $VM_DIR/$f is missing"
			printf '%s\n' "$f"
			sha256sum <"$f"
		done
	) | sha256sum | cut -c1-16
}

# image_dir V — cache directory of the image for OpenZFS version V built by the current scripts.
image_dir() { printf '%s/zfs-%s-%s\n' "$VM_CACHE" "$1" "$(image_key)"; }

# image_complete DIR — true when DIR holds a finished image (the `done` marker is written last).
image_complete() { [[ -f $1/done && -f $1/root.qcow2 && -f $1/vmlinuz && -f $1/initrd.img ]]; }

# apt_uri_for SUITE — the first URI in the host's apt config that serves SUITE (deb822 and one-line formats).
apt_uri_for() {
	local suite=$1 f
	local -a files=()
	[[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
	for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] && files+=("$f")
	done
	((${#files[@]})) || return 0
	awk -v suite="$suite" '
		function has_suite(list,   n, i, a) {
			n = split(list, a, /[ \t]+/)
			for (i = 1; i <= n; i++) if (a[i] == suite) return 1
			return 0
		}
		function flush() {
			if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no" && has_suite(suites) && uris != "" && !found) {
				split(uris, u, /[ \t]+/); print u[1]; found = 1
			}
			types = ""; uris = ""; suites = ""; enabled = ""
		}
		FNR == 1 { flush() }
		FILENAME ~ /\.sources$/ {
			if ($0 ~ /^[ \t]*$/) { flush(); next }
			if ($0 ~ /^#/) next
			line = $0; key = tolower(line); sub(/:.*/, "", key); sub(/^[^:]*:[ \t]*/, "", line)
			if (key == "types") types = line
			else if (key == "uris") uris = line
			else if (key == "suites") suites = line
			else if (key == "enabled") enabled = tolower(line)
			next
		}
		/^[ \t]*deb[ \t]/ && !found {
			sub(/^[ \t]*deb[ \t]+/, ""); sub(/^\[[^]]*\][ \t]+/, "")
			if ($2 == suite) { print $1; found = 1 }
		}
		END { flush() }
	' "${files[@]}"
}

# debian_mirror — the Debian archive to build from: $HOTZFS_VM_MIRROR, else the host's apt source for bookworm.
debian_mirror() {
	local m=${HOTZFS_VM_MIRROR:-}
	[[ -n $m ]] || m=$(apt_uri_for bookworm)
	[[ -n $m ]] || die "no Debian mirror for 'bookworm' in /etc/apt/sources.list{,.d/*} — add one or set HOTZFS_VM_MIRROR=http://..."
	printf '%s\n' "${m%/}"
}

# security_mirror MAIN — the security archive: $HOTZFS_VM_SECURITY_MIRROR, the host's apt source for
# bookworm-security, or MAIN with its last path element replaced by debian-security (the archive layout).
security_mirror() {
	local m=${HOTZFS_VM_SECURITY_MIRROR:-}
	[[ -n $m ]] || m=$(apt_uri_for bookworm-security)
	[[ -n $m ]] || m="${1%/*}/debian-security"
	printf '%s\n' "${m%/}"
}

# ensure_host_packages CMD:PKG... — install (after apt-get update) the packages whose command is missing.
ensure_host_packages() {
	local spec cmd pkg
	local -a missing=()
	for spec in "$@"; do
		cmd=${spec%%:*} pkg=${spec#*:}
		if ! command -v "$cmd" >/dev/null 2>&1 && ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
			missing+=("$pkg")
		fi
	done
	((${#missing[@]})) || return 0
	((EUID == 0)) || die "host packages missing: ${missing[*]} — run as root or: apt-get install ${missing[*]}"
	log "installing host packages: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}
