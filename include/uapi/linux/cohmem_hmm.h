/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * cohmem: the ABI of /dev/hmm_dmirrorN (module parameter upstream_abi=1),
 * which is that of the kernel's own device memory test driver as its
 * lib/test_hmm_uapi.h defines it, so that the kernel's hmm-tests run
 * unmodified against cohmem. The names here are cohmem's own; the
 * numbers and the layout are the kernel's. FLAGS exists on 7.2 and later
 * kernels, READ_UNLOCKED on 7.3 and later; elsewhere they are -EINVAL,
 * as is any command the node does not know.
 *
 * Each open file is a device's mirror of the opener's address space;
 * commands act on the calling process, which must be the opener.
 */
#ifndef _UAPI_LINUX_COHMEM_HMM_H
#define _UAPI_LINUX_COHMEM_HMM_H

#include <linux/ioctl.h>
#include <linux/types.h>

struct cohmem_hmm_cmd {
	__u64 addr;	/* in: start of the range, page aligned */
	__u64 ptr;	/* in: user buffer (data; SNAPSHOT: a byte per page) */
	__u64 npages;	/* in: pages, at least 1; FLAGS: the flags */
	__u64 cpages;	/* out: pages done */
	__u64 faults;	/* out: fault rounds (READ, WRITE) */
};

/* The device reads the range into ptr, faulting in what it lacks. */
#define COHMEM_HMM_READ			_IOWR('H', 0x00, struct cohmem_hmm_cmd)
/* The device writes ptr into the range, faulting it in for write. */
#define COHMEM_HMM_WRITE		_IOWR('H', 0x01, struct cohmem_hmm_cmd)
/* Migrate to the device, then read it back into ptr (-ENOENT: not all moved). */
#define COHMEM_HMM_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct cohmem_hmm_cmd)
/* Migrate this device's pages of the range to system RAM; cpages: moved. */
#define COHMEM_HMM_MIGRATE_TO_SYS	_IOWR('H', 0x03, struct cohmem_hmm_cmd)
/* One COHMEM_HMM_STATE byte per page into ptr; never faults. */
#define COHMEM_HMM_SNAPSHOT		_IOWR('H', 0x04, struct cohmem_hmm_cmd)
/* Make the pages exclusive to the device, then read them into ptr. */
#define COHMEM_HMM_EXCLUSIVE		_IOWR('H', 0x05, struct cohmem_hmm_cmd)
/* -EPERM while any page of the range is still exclusive to the device. */
#define COHMEM_HMM_CHECK_EXCLUSIVE	_IOWR('H', 0x06, struct cohmem_hmm_cmd)
/* Evict every page of the device, of every process, to system RAM. */
#define COHMEM_HMM_RELEASE		_IOWR('H', 0x07, struct cohmem_hmm_cmd)
/* This file's flags := npages (COHMEM_HMM_FLAG_*). 7.2 on. */
#define COHMEM_HMM_FLAGS		_IOWR('H', 0x08, struct cohmem_hmm_cmd)
/* As READ, with faults that may drop the mmap_lock (userfaultfd). 7.3 on. */
#define COHMEM_HMM_READ_UNLOCKED	_IOWR('H', 0x09, struct cohmem_hmm_cmd)

/* The next migration of this file gets no huge device folio (cohmem's reading). */
#define COHMEM_HMM_FLAG_FAIL_ALLOC	(1U << 0)

/* SNAPSHOT bytes: a type | an access | a size; or NONE; or ERROR. */
#define COHMEM_HMM_STATE_NONE		0x00	/* not mapped, or another device's private page */
#define COHMEM_HMM_STATE_READ		0x01
#define COHMEM_HMM_STATE_WRITE		0x02
#define COHMEM_HMM_STATE_PMD		0x04	/* mapped by a PMD */
#define COHMEM_HMM_STATE_PUD		0x08	/* mapped by a PUD */
#define COHMEM_HMM_STATE_ZERO		0x10	/* the zero page */
#define COHMEM_HMM_STATE_PRIVATE_LOCAL	0x20	/* this device's private page */
#define COHMEM_HMM_STATE_PRIVATE_REMOTE	0x30
#define COHMEM_HMM_STATE_COHERENT_LOCAL	0x40	/* this device's coherent page */
#define COHMEM_HMM_STATE_COHERENT_REMOTE 0x50	/* another device's coherent page */
#define COHMEM_HMM_STATE_ERROR		0xff	/* no VMA, no access, VM_IO/PFNMAP */

#endif /* _UAPI_LINUX_COHMEM_HMM_H */
