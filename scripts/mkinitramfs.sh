#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# mkinitramfs.sh KVER: the guest's initramfs: busybox, the test programs,
# the libkmod loader with its shared libraries, and cohmem.ko in a
# depmod'ed /lib/modules/KVER so the guest loads it as modprobe would, with
# the virtio-blk driver for the guest's scratch disk.
# COHMEM_KO: the module to pack, uncompressed (default
# $COHMEM_OUT/KVER/cohmem.ko, as build-module.sh leaves it), installed as
# cohmem.ko in COHMEM_KO_DIR under /lib/modules/KVER (default extra;
# upgrade-test.sh: updates/dkms, where DKMS installed it).
# COHMEM_INITRAMFS_BASE: an initramfs this script made for KVER before;
# the new one is that one with only cohmem.ko replaced (a second cpio
# archive appended, whose cohmem.ko the kernel unpacks over the first's:
# the broken-module check, one module build after another).
# COHMEM_UPSTREAM: a directory of the kernel's own selftests
# (upstream-build.sh), packed as /opt/upstream for the guest's upstream job.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?usage: mkinitramfs.sh KVER}
kroot=$(kernel_root "$kver")
bins=${COHMEM_BINS:-$COHMEM_OUT/tests}
ko=${COHMEM_KO:-$COHMEM_OUT/$kver/cohmem.ko}
kodir=${COHMEM_KO_DIR:-extra}
stage=$COHMEM_OUT/$kver/initramfs
rm -rf "$stage"
if [ -n "${COHMEM_INITRAMFS_BASE:-}" ]; then
	mkdir -p "$stage/lib/modules/$kver/$kodir"
	cp "$ko" "$stage/lib/modules/$kver/$kodir/cohmem.ko"
	{
		cat "$COHMEM_INITRAMFS_BASE"
		(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1)
	} >"$COHMEM_OUT/$kver/initramfs.gz"
	exit 0
fi
mkdir -p "$stage"/{bin,sbin,proc,sys,dev,tmp,etc,lib/modules/"$kver"/"$kodir"}

cp /bin/busybox "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
cp "$COHMEM_TOP/scripts/guest/init" "$stage/init"
chmod +x "$stage/init"
# The table of loads that must fail (the guest's badload program).
grep -v '^#' "$COHMEM_TOP/scripts/guest/badloads" >"$stage/etc/cohmem-badloads"
cp "$bins"/cohmem-* "$bins"/cohmemctl "$stage/bin/"
# cohmem-kmod and cohmemctl are dynamic (Debian 12 has no static libkmod):
# bring their libraries.
for lib in $(ldd "$bins/cohmem-kmod" "$bins/cohmemctl" | grep -v ':$' | grep -o '/[^ ]*' | sort -u); do
	mkdir -p "$stage$(dirname "$lib")"
	cp -L "$lib" "$stage$lib"
done

cp "$ko" "$stage/lib/modules/$kver/$kodir/cohmem.ko"
if [ -n "${COHMEM_UPSTREAM:-}" ]; then
	mkdir -p "$stage/opt/upstream"
	cp "$COHMEM_UPSTREAM"/hmm-tests "$COHMEM_UPSTREAM"/source "$stage/opt/upstream/"
	for f in gup_longterm harness-filters; do
		[ ! -e "$COHMEM_UPSTREAM/$f" ] || cp "$COHMEM_UPSTREAM/$f" "$stage/opt/upstream/"
	done
fi
for d in "$kroot/lib/modules/$kver" "$kroot/usr/lib/modules/$kver"; do
	if [ -f "$d/modules.builtin" ]; then
		cp "$d"/modules.{order,builtin,builtin.modinfo} "$stage/lib/modules/$kver/"
	fi
done

# The scratch disk of the O_DIRECT case is virtio-blk: pack virtio_pci and
# virtio_blk with every module they depend on (modinfo's "depends", followed
# to the end), leaving out what this kernel has built in. Debian builds them
# as modules (virtio_pci is built in since 6.12; 7.x ships modules in
# linux-modules-*, see fetch-kernel.sh). Packed uncompressed, so the guest's
# libkmod needs no decompressor; /etc/cohmem-modules lists what /init loads.
# A module not found is left out: the guest then has no disk and the case
# says so when it skips.
moddir=$(ls -d "$kroot/lib/modules/$kver" "$kroot/usr/lib/modules/$kver" 2>/dev/null | head -n 1 || true)
declare -A mod_path=() builtin=() packed=()
if [ -d "$moddir/kernel" ]; then
	while read -r f; do
		n=$(basename "$f")
		n=${n%%.ko*}
		mod_path[${n//-/_}]=$f
	done < <(find "$moddir/kernel" -name '*.ko*')
fi
while read -r f; do
	n=$(basename "$f" .ko)
	builtin[${n//-/_}]=1
done < <(cat "$moddir/modules.builtin" 2>/dev/null)
: >"$stage/etc/cohmem-modules"
pack_module() {
	local n=${1//-/_} f rel dst d
	[ -z "${builtin[$n]:-}" ] && [ -z "${packed[$n]:-}" ] || return 0
	f=${mod_path[$n]:-}
	if [ -z "$f" ]; then
		log "$kver: module $n not found in $moddir: the guest will have no scratch disk"
		return 1
	fi
	packed[$n]=1
	for d in $(modinfo -F depends "$f" | tr ',' ' '); do
		pack_module "$d" || return 1
	done
	rel=${f#"$moddir"/}
	dst=$stage/lib/modules/$kver/${rel%%.ko*}.ko
	mkdir -p "$(dirname "$dst")"
	case $f in
	*.ko.xz) xz -dc "$f" >"$dst" ;;
	*.ko.zst) zstd -qdc "$f" >"$dst" ;;
	*.ko.gz) gzip -dc "$f" >"$dst" ;;
	*) cp "$f" "$dst" ;;
	esac
}
for m in virtio_pci virtio_blk; do
	if [ -n "${builtin[$m]:-}" ]; then
		continue
	elif pack_module "$m"; then
		echo "$m" >>"$stage/etc/cohmem-modules"
	else
		: >"$stage/etc/cohmem-modules"
		break
	fi
done
depmod -b "$stage" "$kver"

(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$COHMEM_OUT/$kver/initramfs.gz"
