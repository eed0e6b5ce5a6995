#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bench.sh: the benchmark lane. cohmem against the kernel's own test
# driver, test_hmm, in one guest per kernel and init_on_alloc setting:
# migration to the device, back to system RAM, device-side eviction and
# long-term-pin eviction, over the same sizes, in device-coherent memory
# (4 KiB pages) and device-private memory (4 KiB pages and 2 MiB folios),
# the two alternating round by round, each next to a memcpy of the same
# bytes in the same guest (tests/bench.c, cohmem-bench --lane, says
# exactly what is timed). QEMU TCG: only ratios within one guest run mean
# anything.
#
# Kernels: of the matrix this run resolved (kernels_list), the generic
# flavour of each series of COHMEM_BENCH_SERIES (default "7.3 6.1"), or
# exactly COHMEM_BENCH_KVERS. For each: cohmem built for it
# (build-module.sh), test_hmm.ko built from its own linux-source package
# (testhmm-build.sh; none where the kernel lacks CONFIG_DEVICE_PRIVATE:
# 6.1 and 6.12, where cohmem runs alone), and a guest of COHMEM_BENCH_MEM
# (default 6G) booted once per init_on_alloc setting (the kernel's
# default, then init_on_alloc=0), with memmap= reservations of equal size
# for both drivers' coherent devices: cohmem's coherent and private
# devices of COHMEM_BENCH_DEV_MIB each (default: the largest size), and
# test_hmm's two coherent devices of its DEVMEM_CHUNK_SIZE each (256 MiB in
# 7.3: it makes one chunk per coherent device, so larger sizes are n/a
# there, and says why).
#
# Settings (environment): COHMEM_BENCH_SIZES (MiB, default "1 4 16 64 256
# 512"), COHMEM_BENCH_ROUNDS (default 3), COHMEM_BENCH_BATCHES (cohmem's
# batch_mib values to alternate, default "2 16": 2 MiB is test_hmm's own
# pass size, 512 pages; where the module has no batch_mib, its own),
# COHMEM_BENCH_KINDS (default all: coherent-4k private-4k private-2m),
# COHMEM_BENCH_IOA (default "default 0").
#
# Prints per kernel, init_on_alloc setting and kind the table of every
# operation and size (MiB/s, x memcpy, cohmem/test_hmm: median [min..max]
# over the rounds) and the module's phase breakdown, and
# "N passed, N failed, N skipped" of the boots' checks. Saves in
# $COHMEM_OUT/bench/: bench.txt (the tables), bench.tsv (every number),
# raw.tsv (every measurement), the boots' logs; and plots MiB/s against
# size for the first kernel to $COHMEM_BENCH_PNG (default docs/bench-X.Y.png
# of that kernel's series).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

start=$(date +%s)
ensure_host_packages
command -v gnuplot >/dev/null || host_install gnuplot-nox

sizes=${COHMEM_BENCH_SIZES:-1 4 16 64 256 512}
rounds=${COHMEM_BENCH_ROUNDS:-3}
batches=${COHMEM_BENCH_BATCHES-2 16}
kinds=${COHMEM_BENCH_KINDS:-}
ioas=${COHMEM_BENCH_IOA:-default 0}
mem=${COHMEM_BENCH_MEM:-6G}
max=0
for s in $sizes; do
	[ "$s" -le "$max" ] || max=$s
done
dev_mib=${COHMEM_BENCH_DEV_MIB:-$max}
bdir=$COHMEM_OUT/bench
mkdir -p "$bdir"

if [ -n "${COHMEM_BENCH_KVERS:-}" ]; then
	kernels=$COHMEM_BENCH_KVERS
else
	kernels_list >/dev/null
	kernels=""
	for series in ${COHMEM_BENCH_SERIES:-7.3 6.1}; do
		k=$(awk -v s="$series." '$4 == "amd64" && index($1, s) == 1 { print $1; exit }' "$KERNELS_RESOLVED")
		if [ -z "$k" ]; then
			log "no $series kernel (generic flavour) in this run's matrix ($KERNELS_RESOLVED): left out"
			continue
		fi
		kernels="$kernels $k"
	done
