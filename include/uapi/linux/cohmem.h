/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * cohmem: simulated cache-coherent device memory (MEMORY_DEVICE_COHERENT).
 *
 * Userspace ABI of /dev/cohmemN. Every call acts on the calling process's
 * own address space. Structures are fixed-size; every flags word and every
 * reserved field must be zero (-EINVAL otherwise) so that they can be given
 * a meaning later. Lengths and addresses are in bytes and must be multiples
 * of the system page size.
 */
#ifndef _UAPI_LINUX_COHMEM_H
#define _UAPI_LINUX_COHMEM_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define COHMEM_ABI_VERSION	1

/* How a device's region was obtained (cohmem_info.source). */
#define COHMEM_SOURCE_RESERVED	1	/* memmap=SIZE$ADDR, passed as reserved= */
#define COHMEM_SOURCE_HOTREMOVE	2	/* System RAM hot-removed at load */

/* What the kernel sees (cohmem_info.type). */
#define COHMEM_TYPE_COHERENT	1	/* MEMORY_DEVICE_COHERENT: CPU-mapped */
#define COHMEM_TYPE_PRIVATE	2	/* MEMORY_DEVICE_PRIVATE: CPU faults back */

/* What this kernel and module offer (cohmem_info.features). */
#define COHMEM_FEATURE_PRIVATE	(1U << 0)	/* type=private can be loaded */
#define COHMEM_FEATURE_HUGE	(1U << 1)	/* this device: COHMEM_MIGRATE_HUGE */

struct cohmem_info {
	__u32 abi_version;	/* COHMEM_ABI_VERSION */
	__u32 id;		/* N of /dev/cohmemN */
	__u32 source;		/* COHMEM_SOURCE_* */
	__u32 page_size;	/* bytes per device page */
	__u64 base;		/* physical address of the region */
	__u64 size;		/* bytes */
	__u64 total_pages;
	__u64 free_pages;
	__u64 used_pages;	/* total_pages - free_pages */
	/* Cumulative counters, in pages, since the device was created. */
	__u64 migrated_to_dev;	/* by COHMEM_IOC_MIGRATE_TO_DEV */
	__u64 migrated_to_sys;	/* by COHMEM_IOC_MIGRATE_TO_SYS */
	__u64 evicted;		/* by EVICT, a full device, drain */
	__u64 freed;		/* every return to the allocator, whoever freed */
	__u32 type;		/* COHMEM_TYPE_* */
	__u32 features;		/* COHMEM_FEATURE_* */
	/* proc_limit: device pages one process may hold, all devices; 0: none */
	__u64 proc_limit_pages;
	__u64 reserved[4];
};

/*
 * MIGRATE_TO_DEV / MIGRATE_TO_SYS: move the anonymous pages of
 * [addr, addr + len) to this device's memory, or from it back to system RAM.
 * Never-touched pages of an anonymous mapping become zero-filled device
 * pages. Every page of the range is counted in exactly one of moved and the
 * skipped_* fields. The whole range must be mapped (-EFAULT otherwise).
 */

/*
 * MIGRATE_TO_DEV: move each 2 MiB-aligned stretch that is mapped by a
 * transparent huge page, or not populated, as one 2 MiB device folio when
 * the device has a free aligned run (the rest moves 4 KiB at a time). Only
 * devices with COHMEM_FEATURE_HUGE (-EOPNOTSUPP otherwise): device-private
 * memory on 6.19 and later. MIGRATE_TO_SYS needs no flag: a huge device
 * folio comes back whole when a system THP is free, else in 4 KiB pages.
 */
#define COHMEM_MIGRATE_HUGE	(1U << 0)

struct cohmem_migrate {
	__u64 addr;		/* in */
	__u64 len;		/* in */
	__u32 flags;		/* in: COHMEM_MIGRATE_* */
	__u32 pad;		/* must be 0 */
	__u64 moved;		/* out: pages migrated */
	__u64 skipped_busy;	/* out: extra references (pinned...) or locked */
	__u64 skipped_nomem;	/* out: no free destination page */
	/* out: not migratable: already there, file or shared mapping, ... */
	__u64 skipped_other;
	/*
	 * out, MIGRATE_TO_DEV: pages of this device, of any process, evicted
	 * to system RAM to make room (least recently migrated first; never
	 * pinned ones), when the device is full and evict_on_full is set
	 */
	__u64 evicted;
	/* out: not moved to the device: the process is at proc_limit */
	__u64 skipped_limit;
	/* out: of moved, pages that moved as part of a 2 MiB folio */
	__u64 huge;
	__u64 reserved;		/* must be 0 */
};

/* Pin modes (cohmem_pin.mode): how the kernel is asked for the pages. */
enum cohmem_pin_mode {
	COHMEM_PIN_LONGTERM = 1,	/* pin_user_pages(FOLL_LONGTERM) */
	COHMEM_PIN_LONGTERM_FAST = 2,	/* pin_user_pages_fast(FOLL_LONGTERM) */
	COHMEM_PIN_SHORT = 3,		/* pin_user_pages() */
	COHMEM_PIN_SHORT_FAST = 4,	/* pin_user_pages_fast() */
	COHMEM_PIN_GET_FAST = 5,	/* get_user_pages_fast(), a FOLL_GET ref */
};

#define COHMEM_PIN_WRITE	(1U << 0)	/* pin for write (FOLL_WRITE) */

