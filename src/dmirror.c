// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/hmm_dmirrorN (upstream_abi=1): the ABI of the kernel's own device
 * memory test driver (lib/test_hmm_uapi.h of each kernel), so that the
 * kernel's hmm-tests run unmodified against cohmem devices 0 to 3. Only
 * the ABI is shared with that driver: each command maps onto cohmem's own
 * mirror (mirror.c), migration (migrate.c) and eviction (evict.c).
 *
 * Every open file mirrors its opener's address space. Commands act on
 * the calling process only, which must be the opener (else -EINVAL).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/hmm.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pgtable.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "cohmem.h"
#include "../include/uapi/linux/cohmem_hmm.h"

static_assert(sizeof(struct cohmem_hmm_cmd) == 40);

/* The device numbers test_hmm has: 0 and 1 private, 2 and 3 coherent. */
#define COHMEM_DMIRROR_MAX		4
/* A mapping of the node: zeroed pages, at most this many. */
#define COHMEM_DMIRROR_MMAP_MAX		(SZ_64M >> PAGE_SHIFT)
#define COHMEM_DMIRROR_SNAP_WINDOW	512UL

struct cohmem_dmirror_file {
	struct cohmem_mirror mirror;
	u64 flags;		/* COHMEM_HMM_FLAG_* */
	unsigned long warned;	/* bit 0: another process was told */
};

static inline struct cohmem_dev *cohmem_dmirror_dev(struct cohmem_dmirror_file *df)
{
	return df->mirror.cd;
}

/*
 * Migrations take whole VMAs that can be read: a hole or a PROT_NONE
 * stretch in [start, end) is -EINVAL, as test_hmm has it.
 */
static int cohmem_dmirror_check_vmas(struct mm_struct *mm, unsigned long start,
				     unsigned long end)
{
	struct vm_area_struct *vma;
	unsigned long addr;
	int ret = 0;

	mmap_read_lock(mm);
	for (addr = start; addr < end; addr = vma->vm_end) {
		vma = vma_lookup(mm, addr);
		if (!vma || !(vma->vm_flags & VM_READ)) {
			ret = -EINVAL;
			break;
		}
	}
	mmap_read_unlock(mm);
	return ret;
}

static int cohmem_dmirror_migrate(struct cohmem_dmirror_file *df,
				  struct cohmem_hmm_cmd *cmd, bool to_dev)
{
	struct cohmem_dev *cd = cohmem_dmirror_dev(df);
	unsigned long start = cmd->addr, end = start + (cmd->npages << PAGE_SHIFT);
	struct cohmem_migrate m = {
		.addr = start,
		.len = end - start,
	};
	bool fail_alloc = df->flags & COHMEM_HMM_FLAG_FAIL_ALLOC;
	int ret;

	ret = cohmem_dmirror_check_vmas(df->mirror.notifier.mm, start, end);
	if (ret)
		return ret;
	/* FAIL_ALLOC costs the next migration its huge device folios. */
	df->flags &= ~COHMEM_HMM_FLAG_FAIL_ALLOC;
	if (to_dev && cohmem_huge_ok(cd) && !fail_alloc)
		m.flags = COHMEM_MIGRATE_HUGE;
	ret = cohmem_migrate(cd, &m, to_dev);
	if (ret)
		return ret;
	if (!to_dev) {
		cmd->cpages = m.moved;
		return 0;
	}
	/*
	 * The device's view of what moved: its own pages in the range, read
	 * back through the mirror; a page that is not one of them (shared
	 * memory, another device's, no room) is -ENOENT.
	 */
	ret = cohmem_mirror_fault(&df->mirror, start, end,
				  COHMEM_MIRROR_NOFAULT | COHMEM_MIRROR_OWN);
	if (ret)
		return ret;
	return cohmem_mirror_access(&df->mirror, start, cmd->npages,
				    u64_to_user_ptr(cmd->ptr),
				    COHMEM_MIRROR_NOFAULT | COHMEM_MIRROR_OWN,
				    &cmd->cpages, &cmd->faults);
}

