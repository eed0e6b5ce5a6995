// SPDX-License-Identifier: GPL-2.0
/*
 * Who holds which device page: per-process owners, their accounting, and
 * the proc_limit cap on them.
 *
 * Every device page records in page->zone_device_data the owner it is
 * charged to: the address space that migrated it in. The free callback
 * uncharges it, whoever drops the last reference and whenever. An owner
 * holds a reference to its mm_struct (mmgrab(): the struct, not the address
 * space), so the key cannot be reused by a new mm while any page is charged
 * to it, and device-side eviction can find the pages through that mm while
 * it has users (see evict.c). A page can outlive its address space (held by
 * a pipe, another driver, a FOLL_GET reference): it stays charged until
 * freed. The last reference to an owner can be dropped in any context, so
 * the mm is let go from a work item.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hashtable.h>
#include <linux/sched/mm.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#include "cohmem.h"

static DEFINE_HASHTABLE(cohmem_owners, 6);
static DEFINE_SPINLOCK(cohmem_owners_lock);
/* Frees owners (and drops their mm) outside the context of the last put. */
static struct workqueue_struct *cohmem_owner_wq;

static unsigned long cohmem_proc_limit;	/* pages; 0: no cap */

static int cohmem_proc_limit_set(const char *val, const struct kernel_param *kp)
{
	char *end;
	u64 bytes = memparse(val, &end);

	if (end == val || (*end && *end != '\n'))
		return -EINVAL;
	WRITE_ONCE(cohmem_proc_limit, bytes >> PAGE_SHIFT);
	return 0;
}

static int cohmem_proc_limit_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%llu\n",
			  (u64)READ_ONCE(cohmem_proc_limit) << PAGE_SHIFT);
}

static const struct kernel_param_ops cohmem_proc_limit_ops = {
	.set = cohmem_proc_limit_set,
	.get = cohmem_proc_limit_get,
};

module_param_cb(proc_limit, &cohmem_proc_limit_ops, NULL, 0644);
MODULE_PARM_DESC(proc_limit,
		 "bytes of device memory, over all devices, one process may hold (K/M/G suffixes; default 0: no limit); pages past it stay in system RAM");

unsigned long cohmem_proc_limit_pages(void)
{
	return READ_ONCE(cohmem_proc_limit);
}

static struct cohmem_owner *cohmem_owner_find(struct mm_struct *mm)
{
	struct cohmem_owner *o;

	lockdep_assert_held(&cohmem_owners_lock);
	hash_for_each_possible(cohmem_owners, o, node, (unsigned long)mm) {
		if (o->mm == mm) {
			atomic_inc(&o->refs);
			return o;
		}
	}
	return NULL;
}

static void cohmem_owner_free(struct work_struct *work)
{
	struct cohmem_owner *o = container_of(work, struct cohmem_owner, free_work);

	mmdrop(o->mm);
	kfree(o);
}

/* The owner of @mm's device pages, created if need be; NULL if no memory. */
struct cohmem_owner *cohmem_owner_get(struct mm_struct *mm)
{
	struct cohmem_owner *o, *new;
	unsigned long flags;

	spin_lock_irqsave(&cohmem_owners_lock, flags);
	o = cohmem_owner_find(mm);
	spin_unlock_irqrestore(&cohmem_owners_lock, flags);
	if (o)
		return o;

	new = kzalloc(sizeof(*new), GFP_KERNEL);
	if (!new)
		return NULL;
	new->mm = mm;
	atomic_set(&new->refs, 1);
	INIT_WORK(&new->free_work, cohmem_owner_free);
	spin_lock_irqsave(&cohmem_owners_lock, flags);
	o = cohmem_owner_find(mm);
	if (!o) {
		/* The caller's own mm: it has users, mmgrab() cannot fail. */
		mmgrab(mm);
		hash_add(cohmem_owners, &new->node, (unsigned long)mm);
		o = new;
		new = NULL;
	}
	spin_unlock_irqrestore(&cohmem_owners_lock, flags);
	kfree(new);
	return o;
}

/*
 * One more reference to @o, which the caller knows to be alive: it holds
 * a reference to a page charged to @o, or one of its own.
 */
void cohmem_owner_hold(struct cohmem_owner *o)
{
	atomic_inc(&o->refs);
}

/* Drop a reference: a caller's, or a freed page's. Any context. */
static void cohmem_owner_unref(struct cohmem_owner *o)
{
	unsigned long flags;

	if (!atomic_dec_and_lock_irqsave(&o->refs, &cohmem_owners_lock, flags))
		return;
	hash_del(&o->node);
	spin_unlock_irqrestore(&cohmem_owners_lock, flags);
	/* mmdrop() may free the mm: not from the free callback's context. */
	queue_work(cohmem_owner_wq, &o->free_work);
}

void cohmem_owner_put(struct cohmem_owner *o)
{
	if (o)
		cohmem_owner_unref(o);
}

/*
 * Reserve up to @want pages for @o within proc_limit; returns how many.
 * Each reservation is a charge: hand it to a page with cohmem_owner_set()
 * or give it back with cohmem_owner_uncharge().
 */
unsigned long cohmem_owner_charge(struct cohmem_owner *o, unsigned long want)
{
	unsigned long limit = cohmem_proc_limit_pages();
	long after, over;

	if (!o || !want)
		return 0;
	after = atomic_long_add_return(want, &o->pages);
	over = limit && !COHMEM_MUTANT(proc_limit_ignored) ? after - (long)limit : 0;
	if (over > 0) {
		over = min_t(long, over, want);
		atomic_long_sub(over, &o->pages);
		want -= over;
	}
	atomic_add(want, &o->refs);
	return want;
}

/* Give back @n charges of @o; the caller holds at least @n references. */
void cohmem_owner_uncharge(struct cohmem_owner *o, unsigned long n)
{
	if (!n)
		return;
	atomic_long_sub(n, &o->pages);
	if (n > 1)
		atomic_sub(n - 1, &o->refs);
	cohmem_owner_unref(o);
}

/* @page (a head page of @nr pages) carries @nr of @o's charges. */
void cohmem_owner_set(struct page *page, struct cohmem_owner *o)
{
	page->zone_device_data = o;
}

/* From the free callback: give back the charges of @page's @nr pages. */
void cohmem_owner_page_freed(struct page *page, unsigned long nr)
{
	struct cohmem_owner *o = page->zone_device_data;

	page->zone_device_data = NULL;
	if (o)
		cohmem_owner_uncharge(o, nr);
}

int cohmem_owners_init(void)
{
	cohmem_owner_wq = alloc_workqueue("cohmem_owner", WQ_UNBOUND, 0);
	return cohmem_owner_wq ? 0 : -ENOMEM;
}

/* At unload every page is free, so every owner is gone or going. */
void cohmem_owners_exit(void)
{
	struct cohmem_owner *o;
	int bkt;

	hash_for_each(cohmem_owners, bkt, o, node)
		pr_err("owner %p still has %ld pages charged\n", o->mm,
		       atomic_long_read(&o->pages));
	/* Runs the frees still queued: none may run once the module is gone. */
	destroy_workqueue(cohmem_owner_wq);
}
