#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# build-module.sh KVER: build cohmem.ko against the kernel's own headers
# package (extracted by fetch-kernel.sh), on the host or in the kernel's
# chroot, with W=1; a warning fails the build. Result: $COHMEM_OUT/KVER/.
# A kernel whose config lacks an option of dkms.conf's BUILD_EXCLUSIVE_CONFIG
# is not built, as DKMS would not build it: the script says which option and
# exits 77 (a skip, for test.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?usage: build-module.sh KVER}
"$COHMEM_TOP/scripts/fetch-kernel.sh" "$kver"
kdir=$(kernel_inner "$kver")/usr/src/linux-headers-$kver
config=$(kernel_root "$kver")/usr/src/linux-headers-$kver/.config
rm -f "$COHMEM_OUT/$kver/skip"
for opt in $(sed -n 's/^BUILD_EXCLUSIVE_CONFIG="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$COHMEM_TOP/dkms.conf"); do
	case $opt in
	!*) grep -qE "^${opt#!}=[ym]" "$config" || continue; why="${opt#!} is set" ;;
	*) ! grep -qE "^$opt=[ym]" "$config" || continue; why="$opt is not set" ;;
	esac
	mkdir -p "$COHMEM_OUT/$kver"
	echo "$why in this kernel's config: DKMS would not build cohmem for it (BUILD_EXCLUSIVE_CONFIG)" \
		>"$COHMEM_OUT/$kver/skip"
	log "$kver: $(cat "$COHMEM_OUT/$kver/skip")"
	exit 77
done
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
if ! in_builder "$kver" make -j"$(nproc)" -C "$kdir" M="$inner" W=1 \
	${COHMEM_MUTANT:+COHMEM_MUTANT="$COHMEM_MUTANT"} modules >"$build/build.log" 2>&1; then
	cp "$build/build.log" "$COHMEM_OUT/$kver/build.log"
	cat "$build/build.log" >&2
	die "module build failed for $kver"
fi
cp "$build/build.log" "$COHMEM_OUT/$kver/build.log"
if grep -E 'warning:|error:' "$build/build.log" >&2; then
	die "the build for $kver is not warning-free (W=1)"
fi
cp "$build/cohmem.ko" "$build/probes.h" "$COHMEM_OUT/$kver/"
