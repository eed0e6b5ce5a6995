/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cohmem internals shared by the source files of the module.
 */
#ifndef COHMEM_H
#define COHMEM_H

#include <linux/atomic.h>
#include <linux/capability.h>
#include <linux/kconfig.h>
#include <linux/ioport.h>
#include <linux/memremap.h>
#include <linux/miscdevice.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include "compat.h"
#include "../include/uapi/linux/cohmem.h"

/*
 * A deliberately broken variant of the module, for scripts/mutants.sh,
 * which builds with COHMEM_MUTANT=name (-DCOHMEM_MUTANT_name) and expects
 * the tests to catch it: COHMEM_MUTANT(name) is 1 there, 0 (and the broken
 * branch compiled out) in every real build.
 */
#define COHMEM_MUTANT(name)	IS_ENABLED(COHMEM_MUTANT_##name)

#define COHMEM_MAX_DEVICES	8
/*
 * Pages handed to one migrate_vma_setup() call: the batch_mib parameter
 * (migrate.c), whole 2 MiB huge entries, at most COHMEM_BATCH_MAX_MIB.
 */
#define COHMEM_BATCH_MAX_MIB	32
unsigned long cohmem_batch_pages(void);

/* The phases of a migration pass (migrate.c; sysfs phase_ns). */
enum cohmem_phase {
	COHMEM_PHASE_SETUP,	/* migrate_vma_setup(), and why pages were left out */
	COHMEM_PHASE_ALLOC,	/* destination pages, charges, planning */
	COHMEM_PHASE_COPY,	/* the copy engine */
	COHMEM_PHASE_PAGES,	/* migrate_vma_pages() */
	COHMEM_PHASE_FINALIZE,	/* migrate_vma_finalize() */
	COHMEM_PHASES
};

/* A physical range taken away from the kernel for one device. */
struct cohmem_region {
	u64 start;
	u64 size;
	u32 source;		/* COHMEM_SOURCE_* */
	int nid;		/* node to give hot-removed memory back to */
	struct resource *res;	/* our claim in /proc/iomem */
};

struct cohmem_dev {
	int id;
	u32 type;		/* COHMEM_TYPE_* */
	struct cohmem_region region;
	struct dev_pagemap pgmap;
	unsigned long base_pfn;	/* of the pagemap: device page i is base_pfn + i */
	unsigned long npages;

	/*
	 * COHMEM_TYPE_PRIVATE: the pagemap covers a free physical range that
	 * is no memory at all (fake_res), and the region the device took is
	 * its backing store, mapped at backing: device page i keeps its data
	 * at backing + i * PAGE_SIZE. NULL for a coherent device, whose pages
	 * are the region itself.
	 */
	struct resource *fake_res;
	void *backing;

	/*
	 * Allocator: a bit per page, set while the page is free. Allocation
	 * takes alloc_lock once per batch and clears bits; freeing (the
	 * pagemap's page_free callback, one page at a time, from any context)
	 * only sets a bit atomically and never takes the lock.
	 */
	spinlock_t alloc_lock;
	unsigned long *free_map;
	unsigned long cursor;	/* next-fit start, under alloc_lock */
	atomic_long_t nfree;
	/* per page: its address in its owner's space, a hint (pagemap.c) */
	unsigned long *addr;

	/*
	 * Where migration passes spent their time, in ns, [to the device,
	 * to system RAM (eviction included)][phase], while phase_stats is on.
	 */
	atomic64_t phase_ns[2][COHMEM_PHASES];

	atomic64_t migrated_to_dev;
	atomic64_t migrated_to_sys;
	atomic64_t evicted;
	atomic64_t freed;

	/* type=private: arrays for a huge CPU fault when kmalloc() fails */
	struct cohmem_batch *fault_batch;
	struct mutex fault_lock;	/* one user of fault_batch at a time */

	char name[16];
	struct miscdevice misc;
	/* upstream_abi=1, devices 0 to 3: /dev/hmm_dmirrorN (dmirror.c) */
	char dmirror_name[24];
	struct miscdevice dmirror;
};

/* Per open file: the pins it holds, and the device's mirror of its user. */
struct cohmem_file {
	struct cohmem_dev *cd;
	struct xarray pins;	/* handle -> struct cohmem_pinned */
	u32 next_handle;	/* handles are handed out cyclically */
	struct mutex mirror_lock;	/* makes mirror, once */
	/* DEVICE_READ/WRITE: made at the first, for that caller's mm */
	struct cohmem_mirror *mirror;
	unsigned long mirror_warned;	/* bit 0: another process was told */
};

