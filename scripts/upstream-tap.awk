# SPDX-License-Identifier: GPL-2.0
# upstream-tap.awk KTAP: the results of the kernel's own selftests
# (the guest's upstream job, scripts/upstream-lane.sh) against their
# expectations. -v expect=FILE (the expectations), -v kernel=KVER,
# -v progs="hmm-tests gup_longterm" (the programs that must have run),
# -v counts=FILE (gets "pass fail skip").
#
# The expectations: one line per case or group of cases, "#" comments:
#   [kernel=GLOB] CASE VARIANT EXPECTED REASON...
# CASE and VARIANT as the table names them, `*` matching any run of
# characters; EXPECTED pass, fail, skip, xfail or timeout; REASON required
# unless EXPECTED is pass; kernel=GLOB limits the line to kernels whose
# `uname -r` matches. The first line that matches a case decides; a case
# no line matches must pass.
#
# KTAP: the guest's results port. Cases are read from the programs of
# `progs` only: hmm-tests' harness names a case FIXTURE.VARIANT.TEST (case
# TEST, variant VARIANT); gup_longterm's cases are "DESC ... with BACKING"
# (from its "[RUN]" line: 6.12's result lines do not repeat the name).
# Spaces become "_" and parentheses go. A result is pass, fail, skip,
# xfail, or timeout (the harness's "Test terminated by timeout").
#
# Prints the table (case, variant, result, expected, reason or
# DEVIATION); every deviation also to stderr, with the case's first
# failed assertion. A case counts as passed when
# it passes as expected, skipped when it gives its expected non-pass, and
# failed when it differs from its expectation either way. Also failed:
# results missing against a program's plan, a program that did not run or
# did not finish, an expectation line no case matched, a line without a
# reason.
function norm(s) {
	gsub(/[()]/, "", s)
	gsub(/[ \t]+/, "_", s)
	return s
}
# gmatch(PAT, S): S matches PAT, where "*" matches any run of characters
function gmatch(p, s,    n, P, i, k, at) {
	if (index(p, "*") == 0)
		return p == s
	n = split(p, P, "*")
	if (substr(s, 1, length(P[1])) != P[1])
		return 0
	at = length(P[1]) + 1
	for (i = 2; i < n; i++) {
		if (P[i] == "")
			continue
		k = index(substr(s, at), P[i])
		if (k == 0)
			return 0
		at += k - 1 + length(P[i])
	}
	return length(s) - at + 1 >= length(P[n]) &&
		substr(s, length(s) - length(P[n]) + 1) == P[n]
}
function deviation(msg) {
	nfail++
	printf "  %s: %s\n", kernel, msg > "/dev/stderr"
}
function result(prog, name, res, note,    n, F, c, v, i, expd, why, mark) {
	if (prog == "hmm-tests") {
		# FIXTURE.VARIANT.TEST
		n = split(name, F, ".")
		c = F[n]
		v = n > 2 ? F[2] : "-"
	} else if ((i = index(name, " ... with ")) > 0) {
		c = substr(name, 1, i - 1)
		v = substr(name, i + 10)
	} else {
		c = name
		v = "-"
	}
	c = norm(c)
	v = norm(v)
	expd = "pass"
	why = ""
	for (i = 1; i <= nexp; i++) {
		if (gmatch(ecase[i], c) && gmatch(evar[i], v)) {
			expd = eexp[i]
			why = ewhy[i]
			used[i] = 1
			break
		}
	}
	if (res == expd) {
		if (res == "pass")
			npass++
		else
			nskip++
		mark = why
	} else {
		deviation(sprintf("%s %s %s: %s, expected %s%s%s", prog, c, v, res, expd,
			why != "" ? " (" why ")" : "", assert != "" ? "; " assert : note != "" ? "; " note : ""))
		mark = "DEVIATION" (why != "" ? " (expected because: " why ")" : "")
	}
	printf "%-54s %-26s %-8s %-8s %s\n", c, v, res, expd, mark
}
function endprog() {
	if (prog == "")
		return
	if (!finished)
		deviation(prog ": did not finish (the guest died or hung in it)")
	else if (planned == 0)
		deviation(prog ": no TAP plan (exit code " rc ")")
	if (planned > seen) {
		deviation(sprintf("%s: %d of %d results missing (crashed?)", prog, planned - seen, planned))
		nfail += planned - seen - 1
	}
	prog = ""
}
# expectation(LINE, N): line N of the expectation file
function expectation(l, ln,    F, nf, f, g, i, why) {
	sub(/\r$/, "", l)
	if (l ~ /^[ \t]*(#|$)/)
		return
	nf = split(l, F, /[ \t]+/)
	f = F[1] == "" ? 2 : 1
	if (F[f] ~ /^kernel=/) {
		g = substr(F[f], 8)
		f++
		if (!gmatch(g, kernel))
			return
	}
	nexp++
	eline[nexp] = ln
	ecase[nexp] = F[f]
	evar[nexp] = F[f + 1]
	eexp[nexp] = F[f + 2]
	why = ""
	for (i = f + 3; i <= nf; i++)
		why = why (why == "" ? "" : " ") F[i]
	ewhy[nexp] = why
	if (eexp[nexp] !~ /^(pass|fail|skip|xfail|timeout)$/)
		deviation(sprintf("expectation line %d: \"%s\" is not pass, fail, skip, xfail or timeout", ln, eexp[nexp]))
	else if (eexp[nexp] != "pass" && why == "")
		deviation(sprintf("expectation line %d (%s %s): a non-pass needs a reason", ln, ecase[nexp], evar[nexp]))
}
BEGIN {
	np = split(progs, want, " ")
	while ((getline l <expect) > 0)
		expectation(l, ++ln)
	printf "%-54s %-26s %-8s %-8s %s\n", "case", "variant", "result", "expected", "reason"
}
{ sub(/\r$/, "") }
/^# program: / {
	endprog()
	p = $3
	for (i = 1; i <= np; i++)
		if (want[i] == p) {
			prog = p
			ran[p] = 1
			planned = seen = finished = 0
			rc = ""
			runname = assert = ""
			timedout = 0
		}
	next
}
prog == "" { next }
/^# exit: / { finished = 1; rc = $4; next }
/^1\.\.[0-9]+/ { planned = substr($1, 4) + 0; next }
/^# \[RUN\] / { runname = substr($0, 9); next }
/^# [^ :]+\.c:[0-9]+:/ { if (assert == "") assert = substr($0, 3); next }
/^# [^ ]+: Test terminated by timeout/ { timedout = 1; next }
/^(not )?ok [0-9]+/ {
	seen++
	line = $0
	ok = line !~ /^not /
	sub(/^(not )?ok [0-9]+ */, "", line)
	dir = ""
	if ((i = index(" " line, " # ")) > 0) {
		dir = substr(line, i + 2)
		line = substr(line, 1, i > 1 ? i - 2 : 0)
	}
	if (prog != "hmm-tests" && runname != "")
		line = runname
	runname = ""
	if (dir ~ /^SKIP/)
		res = "skip"
	else if (dir ~ /^XFAIL/)
		res = "xfail"
	else if (timedout)
		res = "timeout"
	else
		res = ok ? "pass" : "fail"
	result(prog, line, res, dir)
	assert = ""
	timedout = 0
	next
}
END {
	endprog()
	for (i = 1; i <= np; i++)
		if (!(want[i] in ran))
			deviation(want[i] ": did not run")
	for (i = 1; i <= nexp; i++)
		if (!used[i])
			deviation(sprintf("expectation line %d (%s %s %s) matched no case", eline[i], ecase[i], evar[i], eexp[i]))
	if (counts != "")
		print npass + 0, nfail + 0, nskip + 0 >counts
}
