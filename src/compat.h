/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place where cohmem meets kernel API differences. Everything else
 * calls the cohmem_* helpers below and never tests a kernel version.
 *
 * Each difference is decided by compile probes (the files in probes/, run by Kbuild
 * through scripts/probe.sh into probes.h), never by version numbers: distro
 * kernels backport. Where an API has two shapes, both are probed and exactly
 * one must be found, so a missing or broken probe stops the build here
 * instead of silently picking the wrong shape.
 */
#ifndef COHMEM_COMPAT_H
#define COHMEM_COMPAT_H

#include <linux/gfp.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>

#include "probes.h"

#if !defined(COHMEM_HAVE_E820_RAW_ANY)
#error "probe e820_raw_any.export did not run"
#endif

#if !defined(COHMEM_HAVE_GUP_VMAS) || !defined(COHMEM_HAVE_GUP_NOVMAS)
#error "probes gup_vmas.c and gup_novmas.c did not both run"
#elif COHMEM_HAVE_GUP_VMAS + COHMEM_HAVE_GUP_NOVMAS != 1
#error "need exactly one shape of pin_user_pages()"
#endif
#if !defined(COHMEM_HAVE_PAGE_PGMAP) || !defined(COHMEM_HAVE_PAGE_PGMAP_FIELD)
#error "probes page_pgmap.c and page_pgmap_field.c did not both run"
#elif !COHMEM_HAVE_PAGE_PGMAP && !COHMEM_HAVE_PAGE_PGMAP_FIELD
#error "no way to read a page's pgmap"
#endif
#if !defined(COHMEM_HAVE_FOLIO_FREE) || !defined(COHMEM_HAVE_PAGE_FREE)
#error "probes folio_free.c and page_free.c did not both run"
#elif COHMEM_HAVE_FOLIO_FREE + COHMEM_HAVE_PAGE_FREE != 1
#error "need exactly one pagemap free callback"
#endif
#if !defined(COHMEM_HAVE_ZDPI_PAGE) || !defined(COHMEM_HAVE_ZDPI_ORDER) || \
	!defined(COHMEM_HAVE_ZDPI_PGMAP_ORDER)
#error "probes zdpi_*.c did not all run"
#elif COHMEM_HAVE_ZDPI_PAGE + COHMEM_HAVE_ZDPI_ORDER + COHMEM_HAVE_ZDPI_PGMAP_ORDER != 1
#error "need exactly one shape of zone_device_page_init()"
#endif
#if !defined(COHMEM_HAVE_ALLOC_PAGES_BULK_ARRAY) || !defined(COHMEM_HAVE_ALLOC_PAGES_BULK)
#error "probes alloc_pages_bulk_array.c and alloc_pages_bulk.c did not both run"
#elif !COHMEM_HAVE_ALLOC_PAGES_BULK_ARRAY && !COHMEM_HAVE_ALLOC_PAGES_BULK
#error "no bulk page allocator"
#endif
#if !defined(COHMEM_HAVE_MIGRATE_VMA_SELECT_COMPOUND) || !defined(COHMEM_HAVE_FOLIO_SPLIT)
#error "probes migrate_vma_select_compound.c and folio_split.c did not both run"
#endif
#if !defined(COHMEM_HAVE_FOLIO_BATCH_H) || !defined(COHMEM_HAVE_FOLIO_BATCH_PAGEVEC_H) || \
	!defined(COHMEM_HAVE_PAGEVEC_RELEASE)
#error "probes folio_batch_h.c, folio_batch_pagevec_h.c and pagevec_release.c did not all run"
#elif COHMEM_HAVE_FOLIO_BATCH_H + COHMEM_HAVE_FOLIO_BATCH_PAGEVEC_H + \
	COHMEM_HAVE_PAGEVEC_RELEASE != 1
#error "need exactly one way to release a folio batch"
#endif
#if COHMEM_HAVE_FOLIO_BATCH_H
#include <linux/folio_batch.h>
#else
#include <linux/pagevec.h>
#endif

/*
 * Flush this CPU's LRU batches (lru_add, activate, deactivate, lazyfree,
 * rotate, mlock), as lru_add_drain() does; it is not exported, but the
 * exported __folio_batch_release() (__pagevec_release() before 6.4) calls
 * it before releasing anything, and an empty batch releases nothing.
 */
