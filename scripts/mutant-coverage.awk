# SPDX-License-Identifier: GPL-2.0
# The per-case coverage table of mutants.sh. Input: lines of
# "MUTANT<TAB>PROGRAM<TAB>CASE<TAB>pass|fail|skip", one per KTAP result of
# every run, the passing suite's first as MUTANT "baseline" when there is
# one. Prints, as KTAP diagnostics, a matrix: one row per case, one column
# per mutant (x: the case failed under it; .: passed; s: skipped; -: no
# result, its program crashed or bailed out first), and how many broke it. Writes the cases of the programs in `must` (space-separated)
# that no mutant broke to the file `uncovered`, one "PROGRAM/CASE" a line.
BEGIN { FS = "\t" }
{
	m = $1
	key = $2 "/" $3
	if (m != "baseline" && !(m in col)) {
		col[m] = ++nm
		name[nm] = m
	}
	if (!(key in row)) {
		row[key] = ++nr
		rowkey[nr] = key
		rowprog[nr] = $2
		rowcase[nr] = $3
	}
	if (m != "baseline")
		res[key, m] = $4
}
END {
	print "# which mutants made each case fail (x: failed, .: passed, s: skipped, -: no result)"
	for (j = 1; j <= nm; j++)
		printf "#   %2d %s\n", j, name[j]
	printf "# %-9s %-38s", "program", "case"
	for (j = 1; j <= nm; j++)
		printf " %2d", j
	print "  caught"
	nmust = split(must, mp, " ")
	for (i = 1; i <= nr; i++) {
		key = rowkey[i]
		printf "# %-9s %-38s", rowprog[i], rowcase[i]
		by = 0
		for (j = 1; j <= nm; j++) {
			r = res[key, name[j]]
			c = r == "fail" ? "x" : r == "pass" ? "." : r == "skip" ? "s" : "-"
			printf " %2s", c
			by += r == "fail"
		}
		print "  " (by ? by : "NONE")
		for (k = 1; k <= nmust; k++)
			if (!by && rowprog[i] == mp[k])
				print key > uncovered
	}
}
