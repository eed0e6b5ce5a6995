/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place where cohmem meets kernel API differences. Everything else
 * calls the cohmem_* helpers below and never tests a kernel version.
 *
 * Each COHMEM_HAVE_* macro says which side of an upstream change the target
 * kernel is on. The version checks are hints for kernels we do not probe.
 */
#ifndef COHMEM_COMPAT_H
#define COHMEM_COMPAT_H

#include <linux/gfp.h>
#include <linux/version.h>
#include <linux/mm.h>
#include <linux/memremap.h>

/* v6.5: pin_user_pages() lost its trailing vmas argument. */
#ifndef COHMEM_HAVE_GUP_VMAS
#define COHMEM_HAVE_GUP_VMAS (LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0))
#endif

/* v6.15: page->pgmap became private to the mm; read it with page_pgmap(). */
#ifndef COHMEM_HAVE_PAGE_PGMAP
#define COHMEM_HAVE_PAGE_PGMAP (LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0))
#endif

/* v6.14: alloc_pages_bulk_array() was renamed alloc_pages_bulk(). */
#ifndef COHMEM_HAVE_ALLOC_PAGES_BULK_ARRAY
#define COHMEM_HAVE_ALLOC_PAGES_BULK_ARRAY \
	(LINUX_VERSION_CODE < KERNEL_VERSION(6, 14, 0))
#endif

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

#endif /* COHMEM_COMPAT_H */