static u8 cohmem_dmirror_state(struct cohmem_dev *cd, unsigned long hpfn)
{
	unsigned int order;
	struct page *page;
	u8 state;

	if (hpfn & HMM_PFN_ERROR)
		return COHMEM_HMM_STATE_ERROR;
	if (!(hpfn & HMM_PFN_VALID))
		return COHMEM_HMM_STATE_NONE;
	page = hmm_pfn_to_page(hpfn);
	state = hpfn & HMM_PFN_WRITE ? COHMEM_HMM_STATE_WRITE : COHMEM_HMM_STATE_READ;
	order = hmm_pfn_to_map_order(hpfn);
	if (order == PMD_SHIFT - PAGE_SHIFT)
		state |= COHMEM_HMM_STATE_PMD;
	else if (order == PUD_SHIFT - PAGE_SHIFT)
		state |= COHMEM_HMM_STATE_PUD;
	if (is_zero_pfn(page_to_pfn(page)))
		state |= COHMEM_HMM_STATE_ZERO;
	else if (is_device_private_page(page))
		state |= cohmem_page_pgmap(page)->owner == cd ?
			 COHMEM_HMM_STATE_PRIVATE_LOCAL : COHMEM_HMM_STATE_PRIVATE_REMOTE;
	else if (is_device_coherent_page(page))
		state |= cohmem_page_pgmap(page)->owner == cd ?
			 COHMEM_HMM_STATE_COHERENT_LOCAL : COHMEM_HMM_STATE_COHERENT_REMOTE;
	return state;
}

/* One byte per page, from the page tables as they are; never faults. */
static int cohmem_dmirror_snapshot(struct cohmem_dmirror_file *df,
				   struct cohmem_hmm_cmd *cmd)
{
	struct cohmem_mirror *mi = &df->mirror;
	struct mm_struct *mm = mi->notifier.mm;
	unsigned long addr = cmd->addr, end = addr + (cmd->npages << PAGE_SHIFT);
	u8 __user *ubuf = u64_to_user_ptr(cmd->ptr);
	struct hmm_range range = {
		.notifier = &mi->notifier,
		.dev_private_owner = mi->cd,
	};
	unsigned long *pfns, i, n, timeout;
	u8 *states;
	int ret = 0;

	pfns = kmalloc_array(COHMEM_DMIRROR_SNAP_WINDOW, sizeof(*pfns), GFP_KERNEL);
	states = kmalloc(COHMEM_DMIRROR_SNAP_WINDOW, GFP_KERNEL);
	if (!pfns || !states) {
		ret = -ENOMEM;
		goto out;
	}
	range.hmm_pfns = pfns;
	for (; addr < end; addr += n << PAGE_SHIFT) {
		n = min((end - addr) >> PAGE_SHIFT, COHMEM_DMIRROR_SNAP_WINDOW);
		range.start = addr;
		range.end = addr + (n << PAGE_SHIFT);
		timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
		do {
			if (time_after(jiffies, timeout)) {
				ret = -EBUSY;
				goto out;
			}
			range.notifier_seq = mmu_interval_read_begin(&mi->notifier);
			mmap_read_lock(mm);
			ret = hmm_range_fault(&range);
			/* Classified while mmap_lock keeps the page tables. */
			for (i = 0; !ret && i < n; i++)
				states[i] = cohmem_dmirror_state(mi->cd, pfns[i]);
			mmap_read_unlock(mm);
		} while (ret == -EBUSY);
		if (ret)
			goto out;
		if (copy_to_user(ubuf, states, n)) {
			ret = -EFAULT;
			goto out;
		}
		ubuf += n;
		cmd->cpages += n;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			goto out;
		}
		cond_resched();
	}
out:
	kfree(states);
	kfree(pfns);
	return ret;
}

/*
 * Each page made exclusive to the device (an atomic entry in the mirror)
 * until the CPU touches it again; then its data, read back. Where the
 * kernel has no device-exclusive entries (no CONFIG_DEVICE_PRIVATE):
 * -EOPNOTSUPP.
 */
static int cohmem_dmirror_exclusive(struct cohmem_dmirror_file *df,
				    struct cohmem_hmm_cmd *cmd)
{
	struct cohmem_mirror *mi = &df->mirror;
	struct mm_struct *mm = mi->notifier.mm;
	unsigned long addr, end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	int ret = 0;