/*
 * PIN: pin [addr, addr + len) all or nothing. The pin is held until UNPIN
 * with its handle or until the file is closed.
 */
struct cohmem_pin {
	__u64 addr;		/* in */
	__u64 len;		/* in */
	__u32 mode;		/* in: enum cohmem_pin_mode */
	__u32 flags;		/* in: COHMEM_PIN_* */
	__u32 handle;		/* out: > 0 */
	__u32 pad;		/* must be 0 */
	__u64 npinned;		/* out: pages pinned */
	__u64 ndevice;		/* out: of those, device-coherent pages */
	__u64 reserved[4];
};

struct cohmem_unpin {
	__u32 handle;		/* in: from COHMEM_IOC_PIN on this file */
	__u32 flags;		/* in: must be 0 */
};

/* One byte per page in a snapshot: a state in the low bits, then flags. */
#define COHMEM_STATE_MASK	0x0f
#define COHMEM_STATE_NONE	0x00	/* not present (never touched, swapped) */
#define COHMEM_STATE_SYSTEM	0x01	/* system RAM */
#define COHMEM_STATE_DEVICE	0x02	/* this device's memory */
#define COHMEM_STATE_OTHER	0x03	/* another device's memory */
#define COHMEM_STATE_ERROR	0x04	/* not readable: special mapping, ... */
#define COHMEM_PAGE_WRITE	0x10	/* mapped writable */
#define COHMEM_PAGE_PINNED	0x20	/* maybe pinned (FOLL_PIN) */
#define COHMEM_PAGE_HUGE	0x40	/* mapped by a huge (PMD) entry */

/*
 * SNAPSHOT: report [addr, addr + len) page by page into buf, without
 * faulting anything in or changing anything. Unmapped pages read as
 * COHMEM_STATE_ERROR.
 */
struct cohmem_snapshot {
	__u64 addr;		/* in */
	__u64 len;		/* in */
	__u64 buf;		/* in: user pointer to len / page size bytes */
	__u32 flags;		/* in: must be 0 */
	__u32 pad;		/* must be 0 */
	__u64 count[5];		/* out: pages in each COHMEM_STATE_* */
	__u64 reserved[3];
};

#define COHMEM_EVICT_ALL	(1U << 0)	/* the whole device; offset, len 0 */

/*
 * EVICT: migrate every in-use page of this device in
 * [base + offset, base + offset + len) (physical) back to system RAM,
 * whichever process maps it.
 */
struct cohmem_evict {
	__u64 offset;		/* in: from the region base */
	__u64 len;		/* in */
	__u32 flags;		/* in: COHMEM_EVICT_* */
	__u32 pad;		/* must be 0 */
	__u64 evicted;		/* out: pages moved to system RAM */
	__u64 busy;		/* out: in use but could not be moved now */
	__u64 reserved[4];
};

/*
 * DEVICE_READ / DEVICE_WRITE: the device itself reads [addr, addr + len)
 * of the calling process into buf (or writes buf there) through its
 * mirror of the process's address space, as a GPU reads system memory:
 * nothing migrates. The first call makes the file the calling process's
 * mirror (another process's calls are -EINVAL). Pages the mirror lacks
 * are faulted in (for write, with DEVICE_WRITE), one round counted in
 * faults; the CPU's changes to the process's mappings (munmap, mprotect,
 * migration, ...) drop the mirror's pages. -EFAULT: a page without a VMA
 * or without access; -EPERM: a write to a read-only mapping.
 */
struct cohmem_access {
	__u64 addr;		/* in */
	__u64 len;		/* in */
	__u64 buf;		/* in: user pointer to len bytes */
	__u32 flags;		/* in: must be 0 */
	__u32 pad;		/* must be 0 */
	__u64 done;		/* out: bytes copied (also on error) */
	__u64 faults;		/* out: fault rounds */
	__u64 reserved[2];
};

#define COHMEM_IOC_MAGIC	0xC7

#define COHMEM_IOC_INFO		_IOR(COHMEM_IOC_MAGIC, 0x00, struct cohmem_info)
#define COHMEM_IOC_MIGRATE_TO_DEV _IOWR(COHMEM_IOC_MAGIC, 0x01, struct cohmem_migrate)
#define COHMEM_IOC_MIGRATE_TO_SYS _IOWR(COHMEM_IOC_MAGIC, 0x02, struct cohmem_migrate)
#define COHMEM_IOC_PIN		_IOWR(COHMEM_IOC_MAGIC, 0x03, struct cohmem_pin)
#define COHMEM_IOC_UNPIN	_IOW(COHMEM_IOC_MAGIC, 0x04, struct cohmem_unpin)
#define COHMEM_IOC_SNAPSHOT	_IOWR(COHMEM_IOC_MAGIC, 0x05, struct cohmem_snapshot)
#define COHMEM_IOC_EVICT	_IOWR(COHMEM_IOC_MAGIC, 0x06, struct cohmem_evict)
#define COHMEM_IOC_DEVICE_READ	_IOWR(COHMEM_IOC_MAGIC, 0x07, struct cohmem_access)
#define COHMEM_IOC_DEVICE_WRITE	_IOWR(COHMEM_IOC_MAGIC, 0x08, struct cohmem_access)

#endif /* _UAPI_LINUX_COHMEM_H */
