#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# test.sh: the test command. Installs what it needs, resolves the kernel
# matrix from Debian's archive (scripts/resolve-kernels.sh: each line of
# scripts/kernels.list to the kernel it ships today), fetches each kernel,
# builds cohmem for it, boots it twice under QEMU (memmap= reservations,
# then hot-remove), runs the KTAP test programs and checks the guest's
# kernel log. Ends with "N passed, N failed, N skipped".
# Environment: COHMEM_CACHE (downloads, default /var/cache/cohmem),
# COHMEM_OUT (build and logs, default ./out), COHMEM_KERNELS (lines,
# line:flavour or exact ABIs instead of the default lines, see
# resolve-kernels.sh), COHMEM_MODES (subset of "reserved hotremove"),
# COHMEM_PREVIOUS=1 (each line's previous ABI too), COHMEM_MUTANTS=0 (skip
# the broken-module check), COHMEM_UPGRADE=0 (skip the DKMS upgrade path),
# COHMEM_LANE=full (stress and fuzz for two minutes per boot instead of ten
# seconds), COHMEM_LANE=all-flavours (every line, generic, rt and cloud),
# COHMEM_LANE=upstream (the kernel's own hmm-tests and gup_longterm against
# cohmem instead: scripts/upstream-lane.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ "${COHMEM_LANE:-}" != upstream ] || exec "$COHMEM_TOP/scripts/upstream-lane.sh"

ensure_host_packages
rm -f "$KERNELS_RESOLVED"
"$COHMEM_TOP/scripts/resolve-kernels.sh"
kernels=$(kernels_list)
modes=${COHMEM_MODES:-reserved hotremove}

log "building the test programs"
make -s -C "$COHMEM_TOP/tests" O="$COHMEM_OUT/tests"

total_pass=0 total_fail=0 total_skip=0
summary=""
: >"$COHMEM_OUT/results.tsv"
row() {
	summary+=$(printf '%-30s %-10s %5s %5s %5s  %s' "$@")$'\n'
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$COHMEM_OUT/results.tsv"
}
# A kernel asked for that the archive does not have: one failure each.
while IFS=$'\t' read -r name why; do
	total_fail=$((total_fail + 1))
	row "$name" - 0 1 0 "FAIL: $why"
done <"$COHMEM_OUT/kernels.unresolved"
# Every kernel's packages first: apt in the chroots is then free for the
# DKMS upgrade path (make deb, then in bookworm and trixie chroots the
# package's postinst, DKMS's kernel hooks, signing, BUILD_EXCLUSIVE, and a
# boot of the module DKMS installed), which runs beside the boots, mostly
# waiting for apt and DKMS. COHMEM_UPGRADE=0 skips it.
for kver in $kernels; do
	"$COHMEM_TOP/scripts/fetch-kernel.sh" "$kver" || true
done
upgrade_pid=""
if [ "${COHMEM_UPGRADE:-1}" = 1 ]; then
	log "starting the DKMS upgrade path in the background (log: $COHMEM_OUT/upgrade.log)"
	"$COHMEM_TOP/scripts/upgrade-test.sh" >"$COHMEM_OUT/upgrade.ktap" 2>"$COHMEM_OUT/upgrade.log" &
	upgrade_pid=$!
	# Not one of the boots that throttle and wait count.
	disown "$upgrade_pid"
fi

# Build for every kernel, then boot: COHMEM_JOBS guests at a time
# (default 2: a TCG guest keeps about one host core busy).
booted=""
for kver in $kernels; do
	rc=0
	"$COHMEM_TOP/scripts/build-module.sh" "$kver" 2>"$COHMEM_OUT/$kver.build.err" || rc=$?
	cat "$COHMEM_OUT/$kver.build.err" >&2
	if [ $rc = 0 ] && "$COHMEM_TOP/scripts/mkinitramfs.sh" "$kver"; then
		booted="$booted $kver"
		for mode in $modes; do
			throttle
			"$COHMEM_TOP/scripts/run-vm.sh" "$kver" "$mode" tests &
		done
	elif [ $rc = 77 ]; then
		total_skip=$((total_skip + 1))
		row "$kver" - 0 0 1 "SKIP: $(cat "$COHMEM_OUT/$kver/skip")"
	else
		total_fail=$((total_fail + 1))
		row "$kver" - 0 1 0 "FAIL: build: $(grep -m1 'error:' "$COHMEM_OUT/$kver.build.err" |
			sed 's/^\[cohmem\] error: //' || echo "see $COHMEM_OUT/$kver/build.log")"
	fi