	mmap_read_lock(mm);
	for (addr = cmd->addr; addr < end && !ret; addr += PAGE_SIZE) {
		struct page *page = cohmem_make_exclusive(mm, addr, mi->cd);

		if (IS_ERR(page)) {
			ret = PTR_ERR(page);
			break;
		}
		/*
		 * Stored while the page is locked: the CPU's access that ends
		 * exclusivity locks it too, so its invalidation comes after.
		 */
		mutex_lock(&mi->lock);
		if (xa_is_err(xa_store(&mi->pt, addr >> PAGE_SHIFT,
				       xa_tag_pointer(page, COHMEM_MIRROR_WRITE |
							    COHMEM_MIRROR_ATOMIC),
				       GFP_NOWAIT | __GFP_NOWARN)))
			ret = -ENOMEM;
		mutex_unlock(&mi->lock);
		unlock_page(page);
		put_page(page);
	}
	mmap_read_unlock(mm);
	if (ret)
		return ret;
	return cohmem_mirror_access(mi, cmd->addr, cmd->npages,
				    u64_to_user_ptr(cmd->ptr), COHMEM_MIRROR_NOFAULT,
				    &cmd->cpages, &cmd->faults);
}

/* -EPERM while any page of the range is still exclusive to the device. */
static int cohmem_dmirror_check_exclusive(struct cohmem_dmirror_file *df,
					  struct cohmem_hmm_cmd *cmd)
{
	struct cohmem_mirror *mi = &df->mirror;
	unsigned long first = cmd->addr >> PAGE_SHIFT;
	unsigned long index;
	void *entry;
	int ret = 0;

	mutex_lock(&mi->lock);
	xa_for_each_range(&mi->pt, index, entry, first, first + cmd->npages - 1) {
		if (xa_pointer_tag(entry) & COHMEM_MIRROR_ATOMIC) {
			ret = -EPERM;
			break;
		}
	}
	mutex_unlock(&mi->lock);
	return ret;
}

static bool cohmem_dmirror_known(unsigned int cmd)
{
	switch (cmd) {
	case COHMEM_HMM_READ:
	case COHMEM_HMM_WRITE:
	case COHMEM_HMM_MIGRATE_TO_DEV:
	case COHMEM_HMM_MIGRATE_TO_SYS:
	case COHMEM_HMM_SNAPSHOT:
	case COHMEM_HMM_EXCLUSIVE:
	case COHMEM_HMM_CHECK_EXCLUSIVE:
	case COHMEM_HMM_RELEASE:
		return true;
	case COHMEM_HMM_FLAGS:
		return COHMEM_HMM_HAVE_FLAGS;
	case COHMEM_HMM_READ_UNLOCKED:
		return COHMEM_HMM_HAVE_READ_UNLOCKED;
	}
	return false;
}

static long cohmem_dmirror_ioctl(struct file *file, unsigned int command,
				 unsigned long arg)
{
	struct cohmem_dmirror_file *df = file->private_data;
	struct cohmem_dev *cd = cohmem_dmirror_dev(df);
	struct mm_struct *mm = df->mirror.notifier.mm;
	void __user *uarg = (void __user *)arg;
	struct cohmem_hmm_cmd cmd;
	u64 evicted = 0, busy = 0;
	int ret;

	/* test_hmm's answer to a command it does not know: -EINVAL. */
	if (!cohmem_dmirror_known(command))
		return -EINVAL;
	if (copy_from_user(&cmd, uarg, sizeof(cmd)))
		return -EFAULT;
	if (!PAGE_ALIGNED(cmd.addr) || !cmd.npages ||
	    cmd.npages > (ULONG_MAX - cmd.addr) >> PAGE_SHIFT)
		return -EINVAL;
	/* The mirror is of the opener's address space: not another's. */
	if (current->mm != mm) {
		if (!test_and_set_bit(0, &df->warned))
			pr_info("%s: a file is used by the process that opened it only\n",
				cd->dmirror_name);
		return -EINVAL;
	}
	cmd.cpages = 0;
	cmd.faults = 0;

	switch (command) {
	case COHMEM_HMM_READ:
		ret = cohmem_mirror_access(&df->mirror, cmd.addr, cmd.npages,
					   u64_to_user_ptr(cmd.ptr), 0,
					   &cmd.cpages, &cmd.faults);
		break;
	case COHMEM_HMM_READ_UNLOCKED:
		ret = cohmem_mirror_access(&df->mirror, cmd.addr, cmd.npages,
					   u64_to_user_ptr(cmd.ptr),
					   COHMEM_MIRROR_UNLOCKED,
					   &cmd.cpages, &cmd.faults);
		break;
	case COHMEM_HMM_WRITE:
		ret = cohmem_mirror_access(&df->mirror, cmd.addr, cmd.npages,
					   u64_to_user_ptr(cmd.ptr),
					   COHMEM_MIRROR_WRITE,
					   &cmd.cpages, &cmd.faults);
		break;
	case COHMEM_HMM_MIGRATE_TO_DEV:
		ret = cohmem_dmirror_migrate(df, &cmd, true);
		break;
	case COHMEM_HMM_MIGRATE_TO_SYS:
		ret = cohmem_dmirror_migrate(df, &cmd, false);
		break;
	case COHMEM_HMM_SNAPSHOT:
		ret = cohmem_dmirror_snapshot(df, &cmd);
		break;
	case COHMEM_HMM_EXCLUSIVE:
		ret = cohmem_dmirror_exclusive(df, &cmd);
		break;
	case COHMEM_HMM_CHECK_EXCLUSIVE:
		ret = cohmem_dmirror_check_exclusive(df, &cmd);
		break;
	case COHMEM_HMM_RELEASE:
		/* The whole device, every process: as EVICT_ALL. */
		cohmem_evict(cd, 0, cd->npages, &evicted, &busy);
		ret = 0;
		break;
	default:	/* COHMEM_HMM_FLAGS */
		if (cmd.npages & ~(u64)COHMEM_HMM_FLAG_FAIL_ALLOC) {
			ret = -EINVAL;
			break;
		}
		df->flags = cmd.npages;
		ret = 0;
		break;
	}
	if (!ret && copy_to_user(uarg, &cmd, sizeof(cmd)))
		return -EFAULT;
	return ret;
}

