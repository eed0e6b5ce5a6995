# SPDX-License-Identifier: GPL-2.0
# The benchmark lane's plot (scripts/bench.sh): MiB/s (median over the
# rounds) against the buffer size, both log scale, of cohmem (one line per
# batch size) and test_hmm, with the memcpy of the same bytes for
# reference: one panel per kind of device memory (rows) and operation
# (columns); solid: the kernel's init_on_alloc default, dashed:
# init_on_alloc=0. Read from bench-table.awk's TSV.
# gnuplot -e "tsv='...'; kver='...'; out='....png'; batches='2 16'; rounds='3'" bench-plot.gp

set datafile separator "\t"
# A row of another series evaluates to NaN: skipped, the line goes on.
set datafile missing NaN
set terminal pngcairo size 2400,1650 font "sans,11"
set output out
set logscale x 2
set logscale y 10
# Fixed ranges: a panel of one size, or of none (a kernel without
# device-private memory), has nothing to autoscale from.
set xrange [0.7:1024]
set yrange [5:20000]
set grid
set xlabel "buffer (MiB)"
set ylabel "MiB/s"
set key top left font ",9" samplen 3 noenhanced

# the rows of one series: columns kernel, init_on_alloc, kind, op, impl, batch
sel(k, i, o, im, b) = strcol(1) eq kver && strcol(2) eq i && strcol(3) eq k && \
	strcol(4) eq o && strcol(6) eq im && (b eq "" || strcol(7) eq b)
y(k, i, o, im, b) = sel(k, i, o, im, b) ? $10 : NaN

kinds = "coherent-4k private-4k private-2m"
ops = "to_dev to_sys longterm_pin evict"
ioas = "default 0"
# "batch_mib -" where the module had no such parameter
cb = (batches eq "") ? "-" : batches

set multiplot layout 3,4 title sprintf("cohmem and the kernel's test_hmm on %s: MiB/s against size, median of %s rounds; solid: init_on_alloc default, dashed: init_on_alloc=0\nQEMU TCG: only ratios within one guest run mean anything", kver, rounds) font ",13" noenhanced
first = 1
do for [kind in kinds] {
	do for [op in ops] {
		set title sprintf("%s: %s", kind, op) font ",12" noenhanced
		if (first) { set key } else { unset key }
		first = 0
		plot \
			for [i = 1:2] tsv using (sel(kind, word(ioas, i), "memcpy", "memcpy", "") ? $5 : NaN):10 \
				with linespoints lc rgb "gray50" dt i pt 1 \
				title (i == 1 ? "memcpy (same bytes)" : ""), \
			for [i = 1:2] for [b = 1:words(cb)] tsv \
				using (sel(kind, word(ioas, i), op, "cohmem", word(cb, b)) ? $5 : NaN):10 \
				with linespoints lc b dt i pt 7 \
				title (i == 1 ? sprintf("cohmem, batch_mib %s", word(cb, b)) : ""), \
			for [i = 1:2] tsv using (sel(kind, word(ioas, i), op, "test_hmm", "") ? $5 : NaN):10 \
				with linespoints lc rgb "black" dt i pt 5 \
				title (i == 1 ? (op eq "to_dev" ? "test_hmm (with its read-back)" : "test_hmm") : ""), \
			for [i = 1:2] tsv using (op eq "to_dev" && sel(kind, word(ioas, i), "to_dev-readback", "test_hmm", "") ? $5 : NaN):10 \
				with linespoints lc rgb "dark-red" dt i pt 4 \
				title (i == 1 && op eq "to_dev" ? "test_hmm less its read-back" : "")
	}
}
unset multiplot
