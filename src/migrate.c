// SPDX-License-Identifier: GPL-2.0
/*
 * Migration of a process's anonymous pages to and from the device, the
 * migrate_vma pass device-side eviction uses (evict.c), and the CPU fault
 * on a device-private page.
 *
 * Work is done in batches of batch_mib MiB (whole 2 MiB huge entries):
 * one migrate_vma_setup() call, one allocator lock round trip for all
 * destination pages, the copies (copy.c), and one migrate_vma_pages() and
 * finalize(). What became of each page is noted per page (its fate), so
 * that a retry looks again only at the 2 MiB stretches that need one and
 * every page is counted once.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitops.h>
#include <linux/cpumask.h>
#include <linux/highmem.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "cohmem.h"
#include "trace.h"

/* A huge entry is one PMD's worth of pages. */
static_assert(COHMEM_HUGE_NR == PTRS_PER_PMD);

static unsigned int cohmem_batch_mib = 16;

static int cohmem_batch_mib_set(const char *val, const struct kernel_param *kp)
{
	unsigned int mib;

	if (kstrtouint(val, 0, &mib) || mib < 2 || mib % 2 ||
	    mib > COHMEM_BATCH_MAX_MIB) {
		pr_err("batch_mib=%s: expected an even number from 2 to %d\n",
		       val, COHMEM_BATCH_MAX_MIB);
		return -EINVAL;
	}
	WRITE_ONCE(cohmem_batch_mib, mib);
	return 0;
}

static const struct kernel_param_ops cohmem_batch_mib_ops = {
	.set = cohmem_batch_mib_set,
	.get = param_get_uint,
};

module_param_cb(batch_mib, &cohmem_batch_mib_ops, &cohmem_batch_mib, 0644);
MODULE_PARM_DESC(batch_mib,
		 "MiB of a process's range per migrate_vma pass, even, 2 to 32 (default 16)");

/* Pages per batch, as batch_mib says now: a multiple of COHMEM_HUGE_NR. */
unsigned long cohmem_batch_pages(void)
{
	return (unsigned long)READ_ONCE(cohmem_batch_mib) << (20 - PAGE_SHIFT);
}

/*
 * A batch's arrays, in one allocation after the struct (longs, then
 * pointers' pairs, then bytes: each suitably aligned).
 */
struct cohmem_batch *cohmem_batch_alloc(unsigned long npages, gfp_t gfp)
{
	struct cohmem_batch *b;
	size_t per_page = 2 * sizeof(*b->src) + sizeof(*b->pages) +
			  sizeof(*b->copies) + sizeof(*b->fate);

	b = kvmalloc(sizeof(*b) + npages * per_page, gfp);
	if (!b)
		return NULL;
	memset(b, 0, sizeof(*b));
	b->npages = npages;
	b->src = (unsigned long *)(b + 1);
	b->dst = b->src + npages;
	b->pages = (struct page **)(b->dst + npages);
	b->copies = (struct cohmem_copy *)(b->pages + npages);
	b->fate = (u8 *)(b->copies + npages);
	return b;
}

void cohmem_batch_free(struct cohmem_batch *b)
{
	kvfree(b);
}

/*
 * What became of a page of a batch. A later pass overwrites an earlier
 * one's word, except that a page once moved stays moved.
 */
enum cohmem_fate {
	COHMEM_FATE_OTHER,	/* not migratable, or nothing to move */
	COHMEM_FATE_RETRY,	/* left out, worth another look */
	COHMEM_FATE_BUSY,	/* pinned, locked or otherwise held */
	COHMEM_FATE_NOMEM,	/* no destination page */
	COHMEM_FATE_LIMIT,	/* the process's proc_limit share is used */
	COHMEM_FATE_MOVED,
	COHMEM_FATE_HUGE,	/* moved, as part of a huge folio */
	COHMEM_FATE_NONE,	/* eviction: not a page of ours, not counted */
};

static bool cohmem_fate_moved(u8 f)
{
	return f == COHMEM_FATE_MOVED || f == COHMEM_FATE_HUGE;
}

