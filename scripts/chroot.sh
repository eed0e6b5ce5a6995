#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# chroot.sh SUITE [PACKAGES...]: a cached debootstrap chroot of a Debian
# suite (trixie, sid, or this machine's own) with what building a module for
# its kernels needs. Its apt sources are this machine's own entries
# (mirror, -updates, -security) renamed for SUITE, plus SUITE-backports
# (chroot_sources below), checked on every run. Prints its path.
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

# host_sources SUITE: this machine's own apt entries for SUITE and
# SUITE-* (one-line format; deb822 stanzas converted), nothing else: no
# deb-src, no third-party repository with a suite name of its own.
host_sources() {
	local files
	files=$(ls /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources 2>/dev/null) || true
	[ -n "$files" ] || return 0
	# shellcheck disable=SC2086
	awk -v suite="$1" '
	function want(s) { return s == suite || index(s, suite "-") == 1 }
	function flush(  n, m, i, j, U, S, opt) {
		if (types ~ /(^|[ \t])deb([ \t]|$)/ && tolower(enabled) != "no") {
			opt = signed ~ /^\// ? "[signed-by=" signed "] " : ""
			n = split(uris, U, /[ \t]+/)
			m = split(suites, S, /[ \t]+/)
			for (i = 1; i <= n; i++)
				for (j = 1; j <= m; j++)
					if (U[i] != "" && want(S[j]))
						print "deb " opt U[i] " " S[j] " " comps
		}
		types = uris = suites = comps = signed = enabled = ""
	}
	FNR == 1 { flush(); deb822 = FILENAME ~ /\.sources$/ }
	/^[ \t]*(#|$)/ { if (deb822 && /^[ \t]*$/) flush(); next }
	deb822 && /^[A-Za-z-]+:/ {
		key = tolower($0); sub(/:.*/, "", key)
		val = $0; sub(/^[^:]*:[ \t]*/, "", val); sub(/[ \t]+$/, "", val)
		if (key == "types") types = val
		else if (key == "uris") uris = val
		else if (key == "suites") suites = val
		else if (key == "components") comps = val
		else if (key == "signed-by") signed = val
		else if (key == "enabled") enabled = val
		next
	}
	!deb822 && $1 == "deb" {
		i = 2
		if ($i ~ /^\[/) while ($i !~ /\]$/ && i < NF) i++
		if ($i ~ /^\[/ || $i ~ /\]$/) i++
		if (want($(i + 1))) print
	}
	END { flush() }
	' $files
}

# chroot_sources: what the chroot's /etc/apt/sources.list should say: this
# machine's own entries for its suite and SUITE-* (-updates, -security:
# kernels are updated there), renamed for the chroot's suite (sid has only
# itself), and SUITE-backports beside SUITE, where it is not there already.
chroot_sources() {
	local host mirror
	host=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	if [ -n "$host" ] && [ -n "$(host_sources "$host")" ]; then
		host_sources "$host" | awk -v h="$host" -v s="$suite" '
		{
			i = 2
			if ($i ~ /^\[/) while ($i !~ /\]$/ && i < NF) i++
			if ($i ~ /^\[/ || $i ~ /\]$/) i++
			x = $(i + 1)
			if (x == h)
				main = $0
			else if (s == "sid")
				next
			$(i + 1) = s substr(x, length(h) + 1)
			if ($(i + 1) == s "-backports")
				bpo = 1
			print
		}
		END {
			if (s != "sid" && !bpo && main != "") {
				$0 = main
				i = 2
				if ($i ~ /^\[/) while ($i !~ /\]$/ && i < NF) i++
				if ($i ~ /^\[/ || $i ~ /\]$/) i++
				$(i + 1) = s "-backports"
				print
			}
		}'
		return
	fi
	mirror=$(apt_mirror)
	[ -n "$mirror" ] || return 0
	echo "deb $mirror $suite main"
	[ "$suite" = sid ] || echo "deb $mirror $suite-backports main"
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
	# The mirror may be a frozen snapshot whose Release files have expired
	# (seen with sid): their signatures are still checked.
	echo 'Acquire::Check-Valid-Until "false";' >"$dir/etc/apt/apt.conf.d/99cohmem"
	touch "$dir/.done"
fi
# The sources, also for a chroot made before they changed (debootstrap's
# own sources.list has SUITE main only), and the Signed-By keyrings they name.
sources=$(chroot_sources)
if [ -n "$sources" ] && [ "$sources" != "$(cat "$dir/etc/apt/sources.list" 2>/dev/null)" ]; then
	log "writing the $suite chroot's apt sources"
	for key in $(echo "$sources" | grep -o 'signed-by=[^] ]*' | cut -d= -f2 | sort -u); do
		[ -e "$dir$key" ] || install -D -m 644 "$key" "$dir$key"
	done
	echo "$sources" >"$dir/etc/apt/sources.list"
	chroot "$dir" apt-get update -qq
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