static inline void cohmem_lru_add_drain(void)
{
#if COHMEM_HAVE_PAGEVEC_RELEASE
	struct pagevec pv;

	pagevec_init(&pv);
	__pagevec_release(&pv);
#else
	struct folio_batch fb;

	folio_batch_init(&fb);
	__folio_batch_release(&fb);
#endif
}

/* Fill the NULL slots of pages[0..n); returns how many are filled. */
static inline unsigned long cohmem_alloc_pages_bulk(gfp_t gfp, unsigned long n,
						    struct page **pages)
{
#if COHMEM_HAVE_ALLOC_PAGES_BULK_ARRAY
	return alloc_pages_bulk_array(gfp, n, pages);
#else
	return alloc_pages_bulk(gfp, n, pages);
#endif
}

static inline long cohmem_pin_user_pages(unsigned long start,
					 unsigned long nr_pages,
					 unsigned int gup_flags,
					 struct page **pages)
{
#if COHMEM_HAVE_GUP_VMAS
	return pin_user_pages(start, nr_pages, gup_flags, pages, NULL);
#else
	return pin_user_pages(start, nr_pages, gup_flags, pages);
#endif
}

static inline struct dev_pagemap *cohmem_page_pgmap(struct page *page)
{
#if COHMEM_HAVE_PAGE_PGMAP
	return page_pgmap(page);
#else
	return page->pgmap;
#endif
}

/*
 * MEMORY_DEVICE_PRIVATE pagemaps need CONFIG_DEVICE_PRIVATE (Debian: 7.x
 * yes, 6.1 and 6.12 no). The private code builds everywhere and is dead
 * code, never reached, where this is 0.
 */
#define COHMEM_HAVE_DEVICE_PRIVATE	IS_ENABLED(CONFIG_DEVICE_PRIVATE)

/*
 * Huge (PMD-sized) device folios, for device-private memory only (the core
 * mm does not support huge device-coherent folios, see the README): THP
 * device migration (MIGRATE_VMA_SELECT_COMPOUND), the folio_split callback
 * and zone_device_page_init() with an order, all of 6.19 on, and THP
 * itself (Debian's 6.1 rt flavour has none); at run time also
 * thp_migration_supported().
 */
#define COHMEM_HAVE_HUGE						\
	(COHMEM_HAVE_MIGRATE_VMA_SELECT_COMPOUND && COHMEM_HAVE_FOLIO_SPLIT && \
	 COHMEM_HAVE_ZDPI_PGMAP_ORDER && COHMEM_HAVE_DEVICE_PRIVATE &&	\
	 IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE))

/*
 * A huge device folio: a PMD's worth of pages. Not HPAGE_PMD_*, which are
 * BUILD_BUG()s in a kernel without THP; there the huge paths are dead code.
 */
#define COHMEM_HUGE_ORDER	(PMD_SHIFT - PAGE_SHIFT)
#define COHMEM_HUGE_NR		BIT(COHMEM_HUGE_ORDER)

#if COHMEM_HAVE_MIGRATE_VMA_SELECT_COMPOUND
#define COHMEM_SELECT_COMPOUND	MIGRATE_VMA_SELECT_COMPOUND
#define COHMEM_PFN_COMPOUND	MIGRATE_PFN_COMPOUND
#else
#define COHMEM_SELECT_COMPOUND	0
#define COHMEM_PFN_COMPOUND	0UL
#endif

/* Pages a migrate src/dst entry stands for. */
static inline unsigned long cohmem_mpfn_nr(unsigned long mpfn)
{
	return COHMEM_PFN_COMPOUND && (mpfn & COHMEM_PFN_COMPOUND) ?
	       COHMEM_HUGE_NR : 1;
}

/* A free device page gets one reference, is locked, and pins its pgmap. */
static inline void cohmem_zone_device_page_init(struct page *page,
						struct dev_pagemap *pgmap)
{
#if COHMEM_HAVE_ZDPI_PGMAP_ORDER
	zone_device_page_init(page, pgmap, 0);
#elif COHMEM_HAVE_ZDPI_ORDER
	zone_device_page_init(page, 0);
#else
	zone_device_page_init(page);
#endif
}

/* A free huge device folio, likewise; only reached when COHMEM_HAVE_HUGE. */
static inline void cohmem_zone_device_folio_init(struct page *page,
						 struct dev_pagemap *pgmap,
						 unsigned int order)
{
#if COHMEM_HAVE_HUGE
	zone_device_folio_init(page_folio(page), pgmap, order);
#else
	WARN_ON_ONCE(1);
#endif
}