static void cohmem_set_fate(u8 *fate, unsigned long i, unsigned long nr,
			    enum cohmem_fate f)
{
	for (; nr; nr--, i++)
		if (!cohmem_fate_moved(fate[i]))
			fate[i] = f;
}

/* The fates of @n pages, added to @m's counts. */
static void cohmem_tally(const u8 *fate, unsigned long n,
			 struct cohmem_migrate *m)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		switch (fate[i]) {
		case COHMEM_FATE_HUGE:
			m->huge++;
			fallthrough;
		case COHMEM_FATE_MOVED:
			m->moved++;
			break;
		case COHMEM_FATE_BUSY:
			m->skipped_busy++;
			break;
		case COHMEM_FATE_NOMEM:
			m->skipped_nomem++;
			break;
		case COHMEM_FATE_LIMIT:
			m->skipped_limit++;
			break;
		case COHMEM_FATE_NONE:
			break;
		default:
			m->skipped_other++;
		}
	}
}

/*
 * Every copy into or out of a device page is planned by these two and done
 * by the copy engine (copy.c), a batch at a time: @c gets the addresses.
 * @spage NULL: zero-fill.
 */
static void cohmem_plan_to_dev(struct cohmem_copy *c, struct cohmem_dev *cd,
			       struct page *dpage, struct page *spage)
{
	c->dst = cohmem_dev_data(cd, dpage);
	c->src = spage && !COHMEM_MUTANT(migrate_to_dev_skips_copy) ?
		 page_address(spage) : NULL;
}

static void cohmem_plan_from_dev(struct cohmem_copy *c, struct cohmem_dev *cd,
				 struct page *dpage, struct page *spage)
{
	c->dst = page_address(dpage);
	c->src = cohmem_dev_data(cd, spage);
}

/*
 * A huge source folio @spage (of @cd) into one locked system THP: the
 * whole of it at once. False when no THP is free: move it in small pages
 * (migrate_vma splits the device folio; device-side eviction cannot).
 */
static bool cohmem_fill_sys_huge(struct cohmem_dev *cd, struct page *spage,
				 unsigned long *dst, struct cohmem_copy *c)
{
	struct folio *folio = folio_alloc(GFP_TRANSHUGE, COHMEM_HUGE_ORDER);
	unsigned long j;

	if (!folio)
		return false;
	folio_lock(folio);
	for (j = 0; j < COHMEM_HUGE_NR; j++)
		cohmem_plan_from_dev(&c[j], cd, folio_page(folio, j), spage + j);
	*dst = migrate_pfn(folio_pfn(folio)) | COHMEM_PFN_COMPOUND;
	return true;
}

/*
 * Locked system pages, filled from @cd's device pages, for the entries of
 * @b->src (the first @n) selected for migration, and the fate of those
 * that get none in @fate. An entry for a huge device folio gets a system
 * THP, or else one small page for each of its pages.
 */
