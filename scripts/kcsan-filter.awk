# SPDX-License-Identifier: GPL-2.0
# kcsan-filter.awk CONSOLE CONSOLE: the guest's kernel log with every KCSAN
# report that does not touch cohmem renamed from "BUG: KCSAN:" to
# "kcsan-elsewhere:", so that only cohmem's races fail the run
# (scripts/debug-lane.sh, the KCSAN kernel). A report runs from its
# "BUG: KCSAN:" line to the next line of "=" signs; it is cohmem's when a
# line of it names the module ("[cohmem]", a cohmem_ function, a src/
# file). Reads the log twice (pass 1 finds the reports); writes a count
# of the reports, cohmem's and the others', to stderr.
{ sub(/\r$/, "") }
FNR == 1 { pass++ }
pass == 1 && /BUG: KCSAN:/ { start = FNR; ours = /cohmem/; next }
pass == 1 && start && /cohmem/ { ours = 1 }
pass == 1 && start && /====================/ {
	if (!ours)
		other[start] = 1
	else
		n_ours++
	start = 0
	next
}
pass == 2 && (FNR in other) { sub(/BUG: KCSAN:/, "kcsan-elsewhere:"); n_other++ }
pass == 2 { print }
END { printf "%d KCSAN reports in cohmem, %d elsewhere\n", n_ours, n_other > "/dev/stderr" }
