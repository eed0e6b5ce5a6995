#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# linux-source.sh KVER: Debian's linux-source-X.Y package of KVER's series,
# downloaded (cached) where the kernel's builder keeps its downloads.
# Prints "DEB VERSION": the .deb's path on this machine and its version.
#
# The version is picked as upstream-build.sh picks it: the one apt knows
# nearest the kernel's own (the headers' version resolve-kernels.sh
# recorded), that version itself, else the newest below it, else the
# oldest above; asked of and fetched (apt-get download) in the kernel's
# builder (host, trixie or sid chroot), so that the mirror is the one apt
# is configured with. When apt no longer knows the package, the newest
# cached .deb of the series is used, with a log line.
# (testhmm-build.sh, upstream-build.sh)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?usage: linux-source.sh KVER}
builder=$(kernel_builder "$kver")
series=$(grep -oE '^[0-9]+\.[0-9]+' <<<"$kver") || die "$kver: not a kernel release"
pkg=linux-source-$series

# The kernel's own version: as this run resolved it, else as apt has it.
kv=$(awk -v k="$kver" '$1 == k { print $6; exit }' "$KERNELS_RESOLVED" 2>/dev/null || true)
[ -n "$kv" ] || kv=$(apt_version "$builder" "linux-headers-$kver")

# nearest: of the versions on stdin, KV itself, else the newest below
# it, else the oldest above it.
nearest() {
	local v below="" above=""
	while read -r v; do
		if dpkg --compare-versions "$v" eq "$kv"; then
			echo "$v"
			return
		elif dpkg --compare-versions "$v" lt "$kv"; then
			[ -n "$below" ] && dpkg --compare-versions "$v" le "$below" || below=$v
		else
			[ -n "$above" ] && dpkg --compare-versions "$v" ge "$above" || above=$v
		fi
	done
	echo "${below:-$above}"
}

# Where that builder's apt keeps downloads (as fetch-kernel.sh and
# upstream-build.sh do: each may reuse the others' files).
if [ "$builder" = host ]; then
	debs=$COHMEM_CACHE/debs
	inner=$debs
else
	root=$("$COHMEM_TOP/scripts/chroot.sh" "$builder")
	debs=$root/opt/cohmem/debs
	inner=/opt/cohmem/debs
fi
mkdir -p "$debs"

pver=""
if [ -n "$kv" ]; then
	pver=$(in_suite "$builder" apt-cache madison "$pkg" 2>/dev/null |
		awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | sort -u | nearest || true)
fi
if [ -z "$pver" ]; then
	deb=$(ls "$debs/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n 1 || true)
	[ -n "$deb" ] || die "$kver: apt ($builder) knows no $pkg${kv:+ near $kv}, and none is cached"
	pver=$(dpkg-deb -f "$deb" Version)
	log "$kver: apt ($builder) knows no $pkg${kv:+ near $kv}; using the cached $(basename "$deb")"
	echo "$deb $pver"
	exit 0
fi
deb=$(ls "$debs/${pkg}_${pver//:/%3a}_"*.deb 2>/dev/null | head -n 1 || true)
if [ -z "$deb" ]; then
	log "$kver: downloading $pkg=$pver ($builder)"
	out=$(in_suite "$builder" sh -c "cd '$inner' && apt-get download -qq '$pkg=$pver'" 2>&1) ||
		die "$kver: could not download $pkg=$pver ($builder): $(grep -m1 -E '^E:' <<<"$out" || tail -n 1 <<<"$out")"
	deb=$(ls "$debs/${pkg}_${pver//:/%3a}_"*.deb | head -n 1)
fi
echo "$deb $pver"