/* Zeroed pages, as test_hmm's node maps (hmm-tests' mixedmap case). */
static int cohmem_dmirror_mmap(struct file *file, struct vm_area_struct *vma)
{
	unsigned long addr;
	int ret;

	if (vma_pages(vma) > COHMEM_DMIRROR_MMAP_MAX)
		return -ENOMEM;
	for (addr = vma->vm_start; addr < vma->vm_end; addr += PAGE_SIZE) {
		struct page *page = alloc_page(GFP_HIGHUSER | __GFP_ZERO);

		if (!page)
			return -ENOMEM;
		ret = vm_insert_page(vma, addr, page);
		/* The mapping holds its own reference from here on. */
		put_page(page);
		if (ret)
			return ret;
	}
	return 0;
}

static int cohmem_dmirror_open(struct inode *inode, struct file *file)
{
	struct miscdevice *misc = file->private_data;
	struct cohmem_dmirror_file *df;
	int ret;

	if (!current->mm)
		return -EINVAL;
	df = kzalloc(sizeof(*df), GFP_KERNEL);
	if (!df)
		return -ENOMEM;
	ret = cohmem_mirror_init(&df->mirror,
				 container_of(misc, struct cohmem_dev, dmirror),
				 current->mm);
	if (ret) {
		kfree(df);
		return ret;
	}
	file->private_data = df;
	return 0;
}

static int cohmem_dmirror_release(struct inode *inode, struct file *file)
{
	struct cohmem_dmirror_file *df = file->private_data;

	cohmem_mirror_fini(&df->mirror);
	kfree(df);
	return 0;
}

static const struct file_operations cohmem_dmirror_fops = {
	.owner = THIS_MODULE,
	.open = cohmem_dmirror_open,
	.release = cohmem_dmirror_release,
	.mmap = cohmem_dmirror_mmap,
	.unlocked_ioctl = cohmem_dmirror_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/* /dev/hmm_dmirrorN for device N (< 4), root only as test_hmm's. */
int cohmem_dmirror_register(struct cohmem_dev *cd)
{
	int ret;

	if (cd->id >= COHMEM_DMIRROR_MAX)
		return 0;
	snprintf(cd->dmirror_name, sizeof(cd->dmirror_name), "hmm_dmirror%d", cd->id);
	cd->dmirror.minor = MISC_DYNAMIC_MINOR;
	cd->dmirror.name = cd->dmirror_name;
	cd->dmirror.fops = &cohmem_dmirror_fops;
	cd->dmirror.mode = 0600;
	ret = misc_register(&cd->dmirror);
	if (ret) {
		cd->dmirror.fops = NULL;
		pr_err("%s: cannot register /dev/%s (%d)\n", cd->name,
		       cd->dmirror_name, ret);
	}
	return ret;
}

void cohmem_dmirror_unregister(struct cohmem_dev *cd)
{
	if (cd->dmirror.fops)
		misc_deregister(&cd->dmirror);
}
