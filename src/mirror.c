// SPDX-License-Identifier: GPL-2.0
/*
 * The device's view of a process, as a GPU driver keeps one: a device page
 * table (pfn and access per virtual page) filled by hmm_range_fault() and
 * emptied by the process's MMU invalidations, through which the device
 * reads and writes the process's memory without moving it.
 *
 * Entries hold no reference: an invalidation erases them under the
 * mirror's lock before the kernel may free or move the pages they name, so
 * a page found in the table with the lock held is still that page. Data is
 * copied under the lock into or out of a kernel buffer only: copy_to_user()
 * there could fault, and the fault invalidate this very mirror.
 *
 * Every invalidation empties its range, the device's own migrations too
 * (unlike a driver that updates its table while it migrates): whoever
 * migrates reads the page tables again afterwards (cohmem_mirror_fault()
 * with COHMEM_MIRROR_NOFAULT), so no entry outlives its page.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hmm.h>
#include <linux/highmem.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "cohmem.h"

/* Pages per hmm_range_fault() call and per locked copy. */
#define COHMEM_MIRROR_WINDOW	512UL
#define COHMEM_MIRROR_CHUNK	64UL

static bool cohmem_mirror_invalidate(struct mmu_interval_notifier *mni,
				     const struct mmu_notifier_range *range,
				     unsigned long cur_seq)
{
	struct cohmem_mirror *mi = container_of(mni, struct cohmem_mirror, notifier);
	unsigned long first = range->start >> PAGE_SHIFT;
	unsigned long last = (range->end - 1) >> PAGE_SHIFT;
	unsigned long index;
	void *entry;

	if (COHMEM_MUTANT(mirror_ignores_invalidation))
		return true;
	if (mmu_notifier_range_blockable(range))
		mutex_lock(&mi->lock);
	else if (!mutex_trylock(&mi->lock))
		return false;
	mmu_interval_set_seq(mni, cur_seq);
	xa_for_each_range(&mi->pt, index, entry, first, last)
		xa_erase(&mi->pt, index);
	mutex_unlock(&mi->lock);
	return true;
}

/* A page of this mirror's device. */
static bool cohmem_mirror_own(struct cohmem_mirror *mi, struct page *page)
{
	return cohmem_is_device_page(page) &&
	       cohmem_page_pgmap(page) == &mi->cd->pgmap;
}

static const struct mmu_interval_notifier_ops cohmem_mirror_ops = {
	.invalidate = cohmem_mirror_invalidate,
};

int cohmem_mirror_init(struct cohmem_mirror *mi, struct cohmem_dev *cd,
		       struct mm_struct *mm)
{
	mi->cd = cd;
	mutex_init(&mi->lock);
	xa_init(&mi->pt);
	/* The whole address space, as a device that may touch any of it. */
	return mmu_interval_notifier_insert(&mi->notifier, mm, 0,
					    ULONG_MAX & PAGE_MASK,
					    &cohmem_mirror_ops);
}

void cohmem_mirror_fini(struct cohmem_mirror *mi)
{
	mmu_interval_notifier_remove(&mi->notifier);
	xa_destroy(&mi->pt);
	mutex_destroy(&mi->lock);
}

/*
 * Store the entries of one window under the mirror's lock, unless an
 * invalidation came in since @range was read (then -EAGAIN: read again).
 * With COHMEM_MIRROR_OWN only this device's own pages are stored: what a
 * migration to it placed there.
 */