/* A folio split off a huge device folio takes over the head's pgmap. */
static inline void cohmem_folio_inherit_pgmap(struct folio *tail,
					      struct folio *head)
{
#if COHMEM_HAVE_HUGE
	tail->pgmap = head->pgmap;
#endif
}

/*
 * The pagemap's free callback: cohmem_page_free(page) is written once,
 * COHMEM_PAGEMAP_FREE() adapts it to this kernel's member, and
 * COHMEM_PAGEMAP_FREE_MEMBER() names that member in an ops table.
 */
#if COHMEM_HAVE_FOLIO_FREE
#define COHMEM_PAGEMAP_FREE(fn)						\
	static void fn##_folio(struct folio *folio)			\
	{								\
		fn(&folio->page, folio_nr_pages(folio));		\
	}
#define COHMEM_PAGEMAP_FREE_MEMBER(fn)	.folio_free = fn##_folio
#else
#define COHMEM_PAGEMAP_FREE(fn)						\
	static void fn##_page(struct page *page)			\
	{								\
		fn(page, 1);						\
	}
#define COHMEM_PAGEMAP_FREE_MEMBER(fn)	.page_free = fn##_page
#endif

/* cohmem_folio_split() as the ops' folio_split, where huge folios exist. */
#if COHMEM_HAVE_HUGE
#define COHMEM_PAGEMAP_SPLIT_MEMBER	.folio_split = cohmem_folio_split,
#else
#define COHMEM_PAGEMAP_SPLIT_MEMBER
#endif

/*
 * 1 when the firmware's own memory map (the E820 table before memmap= and
 * the like changed it) shows [@start, @end) as RAM: something in every
 * 2 MiB of it, and no other type anywhere in it. 0 when it does not; -1
 * where the kernel does not export that table to modules (7.x exports it
 * to KVM alone).
 */
#if COHMEM_HAVE_E820_RAW_ANY
#include <asm/e820/api.h>
#include <linux/sizes.h>

static inline int cohmem_firmware_ram(u64 start, u64 end)
{
	static const enum e820_type other[] = {
		E820_TYPE_RESERVED, E820_TYPE_ACPI, E820_TYPE_NVS,
		E820_TYPE_UNUSABLE, E820_TYPE_PMEM, E820_TYPE_PRAM,
		E820_TYPE_SOFT_RESERVED,
	};
	unsigned int i;
	u64 a;

	for (a = start; a < end; a += SZ_2M)
		if (!e820__mapped_raw_any(a, min(a + SZ_2M, end), E820_TYPE_RAM))
			return 0;
	for (i = 0; i < ARRAY_SIZE(other); i++)
		if (e820__mapped_raw_any(start, end, other[i]))
			return 0;
	return 1;
}
#else
static inline int cohmem_firmware_ram(u64 start, u64 end)
{
	return -1;
}
#endif

#if !defined(COHMEM_HAVE_MAKE_DEVICE_EXCLUSIVE) || \
	!defined(COHMEM_HAVE_MAKE_DEVICE_EXCLUSIVE_RANGE) || \
	!defined(COHMEM_HAVE_HMM_RANGE_FAULT_UNLOCKED_TIMEOUT)
#error "probes make_device_exclusive*.export, hmm_range_fault_unlocked_timeout.export did not run"
#endif

/*
 * test_hmm's ABI as each kernel's lib/test_hmm_uapi.h has it (dmirror.c),
 * by the kernel feature each command came with: FLAGS with device THP
 * migration (MIGRATE_VMA_SELECT_COMPOUND, 7.2), READ_UNLOCKED with
 * hmm_range_fault_unlocked_timeout() (7.3).
 */
#define COHMEM_HMM_HAVE_FLAGS		COHMEM_HAVE_MIGRATE_VMA_SELECT_COMPOUND
#define COHMEM_HMM_HAVE_READ_UNLOCKED	COHMEM_HAVE_HMM_RANGE_FAULT_UNLOCKED_TIMEOUT

#include <linux/err.h>
#include <linux/hmm.h>
#include <linux/rmap.h>

/*
 * The page at @addr made exclusive to the device @owner (the CPU's next
 * access faults and takes it back), locked and with a reference; an
 * ERR_PTR when it cannot be (-EOPNOTSUPP: a kernel without
 * CONFIG_DEVICE_PRIVATE, which builds no device-exclusive entries). The
 * caller holds the mmap_lock for read.
 */