fi
[ -n "${kernels// /}" ] || die "no kernel to benchmark"
log "benchmark lane: kernels:$kernels; sizes $sizes MiB; $rounds rounds; init_on_alloc: $ioas"

log "building the test programs"
make -s -C "$COHMEM_TOP/tests" O="$COHMEM_OUT/tests"

# hexsum A B: A + B, in hex
hexsum() { printf '0x%x' $(($1 + $2)); }

total_pass=0 total_fail=0 total_skip=0
summary=""
: >"$bdir/raw.tsv"
for kver in $kernels; do
	kstart=$(date +%s)
	rc=0
	"$COHMEM_TOP/scripts/build-module.sh" "$kver" || rc=$?
	if [ $rc != 0 ]; then
		total_fail=$((total_fail + 1))
		summary+="$kver: FAIL: cohmem did not build (rc $rc)"$'\n'
		continue
	fi
	# test_hmm, or why there is none (exit 77 and the reason).
	rc=0
	thmm=$("$COHMEM_TOP/scripts/testhmm-build.sh" "$kver") || rc=$?
	no_thmm=""
	case $rc in
	0) ;;
	77) no_thmm="no test_hmm for $kver: $thmm (test_hmm needs it)"; thmm="" ;;
	*) die "$kver: test_hmm did not build" ;;
	esac
	"$COHMEM_TOP/scripts/mkinitramfs.sh" "$kver"
	# test_hmm.ko into the initramfs, with the guest's modules.dep, so
	# that it loads by name like cohmem (cohmem-kmod).
	stage=$COHMEM_OUT/$kver/initramfs
	if [ -n "$thmm" ]; then
		cp "$thmm/test_hmm.ko" "$stage/lib/modules/$kver/extra/"
		cp "$thmm/source" "$stage/etc/cohmem-bench-testhmm-source"
		depmod -b "$stage" "$kver"
		# One coherent test_hmm device is one DEVMEM_CHUNK_SIZE chunk.
		chunk=$(sed -n 's/^#define DEVMEM_CHUNK_SIZE[^(]*(\([0-9]*\) \* 1024 \* 1024U*).*/\1/p' "$thmm/test_hmm.c")
		[ -n "$chunk" ] || die "$kver: no DEVMEM_CHUNK_SIZE in $thmm/test_hmm.c"
	else
		echo "$no_thmm" >"$stage/etc/cohmem-bench-no-thmm"
		chunk=0
	fi
	(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$COHMEM_OUT/$kver/initramfs.gz"

	# The reservations: cohmem's two devices from 1 GiB up, then test_hmm's
	# two coherent chunks; all below 3 GiB, where a guest of more than
	# 3.5 GiB has its low RAM (above it: the PCI hole, then the rest).
	a0=0x40000000
	a1=$(hexsum "$a0" $((dev_mib << 20)))
	s0=$(hexsum "$a1" $((dev_mib << 20)))
	s1=$(hexsum "$s0" $((chunk << 20)))
	end=$(hexsum "$s1" $((chunk << 20)))
	[ $((end)) -le $((0xc0000000)) ] || die "the reservations end at $end, above 3 GiB: smaller COHMEM_BENCH_DEV_MIB"
	append="memmap=${dev_mib}M\$$a0 memmap=${dev_mib}M\$$a1"
	append="$append cohmem_opts=reserved=${dev_mib}M@$a0,${dev_mib}M@$a1"
	if [ -n "$thmm" ]; then
		append="$append memmap=${chunk}M\$$s0 memmap=${chunk}M\$$s1"
		append="$append cohmem_bench_thmm=spm_addr_dev0=$s0+spm_addr_dev1=$s1 cohmem_bench_thmm_mib=$chunk"
	fi
	append="$append cohmem_bench_sizes=$(tr ' ' , <<<"$sizes") cohmem_bench_rounds=$rounds"
	[ -z "$batches" ] || append="$append cohmem_bench_batches=$(tr ' ' , <<<"$batches")"
	[ -z "$kinds" ] || append="$append cohmem_bench_kinds=$(tr ' ' , <<<"$kinds")"
	# The guest's watchdog and the host's timeout: generous (TCG on a
	# busy host), and still an end.
	append="$append cohmem_watchdog=${COHMEM_BENCH_WATCHDOG:-3300}"
	for ioa in $ioas; do
		a=$append
		[ "$ioa" = default ] || a="$a init_on_alloc=$ioa"
		bstart=$(date +%s)
		COHMEM_APPEND="$a ${COHMEM_APPEND:-}" COHMEM_VM_MEM=$mem \
			COHMEM_VM_TIMEOUT=${COHMEM_BENCH_TIMEOUT:-3600} \
			"$COHMEM_TOP/scripts/run-vm.sh" "$kver" bench bench
		base=$COHMEM_OUT/$kver/bench-ioa-$ioa
		for f in console ktap; do
			mv "$COHMEM_OUT/$kver/bench-bench.$f" "$base.$f"
		done
		read -r p f s < <(awk -f "$COHMEM_TOP/scripts/ktap-summary.awk" "$base.ktap" "$base.console" 2>"$base.failures")
		total_pass=$((total_pass + p))
		total_fail=$((total_fail + f))
		total_skip=$((total_skip + s))
		summary+="$kver init_on_alloc=$ioa: $p passed, $f failed, $s skipped, $(($(date +%s) - bstart)) s (logs: $base.{ktap,console})"$'\n'
		[ ! -s "$base.failures" ] || summary+=$(cat "$base.failures")$'\n'
		# The measurements, each line with its kernel and setting.
		sed 's/\r$//' "$base.ktap" | awk -F'\t' -v OFS='\t' -v k="$kver" -v i="$ioa" '
			$1 ~ /^# bench-(raw|na|phase|note)$/ {
				line = substr($1, 9) OFS k OFS i
				for (f = 2; f <= NF; f++)
					line = line OFS $f
				print line
			}' >>"$bdir/raw.tsv"
	done
	log "$kver: $(($(date +%s) - kstart)) s"