static int cohmem_mirror_store(struct cohmem_mirror *mi, struct hmm_range *range,
			       unsigned int how)
{
	unsigned long i, n = (range->end - range->start) >> PAGE_SHIFT;
	unsigned long first = range->start >> PAGE_SHIFT;
	int ret = 0;

	mutex_lock(&mi->lock);
	if (mmu_interval_read_retry(range->notifier, range->notifier_seq)) {
		mutex_unlock(&mi->lock);
		return -EAGAIN;
	}
	for (i = 0; i < n; i++) {
		unsigned long hpfn = range->hmm_pfns[i];
		unsigned long tag = 0;
		struct page *page;

		if (!(hpfn & HMM_PFN_VALID))
			continue;
		page = hmm_pfn_to_page(hpfn);
		if ((how & COHMEM_MIRROR_OWN) && !cohmem_mirror_own(mi, page))
			continue;
		if (hpfn & HMM_PFN_WRITE)
			tag |= COHMEM_MIRROR_WRITE;
		/*
		 * The invalidation callback takes this lock, and reclaim may
		 * invalidate: no allocation here may wait for reclaim.
		 */
		if (xa_is_err(xa_store(&mi->pt, first + i, xa_tag_pointer(page, tag),
				       GFP_NOWAIT | __GFP_NOWARN))) {
			ret = -ENOMEM;
			break;
		}
	}
	mutex_unlock(&mi->lock);
	return ret;
}

/*
 * Fill the mirror for [@start, @end) of its process from the CPU page
 * tables: faulting pages in (for write with COHMEM_MIRROR_WRITE) as a
 * device would (with COHMEM_MIRROR_UNLOCKED, letting a fault handler drop
 * the mmap_lock, where the kernel can), or, with COHMEM_MIRROR_NOFAULT,
 * recording only this
 * device's pages that are there already. The caller holds a reference to
 * the mm (mmget). Errors as hmm_range_fault(): -EFAULT (no VMA, or no
 * access at all), -EPERM (a write to a read-only VMA), -EBUSY (one second
 * of invalidations in a row), -ENOMEM; -EINTR for a fatal signal.
 */
int cohmem_mirror_fault(struct cohmem_mirror *mi, unsigned long start,
			unsigned long end, unsigned int how)
{
	struct mm_struct *mm = mi->notifier.mm;
	unsigned long *pfns, addr, next, timeout;
	struct hmm_range range = {
		.notifier = &mi->notifier,
		.dev_private_owner = mi->cd,
	};
	int ret = 0;

	if (!(how & COHMEM_MIRROR_NOFAULT)) {
		range.default_flags = HMM_PFN_REQ_FAULT;
		if (how & COHMEM_MIRROR_WRITE)
			range.default_flags |= HMM_PFN_REQ_WRITE;
	}
	pfns = kmalloc_array(COHMEM_MIRROR_WINDOW, sizeof(*pfns), GFP_KERNEL);
	if (!pfns)
		return -ENOMEM;
	range.hmm_pfns = pfns;
	for (addr = start; addr < end && !ret; addr = next) {
		next = min(end, addr + (COHMEM_MIRROR_WINDOW << PAGE_SHIFT));
		range.start = addr;
		range.end = next;
		timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
		do {
			if (time_after(jiffies, timeout)) {
				ret = -EBUSY;
				break;
			}
			if (fatal_signal_pending(current)) {
				ret = -EINTR;
				break;
			}
			if (how & COHMEM_MIRROR_UNLOCKED) {
				ret = cohmem_hmm_fault_unlocked(&range);
			} else {
				range.notifier_seq = mmu_interval_read_begin(&mi->notifier);
				mmap_read_lock(mm);
				ret = hmm_range_fault(&range);
				mmap_read_unlock(mm);
			}
			if (!ret)
				ret = cohmem_mirror_store(mi, &range, how);
		} while (ret == -EBUSY || ret == -EAGAIN);
	}
	kfree(pfns);
	return ret;
}

/* Where the data of @page is, for the device: its backing store if private. */
static void cohmem_mirror_copy(struct cohmem_mirror *mi, struct page *page,
			       void *buf, bool write)
{
	void *data;

	if (is_device_private_page(page)) {
		/* hmm_range_fault() reports the private pages of this device only */
		data = cohmem_private_data(mi->cd, page);
		if (write)
			memcpy(data, buf, PAGE_SIZE);
		else
			memcpy(buf, data, PAGE_SIZE);
		return;
	}
	if (write)
		memcpy_to_page(page, 0, buf, PAGE_SIZE);
	else
		memcpy_from_page(buf, page, 0, PAGE_SIZE);
}

