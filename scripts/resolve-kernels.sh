#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# resolve-kernels.sh: the exact kernels of this run, asked of Debian's
# archive now. Refreshes the apt lists of every builder it asks (the host,
# the chroots), resolves each line of scripts/kernels.list to the ABI its
# meta-package points at, per flavour, and, where asked, the line's
# previous ABI while apt still knows it. Writes $COHMEM_OUT/kernels.resolved
# (KVER BUILDER LINE FLAVOUR ROLE VERSION) and $COHMEM_OUT/kernels.unresolved
# (NAME, then why: one line each, counted as failures by test.sh), records
# each kernel's builder in $COHMEM_CACHE/kernel-builders, and prints the
# table.
#
# COHMEM_KERNELS: what to test instead of the lane's lines, any of: a line
#   (bookworm), a line and flavour (trixie:rt-amd64), or an exact ABI
#   (6.1.0-56-amd64, pinned: it must still be in the archive).
# Without them: the lines of the default lane, each in the flavours its
# LANES field names (default:amd64,rt-amd64), or amd64 alone.
# COHMEM_LANE=all-flavours: every line (also those of the "all" lane), every
#   flavour. COHMEM_FLAVOURS overrides the flavours of either.
# COHMEM_PREVIOUS=1: each line's previous ABI too, while apt still knows it
#   (old and new side by side, as on an upgrade).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

all_flavours="amd64 rt-amd64 cloud-amd64"
if [ "${COHMEM_LANE:-}" = all-flavours ]; then
	lanes="default all"
	flavours=${COHMEM_FLAVOURS:-$all_flavours}
else
	lanes=default
	flavours=${COHMEM_FLAVOURS:-}
fi
previous=${COHMEM_PREVIOUS:-0}
# The lines of the lanes asked for (LANES is "default" or "default:FLAVOURS").
lines=$(awk -v lanes=" $lanes " '!/^#/ && NF {
	l = $5
	sub(/:.*/, "", l)
	if (index(lanes, " " l " "))
		print $1
}' "$KERNELS_LIST")
# line_flavours LINE: the flavours to test of a line
line_flavours() {
	local f
	f=$(list_field "$1" 5)
	if [ -n "$flavours" ]; then
		echo "$flavours"
	elif [ "${f#*:}" != "$f" ]; then
		echo "${f#*:}" | tr ',' ' '
	else
		echo amd64
	fi
}
builders=$(awk '!/^#/ && NF { print $2 }' "$KERNELS_LIST" | awk '!seen[$0]++')

mkdir -p "$COHMEM_OUT" "$COHMEM_CACHE"
resolved=$KERNELS_RESOLVED.tmp unresolved=$COHMEM_OUT/kernels.unresolved
: >"$resolved"
: >"$unresolved"

# Fresh apt lists, once per builder and run: the archive moves.
declare -A updated=()
refresh() {
	local err
	[ -z "${updated[$1]:-}" ] || return 0
	updated[$1]=1
	log "apt-get update ($1)"
	if ! err=$(in_suite "$1" apt-get update -qq 2>&1); then
		log "apt-get update failed in $1; resolving from its old lists: $(tail -n 1 <<<"$err")"
	fi
}

# bootable BUILDER KVER: apt knows the headers and an image of KVER
bootable() {
	[ -n "$(apt_version "$1" "linux-headers-$2")" ] &&
		{ [ -n "$(apt_version "$1" "linux-image-$2")" ] || [ -n "$(apt_version "$1" "linux-binary-$2")" ]; }
}
# add KVER BUILDER LINE FLAVOUR ROLE
add() {
	awk -v k="$1" '$1 == k { found = 1 } END { exit !found }' "$resolved" && return 0
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$(apt_version "$2" "linux-headers-$1")" >>"$resolved"
}
unresolved() {
	printf '%s\t%s\n' "$1" "$2" >>"$unresolved"
	log "$1: $2"
}

