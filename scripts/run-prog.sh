#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# run-prog.sh KVER MODE PROG[+PROG...] [PARAM=VALUE...]: a development run.
# Builds cohmem for KVER, boots it once in MODE (reserved or hotremove),
# loads the module with that mode's parameters and the PARAMs given, runs
# only the test programs named (e.g. cohmem-dmirror) and prints
# "N passed, N failed, N skipped" and every failure.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?usage: run-prog.sh KVER MODE PROG[+PROG...] [PARAM=VALUE...]}
mode=${2:?}
progs=${3:?}
shift 3
extra=$(IFS=+; echo "$*")
COHMEM_APPEND="cohmem_prog=$progs ${extra:+cohmem_extra=$extra} ${COHMEM_APPEND:-}" \
	one_boot "$kver" "$mode" prog "$progs"
