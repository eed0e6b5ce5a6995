# SPDX-License-Identifier: GPL-2.0
# The conformance table of one guest run: each "# expect:" line of the
# conform program with the result of the case that follows it.
{ sub(/\r$/, "") }
/^# program: / { inconf = ($3 == "conform"); next }
!inconf { next }
/^# expect: / { expect = substr($0, 11); next }
/^(not )?ok [0-9]+ / {
	ok = ($1 == "ok")
	name = ok ? $3 : $4
	result = ok ? ($0 ~ /# SKIP/ ? "skip" : "pass") : "FAIL"
	printf "  %-28s %-52s %s\n", name, expect, result
	expect = ""
}