# resolve LINE FLAVOUR: the line's current kernel, and its previous one
resolve() {
	local line=$1 fl=$2 b k p
	b=$(list_field "$line" 2)
	[ -n "$b" ] || { unresolved "$line" "no such line in scripts/kernels.list"; return; }
	refresh "$b"
	k=$(resolve_line "$line" "$fl")
	if [ -z "$k" ]; then
		# A line without this flavour (or a meta-package gone) is not a
		# failure when the flavour was not asked for by name.
		if [ "${3:-}" = named ]; then
			unresolved "$line:$fl" "apt ($b) knows no $(list_field "$line" 4 | sed "s/FLAVOUR/$fl/")$(list_field "$line" 3 | sed 's|^-$||; s|^.|/&|')"
		else
			log "$line: no $fl flavour in the archive"
		fi
		return
	fi
	add "$k" "$b" "$line" "$fl" current
	[ "$previous" = 1 ] || return 0
	p=$(previous_abi "$b" "$k" "$fl")
	if [ -n "$p" ] && bootable "$b" "$p"; then
		add "$p" "$b" "$line" "$fl" previous
	else
		log "$line ($fl): no previous ABI of $k left in the archive"
	fi
}

# flavour_of KVER, series KVER: what the ABIs of one line share: major.minor,
# the +debNN tag and the flavour (6.1 amd64, 6.12+deb12 rt-amd64)
flavour_of() { grep -oE '(rt-|cloud-)?amd64$' <<<"$1"; }
series() {
	echo "$(grep -oE '^[0-9]+\.[0-9]+' <<<"$1")$(grep -oE '\+deb[0-9]+' <<<"$1" || true) $(flavour_of "$1")"
}
# line_of KVER [BUILDER]: the line (of BUILDER) whose current kernel is of
# KVER's series, and that kernel
line_of() {
	local l c
	for l in $(awk -v b="${2:-}" '!/^#/ && NF && (b == "" || $2 == b) { print $1 }' "$KERNELS_LIST"); do
		refresh "$(list_field "$l" 2)"
		c=$(resolve_line "$l" "$(flavour_of "$1")")
		if [ -n "$c" ] && [ "$(series "$c")" = "$(series "$1")" ]; then
			echo "$l $c"
			return
		fi
	done
}

# pinned KVER: an exact ABI, from the first builder whose apt knows it
pinned() {
	local k=$1 b line cur
	for b in $builders; do
		refresh "$b"
		if bootable "$b" "$k"; then
			read -r line cur < <(line_of "$k" "$b"; echo)
			add "$k" "$b" "${line:-pinned}" "$(flavour_of "$k")" pinned
			return
		fi
	done
	# Gone: name the kernel that replaced it, from the line of its series.
	read -r line cur < <(line_of "$k"; echo)
	unresolved "$k" "pinned kernel not in the archive any more (apt on $(echo $builders | sed 's/ /, /g') knows no linux-headers-$k with an image)${cur:+; the current kernel of its line, $line, is $cur}"
}

if [ -n "${COHMEM_KERNELS:-}" ]; then
	for want in $COHMEM_KERNELS; do
		case $want in
		[0-9]*) pinned "$want" ;;
		*:*) resolve "${want%%:*}" "${want#*:}" named ;;
		*) for fl in $(line_flavours "$want"); do resolve "$want" "$fl"; done ;;
		esac
	done
else
	for line in $lines; do
		for fl in $(line_flavours "$line"); do
			resolve "$line" "$fl"
		done
	done
fi

# Where each kernel's packages live from now on (kernel_builder).
touch "$KERNEL_BUILDERS"
awk -F'\t' 'FNR == NR { b[$1] = $2; next } !($1 in b) { print } END { for (k in b) print k "\t" b[k] }' \
	"$resolved" "$KERNEL_BUILDERS" >"$KERNEL_BUILDERS.$$"
mv "$KERNEL_BUILDERS.$$" "$KERNEL_BUILDERS"
mv "$resolved" "$KERNELS_RESOLVED"

{
	echo "kernel matrix, resolved from the archive on $(date -u '+%Y-%m-%d %H:%M UTC'):"
	printf '  %-30s %-9s %-19s %-12s %-9s %s\n' kernel builder line flavour role "headers version"
	awk -F'\t' '{ printf "  %-30s %-9s %-19s %-12s %-9s %s\n", $1, $2, $3, $4, $5, $6 }' "$KERNELS_RESOLVED"
	awk -F'\t' '{ printf "  %-30s unresolved: %s\n", $1, $2 }' "$unresolved"
} | tee "$COHMEM_OUT/kernels.txt" >&2
[ -s "$KERNELS_RESOLVED" ] || [ -s "$unresolved" ] || die "no kernel resolved: see the lines above"
