#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# mutants.sh [KVER]: prove the tests can fail. Builds deliberately broken
# variants of the module (each COHMEM_MUTANT() hook of src/ in turn), runs
# the suite against each (reserved mode, one kernel; cohmem-conform first,
# then the program expected to catch it, and the boot ends at the first
# program that fails), and expects every variant to make some test fail.
# Then removes
# compile probes one at a time and expects the build for the newest kernel
# to stop with an #error rather than pick an API shape silently. Prints one
# KTAP line per variant: "ok" when it was caught. Records which cases each
# variant made fail and prints a table of them (scripts/mutant-coverage.awk):
# every case of cohmem-conform must fail under at least one variant.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:-$(kernels_list | head -n 1)}
bins=$COHMEM_OUT/tests

# Each name is a COHMEM_MUTANT(name) hook in src/ (src/cohmem.h): the
# module built with COHMEM_MUTANT=name has that one thing broken.
mutants=(
	migrate_to_sys_does_nothing
	longterm_pin_without_foll_longterm
	page_free_leaks_pages
	migrate_to_dev_skips_copy
	snapshot_reports_system
	evict_hides_busy_pages
	pin_misreports_ndevice
	snapshot_always_writable
	proc_limit_ignored
	migrate_retry_without_drain
	short_pins_not_charged
	evict_needs_no_cap
	pressure_evicts_for_anyone
	info_base_for_anyone
	hot_size_unbounded
	empty_reservation_hotremoves
	memlock_not_charged
	unload_while_pages_in_use
	drain_silent
	reserved_takes_firmware_ranges
	mirror_ignores_invalidation
	guptest_longterm_unchecked
)

# The program expected to catch each mutant, run right after
# cohmem-conform (which every mutant boot runs first, for the coverage
# table); the boot ends at the first program that fails (cohmem_failfast).
# A wrong or missing hint costs time, not a verdict: the rest of the suite
# runs in its usual order until something fails. (Bad loads run before any
# program; the unload checks after all of them.)
declare -A hint=(
	[evict_hides_busy_pages]=pin
	[migrate_retry_without_drain]=core
	[proc_limit_ignored]=perm
	[short_pins_not_charged]=perm
	[evict_needs_no_cap]=perm
	[pressure_evicts_for_anyone]=perm
	[info_base_for_anyone]=perm
	[memlock_not_charged]=perm
	[mirror_ignores_invalidation]=dmirror
	[guptest_longterm_unchecked]=guptest
)

newest=$(kernels_list | sort -V | tail -n 1)
removed_probes=(folio_free zdpi_pgmap_order page_pgmap gup_novmas alloc_pages_bulk folio_split folio_batch_h e820_raw_any)

# A fresh copy of what build-module.sh builds, to break.
mutant_tree() {
	rm -rf "$1"
	mkdir -p "$1/tree"
	cp -r "$COHMEM_TOP/Kbuild" "$COHMEM_TOP/src" "$COHMEM_TOP/include" \
		"$COHMEM_TOP/probes" "$COHMEM_TOP/scripts" "$1/tree/"
}

