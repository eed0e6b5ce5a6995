#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# fetch-kernel.sh KVER: download a Debian stock kernel image and its headers
# with apt-get (on the host or in the kernel's chroot, so the mirror is the
# one apt is configured with), cache the .debs and extract them, never
# installed, into kernel_root KVER.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?usage: fetch-kernel.sh KVER}
root=$(kernel_root "$kver")
inner=$(kernel_inner "$kver")

hdr=linux-headers-$kver
version() { in_builder "$kver" apt-cache show --no-all-versions "$1" 2>/dev/null | awk '/^Version:/ { print $2; exit }'; }
debs=$(builder_root "$kver")/opt/cohmem/debs
[ "$(kernel_builder "$kver")" = host ] && debs=$COHMEM_CACHE/debs
# download VERSION PKG...: the .debs not in the cache yet
download() {
	local v=$1 want="" p
	shift
	mkdir -p "$debs"
	for p in "$@"; do
		ls "$debs/${p}_"*.deb >/dev/null 2>&1 || want="$want $p=$v"
	done
	[ -n "$want" ] || return 0
	log "downloading$want"
	if [ "$(kernel_builder "$kver")" = host ]; then
		(cd "$debs" && apt-get download -qq $want)
	else
		in_builder "$kver" sh -c "cd /opt/cohmem/debs && apt-get download -qq $want"
	fi
}

# Since 7.x the image package has no modules; they are in linux-modules-*
# (the guest needs virtio_blk from them). Added to an extracted kernel of
# an earlier run too.
fetch_modules() {
	local moddir v
	moddir=$(ls -d "$root/lib/modules/$kver" "$root/usr/lib/modules/$kver" 2>/dev/null | head -n 1 || true)
	[ -n "$moddir" ] && [ ! -d "$moddir/kernel" ] || return 0
	v=$(version "linux-modules-$kver")
	[ -n "$v" ] || return 0
	download "$v" "linux-modules-$kver"
	rm -rf "$root.modules.tmp"
	mkdir -p "$root.modules.tmp"
	dpkg-deb -x "$(ls "$debs/linux-modules-${kver}_"*.deb | head -n1)" "$root.modules.tmp"
	mv "$(ls -d "$root.modules.tmp"/{,usr/}lib/modules/"$kver"/kernel 2>/dev/null | head -n 1)" "$moddir/kernel"
	rm -rf "$root.modules.tmp"
	log "kernel $kver: modules added from linux-modules-$kver"
}
if [ -f "$root/.done" ]; then
	fetch_modules
	exit 0
fi

ver=$(version "$hdr")
if [ -z "$ver" ]; then
	in_builder "$kver" apt-get update -qq
	ver=$(version "$hdr")
fi
[ -n "$ver" ] || die "$hdr is not known to apt ($(kernel_builder "$kver"))"

# Headers with their -common, kbuild and base packages; the image is in
# linux-binary-* since 7.x (linux-image-* became a meta package).
pkgs=$hdr
for dep in $(in_builder "$kver" apt-cache depends "$hdr" | awk '/Depends: linux-(headers|kbuild|base)-/ { print $2 }'); do
	pkgs="$pkgs $dep"
done
if [ -n "$(version "linux-binary-$kver")" ]; then
	pkgs="$pkgs linux-binary-$kver"
else
	pkgs="$pkgs linux-image-$kver"
fi

# In a chroot, install the compiler the headers package depends on.
if [ "$(kernel_builder "$kver")" != host ]; then
	cc=$(in_builder "$kver" apt-cache depends "$hdr" | awk '/Depends: gcc-[0-9]+/ { print $2; exit }')
	[ -z "$cc" ] || "$COHMEM_TOP/scripts/chroot.sh" "$(kernel_builder "$kver")" "$cc" >/dev/null
fi

download "$ver" $pkgs

rm -rf "$root.tmp"
mkdir -p "$root.tmp"
for p in $pkgs; do
	dpkg-deb -x "$(ls "$debs/${p}_"*.deb | head -n1)" "$root.tmp"
done

# The arch Makefile names the -common tree (and since 7.x its own output
# directory) by absolute path: point them into the extracted tree.
sed -i "s|/usr/src/|$inner/usr/src/|g" "$root.tmp/usr/src/$hdr/Makefile"
rm -rf "$root"
mv "$root.tmp" "$root"
fetch_modules
touch "$root/.done"
log "kernel $kver ready in $root"
