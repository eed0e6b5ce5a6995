#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# debug-kernel.sh VERSION[-kcsan]: a debug kernel (KASAN, lockdep, DEBUG_VM,
# DEBUG_PAGEALLOC, kmemleak, ...) built from Debian's linux-source-VERSION
# package (6.12, 7.3), configured with x86_64_defconfig + kvm_guest.config
# and the fragment scripts/debug.config, for the debug-kernel lane
# (scripts/debug-lane.sh). Prints its `uname -r`. VERSION-kcsan (e.g.
# 7.3-kcsan) is the KCSAN variant: scripts/debug-kcsan.config over
# debug.config (KCSAN instead of KASAN), uname -r UPSTREAM-kcsan-HASH.
#
# The package is fetched with apt-get download where apt knows it: on the
# host, else in the builder chroots (COHMEM_DEBUG_BUILDERS, default
# "host trixie sid"; 7.3 is in trixie-backports). The kernel is built on the
# host with its gcc (Debian 12: gcc-12), niced, COHMEM_DEBUG_JOBS (default
# 2) jobs. The built tree is cached in $COHMEM_CACHE/debug/, keyed by the
# source package's version and a hash of the fragment and of this recipe;
# a second run reuses it. Its uname -r is UPSTREAM-dbg-HASH (HASH: the
# first 8 of that key), and $COHMEM_CACHE/kernels/KVER is laid out like a
# fetched stock kernel (the tree as usr/src/linux-headers-KVER, the image
# as boot/vmlinuz-KVER, lib/modules/KVER), so that build-module.sh,
# mkinitramfs.sh and run-vm.sh take it as they take Debian's kernels:
# the module is built with `make -C TREE M=... modules`, as DKMS builds it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

