// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/debug/gup_test (upstream_abi=1) for kernels built without
 * CONFIG_GUP_TEST, which is all of Debian's: the kernel's mm selftests drive
 * get_user_pages() and pin_user_pages() through it. Its ABI (guptest.h) and
 * behaviour are those of the running kernel's own: the commands its version
 * has (compat.h), its FOLL_* values, a failing GUP call that ends a walk
 * with success and the size walked so far, EINVAL for an unknown command.
 * Where the kernel's own trusts its caller, this one does not:
 *
 * - gup_flags may hold FOLL_WRITE, and FOLL_LONGTERM with a pin (the kernel
 *   refuses a long-term FOLL_GET); any other bit is EINVAL. The kernel's
 *   own passes the bits on, and its internal ones WARN.
 * - A walk takes at most COHMEM_GUPT_CHUNK pages at a time and releases
 *   them before the next, so its memory is bounded whatever the range; the
 *   kernel's own holds the whole range at once. A fatal signal ends it
 *   (-EINTR).
 * - A pinned page the kernel does not report as pinned, or a device page
 *   it pinned long-term: -EIO, not a WARN.
 * - A session (PIN_LONGTERM_TEST_START) holds at most COHMEM_GUPT_MAX_PINNED
 *   pages (-E2BIG); STOP, closing the file and unloading the module unpin.
 * - The file is root's, mode 0600, and opening it needs CAP_SYS_ADMIN as
 *   well: a session's pins are charged to no RLIMIT_MEMLOCK, and a dump
 *   prints kernel addresses.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": gup_test: " fmt

#include <linux/capability.h>
#include <linux/dcache.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/ktime.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/mmdebug.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "cohmem.h"
#include "guptest.h"

/* Pages one GUP call of a walk or a session asks for, at most. */
#define COHMEM_GUPT_CHUNK	512UL
/* Pages one session may hold pinned (1 GiB of 4 KiB pages). */
#define COHMEM_GUPT_MAX_PINNED	BIT(18)

/* The pages of PIN_LONGTERM_TEST_START, pinned until STOP. */
struct cohmem_gupt_session {
	struct mutex lock;	/* the fields below; held across each command */
	struct page **pages;	/* NULL: no session */
	unsigned long npages;
};

/* How a command gets its pages. */
struct cohmem_gupt_how {
	bool pin;		/* FOLL_PIN, else a FOLL_GET reference */
	bool fast;		/* the _fast call, without the mmap_lock */
	bool longterm;		/* FOLL_LONGTERM */
	bool dump;		/* dump_page() the pages the caller names */
	unsigned int gup_flags;
};

static struct dentry *cohmem_gupt_file;

/* Before 7.3: one session for the whole system (compat.h). */
static struct cohmem_gupt_session cohmem_gupt_global = {
	.lock = __MUTEX_INITIALIZER(cohmem_gupt_global.lock),
};

static struct cohmem_gupt_session *cohmem_gupt_session_of(struct file *file)
{
	return COHMEM_GUP_TEST_SESSION_PER_FILE ? file->private_data :
						  &cohmem_gupt_global;
}

/*
 * FOLL_LONGTERM as handed to GUP. COHMEM_MUTANT(guptest_longterm_unchecked)
 * loses it on the way, as a flags filter that masks bits instead of
 * checking them would: long-term pins that leave device pages in place.
 */
static unsigned int cohmem_gupt_foll_longterm(void)
{
	return COHMEM_MUTANT(guptest_longterm_unchecked) ? 0 : FOLL_LONGTERM;
}

static long cohmem_gupt_get(const struct cohmem_gupt_how *how,
			    unsigned long addr, unsigned long n,
			    struct page **pages)
{
	long ret;

	if (how->fast)
		return how->pin ?
		       pin_user_pages_fast(addr, n, how->gup_flags, pages) :
		       get_user_pages_fast(addr, n, how->gup_flags, pages);
	if (mmap_read_lock_killable(current->mm))
		return -EINTR;
	ret = how->pin ?
	      cohmem_pin_user_pages(addr, n, how->gup_flags, pages) :
	      cohmem_get_user_pages(addr, n, how->gup_flags, pages);
	mmap_read_unlock(current->mm);
	return ret;
}

static void cohmem_gupt_put(const struct cohmem_gupt_how *how,
			    struct page **pages, unsigned long n)
{
	unsigned long i;

