# SPDX-License-Identifier: GPL-2.0
# The benchmark lane's tables (scripts/bench.sh), from its raw.tsv: the
# guests' cohmem-bench --lane lines (tests/bench.c), each with its kernel
# and init_on_alloc setting:
#   raw   KVER IOA KIND MIB ROUND IMPL BATCH OP NS
#   na    KVER IOA KIND MIB IMPL WHY
#   phase KVER IOA KIND MIB ROUND BATCH OP SETUP ALLOC COPY PAGES FINALIZE NS
#   note  KVER IOA KIND MIB ROUND IMPL TEXT
# Prints the text tables; writes every number to the file tsv (one row per
# kernel, setting, kind, operation, size, implementation and batch size:
# MiB/s, x memcpy and, for cohmem, cohmem/test_hmm, each min, median and
# max over the rounds) and the phase breakdown to ptsv when given.
# Ratios are taken round by round: x memcpy against the memcpy of the same
# bytes just before that implementation's round, cohmem/test_hmm between
# the two in the same round (test_hmm's time over cohmem's: above 1,
# cohmem is faster). test_hmm's to_dev is also given less its read-back
# (op to_dev-readback: its MIGRATE_TO_DEV time minus that of a READ of the
# same range right after), and cohmem's to_dev is compared with both.
# Runs with any POSIX awk (mawk).

function median_of(s, n,    a, i, j, x, c) {
	c = split(s, a, " ")
	for (i = 2; i <= c; i++) {
		x = a[i] + 0
		for (j = i - 1; j >= 1 && a[j] + 0 > x; j--)
			a[j + 1] = a[j]
		a[j + 1] = x
	}
	smin = a[1] + 0
	smax = a[c] + 0
	n = c
	if (c == 0)
		return ""
	return c % 2 ? a[(c + 1) / 2] + 0 : (a[c / 2] + a[c / 2 + 1]) / 2
}
# stat S: "MED MIN MAX" of the space-separated samples S ("" if none)
function stat(s,    m) {
	m = median_of(s)
	if (m == "")
		return ""
	return m " " smin " " smax
}
function cell_ratio(st,    a) {
	if (st == "")
		return "-"
	split(st, a, " ")
	return sprintf("%.2f [%.2f..%.2f]", a[1], a[2], a[3])
}
function cell_mibs(st,    a) {
	if (st == "")
		return "-"
	split(st, a, " ")
	return sprintf("%.0f", a[1])
}
function add(arr, k, v) { arr[k] = (k in arr) ? arr[k] " " v : v }
function seen_list(list, k, v) {
	if (!((list, k, v) in seen)) {
		seen[list, k, v] = 1
		lists[list, k] = (list, k) in lists ? lists[list, k] " " v : v
	}
}
function kind_title(k) {
	if (k == "coherent-4k") return "device-coherent memory, 4 KiB pages (cohmem coherent device; test_hmm device 2, coherent, over spm_addr)"
	if (k == "private-4k") return "device-private memory, 4 KiB pages (cohmem private device; test_hmm device 0)"
	if (k == "private-2m") return "device-private memory, 2 MiB folios (THP buffers; cohmem COHMEM_MIGRATE_HUGE; test_hmm device 0, MIGRATE_VMA_SELECT_COMPOUND)"
	return k
}
function tsv_row(k, i, kind, op, mib, impl, batch, rounds, m, x, v, why,    a, b, c) {
	if (tsv == "")
		return
	split(m, a, " "); split(x, b, " "); split(v, c, " ")
	printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
		k, i, kind, op, mib, impl, batch, rounds,
		fmt0(a[2]), fmt0(a[1]), fmt0(a[3]), fmt2(b[2]), fmt2(b[1]), fmt2(b[3]),
		fmt2(c[2]), fmt2(c[1]), fmt2(c[3]), why > tsv
}
function fmt0(x) { return x == "" ? "" : sprintf("%.0f", x) }
function fmt2(x) { return x == "" ? "" : sprintf("%.3f", x) }

