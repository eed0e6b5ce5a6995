// SPDX-License-Identifier: GPL-2.0
/*
 * The device pagemap (MEMORY_DEVICE_COHERENT, or MEMORY_DEVICE_PRIVATE over
 * a backing store) and the device page allocator.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/err.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/mm.h>
#include <linux/memremap.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "cohmem.h"
#include "trace.h"

static inline struct cohmem_dev *cohmem_pgmap_dev(struct dev_pagemap *pgmap)
{
	return container_of(pgmap, struct cohmem_dev, pgmap);
}

/*
 * Device pages in use, over all devices. While there are any, the module
 * holds a reference to itself: rmmod fails at once ("in use") instead of
 * waiting, possibly forever, for a page somebody outside cohmem holds (a
 * pipe, another driver). The drain parameter evicts what can be evicted
 * first (main.c). Pages are only allocated from an open /dev/cohmemN,
 * which keeps the module alive, and the reference is taken before the
 * pages are handed on, so it is dropped (by the free callback) only after
 * it was taken.
 */
static atomic_long_t cohmem_in_use = ATOMIC_LONG_INIT(0);

static void cohmem_pages_taken(unsigned long nr)
{
	if (nr && atomic_long_fetch_add(nr, &cohmem_in_use) == 0 &&
	    !COHMEM_MUTANT(unload_while_pages_in_use))
		__module_get(THIS_MODULE);
}

static void cohmem_pages_returned(unsigned long nr)
{
	if (atomic_long_sub_and_test(nr, &cohmem_in_use) &&
	    !COHMEM_MUTANT(unload_while_pages_in_use))
		module_put(THIS_MODULE);
}

unsigned long cohmem_pages_in_use(void)
{
	return atomic_long_read(&cohmem_in_use);
}

/*
 * Where device page @idx of @cd was last placed in its owner's address
 * space: a hint for device-side eviction (evict.c), which looks there and
 * takes the page only if it is still there. Written when a migration
 * places the page, read without locks.
 */
void cohmem_set_addr(struct cohmem_dev *cd, struct page *page,
		     unsigned long nr, unsigned long addr)
{
	unsigned long idx = page_to_pfn(page) - cd->base_pfn, i;

	for (i = 0; i < nr; i++)
		WRITE_ONCE(cd->addr[idx + i], addr + (i << PAGE_SHIFT));
}

unsigned long cohmem_page_addr(struct cohmem_dev *cd, unsigned long idx)
{
	return READ_ONCE(cd->addr[idx]);
}

/*
 * Called by the mm when the last reference to one of our pages is dropped:
 * after a migration away from the device, an unmap, a process exit, or a
 * long-term pin that moved the page to system RAM. Lock-free, any context.
 */
static void cohmem_page_free(struct page *page, unsigned long nr)
{
	struct cohmem_dev *cd = cohmem_pgmap_dev(cohmem_page_pgmap(page));
	unsigned long idx = page_to_pfn(page) - cd->base_pfn, i;

	trace_cohmem_page_free(cd->id, idx, nr);
	cohmem_owner_page_freed(page, nr);
	if (COHMEM_MUTANT(page_free_leaks_pages))
		return;
	/*
	 * Counted before its bit is set: an allocation can take (and count)
	 * only pages already counted here, so nfree never reads below zero.
	 */
	atomic_long_add(nr, &cd->nfree);
	/* The page's last uses happen before it can be allocated again. */
	smp_mb__before_atomic();
	for (i = 0; i < nr; i++)
		set_bit(idx + i, cd->free_map);
	atomic64_add(nr, &cd->freed);
	/* Last: the module may go as soon as no page is in use. */
	cohmem_pages_returned(nr);
}

COHMEM_PAGEMAP_FREE(cohmem_page_free);

/*
 * A huge device-private folio is being split (partial unmap, mprotect, a
 * CPU fault, a migration back into small pages): @tail becomes a folio of
 * its own and takes from @head what the core mm leaves to the device. Each
 * page still carries one charge of the owner (see owner.c). @tail NULL: the
 * split is over.
 */
static void __maybe_unused cohmem_folio_split(struct folio *head,
					      struct folio *tail)
{
	if (!tail)
		return;
	cohmem_folio_inherit_pgmap(tail, head);
	tail->page.mapping = head->page.mapping;
	tail->page.zone_device_data = head->page.zone_device_data;
}

static const struct dev_pagemap_ops cohmem_coherent_ops = {
	COHMEM_PAGEMAP_FREE_MEMBER(cohmem_page_free),
};

