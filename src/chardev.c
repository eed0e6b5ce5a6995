// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/cohmemN: the ioctl ABI of include/uapi/linux/cohmem.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "cohmem.h"
#include "trace.h"

static bool cohmem_zero(const void *p, size_t size)
{
	return !memchr_inv(p, 0, size);
}

/* A page-aligned, non-empty, non-wrapping range of user addresses. */
int cohmem_check_range(u64 addr, u64 len)
{
	if (!len || !PAGE_ALIGNED(addr) || !PAGE_ALIGNED(len) ||
	    addr + len < addr)
		return -EINVAL;
	if (!access_ok(u64_to_user_ptr(addr), len))
		return -EFAULT;
	return 0;
}

static void cohmem_fill_info(struct cohmem_dev *cd, struct cohmem_info *info)
{
	unsigned long nfree = cohmem_free_pages(cd);

	memset(info, 0, sizeof(*info));
	info->abi_version = COHMEM_ABI_VERSION;
	info->id = cd->id;
	info->source = cd->region.source;
	info->page_size = PAGE_SIZE;
	/* As /proc/iomem: physical addresses for CAP_SYS_ADMIN only. */
	info->base = cohmem_admin() || COHMEM_MUTANT(info_base_for_anyone) ?
		     cd->region.start : 0;
	info->size = cd->region.size;
	info->total_pages = cd->npages;
	info->free_pages = nfree;
	info->used_pages = cd->npages - nfree;
	info->migrated_to_dev = atomic64_read(&cd->migrated_to_dev);
	info->migrated_to_sys = atomic64_read(&cd->migrated_to_sys);
	info->evicted = atomic64_read(&cd->evicted);
	info->freed = atomic64_read(&cd->freed);
	info->type = cd->type;
	if (COHMEM_HAVE_DEVICE_PRIVATE)
		info->features |= COHMEM_FEATURE_PRIVATE;
	if (cohmem_huge_ok(cd))
		info->features |= COHMEM_FEATURE_HUGE;
	info->proc_limit_pages = cohmem_proc_limit_pages();
}

static int cohmem_ioc_migrate(struct cohmem_dev *cd, struct cohmem_migrate *m,
			      bool to_dev)
{
	u64 t0;
	int ret;

	if (m->flags & ~COHMEM_MIGRATE_HUGE || m->pad || m->reserved)
		return -EINVAL;
	if (m->flags & COHMEM_MIGRATE_HUGE) {
		if (!to_dev)
			return -EINVAL;
		if (!cohmem_huge_ok(cd)) {
			pr_info_ratelimited("%s: MIGRATE_HUGE needs a type=private device on a kernel with THP device migration\n",
					    cd->name);
			return -EOPNOTSUPP;
		}
	}
	ret = cohmem_check_range(m->addr, m->len);
	if (ret)
		return ret;
	m->moved = 0;
	m->skipped_busy = 0;
	m->skipped_nomem = 0;
	m->skipped_other = 0;
	m->evicted = 0;
	m->skipped_limit = 0;
	m->huge = 0;
	t0 = trace_cohmem_migrate_enabled() ? ktime_get_ns() : 0;
	ret = cohmem_migrate(cd, m, to_dev);
	trace_cohmem_migrate(cd->id, to_dev, m->addr, m->len, m->moved,
			     m->skipped_busy + m->skipped_nomem +
			     m->skipped_other + m->skipped_limit,
			     m->evicted, t0 ? ktime_get_ns() - t0 : 0);
	return ret;
}

static int cohmem_ioc_pin(struct cohmem_file *cf, struct cohmem_pin *p)
{
	int ret;

	if (p->pad || p->handle || !cohmem_zero(p->reserved, sizeof(p->reserved)))
		return -EINVAL;
	ret = cohmem_check_range(p->addr, p->len);
	if (ret)
		return ret;
	return cohmem_pin(cf, p);
}

static int cohmem_ioc_snapshot(struct cohmem_dev *cd, struct cohmem_snapshot *s)
{
	int ret;

	if (s->flags || s->pad || !cohmem_zero(s->reserved, sizeof(s->reserved)))
		return -EINVAL;
	ret = cohmem_check_range(s->addr, s->len);
	if (ret)
		return ret;
	return cohmem_snapshot(cd, s);
}

