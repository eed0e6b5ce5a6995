#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# upgrade-test.sh: the DKMS upgrade path, as a Debian user meets it. Builds
# the packages (make deb), then for each suite, in its cached chroot
# (chroot.sh): installs dkms and the headers of kernel A, then cohmem-dkms
# (its postinst must build and install cohmem for A); installs the headers
# of kernel B with no action on cohmem (DKMS's kernel hooks must build and
# install it for B, signed with DKMS's own key); installs the headers of a
# Debian kernel of the suite whose config lacks an option of dkms.conf's
# BUILD_EXCLUSIVE_CONFIG (apt must succeed, DKMS must skip it; the kernel is
# found by reading the configs of the suite's other flavours, then of its
# i386 kernels; SKIP if there is none); and boots B under QEMU with exactly
# the module DKMS installed, loaded by name from /lib/modules/B/updates/dkms,
# to run the suite (reserved mode). Prints KTAP, one line per check; exits
# non-zero if one failed.
#
# Every run purges cohmem-dkms, B's headers and image and the excluded
# kernel's headers first, so the postinst and the kernel hooks really run
# again; the chroots, their apt caches, A's headers and the kernels' .debs
# are kept. Nothing is installed or loaded on this machine but the build
# dependencies of the packages.
# Environment: COHMEM_UPGRADE_SUITES (default: bookworm trixie), COHMEM_OUT
# (results in $COHMEM_OUT/upgrade/SUITE), COHMEM_CACHE.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# SUITE  LINE-A  LINE-B (lines of scripts/kernels.list; B in SUITE or its
# backports): kernel A and kernel B are the lines' current kernels.
pairs="
bookworm	bookworm	bookworm-6.12
trixie		trixie		trixie-backports
"
suites=${COHMEM_UPGRADE_SUITES:-$(echo "$pairs" | awk 'NF { print $1 }')}
# What the chroot needs besides A's headers: DKMS signs with a key it makes
# with openssl, and compresses the module as the kernel's config asks (xz).
CHROOT_DKMS_PACKAGES="dkms openssl kmod xz-utils"
apt_timeout=1200

HOST_PACKAGES="$HOST_PACKAGES build-essential debhelper dh-dkms debootstrap"
ensure_host_packages
top_out=$COHMEM_OUT
upout=$COHMEM_OUT/upgrade
mkdir -p "$upout"

conf=$COHMEM_TOP/dkms.conf
confval() { sed -n "s/^$1=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" "$conf"; }
version=$(confval PACKAGE_VERSION)
exclusive=$(confval BUILD_EXCLUSIVE_CONFIG)

# ---- KTAP ---------------------------------------------------------------
n=0 npass=0 nfail=0 nskip=0
ok() { n=$((n + 1)) npass=$((npass + 1)); echo "ok $n $1${2:+ # $2}"; }
not_ok() { n=$((n + 1)) nfail=$((nfail + 1)); echo "not ok $n $1 # $2"; }
skip() { n=$((n + 1)) nskip=$((nskip + 1)); echo "ok $n $1 # SKIP $2"; }
oneline() { tr '\n' ' ' | sed 's/  */ /g; s/ $//'; }

# ---- the chroot ---------------------------------------------------------
# in_root CMD...: run CMD in the suite's chroot ($root), in a private mount
# namespace with /proc (DKMS needs it) and its own /dev/pts (apt's log).
in_root() {
	unshare -m sh -c 'mount -t proc proc "$0/proc" &&
		mount -t devpts -o newinstance,ptmxmode=0666 devpts "$0/dev/pts" &&
		exec chroot "$@"' "$root" "$root" \
		env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL DEBIAN_FRONTEND=noninteractive \
		LC_ALL=C.UTF-8 "$@"
}
apt_get() {
	in_root timeout "$apt_timeout" apt-get -y -q -o DPkg::Lock::Timeout=600 \
		--no-install-recommends "$@"
}
present() { in_root dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -qv 'not-installed'; }
# apt_install LOG ARGS...: apt-get install, once more after apt-get update
# if the lists are stale (a package or a file not found). Returns apt's code.
apt_install() {
	local log=$1 rc=0
	shift
	apt_get install "$@" >"$log" 2>&1 || rc=$?
	if [ $rc != 0 ] && grep -qE 'Unable to locate|no installation candidate|404 +Not Found|Failed to fetch' "$log"; then
		in_root timeout "$apt_timeout" apt-get update -qq >>"$log" 2>&1 || true
		rc=0
		apt_get install "$@" >>"$log" 2>&1 || rc=$?
	fi
	return $rc
}
dkms_status() { in_root dkms status -m cohmem -v "$version" -k "$1" 2>/dev/null | grep -F "cohmem/$version" || true; }
dkms_ko() { in_root sh -c 'ls /lib/modules/$0/updates/dkms/cohmem.ko* 2>/dev/null' "$1" | head -n 1 || true; }

