// SPDX-License-Identifier: GPL-2.0
/*
 * Pins held on behalf of userspace, in the mode it asks for. The mode is an
 * enum of our ABI; FOLL_* bits never come from userspace (their values
 * change between kernels).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "cohmem.h"
#include "trace.h"

/* At most this many pages in one pin (1 GiB of 4 KiB pages). */
#define COHMEM_PIN_MAX_PAGES	BIT(18)
/* Pages requested from GUP at a time. */
#define COHMEM_PIN_CHUNK	4096

struct cohmem_pinned {
	struct page **pages;
	unsigned long npages;
	u32 mode;
	bool write;
	struct mm_struct *mm;	/* charged for the pin, until it goes */
};

/*
 * Every pin is charged to the caller's RLIMIT_MEMLOCK, as io_uring and
 * RDMA charge theirs (CAP_IPC_LOCK is exempt): -ENOMEM past it. Not only
 * long-term ones: a short-term pin or a GET held here lasts until UNPIN or
 * close, as long as a long-term pin, and holds movable memory (and device
 * pages) in place as much.
 */
static int cohmem_charge(struct cohmem_pinned *pin, unsigned long n)
{
	int ret;

	if (COHMEM_MUTANT(memlock_not_charged) ||
	    (COHMEM_MUTANT(short_pins_not_charged) &&
	     pin->mode != COHMEM_PIN_LONGTERM &&
	     pin->mode != COHMEM_PIN_LONGTERM_FAST))
		return 0;
	ret = account_locked_vm(current->mm, n, true);
	if (ret) {
		pr_debug("pin of %lu pages is over RLIMIT_MEMLOCK\n", n);
		return ret;
	}
	pin->mm = current->mm;
	mmgrab(pin->mm);
	return 0;
}

static void cohmem_uncharge(struct cohmem_pinned *pin, unsigned long n)
{
	if (!pin->mm)
		return;
	account_locked_vm(pin->mm, n, false);
	mmdrop(pin->mm);
	pin->mm = NULL;
}

static void cohmem_release_pages(struct page **pages, unsigned long n,
				 u32 mode, bool write)
{
	unsigned long i;

	if (mode != COHMEM_PIN_GET_FAST) {
		unpin_user_pages_dirty_lock(pages, n, write);
		return;
	}
	for (i = 0; i < n; i++) {
		if (write)
			set_page_dirty_lock(pages[i]);
		put_page(pages[i]);
	}
}

static long cohmem_gup(unsigned long addr, unsigned long n, u32 mode,
		       unsigned int gup_flags, struct page **pages)
{
	long ret;

	switch (mode) {
	case COHMEM_PIN_LONGTERM:
		if (!COHMEM_MUTANT(longterm_pin_without_foll_longterm))
			gup_flags |= FOLL_LONGTERM;
		fallthrough;
	case COHMEM_PIN_SHORT:
		mmap_read_lock(current->mm);
		ret = cohmem_pin_user_pages(addr, n, gup_flags, pages);
		mmap_read_unlock(current->mm);
		return ret;
	case COHMEM_PIN_LONGTERM_FAST:
		if (!COHMEM_MUTANT(longterm_pin_without_foll_longterm))
			gup_flags |= FOLL_LONGTERM;
		fallthrough;
	case COHMEM_PIN_SHORT_FAST:
		return pin_user_pages_fast(addr, n, gup_flags, pages);
	case COHMEM_PIN_GET_FAST:
		return get_user_pages_fast(addr, n, gup_flags, pages);
	}
	return -EINVAL;
}

int cohmem_pin(struct cohmem_file *cf, struct cohmem_pin *p)
{
	unsigned long i, done, n = p->len >> PAGE_SHIFT;
	unsigned int gup_flags = 0;
	struct cohmem_pinned *pin;
	long ret = 0;
	u32 handle;

	if (p->mode < COHMEM_PIN_LONGTERM || p->mode > COHMEM_PIN_GET_FAST ||
	    p->flags & ~COHMEM_PIN_WRITE)
		return -EINVAL;
	if (n > COHMEM_PIN_MAX_PAGES) {
		pr_debug("pin of %lu pages refused (max %lu)\n", n,
			 COHMEM_PIN_MAX_PAGES);
		return -E2BIG;
	}
	if (p->flags & COHMEM_PIN_WRITE)
		gup_flags |= FOLL_WRITE;

	pin = kzalloc(sizeof(*pin), GFP_KERNEL);
	if (!pin)
		return -ENOMEM;
	pin->pages = kvmalloc_array(n, sizeof(*pin->pages), GFP_KERNEL);
	if (!pin->pages) {
		kfree(pin);
		return -ENOMEM;
	}
	pin->mode = p->mode;
	pin->write = p->flags & COHMEM_PIN_WRITE;
	ret = cohmem_charge(pin, n);
	if (ret) {
		kvfree(pin->pages);
		kfree(pin);
		return ret;
	}

	/* All or nothing: GUP may return fewer pages than asked for. */
	for (done = 0; done < n; done += ret) {
		ret = cohmem_gup(p->addr + (done << PAGE_SHIFT),
				 min_t(unsigned long, n - done, COHMEM_PIN_CHUNK),
				 p->mode, gup_flags, pin->pages + done);
		if (ret <= 0) {
			ret = ret ?: -EFAULT;
			goto undo;
		}
		if (fatal_signal_pending(current)) {
			done += ret;
			ret = -EINTR;
			goto undo;
		}
	}
	pin->npages = n;
	p->npinned = n;
	p->ndevice = 0;
	for (i = 0; i < n; i++)
		p->ndevice += cohmem_is_device_page(pin->pages[i]) ^
			      COHMEM_MUTANT(pin_misreports_ndevice);
	/* Once in the xarray, another thread may unpin it: hands off. */
	/* Cyclic: a stale UNPIN must not drop a pin that reused its handle. */
	ret = xa_alloc_cyclic(&cf->pins, &handle, pin, xa_limit_31b,
			      &cf->next_handle, GFP_KERNEL);
	if (ret < 0)
		goto undo;
	p->handle = handle;
	trace_cohmem_pin(cf->cd->id, true, p->mode, handle, n, p->ndevice);
	return 0;

undo:
	cohmem_release_pages(pin->pages, done, pin->mode, false);
	cohmem_uncharge(pin, n);
	kvfree(pin->pages);
	kfree(pin);
	return ret;
}

static void cohmem_pinned_free(struct cohmem_pinned *pin)
{
	cohmem_release_pages(pin->pages, pin->npages, pin->mode, pin->write);
	cohmem_uncharge(pin, pin->npages);
	kvfree(pin->pages);
	kfree(pin);
}

int cohmem_unpin(struct cohmem_file *cf, u32 handle)
{
	struct cohmem_pinned *pin = xa_erase(&cf->pins, handle);

	if (!pin)
		return -ENOENT;
	trace_cohmem_pin(cf->cd->id, false, pin->mode, handle, pin->npages, 0);
	cohmem_pinned_free(pin);
	return 0;
}

void cohmem_unpin_all(struct cohmem_file *cf)
{
	struct cohmem_pinned *pin;
	unsigned long handle;

	xa_for_each(&cf->pins, handle, pin) {
		xa_erase(&cf->pins, handle);
		cohmem_pinned_free(pin);
	}
	xa_destroy(&cf->pins);
}
