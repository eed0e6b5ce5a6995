# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the cohmem scripts; sourced, not run.

COHMEM_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COHMEM_CACHE=${COHMEM_CACHE:-/var/cache/cohmem}
COHMEM_OUT=${COHMEM_OUT:-$COHMEM_TOP/out}

log() { printf '[cohmem] %s\n' "$*" >&2; }
die() { printf '[cohmem] error: %s\n' "$*" >&2; exit 1; }

# kernels_list: the `uname -r` of every kernel in scripts/kernels.list
kernels_list() {
	awk '!/^#/ && NF { print $1 }' "$COHMEM_TOP/scripts/kernels.list"
}

# kernel_builder KVER: "host", or the Debian suite of the chroot to build in
kernel_builder() {
	awk -v k="$1" '!/^#/ && $1 == k { print $2; found = 1 } END { if (!found) print "host" }' \
		"$COHMEM_TOP/scripts/kernels.list"
}

# builder_root KVER: "" for the host, else the chroot directory
builder_root() {
	local b
	b=$(kernel_builder "$1")
	[ "$b" = host ] || echo "$COHMEM_CACHE/chroot/$b"
}

# kernel_inner KVER: where the kernel's packages are extracted, as the
# builder sees it; kernel_root KVER: the same directory seen from the host.
kernel_inner() {
	if [ "$(kernel_builder "$1")" = host ]; then
		echo "$COHMEM_CACHE/kernels/$1"
	else
		echo "/opt/cohmem/kernels/$1"
	fi
}
kernel_root() { echo "$(builder_root "$1")$(kernel_inner "$1")"; }

# in_builder KVER CMD...: run CMD on the host or inside the kernel's chroot
in_builder() {
	local root
	root=$(builder_root "$1")
	shift
	if [ -z "$root" ]; then
		"$@"
	else
		"$COHMEM_TOP/scripts/chroot.sh" "$(basename "$root")" $CHROOT_PACKAGES >/dev/null
		# A private mount namespace: /proc for the build tools (objtool
		# reads it), gone with the command.
		unshare -m sh -c 'mount -t proc proc "$0/proc" && exec chroot "$@"' \
			"$root" "$root" "$@"
	fi
}
# What building in a chroot needs besides the compiler, which fetch-kernel.sh
# installs as the kernel's headers package asks (gcc-14, gcc-16, ...).
CHROOT_PACKAGES="make kmod libelf-dev bc dwarves apt-utils perl"

# kernel_image KVER: the bzImage, wherever the packages put it
kernel_image() {
	local r
	r=$(kernel_root "$1")
	ls "$r/boot/vmlinuz-$1" "$r/usr/lib/modules/$1/vmlinuz" 2>/dev/null | head -n 1
}

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