	if (how->pin) {
		unpin_user_pages(pages, n);
		return;
	}
	for (i = 0; i < n; i++)
		put_page(pages[i]);
}

/*
 * What the kernel promises of pages it pinned: that they look pinned and,
 * for a long-term pin, that none is device memory (the kernel migrates a
 * device-coherent page to system RAM first). The kernel's own gup_test asks
 * folio_is_longterm_pinnable(), which 7.x modules cannot call (it needs an
 * unexported function), and device memory is the part of it that is
 * cohmem's business. A broken promise is the kernel's bug, reported with
 * -EIO; @first numbers pages[0] in the range.
 */
static int cohmem_gupt_check(const struct cohmem_gupt_how *how,
			     struct page **pages, unsigned long n,
			     unsigned long first)
{
	const char *why;
	unsigned long i;

	for (i = 0; i < n; i++) {
		if (!folio_maybe_dma_pinned(page_folio(pages[i])))
			why = "is not pinned";
		else if (how->longterm && cohmem_is_device_page(pages[i]))
			why = "is device memory, pinned long-term";
		else
			continue;
		pr_err_ratelimited("page %lu of the range %s\n", first + i, why);
		return -EIO;
	}
	return 0;
}

/* DUMP_USER_PAGES_TEST: the named pages among pages[0..n), range page first. */
static void cohmem_gupt_dump(const struct cohmem_gupt_walk *w,
			     struct page **pages, unsigned long n,
			     unsigned long first)
{
	unsigned int i;
	unsigned long nr;

	for (i = 0; i < COHMEM_GUPT_NDUMP; i++) {
		nr = w->dump[i];
		if (nr <= first || nr > first + n)
			continue;
		pr_info("page %lu of the range at %#llx:\n", nr, w->addr);
		dump_page(pages[nr - 1 - first], "cohmem gup_test DUMP_USER_PAGES_TEST");
	}
}

/*
 * Which FOLL_* bits a caller may pass: FOLL_WRITE, and FOLL_LONGTERM with a
 * pin only. The values are those of the kernel built against, which is the
 * kernel running: what its selftests pass.
 */
static int cohmem_gupt_flags(const struct cohmem_gupt_walk *w,
			     struct cohmem_gupt_how *how)
{
	unsigned int allowed = FOLL_WRITE;

	if (w->test_flags & ~COHMEM_GUPT_DUMP_USE_PIN)
		return -EINVAL;
	if (how->dump && (w->test_flags & COHMEM_GUPT_DUMP_USE_PIN))
		how->pin = true;
	if (how->pin)
		allowed |= FOLL_LONGTERM;
	if (w->gup_flags & ~allowed)
		return -EINVAL;
	if (w->gup_flags & FOLL_LONGTERM)
		how->longterm = true;
	how->gup_flags = w->gup_flags & FOLL_WRITE;
	if (how->longterm)
		how->gup_flags |= cohmem_gupt_foll_longterm();
	return 0;
}

/*
 * Commands 1 to 6: walk [addr, addr + size) in calls of per_call pages (at
 * most COHMEM_GUPT_CHUNK), releasing each call's pages before the next. A
 * call that fails or returns fewer pages than asked ends the walk, which
 * still succeeds: size says how far it got.
 */
static int cohmem_gupt_walk(struct cohmem_gupt_walk *w,
			    struct cohmem_gupt_how *how)
{
	unsigned long addr, end, chunk, n, done = 0;
	struct page **pages = NULL;
	unsigned int i;
	ktime_t t;
	long got;
	u64 last;
	int ret;