static u64 cohmem_fill_sys(struct cohmem_dev *cd, struct cohmem_batch *b,
			   unsigned long n, u8 *fate)
{
	const unsigned long *src = b->src;
	unsigned long *dst = b->dst;
	struct page **pages = b->pages;
	struct cohmem_copy *c = b->copies;
	unsigned long i, j, nr, want = 0, got, k = 0, nc = 0;

	memset(dst, 0, n * sizeof(*dst));
	for (i = 0; i < n; i += nr) {
		struct page *spage = migrate_pfn_to_page(src[i]);

		nr = min(cohmem_mpfn_nr(src[i]), n - i);
		if (!spage || !(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (nr == 1 || !cohmem_fill_sys_huge(cd, spage, &dst[i], &c[nc]))
			want += nr;
		else
			nc += nr;
	}
	memset(pages, 0, want * sizeof(pages[0]));
	got = cohmem_alloc_pages_bulk(GFP_HIGHUSER_MOVABLE, want, pages);

	for (i = 0; i < n; i += nr) {
		struct page *spage = migrate_pfn_to_page(src[i]);

		nr = min(cohmem_mpfn_nr(src[i]), n - i);
		if (!(src[i] & MIGRATE_PFN_MIGRATE) || dst[i])
			continue;
		if (!spage) {
			/* A hole: nothing on the device to bring back. */
			cohmem_set_fate(fate, i, nr, COHMEM_FATE_OTHER);
			continue;
		}
		for (j = 0; j < nr; j++) {
			struct page *dpage;

			/* The bulk allocator may stop short; never sleeps for more. */
			dpage = k < got ? pages[k++] : alloc_page(GFP_HIGHUSER_MOVABLE);
			if (!dpage) {
				cohmem_set_fate(fate, i + j, 1, COHMEM_FATE_NOMEM);
				continue;
			}
			lock_page(dpage);
			cohmem_plan_from_dev(&c[nc++], cd, dpage, spage + j);
			dst[i + j] = migrate_pfn(page_to_pfn(dpage));
		}
	}
	return cohmem_copy_run(c, nc);
}

/*
 * One huge device folio for the huge entry @i (a THP, or an empty 2 MiB
 * stretch); false: charge or aligned run not to be had, use small pages.
 */
static bool cohmem_fill_dev_huge(struct cohmem_dev *cd, struct cohmem_batch *b,
				 unsigned long i)
{
	struct page *spage = migrate_pfn_to_page(b->src[i]), *dpage;
	unsigned long j, charged;

	charged = cohmem_owner_charge(b->owner, COHMEM_HUGE_NR);
	dpage = charged == COHMEM_HUGE_NR ? cohmem_alloc_huge(cd, b->owner) : NULL;
	if (!dpage) {
		cohmem_owner_uncharge(b->owner, charged);
		return false;
	}
	for (j = 0; j < COHMEM_HUGE_NR; j++)
		cohmem_plan_to_dev(&b->copies[b->ncopies++], cd, dpage + j,
				   spage ? spage + j : NULL);
	b->dst[i] = migrate_pfn(page_to_pfn(dpage)) | COHMEM_PFN_COMPOUND;
	cohmem_set_addr(cd, dpage, COHMEM_HUGE_NR, b->start + (i << PAGE_SHIFT));
	b->allocated += COHMEM_HUGE_NR;
	return true;
}

/*
 * Device pages for the selected entries; holes become zero-filled pages.
 * A huge entry gets a huge device folio when asked for and available, or
 * else small pages for each of its pages (migrate_vma splits the source).
 */
static u64 cohmem_fill_dev(struct cohmem_dev *cd, struct cohmem_batch *b,
			   unsigned long n, u8 *fate)
{
	unsigned long i, j, nr, want = 0, allowed, got, k = 0, slot;
	bool whole;

	memset(b->dst, 0, n * sizeof(b->dst[0]));
	b->ncopies = 0;
	for (i = 0; i < n; i += nr) {
		nr = min(cohmem_mpfn_nr(b->src[i]), n - i);
		if (!(b->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (nr == 1 || !b->huge || !cohmem_fill_dev_huge(cd, b, i))
			want += nr;
	}
	/*
	 * The process's share first (proc_limit), then the device's room
	 * (made before the batch, see cohmem_migrate()).
	 */
	allowed = cohmem_owner_charge(b->owner, want);
	got = cohmem_alloc_pages(cd, b->pages, allowed, b->owner);
	cohmem_owner_uncharge(b->owner, allowed - got);
	b->allocated += got;

	for (i = 0, slot = 0; i < n; i += nr) {
		struct page *spage = migrate_pfn_to_page(b->src[i]);

		nr = min(cohmem_mpfn_nr(b->src[i]), n - i);
		if (!(b->src[i] & MIGRATE_PFN_MIGRATE) || b->dst[i])
			continue;
		/*
		 * An empty huge stretch in small pages takes all of them or
		 * none: migrate_vma_pages() inserts every one of its pages
		 * without looking for a missing destination. (A THP source is
		 * split first, and its pages without one stay where they are.)
		 */
		whole = nr > 1 && !spage && got - k < nr;
		for (j = 0; j < nr; j++, slot++) {
			struct page *dpage;

			if (whole || k >= got) {
				cohmem_set_fate(fate, i + j, 1, slot < allowed ?
						COHMEM_FATE_NOMEM : COHMEM_FATE_LIMIT);
				continue;
			}
			dpage = b->pages[k++];
			cohmem_plan_to_dev(&b->copies[b->ncopies++], cd, dpage,
					   spage ? spage + j : NULL);
			b->dst[i + j] = migrate_pfn(page_to_pfn(dpage));
			cohmem_set_addr(cd, dpage, 1, b->start + ((i + j) << PAGE_SHIFT));
		}
	}
	/* Pages no entry took go back (and give back their charges). */
	for (; k < got; k++) {
		unlock_page(b->pages[k]);
		put_page(b->pages[k]);
	}
	return cohmem_copy_run(b->copies, b->ncopies);
}

enum cohmem_skip { COHMEM_SKIP_OTHER, COHMEM_SKIP_BUSY, COHMEM_SKIP_RETRY };

/*
 * Why migrate_vma_setup() left out the page at @addr; never faults. It
 * leaves out, without saying why, pinned exclusive anonymous pages (busy)
 * and pages it could not lock or isolate just then (worth one retry), as
 * well as what is not migratable at all.
 */
static enum cohmem_skip cohmem_skip_reason(struct cohmem_dev *cd,
					   unsigned long addr, bool to_dev)
{
	enum cohmem_skip why = COHMEM_SKIP_OTHER;
	struct page *page;

	if (get_user_pages_fast_only(addr, 1, 0, &page) != 1)
		return why;
	if (folio_maybe_dma_pinned(page_folio(page)))
		why = COHMEM_SKIP_BUSY;
	else if (PageAnon(page) && (to_dev ? !is_zone_device_page(page) :
					     cohmem_page_dev(page) == cd))
		why = COHMEM_SKIP_RETRY;
	put_page(page);
	return why;
}

/*
 * phase_stats: @t holds the pass's start, the end of setup, of allocation
 * and copy, and of migrate_vma_pages() (the last two 0 when nothing was
 * collected); the copy engine's share is @copy_ns; finalize ends now.
 */
static void cohmem_phase_account(struct cohmem_dev *cd, bool to_dev,
				 const u64 *t, u64 copy_ns)
{
	atomic64_t *ns = cd->phase_ns[!to_dev];
	u64 end = ktime_get_ns();

	atomic64_add(t[1] - t[0], &ns[COHMEM_PHASE_SETUP]);
	if (t[3]) {
		atomic64_add(t[2] - t[1] - copy_ns, &ns[COHMEM_PHASE_ALLOC]);
		atomic64_add(copy_ns, &ns[COHMEM_PHASE_COPY]);
		atomic64_add(t[3] - t[2], &ns[COHMEM_PHASE_PAGES]);
	}
	atomic64_add(end - (t[3] ?: t[1]), &ns[COHMEM_PHASE_FINALIZE]);
}

/*
 * One migrate_vma pass over [@start, @end), the fate of each of its pages
 * in @fate. Returns how many are worth a retry, the first of them in
 * *@lo and the last in *@hi (page indexes from @start).
 */
static unsigned long cohmem_migrate_pass(struct cohmem_dev *cd,
					 struct cohmem_batch *b,
					 struct vm_area_struct *vma,
					 unsigned long start, unsigned long end,
					 bool to_dev, u8 *fate,
					 unsigned long *lo, unsigned long *hi)
{
	struct migrate_vma args = {
		.vma = vma,
		.start = start,
		.end = end,
		.src = b->src,
		.dst = b->dst,
		.pgmap_owner = cd,
	};
	unsigned long i, nr, n = (end - start) >> PAGE_SHIFT, retry = 0;
	bool timed = READ_ONCE(cohmem_phase_stats);
	u64 moved = 0, t[4] = { 0 }, copy_ns = 0;

	if (timed)
		t[0] = ktime_get_ns();
	b->start = start;
	/*
	 * Huge entries: THPs and empty 2 MiB stretches when huge device
	 * folios are asked for; and any huge private folio on the way back.
	 */
	if (to_dev)
		args.flags = MIGRATE_VMA_SELECT_SYSTEM |
			     (b->huge ? COHMEM_SELECT_COMPOUND : 0);
	else if (cd->type == COHMEM_TYPE_PRIVATE)
		args.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE |
			     (cohmem_huge_ok(cd) ? COHMEM_SELECT_COMPOUND : 0);
	else
		args.flags = MIGRATE_VMA_SELECT_DEVICE_COHERENT;
	/* hugetlb, VM_IO/VM_PFNMAP/VM_MIXEDMAP and DAX are not migratable. */
	if (migrate_vma_setup(&args)) {
		cohmem_set_fate(fate, 0, n, COHMEM_FATE_OTHER);
		return 0;
	}
	for (i = 0; i < n; i += nr) {
		nr = min(cohmem_mpfn_nr(b->src[i]), n - i);
		if (b->src[i] & MIGRATE_PFN_MIGRATE)
			continue;
		/*
		 * Collected but not unmapped: extra references, or locked.
		 * Device-side eviction (another process's address space) only
		 * looks at pages of ours: anything else there is not its
		 * business. A page an earlier pass moved needs no look.
		 */
		if (b->src[i] & MIGRATE_PFN_VALID) {
			cohmem_set_fate(fate, i, nr, COHMEM_FATE_BUSY);
			continue;
		}
		if (b->evict || cohmem_fate_moved(fate[i]))
			continue;
		switch (cohmem_skip_reason(cd, start + (i << PAGE_SHIFT), to_dev)) {
		case COHMEM_SKIP_BUSY:
			fate[i] = COHMEM_FATE_BUSY;
			break;
		case COHMEM_SKIP_RETRY:
			fate[i] = COHMEM_FATE_RETRY;
			if (!retry++)
				*lo = i;
			*hi = i;
			break;
		default:
			fate[i] = COHMEM_FATE_OTHER;
		}
	}
	if (timed)
		t[1] = ktime_get_ns();
	if (!args.cpages)
		goto finalize;

	if (to_dev)
		copy_ns = cohmem_fill_dev(cd, b, n, fate);
	else
		copy_ns = cohmem_fill_sys(cd, b, n, fate);
	if (timed)
		t[2] = ktime_get_ns();
	migrate_vma_pages(&args);
	if (timed)
		t[3] = ktime_get_ns();

	for (i = 0; i < n; i++) {
		if (!b->dst[i])
			continue;
		nr = min(cohmem_mpfn_nr(b->dst[i]), n - i);
		if (!(b->src[i] & MIGRATE_PFN_MIGRATE)) {
			cohmem_set_fate(fate, i, nr, COHMEM_FATE_BUSY);
			continue;
		}
		cohmem_set_fate(fate, i, nr, nr > 1 ? COHMEM_FATE_HUGE :
						      COHMEM_FATE_MOVED);
		moved += nr;
	}
	if (b->evict)
		atomic64_add(moved, &cd->evicted);
	else
		atomic64_add(moved, to_dev ? &cd->migrated_to_dev : &cd->migrated_to_sys);
finalize:
	migrate_vma_finalize(&args);
	if (timed)
		cohmem_phase_account(cd, to_dev, t, copy_ns);
	return retry;
}

/*
 * Every CPU keeps folios it has just added to the LRU, activated,
 * deactivated or rotated in per-CPU batches that hold a reference to them.
 * migrate_vma_setup() drains its own CPU's batches, and every CPU's only
 * when a folio is not on the LRU yet; a folio that another CPU holds in,
 * say, its activate batch (still on the LRU, one reference more) is left
 * out of every pass until that CPU drains by itself, which an idle CPU may
 * never do (seen: 255 of 256 fresh pages moved). Before a retry, cohmem
 * drains every CPU's batches, as the unexported lru_add_drain_all() would.
 */
static DEFINE_PER_CPU(struct work_struct, cohmem_drain_work);
static DEFINE_MUTEX(cohmem_drain_mutex);	/* the works and the mask */
static struct cpumask cohmem_drain_queued;

static void cohmem_drain_fn(struct work_struct *work)
{
	cohmem_lru_add_drain();
}

/*
 * The shape of the kernel's own __lru_add_drain_all(): no CPU hotplug lock
 * (a CPU going away has its batches drained by the hotplug code), and only
 * the works queued here are flushed.
 */
static void cohmem_drain_all_cpus(void)
{
	int cpu;

	mutex_lock(&cohmem_drain_mutex);
	cpumask_clear(&cohmem_drain_queued);
	for_each_online_cpu(cpu) {
		struct work_struct *work = per_cpu_ptr(&cohmem_drain_work, cpu);

		INIT_WORK(work, cohmem_drain_fn);
		schedule_work_on(cpu, work);
		__cpumask_set_cpu(cpu, &cohmem_drain_queued);
	}
	for_each_cpu(cpu, &cohmem_drain_queued)
		flush_work(per_cpu_ptr(&cohmem_drain_work, cpu));
	mutex_unlock(&cohmem_drain_mutex);
}

/* Passes over one batch at most: the first, and retries after a drain. */
#define COHMEM_PASSES	3

/*
 * A batch, and again (after draining every CPU's LRU batches) while the
 * kernel left out pages it may take on another look: each retry covers
 * only the 2 MiB stretches from the first such page to the last. Every
 * page is counted once, as the last pass that looked at it saw it, except
 * that a page an earlier pass moved stays counted as moved.
 */
static void cohmem_migrate_batch(struct cohmem_dev *cd, struct cohmem_batch *b,
				 struct vm_area_struct *vma, unsigned long start,
				 unsigned long end, bool to_dev,
				 struct cohmem_migrate *m)
{
	unsigned long n = (end - start) >> PAGE_SHIFT, from = start, to = end;
	unsigned long lo = 0, hi = 0;
	unsigned int pass;

	memset(b->fate, COHMEM_FATE_OTHER, n);
	for (pass = 1; ; pass++) {
		u8 *fate = b->fate + ((from - start) >> PAGE_SHIFT);

		if (!cohmem_migrate_pass(cd, b, vma, from, to, to_dev, fate, &lo, &hi) ||
		    pass == COHMEM_PASSES || fatal_signal_pending(current))
			break;
		to = min(end, ALIGN_DOWN(from + (hi << PAGE_SHIFT), PMD_SIZE) + PMD_SIZE);
		from = max(start, ALIGN_DOWN(from + (lo << PAGE_SHIFT), PMD_SIZE));
		if (!COHMEM_MUTANT(migrate_retry_without_drain))
			cohmem_drain_all_cpus();
	}
	cohmem_tally(b->fate, n, m);
}

/*
 * Whether a batch of @n pages to the device should make room first: the
 * device has fewer free pages, the caller may evict (pressure eviction
 * takes the least recently migrated pages of anyone: cohmem_admin()), and
 * an earlier attempt of this call found something to evict.
 */
static bool cohmem_need_room(struct cohmem_dev *cd, struct cohmem_batch *b,
			     unsigned long n)
{
	return b->may_evict && !b->no_room && READ_ONCE(cohmem_evict_on_full) &&
	       cohmem_free_pages(cd) < n;
}

static void cohmem_room_for(struct cohmem_dev *cd, struct cohmem_batch *b,
			    unsigned long n, struct cohmem_migrate *m)
{
	unsigned long nfree = cohmem_free_pages(cd);
	u64 evicted;

	if (nfree >= n)
		return;
	evicted = cohmem_make_room(cd, n - nfree, b->allocated);
	/* Everything in use is pinned or busy: do not rescan per batch. */
	b->no_room = !evicted;
	m->evicted += evicted;
}

int cohmem_migrate(struct cohmem_dev *cd, struct cohmem_migrate *m, bool to_dev)
{
	struct mm_struct *mm = current->mm;
	unsigned long addr, end = m->addr + m->len;
	struct vm_area_struct *vma;
	struct cohmem_batch *b;
	int ret = 0;

	if (COHMEM_MUTANT(migrate_to_sys_does_nothing) && !to_dev)
		return 0;
	b = cohmem_batch_alloc(cohmem_batch_pages(), GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	b->may_evict = to_dev && (cohmem_admin() ||
				  COHMEM_MUTANT(pressure_evicts_for_anyone));
	b->huge = to_dev && (m->flags & COHMEM_MIGRATE_HUGE);
	if (to_dev) {
		b->owner = cohmem_owner_get(mm);
		if (!b->owner) {
			cohmem_batch_free(b);
			return -ENOMEM;
		}
	}

	mmap_read_lock(mm);
	/* The whole range must be mapped: check before moving anything. */
	for (addr = m->addr; addr < end; addr = vma->vm_end) {
		vma = find_vma(mm, addr);
		if (!vma || vma->vm_start > addr) {
			ret = -EFAULT;
			goto out;
		}
	}
	for (addr = m->addr; addr < end;) {
		unsigned long next;

		vma = find_vma(mm, addr);
		/* Batches end at 2 MiB boundaries, where huge entries start. */
		next = min3(end, vma->vm_end,
			    ALIGN_DOWN(addr, PMD_SIZE) + (b->npages << PAGE_SHIFT));
		if (cohmem_need_room(cd, b, (next - addr) >> PAGE_SHIFT)) {
			/*
			 * Eviction takes its owners' mmap_locks, one at a
			 * time: never while holding ours. The range may have
			 * changed meanwhile: it must still be mapped.
			 */
			mmap_read_unlock(mm);
			cohmem_room_for(cd, b, (next - addr) >> PAGE_SHIFT, m);
			if (mmap_read_lock_killable(mm)) {
				ret = -EINTR;
				goto out_unlocked;
			}
			vma = find_vma(mm, addr);
			if (!vma || vma->vm_start > addr) {
				ret = -EFAULT;
				break;
			}
			next = min(next, vma->vm_end);
		}
		cohmem_migrate_batch(cd, b, vma, addr, next, to_dev, m);
		addr = next;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
	}
out:
	mmap_read_unlock(mm);
out_unlocked:
	cohmem_owner_put(b->owner);
	cohmem_batch_free(b);
	return ret;
}

/*
 * Device-side eviction of the pages of ours in [@start, @end) of @vma, an
 * owner's VMA, whose mmap_lock the caller holds (evict.c; @b has room for
 * the range): one migrate_vma pass, counted in @m and as evicted.
 */
void cohmem_evict_range(struct cohmem_dev *cd, struct cohmem_batch *b,
			struct vm_area_struct *vma, unsigned long start,
			unsigned long end, struct cohmem_migrate *m)
{
	unsigned long n = (end - start) >> PAGE_SHIFT, lo, hi;

	b->evict = true;
	memset(b->fate, COHMEM_FATE_NONE, n);
	cohmem_migrate_pass(cd, b, vma, start, end, false, b->fate, &lo, &hi);
	cohmem_tally(b->fate, n, m);
}

/* Pages around a faulting address that one CPU fault brings back together. */
#define COHMEM_FAULT_WINDOW	16

/*
 * Migrate the device-private pages of our own among [@start, @end) of the
 * faulting VMA back (@b: room for the range). A huge device folio is taken
 * whole, as a huge entry: migrate_vma cannot split it in place while the
 * fault holds it, only once it is unmapped.
 */
static vm_fault_t cohmem_fault_range(struct cohmem_dev *cd, struct vm_fault *vmf,
				     unsigned long start, unsigned long end,
				     struct cohmem_batch *b, bool huge)
{
	const unsigned long *src = b->src, *dst = b->dst;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.start = start,
		.end = end,
		.src = b->src,
		.dst = b->dst,
		.pgmap_owner = cd,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE |
			 (huge ? COHMEM_SELECT_COMPOUND : 0),
		.fault_page = vmf->page,
	};
	unsigned long n = (end - start) >> PAGE_SHIFT;
	unsigned long idx = (vmf->address - start) >> PAGE_SHIFT;
	vm_fault_t ret = 0;

	if (migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;
	if (args.cpages) {
		/* The fault counts nothing: the fates are not read. */
		memset(b->fate, COHMEM_FATE_OTHER, n);
		cohmem_fill_sys(cd, b, n, b->fate);
		/*
		 * Without a page for the faulting address the fault cannot
		 * be resolved; the rest of the range may still move.
		 */
		if (src[0] & COHMEM_PFN_COMPOUND && src[0] & MIGRATE_PFN_MIGRATE) {
			/* Split into small pages only with one for its head. */
			if (!(dst[0] & COHMEM_PFN_COMPOUND) && (!dst[0] || !dst[idx]))
				ret = VM_FAULT_OOM;
		} else if ((src[idx] & MIGRATE_PFN_MIGRATE) && !dst[idx]) {
			ret = VM_FAULT_OOM;
		}
		migrate_vma_pages(&args);
	}
	/*
	 * A page not moved (raced, or busy) is still a device-private entry:
	 * returning 0 lets the CPU retry the access and fault again.
	 */
	migrate_vma_finalize(&args);
	return ret;
}

/*
 * The CPU touched a device-private page (any access, any process, GUP
 * included): bring it back to system RAM, with the other pages of ours in
 * its aligned window of the same VMA, or with the rest of its huge folio.
 * The kernel holds the faulting page locked and referenced, with the mmap
 * or VMA lock held for read.
 */
static vm_fault_t cohmem_fault(struct cohmem_dev *cd, struct vm_fault *vmf,
			       bool huge)
{
	const unsigned long window = COHMEM_FAULT_WINDOW << PAGE_SHIFT;
	struct vm_area_struct *vma = vmf->vma;
	unsigned long src[COHMEM_FAULT_WINDOW], dst[COHMEM_FAULT_WINDOW];
	struct page *pages[COHMEM_FAULT_WINDOW];
	struct cohmem_copy copies[COHMEM_FAULT_WINDOW];
	u8 fate[COHMEM_FAULT_WINDOW];
	struct cohmem_batch *b, small = {
		.npages = COHMEM_FAULT_WINDOW, .src = src, .dst = dst,
		.pages = pages, .copies = copies, .fate = fate,
	};
	unsigned long start, end;
	vm_fault_t ret;

	start = ALIGN_DOWN(vmf->address, PMD_SIZE);
	if (huge && start >= vma->vm_start && start + PMD_SIZE <= vma->vm_end) {
		b = cohmem_batch_alloc(COHMEM_HUGE_NR, GFP_KERNEL | __GFP_NOWARN);
		if (!b) {
			/*
			 * The device's spare, one fault at a time: a failed
			 * 21 KiB allocation is no reason for the OOM killer.
			 */
			mutex_lock(&cd->fault_lock);
			ret = cohmem_fault_range(cd, vmf, start, start + PMD_SIZE,
						 cd->fault_batch, true);
			mutex_unlock(&cd->fault_lock);
			return ret;
		}
		ret = cohmem_fault_range(cd, vmf, start, start + PMD_SIZE, b, true);
		cohmem_batch_free(b);
		return ret;
	}
	/* A huge folio cut by the VMA's ends is split on collection. */
	start = max(ALIGN_DOWN(vmf->address, window), vma->vm_start);
	end = min(ALIGN_DOWN(vmf->address, window) + window, vma->vm_end);
	return cohmem_fault_range(cd, vmf, start, end, &small, false);
}

vm_fault_t cohmem_migrate_to_ram(struct vm_fault *vmf)
{
	struct cohmem_dev *cd = cohmem_page_dev(vmf->page);
	bool huge = folio_test_large(page_folio(vmf->page));
	vm_fault_t ret;

	if (!cd)
		return VM_FAULT_SIGBUS;
	ret = cohmem_fault(cd, vmf, huge);
	trace_cohmem_fault(cd->id, vmf->address, huge, (__force unsigned int)ret);
	return ret;
}
