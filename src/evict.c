// SPDX-License-Identifier: GPL-2.0
/*
 * Device-side eviction: moving in-use device pages back to system RAM on
 * the device's initiative (the EVICT ioctl, a full device, the drain
 * parameter before unload), by owner and address.
 *
 * The kernel's migrate_device_range() takes pages by pfn, whoever maps
 * them; on the way back it restores their mappings through the page's
 * anon_vma without holding a reference to it, and a page that was unmapped
 * meanwhile (munmap, exit, or a page only a pipe still holds) can name an
 * anon_vma already freed. cohmem never hands the kernel such a page. It
 * looks each in-use page up where its owner placed it (owner.c keeps a
 * reference to the owner's mm, pagemap.c the address), takes the owner's
 * address space with mmget_not_zero() and its mmap_lock for read, and
 * evicts through migrate_vma_*() with the device-page selectors: the pages
 * found mapped there have a live VMA, and so a live anon_vma, for as long
 * as the lock is held. A page not found there (its owner gone, moved by
 * mremap, held only by a pipe or another driver) is busy, not forced.
 * Every owner's lock is taken alone, never while holding another mm's
 * (migrate.c drops its caller's before making room), and each batch of
 * one owner's pages is one setup, one TLB flush and one finalize.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "cohmem.h"
#include "trace.h"

/* One in-use folio of the device, as found: whose, where, how large. */
struct cohmem_victim {
	struct cohmem_owner *owner;	/* a reference, or NULL */
	unsigned long addr;		/* its first page's address hint */
	unsigned long nr;		/* pages */
};

/* A batch's room (batch_mib) for the pages, and as many victims. */
struct cohmem_evictor {
	struct cohmem_batch *b;
	struct cohmem_victim v[];
};

/*
 * The in-use folios among device pages [@first, @first + @n), each with a
 * reference to its owner, into @v; returns how many. Each folio is looked
 * at with a reference of its own, dropped again before anything migrates
 * it (migration wants no extra references): the owner recorded in a page
 * stays alive while the page is charged to it.
 */
static unsigned long cohmem_collect(struct cohmem_dev *cd, unsigned long first,
				    unsigned long n, struct cohmem_victim *v,
				    u64 *in_use)
{
	unsigned long idx = first, end = first + n, nv = 0, head;
	struct cohmem_owner *o;
	struct folio *folio;
	struct page *page;

	while (idx < end) {
		if (test_bit(idx, cd->free_map)) {
			idx++;
			continue;
		}
		page = pfn_to_page(cd->base_pfn + idx);
		folio = page_folio(page);
		if (!folio_try_get(folio)) {
			idx++;		/* freed meanwhile */
			continue;
		}
		if (unlikely(page_folio(page) != folio)) {
			/* Split or freed and reused while we looked: busy. */
			folio_put(folio);
			(*in_use)++;
			idx++;
			continue;
		}
		head = folio_pfn(folio) - cd->base_pfn;
		/* Being allocated: no owner yet. */
		o = READ_ONCE(folio_page(folio, 0)->zone_device_data);
		if (o)
			cohmem_owner_hold(o);
		v[nv].owner = o;
		v[nv].addr = cohmem_page_addr(cd, head);
		v[nv].nr = folio_nr_pages(folio);
		*in_use += v[nv].nr;
		folio_put(folio);
		idx = max(idx + 1, head + v[nv].nr);
		nv++;
	}
	return nv;
}

static int cohmem_victim_cmp(const void *a, const void *b)
{
	const struct cohmem_victim *x = a, *y = b;

	if (x->owner != y->owner)
		return (unsigned long)x->owner < (unsigned long)y->owner ? -1 : 1;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return 0;
}

/*
 * Evict @v[0..@nv), all of one owner's address space @mm, whose mmap_lock
 * is held: victims within one batch-sized window (from a 2 MiB boundary)
 * of one VMA go in one range.
 */
