# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the cohmem scripts; sourced, not run.

COHMEM_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COHMEM_CACHE=${COHMEM_CACHE:-/var/cache/cohmem}
COHMEM_OUT=${COHMEM_OUT:-$COHMEM_TOP/out}

log() { printf '[cohmem] %s\n' "$*" >&2; }
die() { printf '[cohmem] error: %s\n' "$*" >&2; exit 1; }

# kernels_list [lane]: the `uname -r` of every kernel in scripts/kernels.list
kernels_list() {
	awk '!/^#/ && NF { print $1 }' "$COHMEM_TOP/scripts/kernels.list"
}

# kernel_root KVER: where the kernel's packages are extracted
kernel_root() { echo "$COHMEM_CACHE/kernels/$1"; }

# The host packages the scripts need (Debian 12 names).
HOST_PACKAGES="qemu-system-x86 busybox-static liburing-dev libkmod-dev kmod
	cpio xz-utils zstd dwarves bc libelf-dev gcc make perl"

ensure_host_packages() {
	local missing="" p
	for p in $HOST_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	[ "$(id -u)" = 0 ] || die "missing packages:$missing (run as root)"
	log "installing:$missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $missing >/dev/null
}
