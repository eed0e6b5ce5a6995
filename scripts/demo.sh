#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# demo.sh [KVER]: the main job. Builds cohmem for a stock Debian kernel
# (default: the current kernel of the bookworm-6.12 line, asked of the
# archive now; it builds on the host itself, with no chroot), boots it
# under QEMU with no
# boot parameter, loads cohmem with modprobe semantics (it hot-removes
# 128 MiB of RAM), migrates a buffer to the device, pins it short-term and
# long-term (the kernel evicts it), runs the benchmark, and unloads with the
# buffer still on the device.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_host_packages
rm -f "$KERNELS_RESOLVED"
COHMEM_KERNELS=${1:-bookworm-6.12} "$COHMEM_TOP/scripts/resolve-kernels.sh"
kver=$(kernels_list | head -n 1)
[ -n "$kver" ] || die "no kernel to boot: see the lines above"
make -s -C "$COHMEM_TOP/tests" O="$COHMEM_OUT/tests"
"$COHMEM_TOP/scripts/build-module.sh" "$kver"
"$COHMEM_TOP/scripts/mkinitramfs.sh" "$kver"
"$COHMEM_TOP/scripts/run-vm.sh" "$kver" hotremove demo
base=$COHMEM_OUT/$kver/hotremove-demo
echo
tr -d '\r' <"$base.ktap"
echo
if ! grep -q 'as it must' "$base.ktap" || ! grep -q '^unloaded' <(tr -d '\r' <"$base.ktap"); then
	die "the demo did not complete: see $base.console"
fi
log "kernel log of the guest: $base.console"