/* Device-private pages also need a CPU fault handler (migrate.c). */
static const struct dev_pagemap_ops cohmem_private_ops = {
	COHMEM_PAGEMAP_FREE_MEMBER(cohmem_page_free),
	COHMEM_PAGEMAP_SPLIT_MEMBER
	.migrate_to_ram = cohmem_migrate_to_ram,
};

/* Whether this device hands out huge (PMD-sized) folios. */
bool cohmem_huge_ok(struct cohmem_dev *cd)
{
	return COHMEM_HAVE_HUGE && cd->type == COHMEM_TYPE_PRIVATE &&
	       thp_migration_supported() &&
	       IS_ALIGNED(cd->base_pfn, COHMEM_HUGE_NR) &&
	       !(COHMEM_HUGE_NR % BITS_PER_LONG);
}

/* The cohmem device a page belongs to, or NULL for any other page. */
struct cohmem_dev *cohmem_page_dev(struct page *page)
{
	struct dev_pagemap *pgmap;

	if (!cohmem_is_device_page(page))
		return NULL;
	pgmap = cohmem_page_pgmap(page);
	if (pgmap->ops != &cohmem_coherent_ops && pgmap->ops != &cohmem_private_ops)
		return NULL;
	return cohmem_pgmap_dev(pgmap);
}

/*
 * Allocate up to @n device pages into @pages, each with one reference and
 * locked, as migrate_vma_pages() wants its destination pages, and each
 * carrying one of @o's charges (see owner.c). Returns how many were
 * allocated; fewer than @n means the device is full.
 */
unsigned long cohmem_alloc_pages(struct cohmem_dev *cd, struct page **pages,
				 unsigned long n, struct cohmem_owner *o)
{
	unsigned long got = 0, bit, start, end, last = 0;
	int pass;

	spin_lock(&cd->alloc_lock);
	start = cd->cursor;
	/* Next fit: from the cursor to the end, then from 0 up to the cursor. */
	for (pass = 0; pass < 2 && got < n; pass++) {
		bit = pass ? 0 : start;
		end = pass ? start : cd->npages;
		for_each_set_bit_from(bit, cd->free_map, end) {
			/* Only allocators clear bits, and they hold alloc_lock. */
			clear_bit(bit, cd->free_map);
			pages[got++] = pfn_to_page(cd->base_pfn + bit);
			last = bit + 1;
			if (got == n)
				break;
		}
	}
	/*
	 * The cursor stays just past the last page handed out: the pages
	 * ahead of it are the least recently allocated (see make_room).
	 */
	if (got)
		cd->cursor = last;
	spin_unlock(&cd->alloc_lock);
	atomic_long_sub(got, &cd->nfree);
	cohmem_pages_taken(got);

	for (bit = 0; bit < got; bit++) {
		cohmem_zone_device_page_init(pages[bit], &cd->pgmap);
		cohmem_owner_set(pages[bit], o);
	}
	return got;
}

/*
 * A free naturally aligned run of COHMEM_HUGE_NR pages as one huge folio,
 * locked with one reference and carrying COHMEM_HUGE_NR charges of @o (the
 * caller took them); NULL when no such run is free.
 */
struct page *cohmem_alloc_huge(struct cohmem_dev *cd, struct cohmem_owner *o)
{
	const unsigned long nr = COHMEM_HUGE_NR;
	unsigned long start, run, end, found = ULONG_MAX;
	struct page *page;
	int pass;

	if (!cohmem_huge_ok(cd) || cd->npages < nr)
		return NULL;
	spin_lock(&cd->alloc_lock);
	start = round_down(cd->cursor, nr);
	for (pass = 0; pass < 2 && found == ULONG_MAX; pass++) {
		run = pass ? 0 : start;
		end = pass ? start : round_down(cd->npages, nr);
		for (; run < end; run += nr) {
			if (find_next_zero_bit(cd->free_map, run + nr, run) >= run + nr) {
				found = run;
				break;
			}
		}
	}
	if (found != ULONG_MAX) {
		/* Whole words (nr is a multiple of BITS_PER_LONG): ours alone. */
		bitmap_clear(cd->free_map, found, nr);
		cd->cursor = found + nr;
	}
	spin_unlock(&cd->alloc_lock);
	if (found == ULONG_MAX)
		return NULL;
	atomic_long_sub(nr, &cd->nfree);
	cohmem_pages_taken(nr);
	page = pfn_to_page(cd->base_pfn + found);
	cohmem_zone_device_folio_init(page, &cd->pgmap, COHMEM_HUGE_ORDER);
	cohmem_owner_set(page, o);
	return page;
}

