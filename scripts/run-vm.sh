#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# run-vm.sh KVER MODE JOB: boot the stock kernel KVER under QEMU (TCG) with
# the initramfs of mkinitramfs.sh and run JOB (tests|demo|loop|stress|
# upstream|prog) in it.
#   MODE reserved:  two memmap= reservations, loaded with reserved=
#   MODE hotremove: no boot parameter, two devices of hot-removed RAM
# The guest has 4 GiB: System RAM below and above 4 GiB, so that one range
# is always free of the (KASLR-placed) kernel image the module stays above.
# COHMEM_APPEND adds kernel parameters; COHMEM_UPSTREAM_MIB sets the size of
# the upstream job's devices.
# Writes $COHMEM_OUT/KVER/MODE-JOB.console (kernel log) and .ktap (results).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:?usage: run-vm.sh KVER MODE JOB}
mode=${2:?}
job=${3:?}
base=$COHMEM_OUT/$kver/$mode-$job
# no_timer_check: on a loaded host a TCG guest's early IO-APIC timer check
# can time out and panic ("IO-APIC + timer doesn't work"), seen with more
# guests than cores; the check proves nothing about cohmem.
append="console=ttyS0,115200 panic=-1 printk.time=1 no_timer_check cohmem_job=$job"
case $mode in
reserved)
	[ "$job" != upstream ] || die "the upstream job runs in hotremove mode only"
	append="$append memmap=128M\$0x40000000 memmap=128M\$0x50000000"
	append="$append cohmem_opts=reserved=128M@0x40000000,128M@0x50000000"
	;;
hotremove)
	if [ "$job" = upstream ]; then
		# hmm-tests' four devices of COHMEM_UPSTREAM_MIB each (default
		# 256: its 7.x benchmark wants 256 MiB free on devices 0 and
		# 2), and an hour: the whole suite of each program under TCG.
		mib=${COHMEM_UPSTREAM_MIB:-256}
		append="$append cohmem_opts=devices=4+size=${mib}M cohmem_hot_kb=$((4 * mib * 1024))"
		append="$append cohmem_watchdog=3300"
		: "${COHMEM_VM_TIMEOUT:=3600}"
	else
		[ "$job" = demo ] && n=1 || n=2
		append="$append cohmem_opts=devices=$n cohmem_hot_kb=$((n * 131072))"
	fi
	;;
bench) ;; # scripts/bench.sh: its memmap= ranges and parameters come in COHMEM_APPEND
*) die "unknown mode $mode" ;;
esac
# The full lane runs the stress and fuzz programs for minutes, not seconds.
[ "${COHMEM_LANE:-}" = full ] && append="$append cohmem_stress_secs=120"
append="$append ${COHMEM_APPEND:-}"
rm -f "$base.console" "$base.ktap"
log "booting $kver ($mode, $job)"
# A blank 64 MiB scratch disk per boot (sparse, removed afterwards): the
# guest's /dev/vda, for the O_DIRECT case.
boot() {
	rm -f "$base.disk"
	truncate -s 64M "$base.disk"
	timeout "${COHMEM_VM_TIMEOUT:-1200}" qemu-system-x86_64 \
		-accel tcg,thread=multi -cpu max -smp 2 -m "${COHMEM_VM_MEM:-4G}" \
		-display none -monitor none -no-reboot \
		-kernel "$(kernel_image "$kver")" \
		-initrd "$COHMEM_OUT/$kver/initramfs.gz" \
		-drive file="$base.disk",format=raw,if=virtio \
		-append "$append" \
		-serial file:"$base.console" -serial file:"$base.ktap" || true
	rm -f "$base.disk"
}
boot
# A guest that died before its /init said a word never ran cohmem: seen
# once as an int3 Oops in the scheduler during early boot under
# multi-threaded TCG. Boot once more and keep the first console for the
# record; a second failure is reported as it is.
if ! grep -q '^# cohmem-guest: kernel' "$base.ktap" 2>/dev/null; then
	mv "$base.console" "$base.console.failed-boot"
	log "$kver ($mode): the guest died before /init ran; booting again (see $base.console.failed-boot)"
	boot
fi
