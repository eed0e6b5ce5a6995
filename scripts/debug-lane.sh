#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# debug-lane.sh: the debug-kernel lane. Builds (or takes from the cache)
# the debug kernels of scripts/debug-kernel.sh (KASAN, lockdep,
# DEBUG_ATOMIC_SLEEP, DEBUG_VM, DEBUG_PAGEALLOC, page poisoning, kmemleak,
# DEBUG_LIST; from Debian's linux-source-6.12 and -7.3), builds cohmem
# against each as DKMS would, and boots each in both region modes: the
# whole suite (the guest's `tests` job, the private phase included: the
# debug kernels have CONFIG_DEVICE_PRIVATE), stress and fuzz for
# COHMEM_DEBUG_STRESS_SECS (default 120) each with racing device-side
# eviction on (cohmem_race_evict=1), rmmod, then two kmemleak scans: any
# leak whose backtrace is cohmem's fails (the guest's `kmemleak` program).
# Any KASAN, lockdep, BUG, WARNING or Oops line in the guest's kernel log
# fails the boot. The KCSAN kernel (7.3-kcsan) runs only stress and fuzz
# (the guest's `stress` job), and only KCSAN reports that touch cohmem
# fail (scripts/kcsan-filter.awk); the others are counted in the KTAP.
# Prints KTAP per kernel ($COHMEM_OUT/debug-KVER.ktap) and ends with
# "N passed, N failed, N skipped", as test.sh does.
# Environment: COHMEM_DEBUG_VERSIONS (default "6.12 7.3 7.3-kcsan"), COHMEM_MODES
# (subset of "reserved hotremove"), COHMEM_DEBUG_STRESS_SECS,
# COHMEM_DEBUG_RACE=0 (stress and fuzz without racing eviction), COHMEM_JOBS
# (guests at once, default 2), COHMEM_DEBUG_JOBS (kernel build jobs,
# default 2), COHMEM_APPEND (more kernel parameters), COHMEM_SRC (the
# module source to build, default this checkout), COHMEM_CACHE, COHMEM_OUT.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_host_packages
versions=${COHMEM_DEBUG_VERSIONS:-6.12 7.3 7.3-kcsan}
modes=${COHMEM_MODES:-reserved hotremove}
secs=${COHMEM_DEBUG_STRESS_SECS:-120}
mkdir -p "$COHMEM_OUT"

log "building the test programs"
make -s -C "$COHMEM_TOP/tests" O="$COHMEM_OUT/tests"

# A debug kernel runs the suite about ten times slower than a stock one
# under TCG: the guest's watchdog and the host's timeout grow with the
# stress time (stress and fuzz run four times: coherent and private).
wd=$((1800 + 4 * secs))
common="cohmem_race_evict=${COHMEM_DEBUG_RACE:-1} cohmem_stress_secs=$secs"
common="$common cohmem_watchdog=$wd ${COHMEM_APPEND:-}"
declare -A job

total_pass=0 total_fail=0 total_skip=0
summary=""
row() { summary+=$(printf '%-30s %-10s %5s %5s %5s  %s' "$@")$'\n'; }
kernels=""
for v in $versions; do
	if ! kver=$("$COHMEM_TOP/scripts/debug-kernel.sh" "$v"); then
		total_fail=$((total_fail + 1))
		row "debug $v" - 0 1 0 "FAIL: the debug kernel did not build (see above)"
		continue
	fi
	rc=0
	"$COHMEM_TOP/scripts/build-module.sh" "$kver" 2>"$COHMEM_OUT/$kver.build.err" || rc=$?
	cat "$COHMEM_OUT/$kver.build.err" >&2
	if [ $rc != 0 ] || ! "$COHMEM_TOP/scripts/mkinitramfs.sh" "$kver"; then
		total_fail=$((total_fail + 1))
		row "$kver" - 0 1 0 "FAIL: module build (see $COHMEM_OUT/$kver.build.err)"
		continue
	fi
	kernels="$kernels $kver"
	if [ "$v" != "${v%-kcsan}" ]; then
		job[$kver]=stress
		append=$common
	else
		job[$kver]=tests
		append="debug_pagealloc=on page_poison=1 kasan_multi_shot cohmem_kmemleak=1 $common"
	fi
	for mode in $modes; do
		# Hot-removed memory and DEBUG_PAGEALLOC do not mix on x86 (6.12,
		# 7.3): free pages are unmapped from the direct map when the
		# block is offlined, remove_pte_table() skips those non-present
		# PTEs, and arch_add_memory() for the ZONE_DEVICE range skips
		# them again as not none: the first copy into a device page
		# faults (copy_page, "not-present page"). Not cohmem's to fix;
		# DEBUG_PAGEALLOC runs in reserved mode only.
		a=$append
		[ "$mode" != hotremove ] || [ "${job[$kver]}" != tests ] || a="$a debug_pagealloc=off"
		throttle
		COHMEM_VM_TIMEOUT=$((wd + 600)) COHMEM_APPEND="$a" \
			"$COHMEM_TOP/scripts/run-vm.sh" "$kver" "$mode" "${job[$kver]}" &
	done
