#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# fetch-kernel.sh KVER: download a Debian stock kernel image and its headers
# with apt-get (so the mirror is whatever this machine's apt uses), cache the
# .debs and extract them (never installed) under $COHMEM_CACHE/kernels/KVER.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?usage: fetch-kernel.sh KVER}
root=$(kernel_root "$kver")
[ -f "$root/.done" ] && exit 0

debs=$COHMEM_CACHE/debs
mkdir -p "$debs"
hdr=linux-headers-$kver
ver=$(apt-cache show --no-all-versions "$hdr" 2>/dev/null | awk '/^Version:/ { print $2; exit }')
if [ -z "$ver" ]; then
	apt-get update -qq
	ver=$(apt-cache show --no-all-versions "$hdr" 2>/dev/null | awk '/^Version:/ { print $2; exit }')
fi
[ -n "$ver" ] || die "$hdr is not known to apt on this machine"

# The headers package depends on its -common and linux-kbuild packages; all
# of them come from the same source version.
pkgs="linux-image-$kver $hdr"
for dep in $(apt-cache depends "$hdr" | awk '/Depends: linux-(headers|kbuild)-/ { print $2 }'); do
	pkgs="$pkgs $dep"
done
want=""
for p in $pkgs; do
	ls "$debs/${p}_"*"_amd64.deb" "$debs/${p}_"*"_all.deb" >/dev/null 2>&1 || want="$want $p=$ver"
done
if [ -n "$want" ]; then
	log "downloading$want"
	(cd "$debs" && apt-get download -qq $want)
fi

rm -rf "$root.tmp"
mkdir -p "$root.tmp"
for p in $pkgs; do
	dpkg-deb -x "$(ls "$debs/${p}_"*.deb | head -n1)" "$root.tmp"
done

# The arch Makefile includes the -common tree by absolute path: point it
# into the extracted tree instead.
mk=$root.tmp/usr/src/$hdr/Makefile
sed -i "s|/usr/src/|$root/usr/src/|" "$mk"
rm -rf "$root"
mv "$root.tmp" "$root"
touch "$root/.done"
log "kernel $kver ready in $root"