/*
 * A device-private pagemap: map the region as the backing store (it is no
 * longer System RAM, so this is a mapping of our own) and find a free
 * physical range, backed by nothing, for the pagemap's struct pages.
 */
static int cohmem_private_init(struct cohmem_dev *cd)
{
	struct cohmem_region *r = &cd->region;
	struct resource *res;

	if (!COHMEM_HAVE_DEVICE_PRIVATE)
		return -EOPNOTSUPP;
	cd->fault_batch = cohmem_batch_alloc(COHMEM_HUGE_NR, GFP_KERNEL);
	if (!cd->fault_batch)
		return -ENOMEM;
	mutex_init(&cd->fault_lock);
	cd->backing = memremap(r->start, r->size, MEMREMAP_WB);
	if (!cd->backing) {
		pr_err("%s: cannot map [%#llx-%#llx] as backing store\n",
		       cd->name, r->start, r->start + r->size - 1);
		cohmem_batch_free(cd->fault_batch);
		cd->fault_batch = NULL;
		return -ENOMEM;
	}
	res = request_free_mem_region(&iomem_resource, r->size, cd->name);
	if (IS_ERR_OR_NULL(res)) {
		pr_err("%s: no free physical range of %llu MiB for device-private pages\n",
		       cd->name, r->size >> 20);
		memunmap(cd->backing);
		cd->backing = NULL;
		cohmem_batch_free(cd->fault_batch);
		cd->fault_batch = NULL;
		return res ? PTR_ERR(res) : -ENOSPC;
	}
	cd->fake_res = res;
	cd->pgmap.type = MEMORY_DEVICE_PRIVATE;
	cd->pgmap.range.start = res->start;
	cd->pgmap.range.end = res->end;
	cd->pgmap.ops = &cohmem_private_ops;
	return 0;
}

static void cohmem_private_fini(struct cohmem_dev *cd)
{
	if (cd->fake_res)
		release_mem_region(cd->fake_res->start, resource_size(cd->fake_res));
	cd->fake_res = NULL;
	if (cd->backing)
		memunmap(cd->backing);
	cd->backing = NULL;
	cohmem_batch_free(cd->fault_batch);
	cd->fault_batch = NULL;
}

int cohmem_pagemap_init(struct cohmem_dev *cd)
{
	struct cohmem_region *r = &cd->region;
	void *addr;
	int ret;

	cd->npages = r->size >> PAGE_SHIFT;
	cd->free_map = bitmap_zalloc(cd->npages, GFP_KERNEL);
	if (!cd->free_map)
		return -ENOMEM;
	bitmap_fill(cd->free_map, cd->npages);
	cd->addr = kvcalloc(cd->npages, sizeof(*cd->addr), GFP_KERNEL);
	if (!cd->addr) {
		bitmap_free(cd->free_map);
		return -ENOMEM;
	}
	atomic_long_set(&cd->nfree, cd->npages);
	spin_lock_init(&cd->alloc_lock);

	if (cd->type == COHMEM_TYPE_PRIVATE) {
		ret = cohmem_private_init(cd);
		if (ret) {
			kvfree(cd->addr);
			bitmap_free(cd->free_map);
			return ret;
		}
	} else {
		cd->pgmap.type = MEMORY_DEVICE_COHERENT;
		cd->pgmap.range.start = r->start;
		cd->pgmap.range.end = r->start + r->size - 1;
		cd->pgmap.ops = &cohmem_coherent_ops;
	}
	cd->base_pfn = PHYS_PFN(cd->pgmap.range.start);
	cd->pgmap.nr_range = 1;
	cd->pgmap.owner = cd;
	addr = memremap_pages(&cd->pgmap, r->nid);
	if (IS_ERR(addr)) {
		pr_err("memremap_pages([%#llx-%#llx]) failed: %ld\n",
		       cd->pgmap.range.start, cd->pgmap.range.end, PTR_ERR(addr));
		cohmem_private_fini(cd);
		kvfree(cd->addr);
		bitmap_free(cd->free_map);
		return PTR_ERR(addr);
	}
	return 0;
}

/* Every page must be free: memunmap_pages() waits for the last reference. */
void cohmem_pagemap_fini(struct cohmem_dev *cd)
{
	memunmap_pages(&cd->pgmap);
	cohmem_private_fini(cd);
	kvfree(cd->addr);
	bitmap_free(cd->free_map);
}