arg=${1:?usage: debug-kernel.sh VERSION[-kcsan] (e.g. 6.12, 7.3, 7.3-kcsan)}
ver=${arg%-kcsan}
pkg=linux-source-$ver
frag=$COHMEM_TOP/scripts/debug.config
# The base configuration and how the fragment is applied: part of the key.
recipe="x86_64_defconfig kvm_guest.config + debug.config, olddefconfig, v1"
flavour=dbg
# fragment: the lines merged over the base configuration. The KCSAN
# variant's lines replace debug.config's lines for the same options.
fragment() { cat "$frag"; }
if [ "$arg" != "$ver" ]; then
	flavour=kcsan
	recipe="$recipe + debug-kcsan.config"
	kfrag=$COHMEM_TOP/scripts/debug-kcsan.config
	fragment() {
		opts=$(sed -n 's/^\(# \)\{0,1\}\(CONFIG_[A-Z0-9_]*\)[= ].*/\2/p' "$kfrag" | sort -u)
		awk -v opts="$opts" 'BEGIN { n = split(opts, o, "\n"); for (i = 1; i <= n; i++) drop[o[i]] = 1 }
			{ k = $0; sub(/^# /, "", k); sub(/[= ].*/, "", k) }
			!(k in drop)' "$frag"
		cat "$kfrag"
	}
fi

# What building a kernel needs on the host besides ensure_host_packages.
DEBUG_PACKAGES="flex bison libssl-dev bc libelf-dev xz-utils make gcc perl"
missing=""
for p in $DEBUG_PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	[ "$(id -u)" = 0 ] || die "missing packages:$missing (run as root)"
	# shellcheck disable=SC2086
	host_install $missing
fi

# Where apt knows the package: the first builder that has it, from fresh
# lists (trixie has a linux-source-6.12 too: the host's must be current).
builder="" pver=""
for b in ${COHMEM_DEBUG_BUILDERS:-host trixie sid}; do
	if [ "$(id -u)" = 0 ] && ! err=$(in_suite "$b" apt-get update -qq 2>&1); then
		log "apt-get update failed ($b); using its old lists: $(tail -n 1 <<<"$err")"
	fi
	pver=$(apt_version "$b" "$pkg")
	if [ -n "$pver" ]; then
		builder=$b
		break
	fi
done

key_of() { { echo "$1"; echo "$recipe"; fragment; } | sha256sum | cut -c1-8; }
if [ -z "$pver" ]; then
	# apt no longer knows it: keep the newest cached build of this fragment.
	d=$(ls -d "$COHMEM_CACHE/debug/${pkg}_"*/.done 2>/dev/null | sort -V | while read -r f; do
		f=$(dirname "$f")
		v=${f##*/"${pkg}_"}
		v=${v%_*}
		[ "${f##*_}" = "$(key_of "$v")" ] && echo "$f"
	done | tail -n 1 || true)
	[ -n "$d" ] || die "apt knows no $pkg (builders: ${COHMEM_DEBUG_BUILDERS:-host trixie sid}) and none is cached"
	log "apt no longer knows $pkg; keeping the cached build $d"
	cat "$d/kver"
	exit 0
fi
key=$(key_of "$pver")
dir=$COHMEM_CACHE/debug/${pkg}_${pver//:/%3a}_$key
tree=$dir/linux

if [ ! -f "$dir/.done" ]; then
	start=$(date +%s)
	# The package, cached where that builder's apt puts downloads.
	if [ "$builder" = host ]; then
		debs=$COHMEM_CACHE/debs
		inner=$debs
	else
		debs=$("$COHMEM_TOP/scripts/chroot.sh" "$builder")/opt/cohmem/debs
		inner=/opt/cohmem/debs
	fi
	mkdir -p "$debs"
	deb=$(ls "$debs/${pkg}_${pver//:/%3a}_"*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$deb" ]; then
		log "downloading $pkg=$pver ($builder)"
		in_suite "$builder" sh -c "cd '$inner' && apt-get download -qq '$pkg=$pver'" ||
			die "apt-get download $pkg=$pver failed ($builder)"
		deb=$(ls "$debs/${pkg}_${pver//:/%3a}_"*.deb | head -n 1)
	fi
	# An interrupted build resumes in its tree (make is incremental).
	if [ ! -f "$dir/.unpacked" ]; then
		log "unpacking $pkg $pver"
		rm -rf "$dir"
		mkdir -p "$dir"
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" --wildcards '*/linux-source-*.tar.xz'
		mkdir "$tree"
		tar -xJf "$dir"/usr/src/linux-source-*.tar.xz -C "$tree" --strip-components=1
		rm -rf "${dir:?}/usr"
		touch "$dir/.unpacked"
	fi

	upstream=$(make -s -C "$tree" kernelversion)
	kver=$upstream-$flavour-$key
	log "configuring $kver"
	mk() { nice make -C "$tree" -j"${COHMEM_DEBUG_JOBS:-2}" "$@"; }
	mk -s x86_64_defconfig kvm_guest.config >/dev/null
	{
		fragment
		echo "CONFIG_LOCALVERSION=\"-$flavour-$key\""
		echo "# CONFIG_LOCALVERSION_AUTO is not set"
	} >"$dir/fragment.config"
	(cd "$tree" && scripts/kconfig/merge_config.sh -m .config "$dir/fragment.config") >"$dir/config.log" 2>&1 ||
		{ cat "$dir/config.log" >&2; die "merging the fragment failed"; }
	mk -s olddefconfig >>"$dir/config.log" 2>&1
	# Every line of the fragment must hold, where the kernel knows the option.
	find "$tree" -name 'Kconfig*' -exec sed -n 's/^[[:space:]]*\(menu\)\{0,1\}config[[:space:]]\{1,\}\([A-Z0-9_]*\).*/\2/p' {} + |
		sort -u >"$dir/symbols"
	bad=""
	while read -r line; do
		case $line in
		CONFIG_*=*) opt=${line%%=*} ;;
		"# CONFIG_"*" is not set") opt=${line#\# } && opt=${opt%% *} ;;
		*) continue ;;
		esac
		if ! grep -qx "${opt#CONFIG_}" "$dir/symbols"; then
			log "$kver: this kernel has no ${opt#CONFIG_} (left out)"
			continue
		fi
		case $line in
		CONFIG_*) grep -qx "$line" "$tree/.config" || bad="$bad $line" ;;
		*) ! grep -q "^$opt=" "$tree/.config" || bad="$bad ${opt}=n" ;;
		esac
	done <"$dir/fragment.config"
	[ -z "$bad" ] || die "$kver: the configuration does not have:$bad (dependencies? see $tree/.config)"

	log "building $kver (nice, -j${COHMEM_DEBUG_JOBS:-2}; log: $dir/build.log)"
	b0=$(date +%s)
	if ! mk bzImage modules >"$dir/build.log" 2>&1; then
		tail -n 30 "$dir/build.log" >&2
		die "$kver: the kernel build failed (see $dir/build.log)"
	fi
	b1=$(date +%s)
	mk -s INSTALL_MOD_PATH="$dir/root" INSTALL_MOD_STRIP=1 modules_install >>"$dir/build.log" 2>&1
	echo "$kver" >"$dir/kver"
	echo "configure+unpack $((b0 - start)) s, build $((b1 - b0)) s, gcc $(gcc -dumpversion)," \
		"$(nproc) cores, -j${COHMEM_DEBUG_JOBS:-2}, $(date -u '+%Y-%m-%d')" >"$dir/build-time"
	touch "$dir/.done"
	log "$kver built: $(cat "$dir/build-time")"
fi
kver=$(cat "$dir/kver")

# The kernel as build-module.sh, mkinitramfs.sh and run-vm.sh find a
# fetched one (see kernel_root in lib.sh; a KVER without +debNN is the
# host's); .debug tells fetch-kernel.sh there is nothing to fetch.
root=$COHMEM_CACHE/kernels/$kver
if [ ! -f "$root/.done" ] || [ "$(cat "$root/.debug")" != "$dir" ]; then
	rm -rf "$root"
	mkdir -p "$root/usr/src" "$root/boot" "$root/lib/modules"
	ln -s "$tree" "$root/usr/src/linux-headers-$kver"
	ln -s "$tree/arch/x86/boot/bzImage" "$root/boot/vmlinuz-$kver"
	m=$(ls -d "$dir/root/lib/modules/$kver" "$dir/root/usr/lib/modules/$kver" 2>/dev/null | head -n 1 || true)
	[ -n "$m" ] || die "$kver: no lib/modules/$kver from modules_install in $dir/root"
	cp -a "$m" "$root/lib/modules/"
	echo "$dir" >"$root/.debug"
	: >"$root/.packages"
	touch "$root/.done"
fi
echo "$kver"