static int cohmem_ioc_evict(struct cohmem_dev *cd, struct cohmem_evict *e)
{
	u64 size = (u64)cd->npages << PAGE_SHIFT, t0;

	if (e->flags & ~COHMEM_EVICT_ALL || e->pad ||
	    !cohmem_zero(e->reserved, sizeof(e->reserved)))
		return -EINVAL;
	/* Any user's pages: CAP_SYS_ADMIN only (cohmem_admin()). */
	if (!cohmem_admin() && !COHMEM_MUTANT(evict_needs_no_cap))
		return -EPERM;
	if (e->flags & COHMEM_EVICT_ALL) {
		if (e->offset || e->len)
			return -EINVAL;
		e->len = size;
	} else if (!e->len || !PAGE_ALIGNED(e->offset) || !PAGE_ALIGNED(e->len) ||
		   e->offset >= size || e->len > size - e->offset) {
		return -EINVAL;
	}
	e->evicted = 0;
	e->busy = 0;
	t0 = trace_cohmem_evict_enabled() ? ktime_get_ns() : 0;
	cohmem_evict(cd, e->offset >> PAGE_SHIFT, e->len >> PAGE_SHIFT,
		     &e->evicted, &e->busy);
	trace_cohmem_evict(cd->id, COHMEM_EVICT_IOCTL, e->offset >> PAGE_SHIFT,
			   e->len >> PAGE_SHIFT, e->evicted, e->busy,
			   t0 ? ktime_get_ns() - t0 : 0);
	if (e->flags & COHMEM_EVICT_ALL)
		e->len = 0;
	return 0;
}

/*
 * The device reads or writes the caller's memory through the file's
 * mirror, made for the first caller's address space.
 */
static int cohmem_ioc_access(struct cohmem_file *cf, struct cohmem_access *a,
			     bool write)
{
	struct cohmem_mirror *mi;
	int ret;

	if (a->flags || a->pad || !cohmem_zero(a->reserved, sizeof(a->reserved)))
		return -EINVAL;
	ret = cohmem_check_range(a->addr, a->len);
	if (ret)
		return ret;
	if (!access_ok(u64_to_user_ptr(a->buf), a->len))
		return -EFAULT;
	mutex_lock(&cf->mirror_lock);
	mi = cf->mirror;
	if (!mi) {
		mi = kzalloc(sizeof(*mi), GFP_KERNEL);
		ret = mi ? cohmem_mirror_init(mi, cf->cd, current->mm) : -ENOMEM;
		if (ret) {
			kfree(mi);
			mutex_unlock(&cf->mirror_lock);
			return ret;
		}
		cf->mirror = mi;
	}
	mutex_unlock(&cf->mirror_lock);
	if (mi->notifier.mm != current->mm) {
		/* Once per file: a forked child may try it in a loop. */
		if (!test_and_set_bit(0, &cf->mirror_warned))
			pr_info("%s: DEVICE_READ/WRITE: this file mirrors the process that used it first, not this one\n",
				cf->cd->name);
		return -EINVAL;
	}
	a->done = 0;
	a->faults = 0;
	ret = cohmem_mirror_access(mi, a->addr, a->len >> PAGE_SHIFT,
				   u64_to_user_ptr(a->buf),
				   write ? COHMEM_MIRROR_WRITE : 0, &a->done,
				   &a->faults);
	a->done <<= PAGE_SHIFT;
	return ret;
}