done
wait

# What ktap-summary.awk does not match already: lockdep's and DEBUG_VM's
# reports whose header line is not a WARNING/BUG line, and hung tasks
# ("page dumped because: unmovable page" is not one: hot-remove prints it
# for each block it tries and cannot take).
debug_re='possible circular locking|possible recursive locking|inconsistent lock state|'
debug_re+='lock held when returning|bad unlock balance|suspicious RCU usage|'
debug_re+='blocked for more than|UBSAN:|list_(add|del) corruption'
for kver in $kernels; do
	ktap=$COHMEM_OUT/debug-$kver.ktap
	{
		echo "KTAP version 1"
		echo "# debug kernel $kver ($(cat "$(dirname "$(readlink -f \
			"$(kernel_root "$kver")/usr/src/linux-headers-$kver")")/build-time" 2>/dev/null))"
		echo "1..$(wc -w <<<"$modes")"
	} >"$ktap"
	i=0
	for mode in $modes; do
		i=$((i + 1))
		base=$COHMEM_OUT/$kver/$mode-${job[$kver]}
		touch "$base.ktap" "$base.console"
		log=$base.console kcsan=""
		if [ "${job[$kver]}" = stress ]; then
			log=$base.console-cohmem
			awk -f "$COHMEM_TOP/scripts/kcsan-filter.awk" "$base.console" "$base.console" \
				>"$log" 2>"$base.kcsan"
			kcsan="; $(cat "$base.kcsan")"
		fi
		read -r p f s < <(awk -f "$COHMEM_TOP/scripts/ktap-summary.awk" \
			"$base.ktap" "$log" 2>"$base.failures")
		if grep -qE "$debug_re" "$log" &&
			! grep -qE 'WARNING:|BUG:|Oops|KASAN|Kernel panic|general protection fault|Call Trace:' \
				"$log"; then
			# Counted as the kernel log's failure, not passed.
			p=$((p - 1))
			f=$((f + 1))
			grep -m3 -E "$debug_re" "$log" | sed 's/^/  kernel log: /' >>"$base.failures"
		fi
		cat "$base.failures" >&2
		total_pass=$((total_pass + p))
		total_fail=$((total_fail + f))
		total_skip=$((total_skip + s))
		first=$(grep -m1 -E "WARNING:|BUG:|Oops|KASAN|general protection fault|$debug_re" \
			"$log" | sed 's/^\[[^]]*\] //' || true)
		leaks=$(sed -n 's/^\(not \)\{0,1\}ok 1 no_cohmem_leaks # //p' "$base.ktap" | tr -d '\r')
		if [ "$f" = 0 ]; then
			why=ok
			echo "ok $i $mode # $p passed, $s skipped; kmemleak: ${leaks:-not run}$kcsan" >>"$ktap"
		else
			why="FAIL: see $base.{ktap,console}${first:+; first splat: $first}"
			{
				echo "not ok $i $mode # $p passed, $f failed, $s skipped; kmemleak: ${leaks:-no result}$kcsan"
				sed 's/^/# /' "$base.failures"
				[ -z "$first" ] || echo "# first splat: $first"
			} >>"$ktap"
		fi
		row "$kver" "$mode" "$p" "$f" "$s" "$why"
	done
	cat "$ktap"
done

echo
printf '%-30s %-10s %5s %5s %5s\n' kernel mode pass fail skip
printf '%s' "$summary"
echo
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" = 0 ]
