#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# build-module.sh KVER: build cohmem.ko against the kernel's own headers
# package (extracted by fetch-kernel.sh), on the host or in the kernel's
# chroot, with W=1; a warning fails the build. Result: $COHMEM_OUT/KVER/.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?usage: build-module.sh KVER}
"$COHMEM_TOP/scripts/fetch-kernel.sh" "$kver"
kdir=$(kernel_inner "$kver")/usr/src/linux-headers-$kver
src=${COHMEM_SRC:-$COHMEM_TOP}
if [ "$(kernel_builder "$kver")" = host ]; then
	build=$COHMEM_OUT/$kver/build
	inner=$build
else
	# One build tree per output directory: runs may share a chroot.
	inner=/opt/cohmem/build/$(realpath -m "$COHMEM_OUT" | md5sum | cut -c1-8)/$kver
	build=$(builder_root "$kver")$inner
fi
rm -rf "$build"
mkdir -p "$build" "$COHMEM_OUT/$kver"
cp -r "$src/Kbuild" "$src/src" "$src/include" "$src/probes" "$build/"
mkdir -p "$build/scripts"
cp "$src/scripts/probe.sh" "$build/scripts/"
log "building cohmem.ko for $kver ($(kernel_builder "$kver"))"
if ! in_builder "$kver" make -C "$kdir" M="$inner" W=1 modules >"$build/build.log" 2>&1; then
	cp "$build/build.log" "$COHMEM_OUT/$kver/build.log"
	cat "$build/build.log" >&2
	die "module build failed for $kver"
fi
cp "$build/build.log" "$COHMEM_OUT/$kver/build.log"
if grep -E 'warning:|error:' "$build/build.log" >&2; then
	die "the build for $kver is not warning-free (W=1)"
fi
cp "$build/cohmem.ko" "$build/probes.h" "$COHMEM_OUT/$kver/"