done
wait
for kver in $booted; do
	for mode in $modes; do
		base=$COHMEM_OUT/$kver/$mode-tests
		touch "$base.ktap" "$base.console"
		read -r p f s < <(awk -f "$COHMEM_TOP/scripts/ktap-summary.awk" \
			"$base.ktap" "$base.console" 2>"$base.failures")
		cat "$base.failures" >&2
		total_pass=$((total_pass + p))
		total_fail=$((total_fail + f))
		total_skip=$((total_skip + s))
		if [ "$f" = 0 ]; then
			why=ok
		elif ! grep -q '^# cohmem-guest: kernel' "$base.ktap"; then
			# run-vm.sh booted it twice: the kernel, not cohmem.
			why="FAIL: the kernel died before /init, twice (cohmem never loaded): $(grep -m1 -E 'Oops|Kernel panic' \
				"$base.console" | sed 's/^\[[^]]*\] //' || true)"
		else
			why="FAIL: see $base.{ktap,console}"
		fi
		row "$kver" "$mode" "$p" "$f" "$s" "$why"
	done
done

# The suite must be able to fail: deliberately broken modules must be caught.
# (Only against a passing suite: otherwise any failure would "catch" them.)
if [ "${COHMEM_MUTANTS:-1}" = 1 ] && [ "$total_fail" != 0 ]; then
	log "not running the broken-module check: the suite itself failed"
	total_skip=$((total_skip + 1))
elif [ "${COHMEM_MUTANTS:-1}" = 1 ]; then
	log "running the suite against deliberately broken modules"
	"$COHMEM_TOP/scripts/mutants.sh" | tee "$COHMEM_OUT/mutants.ktap"
	p=$(grep -c '^ok ' "$COHMEM_OUT/mutants.ktap" || true)
	f=$(grep -c '^not ok ' "$COHMEM_OUT/mutants.ktap" || true)
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	row "$(kernels_list | head -n 1)" mutants "$p" "$f" 0 \
		"$([ "$f" = 0 ] && echo "every broken module caught" || echo "FAIL: see $COHMEM_OUT/mutants.ktap")"
fi

# What each kernel does with device-coherent pages, case by case.
for kver in $kernels; do
	f=$COHMEM_OUT/$kver/reserved-tests.ktap
	[ -s "$f" ] || continue
	echo
	echo "conformance, $kver (raw KTAP and kernel log: $COHMEM_OUT/$kver/)"
	awk -f "$COHMEM_TOP/scripts/conformance.awk" "$f"
done

# The DKMS upgrade path, started beside the boots: its results.
if [ -n "$upgrade_pid" ]; then
	while kill -0 "$upgrade_pid" 2>/dev/null; do
		sleep 5
	done
	log "the DKMS upgrade path (log: $COHMEM_OUT/upgrade.log)"
	cat "$COHMEM_OUT/upgrade.ktap"
	p=$(grep '^ok ' "$COHMEM_OUT/upgrade.ktap" | grep -vc '# SKIP' || true)
	s=$(grep -c '^ok .*# SKIP' "$COHMEM_OUT/upgrade.ktap" || true)
	f=$(grep -c '^not ok ' "$COHMEM_OUT/upgrade.ktap" || true)
	[ -s "$COHMEM_OUT/upgrade.ktap" ] || f=1
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	total_skip=$((total_skip + s))
	row dkms upgrade "$p" "$f" "$s" \
		"$([ "$f" = 0 ] && echo ok || echo "FAIL: see $COHMEM_OUT/upgrade.{ktap,log}")"
fi

# The same as a Markdown table, for the README: what was resolved, and how
# each boot went.
{
	echo "Run of $(date -u '+%Y-%m-%d'), kernels resolved from the archive that day" \
		"(lane: ${COHMEM_LANE:-default}):"
	echo
	echo "| kernel | line | flavour | built in | mode | passed | failed | skipped |"
	echo "|---|---|---|---|---|---|---|---|"
	awk -F'\t' 'FNR == NR { line[$1] = $3; fl[$1] = $4; b[$1] = $2; next }
		($1 in line) && $2 != "mutants" { printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
			$1, line[$1], fl[$1], b[$1], $2, $3, $4, $5 }' \
		"$KERNELS_RESOLVED" "$COHMEM_OUT/results.tsv"
} >"$COHMEM_OUT/matrix.md"

echo
cat "$COHMEM_OUT/kernels.txt"
echo
printf '%-30s %-10s %5s %5s %5s\n' kernel mode pass fail skip
printf '%s' "$summary"
echo
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" = 0 ]