	ret = cohmem_gupt_flags(w, how);
	if (ret)
		return ret;
	/* Both fit an unsigned long, and so does their sum. */
	if (check_add_overflow(w->addr, w->size, &last) ||
	    last != (unsigned long)last)
		return -EINVAL;
	addr = w->addr;
	end = last;
	chunk = min3((unsigned long)w->per_call, (end - addr) >> PAGE_SHIFT,
		     COHMEM_GUPT_CHUNK);
	if (chunk) {
		pages = kmalloc_array(chunk, sizeof(*pages), GFP_KERNEL);
		if (!pages)
			return -ENOMEM;
	}
	w->get_usec = 0;
	w->put_usec = 0;
	for (n = chunk; n; n = min(chunk, (end - addr) >> PAGE_SHIFT)) {
		t = ktime_get();
		got = cohmem_gupt_get(how, addr, n, pages);
		w->get_usec += ktime_us_delta(ktime_get(), t);
		if (got <= 0)
			break;
		if (how->pin)
			ret = cohmem_gupt_check(how, pages, got, done);
		if (how->dump)
			cohmem_gupt_dump(w, pages, got, done);
		t = ktime_get();
		cohmem_gupt_put(how, pages, got);
		w->put_usec += ktime_us_delta(ktime_get(), t);
		done += got;
		addr += (unsigned long)got << PAGE_SHIFT;
		if (ret || got < n || fatal_signal_pending(current))
			break;
	}
	kfree(pages);
	/* Also when GUP stopped for it (-EINTR) before this loop did. */
	if (!ret && fatal_signal_pending(current))
		ret = -EINTR;
	if (ret)
		return ret;
	w->size = (u64)done << PAGE_SHIFT;
	if (how->dump)
		for (i = 0; i < COHMEM_GUPT_NDUMP; i++)
			if (w->dump[i] > done)
				w->dump[i] = 0;
	return 0;
}

/* Under s->lock. */
static void cohmem_gupt_stop(struct cohmem_gupt_session *s)
{
	if (!s->pages)
		return;
	unpin_user_pages(s->pages, s->npages);
	kvfree(s->pages);
	s->pages = NULL;
	s->npages = 0;
}

/*
 * PIN_LONGTERM_TEST_START: pin the whole range long-term, or nothing. Under
 * s->lock.
 */
static int cohmem_gupt_start(struct cohmem_gupt_session *s,
			     const void __user *uarg)
{
	struct cohmem_gupt_how how = { .pin = true, .longterm = true };
	unsigned long npages, done, n;
	struct cohmem_gupt_start a;
	struct page **pages;
	long got = 0;
	u64 last;
	int ret = 0;

	if (s->pages)
		return -EINVAL;
	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.flags & ~(COHMEM_GUPT_START_WRITE | COHMEM_GUPT_START_FAST) ||
	    !IS_ALIGNED(a.addr | a.size, PAGE_SIZE) || !a.size ||
	    check_add_overflow(a.addr, a.size, &last) ||
	    last != (unsigned long)last)
		return -EINVAL;
	if (a.size >> PAGE_SHIFT > COHMEM_GUPT_MAX_PINNED)
		return -E2BIG;
	npages = a.size >> PAGE_SHIFT;
	how.fast = a.flags & COHMEM_GUPT_START_FAST;
	how.gup_flags = cohmem_gupt_foll_longterm();
	if (a.flags & COHMEM_GUPT_START_WRITE)
		how.gup_flags |= FOLL_WRITE;

	pages = kvmalloc_array(npages, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	for (done = 0; done < npages; done += got) {
		n = min(npages - done, COHMEM_GUPT_CHUNK);
		got = cohmem_gupt_get(&how, a.addr + (done << PAGE_SHIFT), n,
				      pages + done);
		if (got <= 0) {
			ret = got ?: -EFAULT;
			break;
		}
		if (fatal_signal_pending(current)) {
			done += got;
			ret = -EINTR;
			break;
		}
	}
	if (ret) {
		unpin_user_pages(pages, done);
		kvfree(pages);
		return ret;
	}
	s->pages = pages;
	s->npages = npages;
	return 0;
}

/* PIN_LONGTERM_TEST_READ: copy the pinned pages to *uarg. Under s->lock. */
static int cohmem_gupt_read(struct cohmem_gupt_session *s,
			    const void __user *uarg)
{
	unsigned long i, left;
	void *from;
	u64 to;

	if (!s->pages)
		return -EINVAL;
	if (copy_from_user(&to, uarg, sizeof(to)))
		return -EFAULT;
	for (i = 0; i < s->npages; i++, to += PAGE_SIZE) {
		from = kmap_local_page(s->pages[i]);
		left = copy_to_user(u64_to_user_ptr(to), from, PAGE_SIZE);
		kunmap_local(from);
		if (left)
			return -EFAULT;
		if (fatal_signal_pending(current))
			return -EINTR;
	}
	return 0;
}

static long cohmem_gupt_session_ioctl(struct cohmem_gupt_session *s,
				      unsigned int cmd, void __user *uarg)
{
	long ret;

	if (mutex_lock_killable(&s->lock))
		return -EINTR;
	switch (cmd) {
	case COHMEM_GUPT_START:
		ret = cohmem_gupt_start(s, uarg);
		break;
	case COHMEM_GUPT_STOP:
		cohmem_gupt_stop(s);
		ret = 0;
		break;
	default:
		ret = cohmem_gupt_read(s, uarg);
		break;
	}
	mutex_unlock(&s->lock);
	return ret;
}

