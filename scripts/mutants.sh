#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# mutants.sh [KVER]: prove the tests can fail. Builds deliberately broken
# variants of the module, runs the suite against each (reserved mode, one
# kernel), and expects every variant to make some test fail. Then removes
# compile probes one at a time and expects the build for the newest kernel
# to stop with an #error rather than pick an API shape silently. Prints one
# KTAP line per variant: "ok" when it was caught. Records which cases each
# variant made fail and prints a table of them (scripts/mutant-coverage.awk):
# every case of cohmem-conform must fail under at least one variant.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:-$(kernels_list | head -n 1)}
bins=$COHMEM_OUT/tests

# name | file | perl substitution that breaks it
mutants=(
	'migrate_to_sys_does_nothing|src/migrate.c|s/(int cohmem_migrate\(.*\n\{\n(?:.*\n)*?\tint ret = 0;\n)/$1\n\tif (!to_dev)\n\t\treturn 0;\n/'
	'longterm_pin_without_foll_longterm|src/pin.c|s/\t\tgup_flags \|= FOLL_LONGTERM;\n//g'
	'page_free_leaks_pages|src/pagemap.c|s/\tatomic_long_add\(nr, &cd->nfree\);\n//; s/\t\tset_bit\(idx \+ i, cd->free_map\);/\t\t(void)idx;/'
	'migrate_to_dev_skips_copy|src/migrate.c|s/\tif \(spage\)\n\t\tcopy_highpage\(dpage, spage\);/\tif (spage)\n\t\tclear_highpage(dpage);/'
	'snapshot_reports_system|src/snapshot.c|s/state = COHMEM_STATE_DEVICE;/state = COHMEM_STATE_SYSTEM;/'
	'evict_hides_busy_pages|src/migrate.c|s/\t\t\*busy \+= in_use > moved \? in_use - moved : 0;/\t\t*busy += in_use > moved ? 0 : 0;/'
	'pin_misreports_ndevice|src/pin.c|s/p->ndevice \+= cohmem_is_device_page\(/p->ndevice += !cohmem_is_device_page(/'
	'snapshot_always_writable|src/snapshot.c|s/if \(hpfn & HMM_PFN_WRITE\)/if (hpfn & (HMM_PFN_WRITE | HMM_PFN_VALID))/'
	'proc_limit_ignored|src/limit.c|s/over = limit \? after - \(long\)limit : 0;/over = limit \&\& after < 0 ? after : 0;/'
	'migrate_retry_without_drain|src/migrate.c|s/\t\tcohmem_drain_all_cpus\(\);/\t\t(void)cohmem_drain_all_cpus;/'
	'short_pins_not_charged|src/pin.c|s/\tret = account_locked_vm\(current->mm, n, true\);/\tif (pin->mode != COHMEM_PIN_LONGTERM \&\& pin->mode != COHMEM_PIN_LONGTERM_FAST)\n\t\treturn 0;\n\tret = account_locked_vm(current->mm, n, true);/'
	'evict_needs_no_cap|src/chardev.c|s/\tif \(!cohmem_admin\(\)\)\n\t\treturn -EPERM;\n//'
	'pressure_evicts_for_anyone|src/migrate.c|s/b->may_evict = to_dev && cohmem_admin\(\);/b->may_evict = to_dev;/'
	'info_base_for_anyone|src/chardev.c|s/info->base = cohmem_admin\(\) \? cd->region.start : 0;/info->base = cd->region.start;/'
	'hot_size_unbounded|src/main.c|s/if \(hot_size > \(u64\)totalram_pages\(\) << PAGE_SHIFT\) \{/if (0) {/'
	'empty_reservation_hotremoves|src/main.c|s/\tif \(hot_size\)\n\t\tret = cohmem_region_hotremove/\tif (!len)\n\t\tret = cohmem_region_hotremove/'
	'memlock_not_charged|src/pin.c|s/ret = account_locked_vm\(current->mm, n, true\);/ret = 0;/; s/\taccount_locked_vm\(pin->mm, n, false\);\n//'
)

newest=$(kernels_list | sort -V | tail -n 1)
removed_probes=(folio_free zdpi_pgmap_order page_pgmap gup_novmas alloc_pages_bulk folio_split folio_batch_h)

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
declare -A verdict=()
for m in "${mutants[@]}"; do
	IFS='|' read -r name file subst <<<"$m"
	dir=$COHMEM_OUT/mutants/$name
	mutant_tree "$dir"
	perl -0pi -e "$subst" "$dir/tree/$file"
	if cmp -s "$COHMEM_TOP/$file" "$dir/tree/$file"; then
		verdict[$name]="the mutation no longer applies to $file"
		continue
	fi
	if ! COHMEM_SRC=$dir/tree COHMEM_OUT=$dir "$COHMEM_TOP/scripts/build-module.sh" "$kver" 2>"$dir/build.err" ||
	   ! COHMEM_BINS=$bins COHMEM_OUT=$dir "$COHMEM_TOP/scripts/mkinitramfs.sh" "$kver"; then
		verdict[$name]="did not build: $(tail -n 1 "$dir/build.err")"
		continue
	fi
	throttle
	COHMEM_OUT=$dir COHMEM_VM_TIMEOUT=400 COHMEM_APPEND=cohmem_stress_secs=2 \
		"$COHMEM_TOP/scripts/run-vm.sh" "$kver" reserved tests 2>/dev/null &
done
wait
i=0 killed=0
for m in "${mutants[@]}"; do
	IFS='|' read -r name file subst <<<"$m"
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
	rm "$dir/tree/probes/$probe.c"
	if COHMEM_SRC=$dir/tree COHMEM_OUT=$dir "$COHMEM_TOP/scripts/build-module.sh" "$newest" \
		>/dev/null 2>"$dir/build.err"; then
		echo "not ok $i $name # $newest built without probes/$probe.c"
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
