#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# mkinitramfs.sh KVER: the guest's initramfs: busybox, the test programs,
# the libkmod loader with its shared libraries, and cohmem.ko in a
# depmod'ed /lib/modules/KVER so the guest loads it as modprobe would.
# COHMEM_KO: the module to pack, uncompressed (default
# $COHMEM_OUT/KVER/cohmem.ko, as build-module.sh leaves it), installed as
# cohmem.ko in COHMEM_KO_DIR under /lib/modules/KVER (default extra;
# upgrade-test.sh: updates/dkms, where DKMS installed it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?usage: mkinitramfs.sh KVER}
kroot=$(kernel_root "$kver")
bins=${COHMEM_BINS:-$COHMEM_OUT/tests}
ko=${COHMEM_KO:-$COHMEM_OUT/$kver/cohmem.ko}
kodir=${COHMEM_KO_DIR:-extra}
stage=$COHMEM_OUT/$kver/initramfs
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,proc,sys,dev,tmp,etc,lib/modules/"$kver"/"$kodir"}

cp /bin/busybox "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
cp "$COHMEM_TOP/scripts/guest/init" "$stage/init"
chmod +x "$stage/init"
cp "$bins"/cohmem-* "$stage/bin/"
# cohmem-kmod is dynamic (Debian 12 has no static libkmod): bring its libraries.
for lib in $(ldd "$bins/cohmem-kmod" | grep -o '/[^ ]*'); do
	mkdir -p "$stage$(dirname "$lib")"
	cp -L "$lib" "$stage$lib"
done

cp "$ko" "$stage/lib/modules/$kver/$kodir/cohmem.ko"
for d in "$kroot/lib/modules/$kver" "$kroot/usr/lib/modules/$kver"; do
	if [ -f "$d/modules.builtin" ]; then
		cp "$d"/modules.{order,builtin,builtin.modinfo} "$stage/lib/modules/$kver/"
	fi
done
depmod -b "$stage" "$kver"

(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$COHMEM_OUT/$kver/initramfs.gz"
