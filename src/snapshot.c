// SPDX-License-Identifier: GPL-2.0
/*
 * Residency snapshot: where each page of a range lives, read from the page
 * tables with hmm_range_fault() asked never to fault. It reports the
 * device-private entries of the owner it is given (dev_private_owner) and
 * nothing for anyone else's, so pages of other private cohmem devices take
 * one more walk per device.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hmm.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "cohmem.h"

#define COHMEM_SNAP_BATCH	512

static u8 cohmem_page_state(struct cohmem_dev *cd, unsigned long hpfn)
{
	struct folio *folio;
	struct page *page;
	u8 state;

	if (!(hpfn & HMM_PFN_VALID))
		return hpfn & HMM_PFN_ERROR ? COHMEM_STATE_ERROR : COHMEM_STATE_NONE;
	page = hmm_pfn_to_page(hpfn);
	if (!cohmem_is_device_page(page))
		state = COHMEM_STATE_SYSTEM;
	else if (cohmem_page_pgmap(page) == &cd->pgmap &&
		 !COHMEM_MUTANT(snapshot_reports_system))
		state = COHMEM_STATE_DEVICE;
	else if (cohmem_page_pgmap(page) == &cd->pgmap)
		state = COHMEM_STATE_SYSTEM;
	else
		state = COHMEM_STATE_OTHER;
	if (hpfn & HMM_PFN_WRITE || COHMEM_MUTANT(snapshot_always_writable))
		state |= COHMEM_PAGE_WRITE;
	if (hmm_pfn_to_map_order(hpfn))
		state |= COHMEM_PAGE_HUGE;
	/*
	 * mmap_lock does not keep the page from being zapped (MADV_DONTNEED),
	 * reclaimed or migrated meanwhile, and freed and reused, even as a
	 * tail page: look at its folio with a reference, as it is now.
	 */
	folio = page_folio(page);
	if (!folio_try_get(folio))
		return state;
	if (page_folio(page) == folio && folio_maybe_dma_pinned(folio))
		state |= COHMEM_PAGE_PINNED;
	folio_put(folio);
	return state;
}

/*
 * Pages the walk for @cd left as not present may be device-private pages
 * of our other devices: walk again as each of them (under the same
 * mmap_lock) and report those as theirs. @pfns is scratch space.
 */
static int cohmem_snap_others(struct cohmem_dev *cd, struct hmm_range *range,
			      unsigned long *pfns, u8 *states)
{
	unsigned long i, n = (range->end - range->start) >> PAGE_SHIFT;
	struct cohmem_dev *other;
	unsigned int d;
	int ret;

	for (d = 0; (other = cohmem_dev_at(d)) != NULL; d++) {
		if (other == cd || other->type != COHMEM_TYPE_PRIVATE ||
		    !memchr(states, COHMEM_STATE_NONE, n))
			continue;
		memset(pfns, 0, n * sizeof(*pfns));
		range->hmm_pfns = pfns;
		range->dev_private_owner = other;
		ret = hmm_range_fault(range);
		if (ret)
			return ret;
		for (i = 0; i < n; i++)
			if (states[i] == COHMEM_STATE_NONE && (pfns[i] & HMM_PFN_VALID))
				states[i] = cohmem_page_state(cd, pfns[i]);
	}
	return 0;
}

/*
 * Read [start, end) and classify each page while mmap_lock still keeps the
 * page tables, and so the pages they map, from going away under us.
 */
static int cohmem_snap_batch(struct cohmem_dev *cd,
			     struct mmu_interval_notifier *mni,
			     unsigned long *pfns, unsigned long *scratch,
			     u8 *states, unsigned long start, unsigned long end)
{
	struct hmm_range range = {
		.notifier = mni,
		.notifier_seq = mni->invalidate_seq,
		.start = start,
		.end = end,
		.hmm_pfns = pfns,
		/* default_flags = 0 and no mask: report, never fault. */
		.dev_private_owner = cd,
	};
	unsigned long i;
	int ret;

	memset(pfns, 0, ((end - start) >> PAGE_SHIFT) * sizeof(*pfns));
	mmap_read_lock(mni->mm);
	ret = hmm_range_fault(&range);
	for (i = 0; !ret && i < (end - start) >> PAGE_SHIFT; i++)
		states[i] = cohmem_page_state(cd, pfns[i]);
	if (!ret && cd->type == COHMEM_TYPE_PRIVATE)
		ret = cohmem_snap_others(cd, &range, scratch, states);
	mmap_read_unlock(mni->mm);
	return ret;
}

int cohmem_snapshot(struct cohmem_dev *cd, struct cohmem_snapshot *s)
{
	u8 __user *ubuf = u64_to_user_ptr(s->buf);
	/*
	 * hmm_range_fault() takes an interval notifier to detect concurrent
	 * invalidations. Inserting one registers the mm with the MMU notifier
	 * core the first time, under mm_take_all_locks(), which the fuzzer
	 * saw hang against fork and exit in related processes (6.1). A
	 * snapshot is a report, stale once copied out anyway: walk under
	 * mmap_lock with a notifier that is never inserted, so its sequence
	 * never moves and nothing is retried.
	 */
	struct mmu_interval_notifier mni = { .mm = current->mm };
	unsigned long addr, i, n, end = s->addr + s->len;
	unsigned long *pfns, *scratch = NULL;
	u8 *states;
	int ret;

	if (!access_ok(ubuf, s->len >> PAGE_SHIFT))
		return -EFAULT;
	pfns = kmalloc_array(COHMEM_SNAP_BATCH, sizeof(*pfns), GFP_KERNEL);
	states = kmalloc(COHMEM_SNAP_BATCH, GFP_KERNEL);
	if (cd->type == COHMEM_TYPE_PRIVATE)
		scratch = kmalloc_array(COHMEM_SNAP_BATCH, sizeof(*scratch), GFP_KERNEL);
	if (!pfns || !states || (cd->type == COHMEM_TYPE_PRIVATE && !scratch)) {
		ret = -ENOMEM;
		goto out_free;
	}
	memset(s->count, 0, sizeof(s->count));
	for (addr = s->addr; addr < end; addr += n << PAGE_SHIFT) {
		n = min_t(unsigned long, (end - addr) >> PAGE_SHIFT, COHMEM_SNAP_BATCH);
		ret = cohmem_snap_batch(cd, &mni, pfns, scratch, states, addr,
					addr + (n << PAGE_SHIFT));
		if (ret)
			break;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		for (i = 0; i < n; i++)
			s->count[states[i] & COHMEM_STATE_MASK]++;
		if (copy_to_user(ubuf + ((addr - s->addr) >> PAGE_SHIFT), states, n)) {
			ret = -EFAULT;
			break;
		}
	}
out_free:
	kfree(scratch);
	kfree(states);
	kfree(pfns);
	return ret;
}