static long cohmem_gupt_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	struct cohmem_gupt_how how = {};
	void __user *uarg = (void __user *)arg;
	struct cohmem_gupt_walk w;
	int ret;

	switch (cmd) {
	case COHMEM_GUPT_GET_FAST:
		how.fast = true;
		break;
	case COHMEM_GUPT_PIN_FAST:
		how.pin = true;
		how.fast = true;
		break;
	case COHMEM_GUPT_PIN_LONGTERM:
		how.pin = true;
		how.longterm = true;
		break;
	case COHMEM_GUPT_GET:
		break;
	case COHMEM_GUPT_PIN:
		how.pin = true;
		break;
	case COHMEM_GUPT_DUMP:
		how.dump = true;
		break;
	case COHMEM_GUPT_START:
	case COHMEM_GUPT_STOP:
	case COHMEM_GUPT_READ:
		if (!COHMEM_GUP_TEST_HAVE_SESSION)
			return -EINVAL;
		return cohmem_gupt_session_ioctl(cohmem_gupt_session_of(file),
						 cmd, uarg);
	default:
		return -EINVAL;
	}
	if (copy_from_user(&w, uarg, sizeof(w)))
		return -EFAULT;
	ret = cohmem_gupt_walk(&w, &how);
	if (ret)
		return ret;
	if (copy_to_user(uarg, &w, sizeof(w)))
		return -EFAULT;
	return 0;
}

static int cohmem_gupt_open(struct inode *inode, struct file *file)
{
	struct cohmem_gupt_session *s;
	int ret;

	if (!cohmem_admin())
		return -EPERM;
	ret = nonseekable_open(inode, file);
	if (ret)
		return ret;
	if (COHMEM_GUP_TEST_SESSION_PER_FILE) {
		s = kzalloc(sizeof(*s), GFP_KERNEL);
		if (!s)
			return -ENOMEM;
		mutex_init(&s->lock);
		file->private_data = s;
	}
	return 0;
}

/* Any close ends the session, the system's one before 7.3. */
static int cohmem_gupt_release(struct inode *inode, struct file *file)
{
	struct cohmem_gupt_session *s = cohmem_gupt_session_of(file);

	mutex_lock(&s->lock);
	cohmem_gupt_stop(s);
	mutex_unlock(&s->lock);
	if (COHMEM_GUP_TEST_SESSION_PER_FILE) {
		mutex_destroy(&s->lock);
		kfree(s);
	}
	return 0;
}

static const struct file_operations cohmem_gupt_fops = {
	.owner = THIS_MODULE,
	.open = cohmem_gupt_open,
	.release = cohmem_gupt_release,
	.unlocked_ioctl = cohmem_gupt_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

/*
 * Only where the kernel has no gup_test of its own. Failing costs this file
 * only: main.c loads the module anyway.
 */
int cohmem_gup_test_init(void)
{
	struct dentry *d;

	if (!debugfs_initialized()) {
		pr_info("no debugfs in this kernel (or debugfs=off): none made\n");
		return -ENODEV;
	}
	d = debugfs_lookup("gup_test", NULL);
	if (d) {
		dput(d);
		pr_info("the kernel has its own (CONFIG_GUP_TEST): cohmem makes none\n");
		return -EEXIST;
	}
	/*
	 * Not the removal-safe proxy: an open file holds the module, so
	 * nothing here goes away under it.
	 */
	d = debugfs_create_file_unsafe("gup_test", 0600, NULL, NULL,
				       &cohmem_gupt_fops);
	if (IS_ERR(d)) {
		pr_info("cannot create it in debugfs (%pe): none made\n", d);
		return PTR_ERR(d);
	}
	cohmem_gupt_file = d;
	return 0;
}

void cohmem_gup_test_exit(void)
{
	debugfs_remove(cohmem_gupt_file);
	cohmem_gupt_file = NULL;
	/* Every file is closed (each held the module), so this is a no-op. */
	mutex_lock(&cohmem_gupt_global.lock);
	cohmem_gupt_stop(&cohmem_gupt_global);
	mutex_unlock(&cohmem_gupt_global.lock);
}