# purge PKG...: purge those of PKG that dpkg knows, half-configured ones too.
purge() {
	local p want=""
	for p in "$@"; do
		present "$p" && want="$want $p"
	done
	[ -z "$want" ] && return 0
	log "$suite: purging$want"
	# shellcheck disable=SC2086
	apt_get purge $want >>"$sdir/purge.log" 2>&1 ||
		in_root dpkg --purge --force-remove-reinstreq $want >>"$sdir/purge.log" 2>&1
}

# The packages a previous run left: B's headers and image, any excluded
# kernel's headers (and i386, added only for them), cohmem-dkms and what
# DKMS left behind.
clean_chroot() {
	local excl
	excl=$(in_root dpkg-query -W -f='${db:Status-Abbrev} ${binary:Package}\n' 'linux-headers-*' 2>/dev/null |
		awk '$1 !~ /^.n/ && $2 ~ /-(cloud-amd64|rt-amd64|686|686-pae|rt-686-pae)(:i386)?$/ { print $2 }' || true)
	# shellcheck disable=SC2086
	purge cohmem-dkms "linux-headers-$kb" "linux-image-$kb" "linux-binary-$kb" $excl
	if in_root dpkg --print-foreign-architectures | grep -qx i386 && [ -z "$(i386_packages)" ]; then
		in_root dpkg --remove-architecture i386
	fi
	# DKMS's own leftovers (depmod output, a build tree, a module): not
	# owned by a package. Left there they could let a step pass without a
	# build.
	in_root sh -c 'd=/lib/modules/$0; [ ! -d "$d" ] || dpkg -S "$d" >/dev/null 2>&1 || rm -rf "$d"
		rm -rf /var/lib/dkms/cohmem /usr/src/cohmem-* /lib/modules/*/updates/dkms/cohmem.ko*' "$kb"
}

# ---- step 5: a Debian kernel DKMS must skip -----------------------------
# lacks DEB: the first BUILD_EXCLUSIVE_CONFIG option the config of the
# headers package DEB (a path in the chroot) does not satisfy; "" if none;
# fails if DEB has no config.
lacks() {
	local cfg c
	cfg=$(in_root sh -c 'dpkg-deb --fsys-tarfile "$0" | tar -xO --wildcards "./usr/src/linux-headers-*/.config"' "$1") &&
		[ -n "$cfg" ] || return 1
	for c in $exclusive; do
		case $c in
		!*) ! grep -qE "^${c#!}=[ym]" <<<"$cfg" || { echo "$c"; return; } ;;
		*) grep -qE "^$c=[ym]" <<<"$cfg" || { echo "$c"; return; } ;;
		esac
	done
	return 0
}
# check_candidates PKG...: found="PKG OPTION" for the first PKG
# (linux-headers-KVER[:ARCH]) apt knows whose config lacks an option; the
# kernels looked at are added to $checked. The .debs are kept.
check_candidates() {
	local p deb miss
	for p in "$@"; do
		in_root apt-cache show --no-all-versions "$p" >/dev/null 2>&1 || continue
		deb=$(in_root sh -c 'cd /opt/cohmem/upgrade/debs &&
			{ ls "${0%%:*}"_*.deb 2>/dev/null || { apt-get download -qq "$0" >/dev/null 2>&1 &&
			ls "${0%%:*}"_*.deb; }; } | tail -n 1' "$p") || continue
		miss=$(lacks "/opt/cohmem/upgrade/debs/$deb") || continue
		checked="$checked ${p#linux-headers-}"
		if [ -n "$miss" ]; then
			found="$p $miss"
			return
		fi
	done
}
i386_packages() {
	in_root dpkg-query -W -f='${db:Status-Abbrev} ${binary:Package}\n' '*:i386' 2>/dev/null |
		awk '$1 !~ /^.n/ { print $2 }' || true
}
# find_excluded: found="PKG OPTION" for a Debian kernel of the suite that
# DKMS must skip, or "" (then $checked says which kernels have every option).
# First the other amd64 flavours of A and B; then the suite's i386 kernels
# (no 64-bit option there), whose headers install on amd64 with i386 as a
# foreign architecture (their kbuild and compiler packages are
# Multi-Arch: foreign). i386 is added for the check and removed again; a
# suite without i386 kernels (trixie) is noted so that it is not asked twice.
find_excluded() {
	local k cands noi386=/opt/cohmem/upgrade/no-i386-kernels
	found=""
	checked=""
	cands=""
	for k in "$ka" "$kb"; do
		cands="$cands linux-headers-${k%-amd64}-cloud-amd64 linux-headers-${k%-amd64}-rt-amd64"
	done
	# shellcheck disable=SC2086
	check_candidates $cands
	if [ -z "$found" ] && [ ! -f "$root$noi386" ]; then
		in_root dpkg --add-architecture i386
		# An error on some index (seen: bookworm-security's i386 one) is
		# not fatal: the packages apt does know are enough.
		in_root timeout "$apt_timeout" apt-get update -qq >"$sdir/i386-update.log" 2>&1 || true
		cands=""
		for k in "$ka" "$kb"; do
			cands="$cands linux-headers-${k%-amd64}-686-pae:i386 linux-headers-${k%-amd64}-686:i386"
		done
		# The same ABI may be missing (or not yet on the mirror for
		# i386): then the newest i386 kernel the suite has.
		k=$(in_root apt-cache search --names-only '^linux-headers-[0-9][^-]*(-[0-9]+)?-686-pae$' 2>/dev/null |
			awk '{ print $1 }' | sort -V | tail -n 1)
		[ -z "$k" ] || cands="$cands $k:i386"
		# shellcheck disable=SC2086
		check_candidates $cands
		if [ -z "$found" ]; then
			[ -n "$k" ] || echo "no linux-headers-*-686-pae in $suite (i386)" >"$root$noi386"
			in_root dpkg --remove-architecture i386
		fi
	fi
}

# ---- one suite ----------------------------------------------------------
suite_steps() {
	local sb st ko signer sigkey hash serial pkg opt rc p f s base
	local name_a=${suite}_cohmem_dkms_installs_for_$ka
	local name_b=${suite}_headers_hook_builds_for_$kb
	local name_sig=${suite}_dkms_module_for_${kb}_signed
	local name_x=${suite}_build_exclusive_kernel_skipped
	local name_vm=${suite}_${kb}_suite_with_dkms_module

	echo "# $suite: $ka -> $kb"
	if ! root=$("$COHMEM_TOP/scripts/chroot.sh" "$suite" $CHROOT_DKMS_PACKAGES 2>"$sdir/chroot.log"); then
		for p in "$name_a" "$name_b" "$name_sig" "$name_x" "$name_vm"; do
			not_ok "$p" "no $suite chroot: $(tail -n 1 "$sdir/chroot.log")"
		done
		return
	fi
	mkdir -p "$root/opt/cohmem/upgrade/debs"
	rm -f "$root"/opt/cohmem/upgrade/cohmem-dkms_*.deb
	cp "$deb" "$root/opt/cohmem/upgrade/"
	clean_chroot

	# 2. A's headers, then the package: its postinst builds for A.
	log "$suite: linux-headers-$ka, then cohmem-dkms"
	rc=0
	apt_install "$sdir/install-a.log" $CHROOT_DKMS_PACKAGES "linux-headers-$ka" || rc=$?
	[ $rc != 0 ] || apt_install "$sdir/install-dkms.log" "/opt/cohmem/upgrade/$(basename "$deb")" || rc=$?
	st=$(dkms_status "$ka")
	if [ $rc = 0 ] && grep -q ': installed' <<<"$st" && [ -n "$(dkms_ko "$ka")" ]; then
		ok "$name_a" "$st"
	else
		not_ok "$name_a" "apt exit $rc, dkms status '${st:-nothing}': see $sdir/install-{a,dkms}.log"
		for p in "$name_b" "$name_sig" "$name_x" "$name_vm"; do
			not_ok "$p" "not run: cohmem-dkms did not install for $ka"
		done
		return
	fi

	# 3. B's headers (and, when they ask for it, B's image): DKMS's
	# header_postinst.d and postinst.d hooks, not us, build cohmem for B.
	log "$suite: linux-headers-$kb (DKMS's hooks build cohmem)"
	rc=0
	apt_install "$sdir/install-b.log" "linux-headers-$kb" || rc=$?
	sb=$(dkms_status "$kb")
	st=$(dkms_status "$ka")
	ko=$(dkms_ko "$kb")
	if [ $rc = 0 ] && grep -q ': installed' <<<"$sb" && grep -q ': installed' <<<"$st" && [ -n "$ko" ]; then
		ok "$name_b" "$st; $sb"
	else
		not_ok "$name_b" "apt exit $rc, dkms status for $kb '${sb:-nothing}', for $ka '${st:-nothing}': see $sdir/install-b.log"
		ko=""
	fi

	# 4. Signed, with the key DKMS made (its certificate's serial).
	if [ -z "$ko" ]; then
		not_ok "$name_sig" "no module installed for $kb"
	else
		signer=$(in_root modinfo -F signer "$ko" 2>/dev/null || true)
		sigkey=$(in_root modinfo -F sig_key "$ko" 2>/dev/null | tr -d ':' | tr a-f A-F | sed 's/^0*//' || true)
		hash=$(in_root modinfo -F sig_hashalgo "$ko" 2>/dev/null || true)
		serial=$(in_root sh -c 'openssl x509 -inform DER -in /var/lib/dkms/mok.pub -noout -serial 2>/dev/null' |
			sed 's/^serial=//; s/^0*//' | tr a-f A-F || true)
		if [ -z "$signer" ]; then
			not_ok "$name_sig" "$ko has no signature: see $sdir/install-b.log"
		elif [ -n "$serial" ] && [ "$sigkey" != "$serial" ]; then
			not_ok "$name_sig" "$ko signed by '$signer' key $sigkey, not DKMS's /var/lib/dkms/mok.pub ($serial)"
		else
			ok "$name_sig" "$ko: signer '$signer', $hash, key $sigkey = /var/lib/dkms/mok.pub"
		fi
	fi

	# 5. A kernel BUILD_EXCLUSIVE_CONFIG rules out: skipped, not failed.
	find_excluded
	if [ -z "$found" ]; then
		skip "$name_x" "no Debian kernel in $suite lacks any of $exclusive (all set in:$checked; $(cat "$root/opt/cohmem/upgrade/no-i386-kernels" 2>/dev/null || echo 'i386 kernels have them'))"
	else
		read -r pkg opt <<<"$found"
		s=${pkg#linux-headers-}
		s=${s%:*}
		log "$suite: $pkg (no $opt: DKMS must skip it)"
		rc=0
		apt_install "$sdir/install-excluded.log" "$pkg" || rc=$?
		st=$(dkms_status "$s")
		built=$(grep -E ': (built|installed)' <<<"$st" || true)$(dkms_ko "$s")
		if [ $rc = 0 ] && [ -z "$built" ]; then
			ok "$name_x" "$pkg lacks $opt: apt exit 0, dkms status '${st:-nothing}'"
		elif [ -z "$built" ] && dpkg --compare-versions "$(in_root dpkg-query -W -f='${Version}' dkms)" lt 3.1 &&
		     grep -q 'BUILD_EXCLUSIVE directive which does not match' "$sdir/install-excluded.log"; then
			# dkms 3.0.10 (Debian 12) skips the module but its header and
			# kernel hooks then exit non-zero, so apt reports the kernel's
			# package as failed; dkms 3.2 (Debian 13) exits 0. Nothing a
			# module package can change: recorded, not counted.
			skip "$name_x" "$pkg lacks $opt: not built, but dkms $(in_root dpkg-query -W -f='${Version}' dkms) fails the kernel package's hook on a BUILD_EXCLUSIVE skip (apt exit $rc; fixed in dkms 3.2)"
		else
			f=$(grep -m1 -E '^Error!|exited with return code|returned error exit status' "$sdir/install-excluded.log" | oneline || true)
			not_ok "$name_x" "$pkg lacks $opt: apt exit $rc, dkms status '${st:-nothing}'${f:+: $f}: see $sdir/install-excluded.log"
		fi
		purge "$pkg"
		if [ "${pkg##*:}" = i386 ] && [ -z "$(i386_packages)" ]; then
			in_root dpkg --remove-architecture i386
		fi
	fi

	# 6. Boot B with the module DKMS installed, where it installed it.
	if [ -z "$ko" ]; then
		not_ok "$name_vm" "no module installed for $kb"
		return
	fi
	out=$upout/$suite
	mkdir -p "$out/$kb"
	case $ko in
	*.xz) xz -dc "$root$ko" >"$out/$kb/cohmem.ko" ;;
	*.zst) zstd -dcq "$root$ko" >"$out/$kb/cohmem.ko" ;;
	*.gz) gzip -dc "$root$ko" >"$out/$kb/cohmem.ko" ;;
	*) cp "$root$ko" "$out/$kb/cohmem.ko" ;;
	esac
	if ! "$COHMEM_TOP/scripts/fetch-kernel.sh" "$kb" >"$sdir/fetch.log" 2>&1 ||
	   ! COHMEM_OUT=$out COHMEM_BINS=$top_out/tests COHMEM_KO=$out/$kb/cohmem.ko \
		COHMEM_KO_DIR=updates/dkms "$COHMEM_TOP/scripts/mkinitramfs.sh" "$kb" >"$sdir/initramfs.log" 2>&1; then
		not_ok "$name_vm" "no kernel or initramfs: see $sdir/{fetch,initramfs}.log"
		return
	fi
	COHMEM_OUT=$out "$COHMEM_TOP/scripts/run-vm.sh" "$kb" reserved tests 2>"$sdir/vm.log" || true
	base=$out/$kb/reserved-tests
	touch "$base.ktap" "$base.console"
	read -r p f s < <(awk -f "$COHMEM_TOP/scripts/ktap-summary.awk" \
		"$base.ktap" "$base.console" 2>"$base.failures")
	if [ "$f" = 0 ] && [ "$p" -gt 0 ]; then
		ok "$name_vm" "$p passed$([ "$s" = 0 ] || echo ", $s skipped"): $ko"
	else
		not_ok "$name_vm" "$f failed, $p passed: see $base.{ktap,console,failures}"
	fi
}