done

# The tables and the plot.
awk -F'\t' -v OFS='\t' -v tsv="$bdir/bench.tsv" -v ptsv="$bdir/phases.tsv" -f "$COHMEM_TOP/scripts/bench-table.awk" \
	"$bdir/raw.tsv" >"$bdir/bench.txt"
first=$(awk -F'\t' '$1 == "raw" { print $2; exit }' "$bdir/raw.tsv")
if [ -n "$first" ]; then
	png=${COHMEM_BENCH_PNG:-$COHMEM_TOP/docs/bench-$(grep -oE '^[0-9]+\.[0-9]+' <<<"$first").png}
	mkdir -p "$(dirname "$png")"
	# cohmem's batch sizes as measured (the module's own where it has no
	# batch_mib to set)
	cb=$(awk -F'\t' -v k="$first" '$1 == "raw" && $2 == k && $7 == "cohmem" && !s[$8]++ { printf "%s%s", n++ ? " " : "", $8 }' "$bdir/raw.tsv")
	gnuplot -e "tsv='$bdir/bench.tsv'; kver='$first'; out='$png'; batches='$cb'; rounds='$rounds'" \
		"$COHMEM_TOP/scripts/bench-plot.gp" 2>"$bdir/gnuplot.log" ||
		{ cat "$bdir/gnuplot.log" >&2; die "gnuplot failed"; }
	log "plot: $png"
fi
cat "$bdir/bench.txt"
echo
printf '%s' "$summary"
echo "benchmark lane: $(($(date +%s) - start)) s; tables in $bdir/bench.txt, numbers in $bdir/bench.tsv"
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" = 0 ]
