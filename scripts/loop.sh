#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# loop.sh KVER [N] [MODE]: hunt for flaky cases. Builds cohmem for KVER,
# boots it once (MODE reserved or hotremove, default reserved) and runs
# cohmem-core and cohmem-pin N times in a row (default 20); prints
# "N passed, N failed" over all of them and every failure.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?usage: loop.sh KVER [N] [MODE]}
n=${2:-20}
mode=${3:-reserved}
COHMEM_VM_TIMEOUT=$((n * 300)) COHMEM_APPEND="cohmem_loops=$n cohmem_watchdog=$((n * 240)) ${COHMEM_APPEND:-}" \
	one_boot "$kver" "$mode" loop "cohmem-core and cohmem-pin $n times"