BEGIN {
	FS = OFS = "\t"
	if (tsv != "")
		print "# QEMU TCG: only ratios within one guest run mean anything" > tsv
	if (ptsv != "")
		print "# QEMU TCG: only ratios within one guest run mean anything" > ptsv
	if (tsv != "")
		print "kernel\tinit_on_alloc\tkind\top\tmib\timpl\tbatch_mib\trounds\tmibs_min\tmibs_median\tmibs_max\tx_memcpy_min\tx_memcpy_median\tx_memcpy_max\tcohmem_over_test_hmm_min\tcohmem_over_test_hmm_median\tcohmem_over_test_hmm_max\tn/a" > tsv
	if (ptsv != "")
		print "kernel\tinit_on_alloc\tkind\top\tmib\tbatch_mib\trounds\tsetup_pct\talloc_pct\tcopy_pct\tpages_pct\tfinalize_pct\tother_pct" > ptsv
	nops = split("to_dev to_dev-readback readback to_sys longterm_pin evict", ops, " ")
}
{ sub(/\r$/, "") }
$1 == "raw" {
	g = $2 SUBSEP $3 SUBSEP $4
	if (!(g in gseen)) { gseen[g] = 1; groups[++ng] = g }
	seen_list("mib", g, $5)
	v = $7 "/" $8
	seen_list("var", g, v)
	T[g, $5, $6, v, $9] = $10
	if ($6 + 0 > rounds[g]) rounds[g] = $6 + 0
	next
}
$1 == "na" {
	g = $2 SUBSEP $3 SUBSEP $4
	if (!(g in gseen)) { gseen[g] = 1; groups[++ng] = g }
	seen_list("mib", g, $5)
	NA[g, $5, $6] = $7
	next
}
$1 == "phase" {
	g = $2 SUBSEP $3 SUBSEP $4
	pk = g SUBSEP $5 SUBSEP $7 SUBSEP $8
	if (!(pk in PT)) { pkeys[++npk] = pk; prounds[pk] = 0 }
	prounds[pk]++
	for (f = 9; f <= 13; f++)
		PS[pk, f - 8] += $f
	PT[pk] += $14
	next
}
$1 == "note" {
	notes[++nnotes] = $2 " init_on_alloc=" $3 " " $4 " " $5 " MiB round " $6 " " $7 ": " $8
	next
}
END {
	print "QEMU TCG: only ratios within one guest run mean anything."
	print "Each cell: median [min..max] over the rounds, or the median MiB/s. x memcpy: the operation's"
	print "MiB/s over that of a memcpy of the same bytes just before, in the same guest. cohmem/test_hmm:"
	print "test_hmm's time over cohmem's in the same round (above 1: cohmem is faster). batch: cohmem's"
	print "batch_mib (MiB per migrate_vma pass; test_hmm's pass is 512 pages, 2 MiB, always)."
	print "to_dev: test_hmm as timed (its MIGRATE_TO_DEV copies every page back to the caller inside the"
	print "ioctl); to_dev-readback: test_hmm less that read-back (a READ of the same range right after,"
	print "row readback), cohmem the same as in to_dev. longterm_pin: cohmem's PIN (FOLL_LONGTERM) of the"
	print "pages on either driver's device: the kernel moves them to system RAM. evict: cohmem EVICT of"
	print "the whole device; test_hmm RELEASE (evicts every chunk, then unmaps the chunks)."
	for (gi = 1; gi <= ng; gi++) {
		g = groups[gi]
		split(g, gk, SUBSEP)
		nm = split(lists["mib", g], mibs, " ")
		nv = split(lists["var", g], vars, " ")
		ncv = 0
		thv = ""
		for (j = 1; j <= nv; j++)
			if (vars[j] ~ /^cohmem\//) cvars[++ncv] = vars[j]
			else if (vars[j] ~ /^test_hmm\//) thv = vars[j]
		if (thv == "") thv = "test_hmm/-"
		R = rounds[g]
		printf "\n== %s, init_on_alloc=%s: %s ==\n", gk[1], gk[2] == "default" ? "default (the kernel's)" : gk[2], kind_title(gk[3])
		printf "QEMU TCG: only ratios within one guest run mean anything. %d round%s.\n", R, R == 1 ? "" : "s"
		printf "%-16s %5s %5s %8s | %8s %-18s | %8s %-18s | %-18s\n", "op", "MiB", "batch", "memcpy",
			"cohmem", "cohmem x memcpy", "test_hmm", "test_hmm x memcpy", "cohmem/test_hmm"
		printf "%-16s %5s %5s %8s | %8s %-18s | %8s %-18s | %-18s\n", "", "", "", "MiB/s",
			"MiB/s", "", "MiB/s", "", ""
		for (oi = 1; oi <= nops; oi++) {
			op = ops[oi]
			for (mi = 1; mi <= nm; mi++) {
				mib = mibs[mi]
				# the memcpy reference: every memcpy of that size
				ms = ""
				for (j = 1; j <= nv; j++)
					for (r = 1; r <= R; r++)
						if ((g, mib, r, vars[j], "memcpy") in T)
							ms = ms " " mib / (T[g, mib, r, vars[j], "memcpy"] / 1e9)
				mst = stat(ms)
				# test_hmm
				tm = ""; tx = ""
				top = op == "to_dev-readback" ? "to_dev" : op
				for (r = 1; r <= R; r++) {
					if (!((g, mib, r, thv, top) in T)) continue
					t = T[g, mib, r, thv, top]
					if (op == "to_dev-readback") {
						if (!((g, mib, r, thv, "readback") in T)) continue
						t -= T[g, mib, r, thv, "readback"]
					}
					TH[r] = t
					tm = tm " " mib / (t / 1e9)
					if ((g, mib, r, thv, "memcpy") in T)
						tx = tx " " T[g, mib, r, thv, "memcpy"] / t
				}
				tms = stat(tm); txs = stat(tx)
				thna = NA[g, mib, "test_hmm"]
				if (oi == 1 && mst != "")
					tsv_row(gk[1], gk[2], gk[3], "memcpy", mib, "memcpy", "-", R, mst, "", "", "")
				if (op != "readback" || tms != "")
					tsv_row(gk[1], gk[2], gk[3], op, mib, "test_hmm", "-", R, tms, txs, "", thna)
				for (c = 1; c <= (op == "readback" ? 1 : ncv > 0 ? ncv : 1); c++) {
					cm = ""; cx = ""; cv = ""
					cvar = ncv ? cvars[c] : ""
					batch = cvar == "" ? "-" : substr(cvar, 8)
					if (op != "readback" && cvar != "")
						for (r = 1; r <= R; r++) {
							cop = op == "to_dev-readback" ? "to_dev" : op
							if (!((g, mib, r, cvar, cop) in T)) continue
							t = T[g, mib, r, cvar, cop]
							cm = cm " " mib / (t / 1e9)
							if ((g, mib, r, cvar, "memcpy") in T)
								cx = cx " " T[g, mib, r, cvar, "memcpy"] / t
							if (tm != "" && (r in TH) && ((g, mib, r, thv, top) in T))
								cv = cv " " TH[r] / t
						}
					cms = stat(cm); cxs = stat(cx); cvs = stat(cv)
					if (op == "readback") batch = "-"
					cna = NA[g, mib, "cohmem"]
					if (op != "readback")
						tsv_row(gk[1], gk[2], gk[3], op, mib, "cohmem", batch, R, cms, cxs, cvs, cna)
					if (cms == "" && tms == "" && op == "readback")
						continue
					if (cms == "" && tms == "" && c > 1)
						continue
					printf "%-16s %5s %5s %8s | %8s %-18s | %8s %-18s | %-18s\n",
						op, mib, batch, cell_mibs(mst),
						cna != "" ? "n/a" : cell_mibs(cms), cna != "" ? "" : cell_ratio(cxs),
						thna != "" ? "n/a" : cell_mibs(tms), thna != "" ? "" : cell_ratio(txs),
						cell_ratio(cvs)
				}
				delete TH
			}
		}
		# what was n/a, once each
		for (mi = 1; mi <= nm; mi++)
			for (c = 1; c <= 2; c++) {
				im = c == 1 ? "cohmem" : "test_hmm"
				if (NA[g, mibs[mi], im] != "")
					nasaid[im ": " NA[g, mibs[mi], im]] = nasaid[im ": " NA[g, mibs[mi], im]] " " mibs[mi]
			}
		for (s in nasaid)
			printf "n/a, %s MiB: %s\n", substr(nasaid[s], 2), s
		delete nasaid
	}
	# the module's own phase clocks (phase_stats): share of each operation
	if (npk) {
		printf "\n== cohmem's migration passes: %% of each operation's time per phase (phase_stats, phase_ns; summed over the rounds) ==\n"
		printf "QEMU TCG: only ratios within one guest run mean anything.\n"
		printf "%-22s %-4s %-12s %-12s %5s %5s %6s %6s %6s %6s %8s %6s\n", "kernel", "ioa", "kind", "op", "MiB", "batch",
			"setup", "alloc", "copy", "pages", "finalize", "other"
		for (i = 1; i <= npk; i++) {
			pk = pkeys[i]
			split(pk, a, SUBSEP)
			tot = PT[pk]
			insum = 0
			line = sprintf("%-22s %-4s %-12s %-12s %5s %5s", a[1], a[2] == "default" ? "dflt" : a[2], a[3], a[6], a[4], a[5])
			row = a[1] "\t" a[2] "\t" a[3] "\t" a[6] "\t" a[4] "\t" a[5] "\t" prounds[pk]
			for (f = 1; f <= 5; f++) {
				insum += PS[pk, f]
				line = line sprintf(" %6.1f", 100 * PS[pk, f] / tot)
				row = row "\t" sprintf("%.1f", 100 * PS[pk, f] / tot)
			}
			print line sprintf(" %6.1f", 100 * (tot - insum) / tot)
			if (ptsv != "")
				print row "\t" sprintf("%.1f", 100 * (tot - insum) / tot) > ptsv
		}
	}
	if (nnotes) {
		printf "\nnotes:\n"
		for (i = 1; i <= nnotes; i++)
			print "  " notes[i]
	}
}
