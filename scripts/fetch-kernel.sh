#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# fetch-kernel.sh KVER: download a Debian stock kernel image and its headers
# with apt-get (on the host or in the kernel's chroot, so the mirror is the
# one apt is configured with), cache the .debs and extract them, never
# installed, into kernel_root KVER.
#
# Each package is fetched at the version apt resolves for it now: the
# headers, their -common, kbuild and base packages (at the exact version the
# headers ask for where they ask for one, else apt's candidate: the archive
# may carry a kbuild of a newer Debian revision than the headers), the image
# (linux-binary-* since 7.x) and, since 7.x, linux-modules-*. The extracted
# tree keeps the list it was made from (.packages); when the archive's list
# differs, the tree is made again, and when apt no longer knows the kernel,
# the cached tree is kept; either way with a log line.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?usage: fetch-kernel.sh KVER}
root=$(kernel_root "$kver")
inner=$(kernel_inner "$kver")
builder=$(kernel_builder "$kver")
hdr=linux-headers-$kver
debs=$(builder_root "$kver")/opt/cohmem/debs
# A debug kernel of debug-kernel.sh: built here, nothing to fetch.
[ ! -f "$root/.debug" ] || exit 0
[ "$builder" = host ] && debs=$COHMEM_CACHE/debs

# show PKG: apt's record of PKG's candidate ("" if apt does not know it)
show() { in_builder "$kver" apt-cache show --no-all-versions "$1" 2>/dev/null || true; }
field() { awk -v f="$1:" '$1 == f { sub(/^[^:]*: */, ""); print; exit }'; }

# want: "PKG=VERSION" of every package of this kernel, one per line
want() {
	local rec v dep name op ver img
	rec=$(show "$hdr")
	v=$(field Version <<<"$rec")
	[ -n "$v" ] || return 0
	echo "$hdr=$v"
	# Depends: "name (op version)" entries, alternatives left out.
	field Depends <<<"$rec" | tr ',' '\n' | sed 's/|.*//' | while read -r dep; do
		name=${dep%% *}
		case $name in
		linux-headers-* | linux-kbuild-* | linux-base-*) ;;
		*) continue ;;
		esac
		op=$(sed -n 's/.*(\([<>=]*\) *\([^)]*\)).*/\1/p' <<<"$dep")
		ver=$(sed -n 's/.*(\([<>=]*\) *\([^)]*\)).*/\2/p' <<<"$dep")
		[ "$op" = "=" ] || ver=$(apt_version "$builder" "$name")
		[ -n "$ver" ] || { echo "missing:$name"; continue; }
		echo "$name=$ver"
	done
	# The image is in linux-binary-* since 7.x (linux-image-* is a meta
	# package there), the modules in linux-modules-*.
	img=linux-binary-$kver
	v=$(apt_version "$builder" "$img")
	if [ -z "$v" ]; then
		img=linux-image-$kver
		v=$(apt_version "$builder" "$img")
	fi
	[ -z "$v" ] || echo "$img=$v"
	v=$(apt_version "$builder" "linux-modules-$kver")
	[ -z "$v" ] || echo "linux-modules-$kver=$v"
}

# deb PKG=VERSION: the cached file of exactly that version
deb() {
	local p=${1%%=*} v=${1#*=}
	ls "$debs/${p}_${v//:/%3a}_"*.deb 2>/dev/null | head -n 1 || true
}

# download PKG=VERSION...: those not cached yet; older versions are removed
download() {
	local get="" pv out
	mkdir -p "$debs"
	for pv in "$@"; do
		[ -n "$(deb "$pv")" ] || get="$get $pv"
	done
	[ -n "$get" ] || return 0
	log "downloading$get"
	if ! out=$(in_builder "$kver" sh -c "cd '$(kernel_debs_inner)' && apt-get download -qq $get" 2>&1); then
		die "$kver: apt-get download failed for$get ($builder): $(grep -m1 -E '^E:' <<<"$out" || tail -n 1 <<<"$out")"
	fi
	for pv in $get; do
		for f in "$debs/${pv%%=*}_"*.deb; do
			[ "$f" = "$(deb "$pv")" ] || rm -f "$f"
		done
	done
}
kernel_debs_inner() { [ "$builder" = host ] && echo "$debs" || echo /opt/cohmem/debs; }

pkgs=$(want)
if grep -q '^missing:' <<<"$pkgs"; then
	die "$kver: the archive has $hdr but not $(grep '^missing:' <<<"$pkgs" | cut -d: -f2 | tr '\n' ' ')(apt on $builder)"
fi
if [ -z "$pkgs" ]; then
	if [ -f "$root/.done" ]; then
		log "$kver: apt ($builder) no longer knows $hdr; keeping the cached kernel"
		exit 0
	fi
	die "$kver: apt ($builder) knows no $hdr (run scripts/resolve-kernels.sh to see what the archive has)"
fi
grep -q '^linux-\(binary\|image\)-' <<<"$pkgs" ||
	die "$kver: the archive has $hdr but no linux-image-$kver or linux-binary-$kver (apt on $builder)"
if [ -f "$root/.done" ]; then
	if [ "$pkgs" = "$(cat "$root/.packages" 2>/dev/null)" ]; then
		exit 0
	fi
	log "$kver: the archive's packages changed since the cached kernel was extracted; extracting again:" \
		"$(diff <(cat "$root/.packages" 2>/dev/null) - <<<"$pkgs" | sed -n 's/^[<>] //p' | tr '\n' ' ')"
fi

# In a chroot, install the compiler the headers package depends on
# (gcc-14, or linux-compiler-gcc-12-x86 on bookworm).
if [ "$builder" != host ]; then
	cc=$(in_builder "$kver" apt-cache depends "$hdr" |
		awk '/Depends: (gcc-[0-9]+|linux-compiler-gcc-[0-9]+-x86)/ { print $2; exit }')
	[ -z "$cc" ] || "$COHMEM_TOP/scripts/chroot.sh" "$builder" "$cc" >/dev/null
fi

# shellcheck disable=SC2046
download $pkgs

rm -rf "$root.tmp"
mkdir -p "$root.tmp"
for pv in $pkgs; do
	dpkg-deb -x "$(deb "$pv")" "$root.tmp"
done

# The arch Makefile names the -common tree (and since 7.x its own output
# directory) by absolute path: point them into the extracted tree.
sed -i "s|/usr/src/|$inner/usr/src/|g" "$root.tmp/usr/src/$hdr/Makefile"
echo "$pkgs" >"$root.tmp/.packages"
rm -rf "$root"
mv "$root.tmp" "$root"
touch "$root/.done"
log "kernel $kver ready in $root"