static void cohmem_evict_owner(struct cohmem_dev *cd, struct cohmem_evictor *e,
			       struct mm_struct *mm, struct cohmem_victim *v,
			       unsigned long nv, struct cohmem_migrate *m)
{
	unsigned long i = 0, start, end, limit;
	struct vm_area_struct *vma;

	while (i < nv) {
		start = v[i].addr;
		vma = start ? vma_lookup(mm, start) : NULL;
		if (!vma) {
			i++;	/* not there any more: counted as busy */
			continue;
		}
		limit = min(vma->vm_end, ALIGN_DOWN(start, PMD_SIZE) +
			    (e->b->npages << PAGE_SHIFT));
		end = min(start + (v[i].nr << PAGE_SHIFT), limit);
		for (i++; i < nv && v[i].addr >= start && v[i].addr < limit; i++)
			end = max(end, min(v[i].addr + (v[i].nr << PAGE_SHIFT), limit));
		cohmem_evict_range(cd, e->b, vma, start, end, m);
	}
}

/* Evict the victims @v[0..@nv), owner by owner; drops their references. */
static void cohmem_evict_victims(struct cohmem_dev *cd, struct cohmem_evictor *e,
				 unsigned long nv, struct cohmem_migrate *m)
{
	struct cohmem_victim *v = e->v;
	unsigned long i, j;

	sort(v, nv, sizeof(*v), cohmem_victim_cmp, NULL);
	for (i = 0; i < nv; i = j) {
		struct cohmem_owner *o = v[i].owner;

		for (j = i + 1; j < nv && v[j].owner == o; j++)
			;
		/* A page nobody owns yet, or whose owner's space is gone: busy. */
		if (!o || fatal_signal_pending(current) || !mmget_not_zero(o->mm))
			continue;
		if (!mmap_read_lock_killable(o->mm)) {
			cohmem_evict_owner(cd, e, o->mm, v + i, j - i, m);
			mmap_read_unlock(o->mm);
		}
		mmput(o->mm);
	}
	for (i = 0; i < nv; i++)
		cohmem_owner_put(v[i].owner);
}

/*
 * Move the in-use device pages among [@first, @first + @count) (page
 * indexes into the region) to system RAM, whoever maps them, and count
 * them in @evicted; those found pinned, locked, or nowhere, in @busy.
 */
void cohmem_evict(struct cohmem_dev *cd, unsigned long first,
		  unsigned long count, u64 *evicted, u64 *busy)
{
	unsigned long n, nv, done, batch = cohmem_batch_pages();
	struct cohmem_evictor *e;

	/* Eviction allocates no device pages: no owner to charge. */
	e = kvmalloc(struct_size(e, v, batch), GFP_KERNEL);
	if (e)
		e->b = cohmem_batch_alloc(batch, GFP_KERNEL);
	if (!e || !e->b) {
		kvfree(e);
		*busy += count - min(count, cohmem_free_pages(cd));
		return;
	}
	for (done = 0; done < count; done += n) {
		struct cohmem_migrate m = { 0 };
		unsigned long start = first + done;
		u64 in_use = 0;

		/* Aligned batches: a huge folio is never cut in two. */
		n = min(count - done, batch - start % batch);
		nv = cohmem_collect(cd, start, n, e->v, &in_use);
		if (!nv)
			continue;
		cohmem_evict_victims(cd, e, nv, &m);
		*evicted += m.moved;
		if (!COHMEM_MUTANT(evict_hides_busy_pages))
			*busy += in_use > m.moved ? in_use - m.moved : 0;
		if (fatal_signal_pending(current))
			break;	/* EVICT reports what it did */
		cond_resched();
	}
	cohmem_batch_free(e->b);
	kvfree(e);
}

/*
 * The device is full: evict at least @need of its least recently migrated
 * pages. The next-fit allocator leaves those just ahead of its cursor; the
 * @mine pages this call placed lie behind it and are never taken back.
 * Returns how many pages were evicted. The caller holds no mmap_lock.
 */
u64 cohmem_make_room(struct cohmem_dev *cd, unsigned long need,
		     unsigned long mine)
{
	unsigned long first = READ_ONCE(cd->cursor), span, done, start, count;
	u64 evicted = 0, busy = 0;
	u64 t0 = trace_cohmem_evict_enabled() ? ktime_get_ns() : 0;

	span = mine < cd->npages ? cd->npages - mine : 0;
	for (done = 0; evicted < need && done < span; done += count) {
		start = (first + done) % cd->npages;
		count = min3(span - done, cd->npages - start, cohmem_batch_pages());
		cohmem_evict(cd, start, count, &evicted, &busy);
	}
	trace_cohmem_evict(cd->id, COHMEM_EVICT_PRESSURE, first, done, evicted,
			   busy, t0 ? ktime_get_ns() - t0 : 0);
	return evicted;
}
