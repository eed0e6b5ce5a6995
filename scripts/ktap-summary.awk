# SPDX-License-Identifier: GPL-2.0
# Sums one guest run: reads the .ktap file (results) then the .console file
# (kernel log). Prints "pass fail skip" and, to stderr, every failure.
# A program counts as failed too when it exits non-zero without a failing
# case, or reports fewer results than its plan (it crashed).
function endprog() {
	if (prog == "")
		return
	if (planned > seen) {
		fail += planned - seen
		printf "  %s: %d of %d results missing (crashed?)\n", prog, planned - seen, planned > "/dev/stderr"
	}
	if (rc != 0 && progfail == 0) {
		fail++
		printf "  %s: exit code %s\n", prog, rc > "/dev/stderr"
	}
	prog = ""
}
FNR == 1 { file++ }
{ sub(/\r$/, "") }	# the guest's serial ports write CRLF
file == 1 && /^# program: / { endprog(); prog = $3; planned = 0; seen = 0; progfail = 0; rc = 0; next }
file == 1 && /^# exit: / { rc = $4; next }
file == 1 && /^1\.\.[0-9]+$/ { planned = substr($0, 4) + 0; next }
file == 1 && /^ok / { seen++; if ($0 ~ /# SKIP/) skip++; else pass++; next }
file == 1 && /^not ok / { seen++; fail++; progfail++; printf "  %s: %s\n", prog, $0 > "/dev/stderr"; next }
file == 1 && /^# cohmem-guest: done/ { done = 1 }
file == 2 && (/WARNING:|BUG:|Oops|KASAN|Kernel panic|general protection fault|Call Trace:/ ||
	       /enqueued on deprecated workqueue/ && /cohmem/) {
	bad++
	if (bad <= 5)
		printf "  kernel log: %s\n", $0 > "/dev/stderr"
}
END {
	endprog()
	if (!done) {
		fail++
		print "  guest did not finish (timeout, panic or hang)" > "/dev/stderr"
	}
	# The kernel log is a case of its own: clean or not.
	if (bad) fail++; else pass++
	print pass + 0, fail + 0, skip + 0
}