/*
 * Copy up to @n pages from @addr on between the mirror and @buf while
 * their entries are there (and writable, for a write; and pages of this
 * device, with COHMEM_MIRROR_OWN); returns how many.
 */
static unsigned long cohmem_mirror_copy_present(struct cohmem_mirror *mi,
						unsigned long addr,
						unsigned long n, void *buf,
						unsigned int how)
{
	bool write = how & COHMEM_MIRROR_WRITE;
	unsigned long i;

	mutex_lock(&mi->lock);
	for (i = 0; i < n; i++) {
		void *entry = xa_load(&mi->pt, (addr >> PAGE_SHIFT) + i);

		if (!entry ||
		    (write && !(xa_pointer_tag(entry) & COHMEM_MIRROR_WRITE)) ||
		    ((how & COHMEM_MIRROR_OWN) &&
		     !cohmem_mirror_own(mi, xa_untag_pointer(entry))))
			break;
		cohmem_mirror_copy(mi, xa_untag_pointer(entry),
				   buf + (i << PAGE_SHIFT), write);
	}
	mutex_unlock(&mi->lock);
	return i;
}

/*
 * The device reads (or, with COHMEM_MIRROR_WRITE, writes) @npages pages of
 * its process at @addr, from or into the user buffer @ubuf. At the first
 * page the mirror lacks (or has read-only, for a write) it faults the rest
 * of the range in, one round counted in *@faults, and goes on; with
 * COHMEM_MIRROR_NOFAULT a missing page (with COHMEM_MIRROR_OWN, any page
 * not on this device) is -ENOENT instead. *@done counts
 * the pages copied. The caller holds a reference to the mm.
 */
int cohmem_mirror_access(struct cohmem_mirror *mi, unsigned long addr,
			 unsigned long npages, void __user *ubuf,
			 unsigned int how, u64 *done, u64 *faults)
{
	bool write = how & COHMEM_MIRROR_WRITE;
	unsigned long end = addr + (npages << PAGE_SHIFT), n, got;
	unsigned int stalls = 0;
	void *buf;
	int ret = 0;

	buf = kvmalloc(min(npages, COHMEM_MIRROR_CHUNK) << PAGE_SHIFT, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	while (addr < end) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		n = min((end - addr) >> PAGE_SHIFT, COHMEM_MIRROR_CHUNK);
		if (write && copy_from_user(buf, ubuf, n << PAGE_SHIFT)) {
			ret = -EFAULT;
			break;
		}
		got = cohmem_mirror_copy_present(mi, addr, n, buf, how);
		if (!write && copy_to_user(ubuf, buf, got << PAGE_SHIFT)) {
			ret = -EFAULT;
			break;
		}
		addr += got << PAGE_SHIFT;
		ubuf += got << PAGE_SHIFT;
		*done += got;
		if (got == n)
			continue;
		if (how & COHMEM_MIRROR_NOFAULT) {
			ret = -ENOENT;
			break;
		}
		/*
		 * A page faulted in may be invalidated again before it is
		 * copied (another thread, reclaim): a round that makes no
		 * progress at all is tried a few times, then given up.
		 */
		stalls = got ? 0 : stalls + 1;
		if (stalls > 16) {
			ret = -EBUSY;
			break;
		}
		ret = cohmem_mirror_fault(mi, addr, end,
					  how & (COHMEM_MIRROR_WRITE | COHMEM_MIRROR_UNLOCKED));
		if (ret)
			break;
		(*faults)++;
		cond_resched();
	}
	kvfree(buf);
	return ret;
}