# Every KTAP result of every run, for the per-case table:
# MUTANT<TAB>PROGRAM<TAB>CASE<TAB>pass|fail|skip
results=$COHMEM_OUT/mutants/results.tsv
mkdir -p "$COHMEM_OUT/mutants"
: >"$results"
record() {
	[ -f "$2" ] || return 0
	awk -v m="$1" '{ sub(/\r$/, "") }
		/^# program: / { prog = $3; next }
		/^ok [0-9]+ / { print m "\t" prog "\t" $3 "\t" ($0 ~ /# SKIP/ ? "skip" : "pass"); next }
		/^not ok [0-9]+ / { print m "\t" prog "\t" $4 "\tfail" }' "$2" >>"$results"
}
# The passing suite's run of this kernel, if there is one, gives the cases'
# order and the ones no mutant run reached.
record baseline "$COHMEM_OUT/$kver/reserved-tests.ktap"
# Every case of these programs must fail under at least one mutant.
must_cover="conform"

echo "KTAP version 1"
echo "1..$((${#mutants[@]} + ${#removed_probes[@]} + 1))"
# Build every mutant, boot them COHMEM_JOBS at a time, then judge each.
# Their initramfs: the passing suite's, with cohmem.ko replaced (made
# afresh first when there is none).
base=$COHMEM_OUT/$kver/initramfs.gz
if [ ! -f "$base" ]; then
	"$COHMEM_TOP/scripts/build-module.sh" "$kver"
	COHMEM_BINS=$bins "$COHMEM_TOP/scripts/mkinitramfs.sh" "$kver"
fi
declare -A verdict=()
for name in "${mutants[@]}"; do
	dir=$COHMEM_OUT/mutants/$name
	rm -rf "$dir"
	mkdir -p "$dir"
	if ! grep -q "COHMEM_MUTANT($name)" "$COHMEM_TOP"/src/*.c; then
		verdict[$name]="no COHMEM_MUTANT($name) hook in src/ any more"
		continue
	fi
	if ! COHMEM_MUTANT=$name COHMEM_OUT=$dir "$COHMEM_TOP/scripts/build-module.sh" "$kver" 2>"$dir/build.err" ||
	   ! COHMEM_BINS=$bins COHMEM_OUT=$dir COHMEM_INITRAMFS_BASE=$base \
		"$COHMEM_TOP/scripts/mkinitramfs.sh" "$kver"; then
		verdict[$name]="did not build: $(tail -n 1 "$dir/build.err")"
		continue
	fi
	throttle
	# A task stuck for 30 s (a broken unload) panics the guest: it
	# ends there, caught, rather than at the host's timeout.
	COHMEM_OUT=$dir COHMEM_VM_TIMEOUT=400 \
		COHMEM_APPEND="cohmem_stress_secs=2 cohmem_quick=1 cohmem_failfast=1 cohmem_first=conform${hint[$name]:++${hint[$name]}} hung_task_panic=1 sysctl.kernel.hung_task_timeout_secs=30" \
		"$COHMEM_TOP/scripts/run-vm.sh" "$kver" reserved tests 2>/dev/null &
done
wait
i=0 killed=0
for name in "${mutants[@]}"; do
	i=$((i + 1))
	dir=$COHMEM_OUT/mutants/$name
	if [ -n "${verdict[$name]:-}" ]; then
		echo "not ok $i $name # ${verdict[$name]}"
		continue
	fi
	read -r p f s < <(awk -f "$COHMEM_TOP/scripts/ktap-summary.awk" \
		"$dir/$kver/reserved-tests.ktap" "$dir/$kver/reserved-tests.console" 2>/dev/null)
	record "$name" "$dir/$kver/reserved-tests.ktap"
	if [ "$f" -gt 0 ]; then
		echo "ok $i $name # caught: $f failed, $p passed"
		killed=$((killed + 1))
	else
		echo "not ok $i $name # the suite passed against a broken module"
	fi
done
for probe in "${removed_probes[@]}"; do
	i=$((i + 1))
	name=probe_${probe}_removed
	dir=$COHMEM_OUT/mutants/$name
	mutant_tree "$dir"
	rm -f "$dir/tree/probes/$probe.c" "$dir/tree/probes/$probe.export"
	if COHMEM_SRC=$dir/tree COHMEM_OUT=$dir "$COHMEM_TOP/scripts/build-module.sh" "$newest" \
		>/dev/null 2>"$dir/build.err"; then
		echo "not ok $i $name # $newest built without probes/$probe.*"
	elif grep -q '#error' "$dir/build.err"; then
		echo "ok $i $name # $newest: $(grep -m1 -o 'error: #error.*' "$dir/build.err")"
		killed=$((killed + 1))
	else
		echo "not ok $i $name # $newest failed, but not at an #error: see $dir/build.err"
	fi
done

# The table, and the cases no mutant broke.
rm -f "$COHMEM_OUT/mutants/uncovered"
awk -v must="$must_cover" -v uncovered="$COHMEM_OUT/mutants/uncovered" \
	-f "$COHMEM_TOP/scripts/mutant-coverage.awk" "$results" | tee "$COHMEM_OUT/mutants/coverage.txt"
touch "$COHMEM_OUT/mutants/uncovered"
i=$((i + 1))
if [ -s "$COHMEM_OUT/mutants/uncovered" ]; then
	echo "not ok $i every_${must_cover// /_}_case_fails_under_a_mutant # never failed:" \
		"$(tr '\n' ' ' <"$COHMEM_OUT/mutants/uncovered")"
else
	echo "ok $i every_${must_cover// /_}_case_fails_under_a_mutant"
	killed=$((killed + 1))
fi
echo "# caught: $killed of $i"