/* region.c */
int cohmem_region_claim(struct cohmem_region *r, u64 start, u64 size);
int cohmem_region_hotremove(struct cohmem_region *r, u64 size);
void cohmem_region_release(struct cohmem_region *r);

/* main.c */
extern bool cohmem_evict_on_full;
extern bool cohmem_upstream_abi;
extern bool cohmem_phase_stats;
struct cohmem_dev *cohmem_dev_at(unsigned int i);

/* owner.c */
struct cohmem_owner {
	struct hlist_node node;
	struct mm_struct *mm;		/* mmgrab()bed while the owner lives */
	atomic_long_t pages;		/* charged device pages */
	/* charged pages + callers between owner_get() and owner_put() */
	atomic_t refs;
	struct work_struct free_work;
};

unsigned long cohmem_proc_limit_pages(void);
struct cohmem_owner *cohmem_owner_get(struct mm_struct *mm);
void cohmem_owner_hold(struct cohmem_owner *o);
void cohmem_owner_put(struct cohmem_owner *o);
unsigned long cohmem_owner_charge(struct cohmem_owner *o, unsigned long want);
void cohmem_owner_uncharge(struct cohmem_owner *o, unsigned long n);
void cohmem_owner_set(struct page *page, struct cohmem_owner *o);
void cohmem_owner_page_freed(struct page *page, unsigned long nr);
int cohmem_owners_init(void);
void cohmem_owners_exit(void);

/* pagemap.c */
int cohmem_pagemap_init(struct cohmem_dev *cd);
void cohmem_pagemap_fini(struct cohmem_dev *cd);
unsigned long cohmem_alloc_pages(struct cohmem_dev *cd, struct page **pages,
				 unsigned long n, struct cohmem_owner *o);
struct cohmem_dev *cohmem_page_dev(struct page *page);
bool cohmem_huge_ok(struct cohmem_dev *cd);
struct page *cohmem_alloc_huge(struct cohmem_dev *cd, struct cohmem_owner *o);
unsigned long cohmem_pages_in_use(void);
void cohmem_set_addr(struct cohmem_dev *cd, struct page *page,
		     unsigned long nr, unsigned long addr);
unsigned long cohmem_page_addr(struct cohmem_dev *cd, unsigned long idx);

/* A device page of any kind cohmem makes, whoever made it. */
static inline bool cohmem_is_device_page(struct page *page)
{
	return is_device_coherent_page(page) || is_device_private_page(page);
}

/*
 * Who may move other users' pages off a device (EVICT, pressure eviction)
 * and see its physical address: CAP_SYS_ADMIN, as for /proc/iomem. A
 * process without it moves its own pages with MIGRATE_TO_SYS.
 */
static inline bool cohmem_admin(void)
{
	return capable(CAP_SYS_ADMIN);
}

/* Where device page @page of a private device @cd keeps its data. */
static inline void *cohmem_private_data(struct cohmem_dev *cd, struct page *page)
{
	return cd->backing + ((page_to_pfn(page) - cd->base_pfn) << PAGE_SHIFT);
}

static inline unsigned long cohmem_free_pages(struct cohmem_dev *cd)
{
	return atomic_long_read(&cd->nfree);
}

/*
 * copy.c: the copy engine. One page-sized copy of a batch, by kernel
 * address (src NULL: clear dst); cohmem_copy_run() does n of them with the
 * engine the copy_engine parameter names and returns when all are done.
 */
struct cohmem_copy {
	void *dst;
	const void *src;
};

struct cohmem_copy_ops {
	const char *name;
	void (*run)(struct cohmem_copy *c, unsigned long n);
};

u64 cohmem_copy_run(struct cohmem_copy *c, unsigned long n);

/*
 * Where the data of device page @page of @cd is for the CPU: its backing
 * store for a private device, else the page itself in the direct map
 * (memremap_pages() maps coherent device memory there; no highmem here).
 */
static inline void *cohmem_dev_data(struct cohmem_dev *cd, struct page *page)
{
	return cd->type == COHMEM_TYPE_PRIVATE ? cohmem_private_data(cd, page) :
						 page_address(page);
}

