#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# checkpatch.sh: scripts/checkpatch.pl --strict over the module and uapi
# sources, taken from Debian's linux-source package (cached, not vendored).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dir=$COHMEM_CACHE/checkpatch
if [ ! -x "$dir/scripts/checkpatch.pl" ]; then
	newest() { apt-cache search --names-only '^linux-source-[0-9.]+$' | awk '{ print $1 }' | sort -V | tail -n 1; }
	pkg=$(newest)
	[ -n "$pkg" ] || { apt-get update -qq; pkg=$(newest); }
	[ -n "$pkg" ] || die "no linux-source package known to apt"
	log "extracting checkpatch.pl from $pkg"
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -qq "$pkg")
	mkdir -p "$dir"
	dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" --wildcards '*.tar.xz'
	tar -xJf "$tmp"/usr/src/linux-source-*.tar.xz -C "$dir" --strip-components=1 \
		--wildcards '*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch'
	rm -rf "$tmp"
fi
cd "$COHMEM_TOP"
checkpatch() { "$dir/scripts/checkpatch.pl" --strict --no-tree --terse --show-types "$@"; }
checkpatch -f src/*.c src/*.h include/uapi/linux/*.h probes/*.c
