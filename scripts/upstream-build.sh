#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# upstream-build.sh KVER: the kernel's own selftests of its test drivers,
# hmm-tests and gup_longterm (6.1 has no gup_longterm), built from Debian's
# linux-source-X.Y package of KVER's series, unmodified and static, for the
# upstream lane (scripts/upstream-lane.sh). Prints the directory holding
# them and `source` (the package, its version, and the kernel's).
#
# The package is the version apt knows nearest the kernel's own (the
# headers' version resolve-kernels.sh recorded): that version itself, else
# the newest below it, else the oldest above. It is asked of, fetched
# (apt-get download) and built in the kernel's builder (host, trixie or sid
# chroot, as for the module: the libc and compiler of the kernel's suite),
# against the kernel source's own uapi headers (`make headers`) with its
# selftests' own Makefile and EXTRA_CFLAGS=-static, liburing linked when
# the builder has it (gup_longterm's io_uring cases). Nothing of the
# source is kept but the programs: cached in $COHMEM_CACHE/upstream/,
# keyed by the package, its version, the builder and this recipe.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?usage: upstream-build.sh KVER}
builder=$(kernel_builder "$kver")
series=$(grep -oE '^[0-9]+\.[0-9]+' <<<"$kver") || die "$kver: not a kernel release"
pkg=linux-source-$series
recipe="make headers; selftests Makefile, EXTRA_CFLAGS=-static, liburing; harness-filters; v2"
# What building needs in the builder (the host has them: HOST_PACKAGES).
[ "$builder" = host ] || "$COHMEM_TOP/scripts/chroot.sh" "$builder" \
	gcc make libc6-dev liburing-dev xz-utils >/dev/null ||
	die "$kver: the $builder chroot is not usable"

# The package (linux-source.sh: the version apt knows nearest the
# kernel's own, downloaded where the builder's apt keeps downloads).
top=$COHMEM_CACHE/upstream
if ! read -r deb pver < <("$COHMEM_TOP/scripts/linux-source.sh" "$kver"); then
	# apt no longer knows the package, and no .deb of it is cached: the
	# newest cached build of the series for this builder, if any.
	d=$(ls -d "$top/${pkg}_"*"_${builder}_"*/.done 2>/dev/null | sort -V | tail -n 1 || true)
	[ -n "$d" ] || die "$kver: no $pkg to build from, and no build of it is cached"
	log "$kver: keeping the cached build $(dirname "$d")"
	dirname "$d"
	exit 0
fi
key=$({ echo "$pkg $pver $builder"; echo "$recipe"; } | sha256sum | cut -c1-8)
dir=$top/${pkg}_${pver//:/%3a}_${builder}_$key
if [ -f "$dir/.done" ]; then
	echo "$dir"
	exit 0
fi
root=""
[ "$builder" = host ] || root=$("$COHMEM_TOP/scripts/chroot.sh" "$builder")

# The source, in the builder (drivers, sound and the documentation left
# out: nothing here needs them), then the kernel's uapi headers and the
# two programs, with the selftests' own Makefile.
start=$(date +%s)
btree=/opt/cohmem/upstream-build-$key
[ "$builder" = host ] && btree=$top/build-$key
rm -rf "$root$btree"
mkdir -p "$root$btree/linux" "$root$btree/out"
log "$kver: unpacking $pkg $pver"
dpkg-deb --fsys-tarfile "$deb" | tar -x -O --wildcards '*/linux-source-*.tar.xz' |
	nice xz -dc | tar -x -C "$root$btree/linux" --strip-components=1 --anchored \
	--no-wildcards-match-slash --exclude='linux-source-*/drivers' \
	--exclude='linux-source-*/sound' --exclude='linux-source-*/Documentation' ||
	die "$kver: could not unpack $deb"
if [ -d "$root$btree/linux/tools/testing/selftests/mm" ]; then
	sub=mm progs="hmm-tests gup_longterm"
else
	sub=vm progs="hmm-tests"
fi
targets=""
for p in $progs; do
	targets="$targets $btree/out/$p"
done
log "$kver: building$targets from $pkg $pver ($builder; log: $dir/build.log)"
mkdir -p "$top"
rm -rf "$dir"
mkdir -p "$dir"
if ! in_suite "$builder" sh -c "cd '$btree/linux' && nice make -s ARCH=x86 headers &&
	nice make -C tools/testing/selftests/$sub OUTPUT='$btree/out' EXTRA_CFLAGS=-static$targets" \
	>"$dir/build.log" 2>&1; then
	tail -n 20 "$dir/build.log" >&2
	die "$kver: building hmm-tests from $pkg $pver failed (see $dir/build.log)"
fi
for p in $progs; do
	cp "$root$btree/out/$p" "$dir/"
done
# Whether hmm-tests' harness can leave variants out (-V; not 6.1's).
! grep -q 'getopt(argc, argv, "[^"]*V:' "$root$btree/linux/tools/testing/selftests/kselftest_harness.h" ||
	touch "$dir/harness-filters"
uring=$(head -n 1 "$root$btree/linux/tools/testing/selftests/$sub/local_config.h_gen" 2>/dev/null || true)
{
	echo "$pkg $pver (kernel's own: ${kv:-unknown}; built in $builder, $(date -u '+%Y-%m-%d'))"
	echo "tools/testing/selftests/$sub: $progs; $uring"
} >"$dir/source"
rm -rf "$root$btree"
log "$kver: $progs built from $pkg $pver in $(($(date +%s) - start)) s"
touch "$dir/.done"
echo "$dir"