static inline struct page *cohmem_make_exclusive(struct mm_struct *mm,
						 unsigned long addr, void *owner)
{
#if COHMEM_HAVE_MAKE_DEVICE_EXCLUSIVE
	struct folio *folio;

	return make_device_exclusive(mm, addr, owner, &folio);
#elif COHMEM_HAVE_MAKE_DEVICE_EXCLUSIVE_RANGE
	struct page *page = NULL;
	int ret;

	ret = make_device_exclusive_range(mm, addr, addr + PAGE_SIZE, &page, owner);
	if (ret < 0)
		return ERR_PTR(ret);
	return page ?: ERR_PTR(-EBUSY);
#else
	return ERR_PTR(-EOPNOTSUPP);
#endif
}

/*
 * hmm_range_fault() that takes the mmap_lock itself and lets a fault
 * handler drop it (userfaultfd): 7.3 on. Elsewhere the plain call under
 * the lock, which such a handler cannot complete.
 */
static inline int cohmem_hmm_fault_unlocked(struct hmm_range *range)
{
#if COHMEM_HAVE_HMM_RANGE_FAULT_UNLOCKED_TIMEOUT
	return hmm_range_fault_unlocked_timeout(range,
						msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT));
#else
	struct mm_struct *mm = range->notifier->mm;
	int ret;

	range->notifier_seq = mmu_interval_read_begin(range->notifier);
	mmap_read_lock(mm);
	ret = hmm_range_fault(range);
	mmap_read_unlock(mm);
	return ret;
#endif
}

/*
 * debugfs gup_test (guptest.c, upstream_abi=1).
 *
 * get_user_pages() lost its trailing vmas argument in 6.5, as
 * pin_user_pages() did: both shapes probed, exactly one must be found.
 */
#if !defined(COHMEM_HAVE_GET_USER_PAGES_VMAS) || !defined(COHMEM_HAVE_GET_USER_PAGES_NOVMAS)
#error "probes get_user_pages_vmas.c and get_user_pages_novmas.c did not both run"
#elif COHMEM_HAVE_GET_USER_PAGES_VMAS + COHMEM_HAVE_GET_USER_PAGES_NOVMAS != 1
#error "need exactly one shape of get_user_pages()"
#endif

static inline long cohmem_get_user_pages(unsigned long start,
					 unsigned long nr_pages,
					 unsigned int gup_flags,
					 struct page **pages)
{
#if COHMEM_HAVE_GET_USER_PAGES_VMAS
	return get_user_pages(start, nr_pages, gup_flags, pages, NULL);
#else
	return get_user_pages(start, nr_pages, gup_flags, pages);
#endif
}

/*
 * The one decision here made by version number, not by a probe: the ABI of
 * the kernel's own gup_test is no kernel API a module meets, its header
 * (mm/gup_test.h) is in no headers package, and what it follows is the
 * selftests of the kernel's source, which go by version too.
 * PIN_LONGTERM_TEST_START/STOP/READ came with 6.2, as one session for the
 * whole system that any close of the file ends; 7.3 gave each open file
 * its own.
 */
#include <linux/version.h>
#define COHMEM_GUP_TEST_ABI(major, minor)				\
	(KERNEL_VERSION(LINUX_VERSION_MAJOR, LINUX_VERSION_PATCHLEVEL, 0) >=	\
	 KERNEL_VERSION(major, minor, 0))
#define COHMEM_GUP_TEST_HAVE_SESSION		COHMEM_GUP_TEST_ABI(6, 2)
#define COHMEM_GUP_TEST_SESSION_PER_FILE	COHMEM_GUP_TEST_ABI(7, 3)

/*
 * The system's unbound workqueue: system_dfl_wq where it exists (7.x logs
 * "enqueued on deprecated workqueue" for work put on system_unbound_wq).
 */
#if !defined(COHMEM_HAVE_SYSTEM_DFL_WQ)
#error "probe system_dfl_wq.c did not run"
#endif
#include <linux/workqueue.h>
#if COHMEM_HAVE_SYSTEM_DFL_WQ
#define cohmem_unbound_wq	system_dfl_wq
#else
#define cohmem_unbound_wq	system_unbound_wq
#endif

#endif /* COHMEM_COMPAT_H */
