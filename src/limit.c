// SPDX-License-Identifier: GPL-2.0
/*
 * Per-process accounting of device pages, and the proc_limit cap on them.
 *
 * Every device page records in page->zone_device_data the owner it is
 * charged to: the address space that migrated it in. The free callback
 * uncharges it, whoever drops the last reference and whenever. Owners are
 * keyed by their mm_struct's address, which is never dereferenced: a page
 * can outlive its mm (held by another process's FOLL_GET reference, a pipe,
 * ...), and then stays charged to that key until freed.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hashtable.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "cohmem.h"

struct cohmem_owner {
	struct hlist_node node;
	const struct mm_struct *mm;	/* key only */
	atomic_long_t pages;		/* charged device pages */
	/* charged pages + callers between owner_get() and owner_put() */
	atomic_t refs;
};

static DEFINE_HASHTABLE(cohmem_owners, 6);
static DEFINE_SPINLOCK(cohmem_owners_lock);

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

static struct cohmem_owner *cohmem_owner_find(const struct mm_struct *mm)
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

/* The owner of @mm's device pages, created if need be; NULL if no memory. */
struct cohmem_owner *cohmem_owner_get(const struct mm_struct *mm)
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
	spin_lock_irqsave(&cohmem_owners_lock, flags);
	o = cohmem_owner_find(mm);
	if (!o) {
		hash_add(cohmem_owners, &new->node, (unsigned long)mm);
		o = new;
		new = NULL;
	}
	spin_unlock_irqrestore(&cohmem_owners_lock, flags);
	kfree(new);
	return o;
}

/* Drop a reference: a caller's, or a freed page's. Any context. */
static void cohmem_owner_unref(struct cohmem_owner *o)
{
	unsigned long flags;

	if (!atomic_dec_and_lock_irqsave(&o->refs, &cohmem_owners_lock, flags))
		return;
	hash_del(&o->node);
	spin_unlock_irqrestore(&cohmem_owners_lock, flags);
	kfree(o);
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
	over = limit ? after - (long)limit : 0;
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

/* At unload every page is free, so every owner is gone. */
void cohmem_owners_check_empty(void)
{
	struct cohmem_owner *o;
	int bkt;

	hash_for_each(cohmem_owners, bkt, o, node)
		pr_err("owner %p still has %ld pages charged\n", o->mm,
		       atomic_long_read(&o->pages));
}
