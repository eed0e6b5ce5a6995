#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# chroot.sh SUITE [PACKAGES...]: a cached debootstrap chroot of a newer
# Debian suite (trixie, sid) with what building a module for its kernels
# needs. The mirror is the one this machine's apt uses. Prints its path.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

suite=${1:?usage: chroot.sh SUITE [PACKAGES...]}
shift
dir=$COHMEM_CACHE/chroot/$suite

# The Debian archive this machine's apt configuration points at.
apt_mirror() {
	local uri
	uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources |
		awk '{ print $2 }' | grep -v -- '-security' | head -n 1)
	[ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list |
		awk '{ print $2 }' | grep -v -- '-security' | head -n 1)
	echo "$uri"
}

if [ ! -f "$dir/.done" ]; then
	command -v debootstrap >/dev/null || {
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
	}
	mirror=$(apt_mirror)
	rm -rf "$dir"
	mkdir -p "$(dirname "$dir")"
	log "debootstrap $suite (a few minutes, once)"
	debootstrap --variant=minbase "$suite" "$dir" $mirror >"$dir.log" 2>&1 ||
		{ tail -n 20 "$dir.log" >&2; die "debootstrap $suite failed"; }
	if [ -n "$mirror" ]; then
		echo "deb $mirror $suite main" >"$dir/etc/apt/sources.list"
		case $suite in
		trixie) echo "deb $mirror $suite-backports main" >>"$dir/etc/apt/sources.list" ;;
		esac
	fi
	# The mirror may be a frozen snapshot whose Release files have expired
	# (seen with sid): their signatures are still checked.
	echo 'Acquire::Check-Valid-Until "false";' >"$dir/etc/apt/apt.conf.d/99cohmem"
	touch "$dir/.done"
fi
if [ $# -gt 0 ]; then
	missing=""
	for p in "$@"; do
		chroot "$dir" dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		log "installing in the $suite chroot:$missing"
		chroot "$dir" apt-get update -qq
		chroot "$dir" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $missing >/dev/null
	fi
fi
echo "$dir"