# ---- main ---------------------------------------------------------------
nsuites=$(echo $suites | wc -w)
plan=$((1 + 5 * nsuites))
echo "KTAP version 1"
echo "1..$plan"
# Whatever stops the script early is one more failure, not a silent one.
trap 'rc=$?; [ "$n" -ge "$plan" ] || not_ok upgrade_test_stopped "exit $rc after test $n of $plan: see the log above"' EXIT

log "building the test programs"
make -s -C "$COHMEM_TOP/tests" O="$top_out/tests" >&2 ||
	log "the test programs did not build: the guest runs will fail"
log "make deb"
deb=""
if make -C "$COHMEM_TOP" deb >"$upout/deb.log" 2>&1; then
	deb=$(ls "$COHMEM_TOP"/out/deb/cohmem-dkms_"$version"-*_all.deb 2>/dev/null | tail -n 1)
fi
if [ -n "$deb" ]; then
	ok make_deb "$(basename "$deb")"
else
	not_ok make_deb "$( (grep -m1 -E 'error:|Error|unmet' "$upout/deb.log" || tail -n 1 "$upout/deb.log") | oneline): see $upout/deb.log"
fi

for suite in $suites; do
	read -r la lb < <(echo "$pairs" | awk -v s="$suite" '$1 == s { print $2, $3 }')
	[ -n "${lb:-}" ] || die "no kernel pair for suite $suite"
	ka=$(line_kernel "$la")
	kb=$(line_kernel "$lb")
	[ -n "$ka" ] && [ -n "$kb" ] || die "$suite: the archive has no current kernel of line $la or $lb"
	sdir=$upout/$suite
	mkdir -p "$sdir"
	rm -f "$sdir"/*.log
	if [ -z "$deb" ]; then
		echo "# $suite: $ka -> $kb"
		for p in cohmem_dkms_installs_for_$ka headers_hook_builds_for_$kb dkms_module_for_${kb}_signed \
			 build_exclusive_kernel_skipped ${kb}_suite_with_dkms_module; do
			not_ok "${suite}_$p" "not run: no cohmem-dkms package"
		done
		continue
	fi
	suite_steps
done
echo "# upgrade-test: $npass passed, $nfail failed, $nskip skipped"
[ "$nfail" = 0 ]
