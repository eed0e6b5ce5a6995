#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# testhmm-build.sh KVER: the kernel's own HMM test driver, lib/test_hmm.c,
# built out of tree as test_hmm.ko for KVER, for the benchmark lane
# (scripts/bench.sh) to compare cohmem with. Prints the directory holding
# test_hmm.ko and `source` (the package, its version, the kernel's).
#
# Debian does not build it (CONFIG_TEST_HMM is off), so it comes from
# Debian's linux-source-X.Y of KVER's series, picked and downloaded by
# linux-source.sh (the version nearest the kernel's own). Only
# lib/test_hmm.c and lib/test_hmm_uapi.h are taken out of it, unmodified,
# and compiled against the same linux-headers package and in the same
# builder (host, trixie or sid chroot) as cohmem (build-module.sh). The
# module is cached in $COHMEM_CACHE/testhmm/, keyed by the kernel, the
# package's version, the builder and this recipe; nothing of it is kept
# in the repository.
#
# A kernel without what test_hmm's Kconfig entry needs (DEVICE_PRIVATE,
# TRANSPARENT_HUGEPAGE: Debian's 6.1 and 6.12) cannot have it: the script
# says which option is missing and exits 77.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?usage: testhmm-build.sh KVER}
builder=$(kernel_builder "$kver")
recipe="lib/test_hmm.c + test_hmm_uapi.h, obj-m, linux-headers-KVER; v1"
"$COHMEM_TOP/scripts/fetch-kernel.sh" "$kver"
kdir=$(kernel_inner "$kver")/usr/src/linux-headers-$kver
config=$(kernel_root "$kver")/usr/src/linux-headers-$kver/.config
# test_hmm's own Kconfig dependencies (lib/Kconfig.debug: depends on
# TRANSPARENT_HUGEPAGE and DEVICE_PRIVATE, selects HMM_MIRROR and
# MMU_NOTIFIER, which an out-of-tree module cannot select).
for opt in DEVICE_PRIVATE TRANSPARENT_HUGEPAGE HMM_MIRROR MMU_NOTIFIER; do
	if ! grep -qE "^CONFIG_$opt=y" "$config"; then
		log "$kver: CONFIG_$opt is not set: no test_hmm for this kernel"
		echo "CONFIG_$opt is not set in $kver's config"
		exit 77
	fi
done

read -r deb pver < <("$COHMEM_TOP/scripts/linux-source.sh" "$kver") ||
	die "$kver: no linux-source package"
pkg=$(dpkg-deb -f "$deb" Package)
key=$({ echo "$kver $pkg $pver $builder"; echo "$recipe"; } | sha256sum | cut -c1-8)
top=$COHMEM_CACHE/testhmm
dir=$top/test_hmm_${kver}_${pver//:/%3a}_$key
if [ -f "$dir/.done" ]; then
	echo "$dir"
	exit 0
fi

start=$(date +%s)
root=$(builder_root "$kver")
btree=/opt/cohmem/testhmm-build-$key
[ "$builder" = host ] && btree=$top/build-$key
rm -rf "$root$btree" "$dir"
mkdir -p "$root$btree" "$dir"
# Two files out of the whole tarball (xz has to read it all: about 20 s).
log "$kver: lib/test_hmm.c from $pkg $pver"
dpkg-deb --fsys-tarfile "$deb" | tar -x -O --wildcards '*/linux-source-*.tar.xz' |
	nice xz -dc | tar -x -C "$root$btree" --strip-components=2 --wildcards \
	'*/lib/test_hmm.c' '*/lib/test_hmm_uapi.h' ||
	die "$kver: could not take lib/test_hmm.c out of $deb"
[ -f "$root$btree/test_hmm.c" ] && [ -f "$root$btree/test_hmm_uapi.h" ] ||
	die "$kver: $deb has no lib/test_hmm.c and lib/test_hmm_uapi.h"
echo 'obj-m := test_hmm.o' >"$root$btree/Kbuild"
log "$kver: building test_hmm.ko ($builder; log: $dir/build.log)"
if ! in_builder "$kver" nice make -C "$kdir" M="$btree" modules >"$dir/build.log" 2>&1; then
	tail -n 20 "$dir/build.log" >&2
	die "$kver: building test_hmm.ko from $pkg $pver failed (see $dir/build.log)"
fi
cp "$root$btree/test_hmm.ko" "$root$btree/test_hmm.c" "$root$btree/test_hmm_uapi.h" "$dir/"
# The kernel's own version: as this run resolved it, else as apt has it.
kv=$(awk -v k="$kver" '$1 == k { print $6; exit }' "$KERNELS_RESOLVED" 2>/dev/null || true)
[ -n "$kv" ] || kv=$(apt_version "$builder" "linux-headers-$kver")
echo "$pkg $pver (kernel's own: ${kv:-unknown}; built in $builder for $kver, $(date -u '+%Y-%m-%d'))" >"$dir/source"
rm -rf "$root$btree"
log "$kver: test_hmm.ko built from $pkg $pver in $(($(date +%s) - start)) s"
touch "$dir/.done"
echo "$dir"
