# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the cohmem scripts; sourced, not run.

COHMEM_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COHMEM_CACHE=${COHMEM_CACHE:-/var/cache/cohmem}
COHMEM_OUT=${COHMEM_OUT:-$COHMEM_TOP/out}

log() { printf '[cohmem] %s\n' "$*" >&2; }
die() { printf '[cohmem] error: %s\n' "$*" >&2; exit 1; }

# The kernel matrix: scripts/kernels.list names lines of Debian's archive;
# resolve-kernels.sh turns them into exact kernels for this run, in
# $COHMEM_OUT/kernels.resolved (KVER BUILDER LINE FLAVOUR ROLE VERSION).
KERNELS_LIST=$COHMEM_TOP/scripts/kernels.list
KERNELS_RESOLVED=$COHMEM_OUT/kernels.resolved
# Where each kernel fetched so far is kept: KVER BUILDER, one per line.
KERNEL_BUILDERS=$COHMEM_CACHE/kernel-builders

# kernels_list: the `uname -r` of every kernel of this run, resolved first
# if this run has not done it yet.
kernels_list() {
	[ -e "$KERNELS_RESOLVED" ] || "$COHMEM_TOP/scripts/resolve-kernels.sh" >&2 ||
		die "could not resolve the kernel matrix"
	awk '{ print $1 }' "$KERNELS_RESOLVED"
}

# list_field LINE N: field N of LINE in scripts/kernels.list
list_field() {
	awk -v l="$1" -v n="$2" '!/^#/ && $1 == l { print $n; exit }' "$KERNELS_LIST"
}

# line_kernel LINE [FLAVOUR]: the current kernel of a line, as this run
# resolved it, or asked of apt now if this run did not.
line_kernel() {
	local fl=${2:-amd64} k
	k=$(awk -v l="$1" -v f="$fl" '$3 == l && $4 == f && $5 == "current" { print $1; exit }' \
		"$KERNELS_RESOLVED" 2>/dev/null)
	[ -n "$k" ] || k=$(resolve_line "$1" "$fl")
	echo "$k"
}

# resolve_line LINE FLAVOUR: the ABI the line's meta-package points at now
# ("" if the line has no such flavour or apt does not know the package).
resolve_line() {
	local b rel meta
	b=$(list_field "$1" 2)
	rel=$(list_field "$1" 3)
	meta=$(list_field "$1" 4)
	[ -n "$meta" ] || die "no line $1 in $KERNELS_LIST"
	meta=${meta//FLAVOUR/$2}
	[ "$rel" = - ] || meta=$meta/$rel
	in_suite "$b" apt-cache depends "$meta" 2>/dev/null |
		awk '/^ *Depends: linux-headers-[0-9]/ && !/-common$/ { sub(/.*linux-headers-/, ""); print; exit }' ||
		true
}

# previous_abi BUILDER KVER FLAVOUR: the newest ABI of the same series
# (same major.minor, same +debNN) below KVER whose headers apt still knows.
previous_abi() {
	local v=${2%-"$3"} mm tag re
	mm=$(grep -oE '^[0-9]+\.[0-9]+' <<<"$v") || return 0
	tag=$(grep -oE '\+deb[0-9]+' <<<"$v" || true)
	re="^linux-headers-${mm//./\\.}([.-][.0-9-]*)?"
	[ -z "$tag" ] || re="$re\\${tag}(\\.[0-9]+)?"
	re="$re-$3\$"
	in_suite "$1" apt-cache pkgnames linux-headers- 2>/dev/null | grep -E "$re" |
		sed "s/^linux-headers-//; s/-$3\$//" | sort -uV |
		awk -v cur="$v" -v fl="$3" '$0 == cur { if (prev != "") print prev "-" fl; exit } { prev = $0 }' ||
		true
}

# apt_version BUILDER PKG: apt's candidate version of PKG there, "" if
# apt does not know it
apt_version() {
	in_suite "$1" apt-cache show --no-all-versions "$2" 2>/dev/null |
		awk '/^Version:/ { print $2; exit }' || true
}

# kernel_builder KVER: "host", or the Debian suite of the chroot to build in:
# where resolve-kernels.sh found the kernel, else guessed from its ABI.
kernel_builder() {
	local b
	b=$(awk -v k="$1" '$1 == k { b = $2 } END { print b }' "$KERNEL_BUILDERS" 2>/dev/null)
	if [ -n "$b" ]; then
		echo "$b"
		return
	fi
	case $1 in
	*+deb13*) echo trixie ;;
	*+deb14*) echo sid ;;
	*) echo host ;;
	esac
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
	local k=$1
	shift
	in_suite "$(kernel_builder "$k")" "$@"
}
# in_suite BUILDER CMD...: run CMD on the host ("host") or in the cached
# chroot of that suite (created on first use)
in_suite() {
	local b=$1 root
	shift
	if [ "$b" = host ]; then
		"$@"
	else
		root=$("$COHMEM_TOP/scripts/chroot.sh" "$b" $CHROOT_PACKAGES) || return 1
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

# throttle: wait until fewer than COHMEM_JOBS (default 2) background jobs of
# this shell run, before starting another.
throttle() {
	while [ "$(jobs -rp | wc -l)" -ge "${COHMEM_JOBS:-2}" ]; do
		wait -n || true
	done
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
	# shellcheck disable=SC2086
	host_install $missing
}

# host_install PKG...: install the host's own packages (its suite only),
# waiting up to 10 minutes for another apt or dpkg to finish; a failure
# is one line saying which packages and apt's last word.
host_install() {
	local out
	log "installing: $*"
	if ! out=$(apt-get -o DPkg::Lock::Timeout=600 update -qq 2>&1); then
		log "apt-get update failed; installing from the old lists: $(tail -n 1 <<<"$out")"
	fi
	out=$(DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
		install -y -qq --no-install-recommends "$@" 2>&1) ||
		die "installing $* failed: $(grep -E '^E:' <<<"$out" | tail -n 1)"
}

# one_boot KVER MODE JOB WHAT: build the test programs and cohmem for KVER,
# pack the initramfs, boot it once running JOB (run-vm.sh; COHMEM_APPEND
# as the caller set it), and print the summary of that boot: WHAT, where
# the logs are, "N passed, N failed, N skipped". Fails when a case did.
# (loop.sh, run-prog.sh)
one_boot() {
	local kver=$1 mode=$2 job=$3 what=$4 base p f s
	ensure_host_packages
	make -s -C "$COHMEM_TOP/tests" O="$COHMEM_OUT/tests"
	"$COHMEM_TOP/scripts/build-module.sh" "$kver"
	"$COHMEM_TOP/scripts/mkinitramfs.sh" "$kver"
	"$COHMEM_TOP/scripts/run-vm.sh" "$kver" "$mode" "$job"
	base=$COHMEM_OUT/$kver/$mode-$job
	read -r p f s < <(awk -f "$COHMEM_TOP/scripts/ktap-summary.awk" "$base.ktap" "$base.console")
	echo "$kver $mode, $what: see $base.{ktap,console}"
	echo "$p passed, $f failed, $s skipped"
	[ "$f" = 0 ]
}
