#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# build-module.sh KVER: build cohmem.ko against the kernel's own headers
# package (extracted by fetch-kernel.sh) into $COHMEM_OUT/KVER/.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?usage: build-module.sh KVER}
"$COHMEM_TOP/scripts/fetch-kernel.sh" "$kver"
kdir=$(kernel_root "$kver")/usr/src/linux-headers-$kver
build=$COHMEM_OUT/$kver/build
rm -rf "$build"
mkdir -p "$build"
src=${COHMEM_SRC:-$COHMEM_TOP}
cp -r "$src/Kbuild" "$src/src" "$src/include" "$build/"
log "building cohmem.ko for $kver"
if ! make -C "$kdir" M="$build" W=1 modules >"$build/build.log" 2>&1; then
	cat "$build/build.log" >&2
	die "module build failed for $kver"
fi
if grep -E 'warning:|error:' "$build/build.log" >&2; then
	die "the build for $kver is not warning-free (W=1)"
fi
cp "$build/cohmem.ko" "$COHMEM_OUT/$kver/cohmem.ko"
