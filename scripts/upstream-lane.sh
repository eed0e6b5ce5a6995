#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# upstream-lane.sh: the upstream lane (also `COHMEM_LANE=upstream
# scripts/test.sh`): the kernel's own selftests of its test drivers,
# hmm-tests and gup_longterm, unmodified, against cohmem. For each kernel
# of the matrix (resolve-kernels.sh; COHMEM_KERNELS narrows it): the
# kernel, cohmem built for it (build-module.sh), the two programs built
# statically from the Debian linux-source package nearest that kernel
# (upstream-build.sh, cached; 6.1 has no gup_longterm), and one hot-remove
# boot running the guest's `upstream` job: cohmem loaded with
# upstream_abi=1 (/dev/hmm_dmirror0..3, debugfs gup_test), four devices of
# 256 MiB, 0 and 1 device-private where the kernel has it, each program
# run whole. Their TAP is read case by case against the expectations of
# the kernel's line, tests/upstream/expect-LINE (scripts/upstream-tap.awk
# says how): a case not named there must pass, a case named there must
# give what it says, and any difference either way fails; so do a result
# missing, a program that crashed, an expectation no case matched, and
# any warning in the kernel log, as in every run (ktap-summary.awk).
# Prints per kernel the source package used and the table (case, variant,
# result, expected, reason; also in $COHMEM_OUT/upstream-KVER.txt), then
# "N passed, N failed, N skipped": a case that gives its expected non-pass
# is counted as skipped. $COHMEM_OUT/upstream.md is the run as a Markdown
# table, for the README.
# Environment: COHMEM_KERNELS, COHMEM_JOBS (guests at once, default 2),
# COHMEM_APPEND, COHMEM_CACHE, COHMEM_OUT.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_host_packages
start=$(date +%s)
rm -f "$KERNELS_RESOLVED"
"$COHMEM_TOP/scripts/resolve-kernels.sh"
kernels=$(kernels_list)

log "building the test programs"
make -s -C "$COHMEM_TOP/tests" O="$COHMEM_OUT/tests"

total_pass=0 total_fail=0 total_skip=0
summary=""
row() { summary+=$(printf '%-30s %-18s %5s %5s %5s  %s' "$@")$'\n'; }
while IFS=$'\t' read -r name why; do
	total_fail=$((total_fail + 1))
	row "$name" - 0 1 0 "FAIL: $why"
done <"$COHMEM_OUT/kernels.unresolved"

booted=""
declare -A src=()
for kver in $kernels; do
	if ! "$COHMEM_TOP/scripts/build-module.sh" "$kver" 2>"$COHMEM_OUT/$kver.build.err"; then
		cat "$COHMEM_OUT/$kver.build.err" >&2
		total_fail=$((total_fail + 1))
		row "$kver" - 0 1 0 "FAIL: module build: $(grep -m1 'error:' "$COHMEM_OUT/$kver.build.err" |
			sed 's/^\[cohmem\] error: //' || echo "see $COHMEM_OUT/$kver/build.log")"
		continue
	fi
	cat "$COHMEM_OUT/$kver.build.err" >&2
	if ! dir=$("$COHMEM_TOP/scripts/upstream-build.sh" "$kver" 2>"$COHMEM_OUT/$kver.upstream.err"); then
		cat "$COHMEM_OUT/$kver.upstream.err" >&2
		total_fail=$((total_fail + 1))
		row "$kver" - 0 1 0 "FAIL: $(grep -m1 'error:' "$COHMEM_OUT/$kver.upstream.err" |
			sed 's/^\[cohmem\] error: //' || echo "the upstream selftests did not build")"
		continue
	fi
	cat "$COHMEM_OUT/$kver.upstream.err" >&2
	COHMEM_UPSTREAM=$dir "$COHMEM_TOP/scripts/mkinitramfs.sh" "$kver" ||
		die "$kver: could not make the initramfs"
	src[$kver]=$dir
	booted="$booted $kver"
	# 256 MiB devices for 7.x's benchmark_thp_migration; 128 MiB where
	# hmm-tests has no such case (6.1 cannot hot-remove 4 x 256 MiB).
	mib=128
	! grep -qa benchmark_thp_migration "$dir/hmm-tests" || mib=256
	throttle
	COHMEM_UPSTREAM_MIB=$mib "$COHMEM_TOP/scripts/run-vm.sh" "$kver" hotremove upstream &
done
wait

md=$COHMEM_OUT/upstream.md
{
	echo "| kernel | line | sources | passed | failed | skipped (expected non-pass) |"
	echo "|---|---|---|---|---|---|"
} >"$md"
for kver in $booted; do
	line=$(awk -v k="$kver" '$1 == k { print $3; exit }' "$KERNELS_RESOLVED")
	expect=$COHMEM_TOP/tests/upstream/expect-$line
	[ -f "$expect" ] || log "$kver: no $expect: every case must pass"
	base=$COHMEM_OUT/$kver/hotremove-upstream
	touch "$base.ktap" "$base.console"
	progs=""
	for p in hmm-tests gup_longterm; do
		[ ! -e "${src[$kver]}/$p" ] || progs="$progs $p"
	done
	table=$COHMEM_OUT/upstream-$kver.txt
	awk -v expect="$expect" -v kernel="$kver" -v progs="$progs" -v counts="$base.counts" \
		-f "$COHMEM_TOP/scripts/upstream-tap.awk" "$base.ktap" \
		>"$table" 2>"$base.deviations"
	read -r up uf us <"$base.counts"
	# The rest as in every run: the load and unload, the guest finishing,
	# the kernel log.
	awk '{ sub(/\r$/, "") }
		/^# program: (hmm-tests|gup_longterm)$/ { skip = 1; next }
		skip && /^# exit: / { skip = 0; next }
		!skip' "$base.ktap" >"$base.rest"
	read -r p f s < <(awk -f "$COHMEM_TOP/scripts/ktap-summary.awk" \
		"$base.rest" "$base.console" 2>"$base.failures")
	p=$((p + up)) f=$((f + uf)) s=$((s + us))
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	total_skip=$((total_skip + s))
	echo
	echo "upstream selftests on $kver ($line): $(head -n 1 "${src[$kver]}/source")"
	echo "expectations: ${expect#"$COHMEM_TOP"/}; raw TAP and kernel log: $base.{ktap,console}"
	cat "$table"
	cat "$base.deviations" "$base.failures" >&2
	echo "$kver: $p passed, $f failed, $s skipped"
	if [ "$f" = 0 ]; then
		why=ok
	else
		why="FAIL: $(cat "$base.deviations" "$base.failures" | head -n 1 | sed 's/^ *//')"
	fi
	row "$kver" "$line" "$p" "$f" "$s" "$why"
	echo "| $kver | $line | $(head -n 1 "${src[$kver]}/source" | cut -d' ' -f1-2) | $p | $f | $s |" >>"$md"
done
echo
echo "Run of $(date -u '+%Y-%m-%d'), $(($(date +%s) - start)) s" >>"$md"

echo
printf '%-30s %-18s %5s %5s %5s\n' kernel line pass fail skip
printf '%s' "$summary"
echo
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" = 0 ]