/*
 * migrate.c: one batch of a migration or an eviction, and its scratch
 * space for npages pages (cohmem_batch_alloc()).
 */
struct cohmem_batch {
	struct cohmem_owner *owner;	/* MIGRATE_TO_DEV: charged for pages */
	unsigned long allocated;	/* device pages this call placed so far */
	unsigned long start;		/* address of the pass's first page */
	bool no_room;			/* eviction found nothing to evict */
	bool may_evict;			/* the caller may evict others' pages */
	bool huge;			/* MIGRATE_TO_DEV: huge device folios */
	bool evict;			/* device-side eviction, not a migration */
	unsigned long npages;		/* room in each array below */
	unsigned long *src;
	unsigned long *dst;
	struct page **pages;
	unsigned long ncopies;		/* planned in copies[] */
	struct cohmem_copy *copies;
	u8 *fate;			/* per page: what became of it */
};

struct cohmem_batch *cohmem_batch_alloc(unsigned long npages, gfp_t gfp);
void cohmem_batch_free(struct cohmem_batch *b);
int cohmem_migrate(struct cohmem_dev *cd, struct cohmem_migrate *m,
		   bool to_dev);
vm_fault_t cohmem_migrate_to_ram(struct vm_fault *vmf);
void cohmem_evict_range(struct cohmem_dev *cd, struct cohmem_batch *b,
			struct vm_area_struct *vma, unsigned long start,
			unsigned long end, struct cohmem_migrate *m);

/* evict.c */
void cohmem_evict(struct cohmem_dev *cd, unsigned long first,
		  unsigned long count, u64 *evicted, u64 *busy);
u64 cohmem_make_room(struct cohmem_dev *cd, unsigned long need,
		     unsigned long mine);

/* pin.c */
int cohmem_pin(struct cohmem_file *cf, struct cohmem_pin *p);
int cohmem_unpin(struct cohmem_file *cf, u32 handle);
void cohmem_unpin_all(struct cohmem_file *cf);

/* snapshot.c */
int cohmem_snapshot(struct cohmem_dev *cd, struct cohmem_snapshot *s);

/* sysfs.c */
extern const struct attribute_group *cohmem_attr_groups[];

/*
 * mirror.c: the device's page table of one process (per open file of
 * /dev/hmm_dmirrorN): index = virtual page number, entry = the struct page
 * tagged with COHMEM_MIRROR_WRITE (the device may write it) or
 * COHMEM_MIRROR_ATOMIC (the device holds it exclusively).
 */
struct cohmem_mirror {
	struct mmu_interval_notifier notifier;
	struct cohmem_dev *cd;	/* the device: whose private pages it may see */
	struct mutex lock;	/* pt, against the invalidation callback */
	struct xarray pt;
};

/* how: for cohmem_mirror_fault() and cohmem_mirror_access() */
#define COHMEM_MIRROR_WRITE	1U	/* also the write tag of an entry */
#define COHMEM_MIRROR_ATOMIC	2U	/* an entry's tag only */
#define COHMEM_MIRROR_NOFAULT	4U
#define COHMEM_MIRROR_UNLOCKED	8U	/* faults may drop the mmap_lock */
#define COHMEM_MIRROR_OWN	16U	/* only this device's pages count */

int cohmem_mirror_init(struct cohmem_mirror *mi, struct cohmem_dev *cd,
		       struct mm_struct *mm);
void cohmem_mirror_fini(struct cohmem_mirror *mi);
int cohmem_mirror_fault(struct cohmem_mirror *mi, unsigned long start,
			unsigned long end, unsigned int how);
int cohmem_mirror_access(struct cohmem_mirror *mi, unsigned long addr,
			 unsigned long npages, void __user *ubuf,
			 unsigned int how, u64 *done, u64 *faults);

/* dmirror.c: /dev/hmm_dmirrorN (upstream_abi=1) */
int cohmem_dmirror_register(struct cohmem_dev *cd);
void cohmem_dmirror_unregister(struct cohmem_dev *cd);

/* guptest.c: debugfs gup_test (upstream_abi=1) */
int cohmem_gup_test_init(void);
void cohmem_gup_test_exit(void);

/* chardev.c */
int cohmem_check_range(u64 addr, u64 len);
int cohmem_chardev_register(struct cohmem_dev *cd);
void cohmem_chardev_unregister(struct cohmem_dev *cd);

#endif /* COHMEM_H */