static long cohmem_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct cohmem_file *cf = file->private_data;
	struct cohmem_dev *cd = cf->cd;
	void __user *uarg = (void __user *)arg;
	union {
		struct cohmem_info info;
		struct cohmem_migrate migrate;
		struct cohmem_pin pin;
		struct cohmem_unpin unpin;
		struct cohmem_snapshot snapshot;
		struct cohmem_evict evict;
		struct cohmem_access access;
	} u;
	size_t size = _IOC_SIZE(cmd);
	int ret;

	switch (cmd) {
	case COHMEM_IOC_INFO:
	case COHMEM_IOC_MIGRATE_TO_DEV:
	case COHMEM_IOC_MIGRATE_TO_SYS:
	case COHMEM_IOC_PIN:
	case COHMEM_IOC_UNPIN:
	case COHMEM_IOC_SNAPSHOT:
	case COHMEM_IOC_EVICT:
	case COHMEM_IOC_DEVICE_READ:
	case COHMEM_IOC_DEVICE_WRITE:
		break;
	default:
		return -ENOTTY;
	}
	if ((_IOC_DIR(cmd) & _IOC_WRITE) && copy_from_user(&u, uarg, size))
		return -EFAULT;

	switch (cmd) {
	case COHMEM_IOC_INFO:
		cohmem_fill_info(cd, &u.info);
		ret = 0;
		break;
	case COHMEM_IOC_MIGRATE_TO_DEV:
		ret = cohmem_ioc_migrate(cd, &u.migrate, true);
		break;
	case COHMEM_IOC_MIGRATE_TO_SYS:
		ret = cohmem_ioc_migrate(cd, &u.migrate, false);
		break;
	case COHMEM_IOC_PIN:
		ret = cohmem_ioc_pin(cf, &u.pin);
		break;
	case COHMEM_IOC_UNPIN:
		ret = u.unpin.flags ? -EINVAL : cohmem_unpin(cf, u.unpin.handle);
		break;
	case COHMEM_IOC_SNAPSHOT:
		ret = cohmem_ioc_snapshot(cd, &u.snapshot);
		break;
	case COHMEM_IOC_DEVICE_READ:
		ret = cohmem_ioc_access(cf, &u.access, false);
		break;
	case COHMEM_IOC_DEVICE_WRITE:
		ret = cohmem_ioc_access(cf, &u.access, true);
		break;
	default:
		ret = cohmem_ioc_evict(cd, &u.evict);
		break;
	}
	/*
	 * Migrations report what they did even when interrupted, device
	 * accesses how far they got.
	 */
	if ((ret == 0 || ret == -EINTR ||
	     (ret != -EINVAL && (cmd == COHMEM_IOC_DEVICE_READ ||
				 cmd == COHMEM_IOC_DEVICE_WRITE))) &&
	    (_IOC_DIR(cmd) & _IOC_READ) &&
	    copy_to_user(uarg, &u, size))
		return -EFAULT;
	return ret;
}

static int cohmem_open(struct inode *inode, struct file *file)
{
	struct miscdevice *misc = file->private_data;
	struct cohmem_file *cf;

	cf = kzalloc(sizeof(*cf), GFP_KERNEL);
	if (!cf)
		return -ENOMEM;
	cf->cd = container_of(misc, struct cohmem_dev, misc);
	xa_init_flags(&cf->pins, XA_FLAGS_ALLOC1);
	mutex_init(&cf->mirror_lock);
	file->private_data = cf;
	return 0;
}

static int cohmem_release(struct inode *inode, struct file *file)
{
	struct cohmem_file *cf = file->private_data;

	cohmem_unpin_all(cf);
	if (cf->mirror) {
		cohmem_mirror_fini(cf->mirror);
		kfree(cf->mirror);
	}
	kfree(cf);
	return 0;
}

static const struct file_operations cohmem_fops = {
	.owner = THIS_MODULE,
	.open = cohmem_open,
	.release = cohmem_release,
	.unlocked_ioctl = cohmem_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

int cohmem_chardev_register(struct cohmem_dev *cd)
{
	int ret;

	cd->misc.minor = MISC_DYNAMIC_MINOR;
	cd->misc.name = cd->name;
	cd->misc.fops = &cohmem_fops;
	cd->misc.mode = 0600;
	cd->misc.groups = cohmem_attr_groups;
	ret = misc_register(&cd->misc);
	if (ret)
		cd->misc.fops = NULL;	/* not registered: nothing to undo */
	return ret;
}

void cohmem_chardev_unregister(struct cohmem_dev *cd)
{
	misc_deregister(&cd->misc);
}
