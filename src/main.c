// SPDX-License-Identifier: GPL-2.0
/*
 * cohmem: simulated cache-coherent device memory.
 *
 * Takes physical ranges of RAM away from the kernel, hotplugs them back as
 * MEMORY_DEVICE_COHERENT pages owned by a "device" per range (or, with
 * type=private, keeps them as the backing store of MEMORY_DEVICE_PRIVATE
 * pages), and exposes /dev/cohmemN to migrate a process's pages there and
 * back, pin them and watch where they live.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "cohmem.h"
#define CREATE_TRACE_POINTS
#include "trace.h"

static char *reserved;
module_param(reserved, charp, 0444);
MODULE_PARM_DESC(reserved,
		 "SIZE@ADDR[,SIZE@ADDR...]: use these boot-time reservations (memmap=SIZE$ADDR), one device each, instead of hot-removing System RAM");

static unsigned int devices = 1;
module_param(devices, uint, 0444);
MODULE_PARM_DESC(devices, "without reserved=: how many devices to create from hot-removed System RAM (default 1)");

static char *size = "128M";
module_param(size, charp, 0444);
MODULE_PARM_DESC(size, "without reserved=: bytes of System RAM to hot-remove per device, rounded up to the memory block size (default 128M)");

static char *type = "coherent";
module_param(type, charp, 0444);
MODULE_PARM_DESC(type,
		 "coherent (default): MEMORY_DEVICE_COHERENT pages the CPU maps directly; private: MEMORY_DEVICE_PRIVATE pages the CPU cannot map, faulted back to system RAM on access (kernels with CONFIG_DEVICE_PRIVATE); a comma-separated list gives each device its own, the last one for the devices after it");

/* The type of each device, from type= (the last one repeats). */
static u32 cohmem_types[COHMEM_MAX_DEVICES];

/*
 * upstream_abi=1: the device interfaces of the kernel's own test drivers,
 * so that its selftests run unmodified against cohmem: /dev/hmm_dmirrorN
 * for device N < 4 (lib/test_hmm's ABI, dmirror.c; test_hmm's devices 0
 * and 1 are device-private, 2 and 3 coherent: type=private,private,coherent
 * makes cohmem's so) and, unless the kernel has its own, debugfs gup_test
 * (mm/gup_test's ABI, guptest.c).
 */
bool cohmem_upstream_abi;
module_param_named(upstream_abi, cohmem_upstream_abi, bool, 0444);
MODULE_PARM_DESC(upstream_abi,
		 "Y: also /dev/hmm_dmirror0..3 (the ABI of the kernel's test_hmm, for devices 0 to 3 of whatever type= made them; hmm-tests wants type=private,private,coherent) and debugfs gup_test (unless the kernel has its own), for the kernel's hmm-tests and gup_longterm (default N)");

bool cohmem_evict_on_full = true;
module_param_named(evict_on_full, cohmem_evict_on_full, bool, 0644);
MODULE_PARM_DESC(evict_on_full,
		 "when a migration finds the device full, evict its least recently migrated unpinned pages to system RAM to make room (default Y); N: move what fits");

bool cohmem_phase_stats;
module_param_named(phase_stats, cohmem_phase_stats, bool, 0644);
MODULE_PARM_DESC(phase_stats,
		 "writable: time each phase of every migration pass (setup, allocation, copy, pages, finalize) into the devices' phase_ns attribute (default N: not a clock read more)");

static struct cohmem_dev *cohmem_devs[COHMEM_MAX_DEVICES];
static unsigned int cohmem_ndevs;
static bool cohmem_ready;	/* the devices are made and stay until exit */

/*
 * The devices in turn (NULL past the last). Devices exist from before the
 * first /dev/cohmemN opens until the module goes, so any ioctl may walk them.
 */
struct cohmem_dev *cohmem_dev_at(unsigned int i)
{
	return i < cohmem_ndevs ? cohmem_devs[i] : NULL;
}

/*
 * drain: writing anything evicts every device's pages to system RAM, as
 * EVICT_ALL would, so that rmmod can go ahead (while any device page is in
 * use, the module cannot be removed: see pagemap.c). One log line says
 * what is left and why. `modprobe -r` does it first (debian/cohmem.conf).
 */
static int cohmem_drain_set(const char *val, const struct kernel_param *kp)
{
	unsigned int i;
	struct cohmem_dev *cd;

	/*
	 * Not while the module is going: its devices are being destroyed.
	 * (The module's text stays until sysfs writes in progress are done.)
	 */
	if (!try_module_get(THIS_MODULE))
		return -EBUSY;
	/* Nor while the devices are still being made. */
	if (!smp_load_acquire(&cohmem_ready)) {
		module_put(THIS_MODULE);
		return -EAGAIN;
	}
	for (i = 0; (cd = cohmem_dev_at(i)); i++) {
		u64 evicted = 0, busy = 0, t0 = ktime_get_ns();

		cohmem_evict(cd, 0, cd->npages, &evicted, &busy);
		trace_cohmem_evict(cd->id, COHMEM_EVICT_DRAIN, 0, cd->npages,
				   evicted, busy, ktime_get_ns() - t0);
		if (cohmem_free_pages(cd) != cd->npages && !COHMEM_MUTANT(drain_silent))
			pr_info("%s: drain: %llu pages evicted, %lu still in use (pinned, or held outside cohmem: a pipe, another driver, an exited process's leftovers)\n",
				cd->name, evicted, cd->npages - cohmem_free_pages(cd));
		else if (evicted)
			pr_info("%s: drain: %llu pages evicted\n", cd->name, evicted);
	}
	module_put(THIS_MODULE);
	return 0;
}

static const struct kernel_param_ops cohmem_drain_ops = {
	.set = cohmem_drain_set,
};

module_param_cb(drain, &cohmem_drain_ops, NULL, 0200);
MODULE_PARM_DESC(drain,
		 "write 1: evict every device page to system RAM, before rmmod (refused while any page is in use)");

static void cohmem_dev_destroy(struct cohmem_dev *cd)
{
	cohmem_dmirror_unregister(cd);
	if (cd->misc.fops)
		cohmem_chardev_unregister(cd);
	/* Every page is free: the module is not removed while any is in use. */
	WARN_ON_ONCE(cohmem_free_pages(cd) != cd->npages);
	cohmem_pagemap_fini(cd);
	cohmem_region_release(&cd->region);
	pr_info("%s: removed, %lld pages evicted at unload or before\n",
		cd->name, (long long)atomic64_read(&cd->evicted));
	kfree(cd);
}

/*
 * A device over hot_size bytes of hot-removed RAM, or, when hot_size is 0,
 * over the reservation [start, start + len) (which cohmem_region_claim()
 * checks: reserved=0@ADDR is an error, not a request to hot-remove).
 */
static int cohmem_dev_create(u64 start, u64 len, u64 hot_size)
{
	struct cohmem_dev *cd;
	int ret;

	if (cohmem_ndevs == COHMEM_MAX_DEVICES) {
		pr_err("at most %d devices\n", COHMEM_MAX_DEVICES);
		return -EINVAL;
	}
	cd = kzalloc(sizeof(*cd), GFP_KERNEL);
	if (!cd)
		return -ENOMEM;
	cd->id = cohmem_ndevs;
	cd->type = cohmem_types[cohmem_ndevs];
	snprintf(cd->name, sizeof(cd->name), "cohmem%d", cd->id);

	if (hot_size || (COHMEM_MUTANT(empty_reservation_hotremoves) && !len))
		ret = cohmem_region_hotremove(&cd->region, hot_size ?: len);
	else
		ret = cohmem_region_claim(&cd->region, start, len);
	if (ret)
		goto out_free;
	ret = cohmem_pagemap_init(cd);
	if (ret)
		goto out_region;

	cohmem_devs[cohmem_ndevs++] = cd;
	pr_info("%s: %llu MiB of %s device memory at [%#llx-%#llx] (%s)\n",
		cd->name, cd->region.size >> 20,
		cd->type == COHMEM_TYPE_PRIVATE ? "private" : "coherent",
		cd->region.start, cd->region.start + cd->region.size - 1,
		cd->region.source == COHMEM_SOURCE_RESERVED ? "reserved at boot" :
							      "hot-removed System RAM");
	if (cd->type == COHMEM_TYPE_PRIVATE)
		pr_info("%s: its device-private pages at [%#llx-%#llx], backed by that memory\n",
			cd->name, cd->pgmap.range.start, cd->pgmap.range.end);
	return 0;

out_region:
	cohmem_region_release(&cd->region);
out_free:
	kfree(cd);
	return ret;
}

/* reserved=SIZE@ADDR[,SIZE@ADDR...], sizes and addresses as memparse() reads */
static int cohmem_create_reserved(void)
{
	char *list, *cur, *item;
	int ret = 0;

	list = kstrdup(reserved, GFP_KERNEL);
	if (!list)
		return -ENOMEM;
	cur = list;
	while (!ret && (item = strsep(&cur, ",")) != NULL) {
		char *end;
		u64 len, start;

		len = memparse(item, &end);
		if (*end != '@') {
			pr_err("reserved=%s: expected SIZE@ADDR\n", item);
			ret = -EINVAL;
			break;
		}
		start = memparse(end + 1, &end);
		if (*end) {
			pr_err("reserved=%s: expected SIZE@ADDR\n", item);
			ret = -EINVAL;
			break;
		}
		ret = cohmem_dev_create(start, len, 0);
	}
	kfree(list);
	return ret;
}

/* type=T[,T...] into cohmem_types[]: coherent or private, per device. */
static int cohmem_parse_types(void)
{
	const char *cur = type;
	unsigned int i = 0, n;
	u32 t = COHMEM_TYPE_COHERENT;

	while (i < COHMEM_MAX_DEVICES) {
		n = strcspn(cur, ",");
		if (n == 8 && !strncmp(cur, "coherent", n)) {
			t = COHMEM_TYPE_COHERENT;
		} else if (n == 7 && !strncmp(cur, "private", n)) {
			if (!COHMEM_HAVE_DEVICE_PRIVATE) {
				pr_err("type=%s: this kernel is built without CONFIG_DEVICE_PRIVATE\n",
				       type);
				return -EOPNOTSUPP;
			}
			t = COHMEM_TYPE_PRIVATE;
		} else if (!(n == 0 && !*cur && i)) {
			pr_err("type=%s: expected coherent or private, or a list of them\n",
			       type);
			return -EINVAL;
		}
		cohmem_types[i++] = t;
		cur += n;
		if (*cur == ',')
			cur++;
	}
	if (*cur) {
		pr_err("type=%s: more types than the %d devices cohmem can make\n",
		       type, COHMEM_MAX_DEVICES);
		return -EINVAL;
	}
	return 0;
}

static void cohmem_destroy_all(void)
{
	while (cohmem_ndevs)
		cohmem_dev_destroy(cohmem_devs[--cohmem_ndevs]);
}

static int __init cohmem_init(void)
{
	unsigned int i;
	char *end;
	u64 hot_size;
	int ret = 0;

	ret = cohmem_parse_types();
	if (ret)
		return ret;
	ret = cohmem_owners_init();
	if (ret)
		return ret;
	if (reserved && *reserved) {
		ret = cohmem_create_reserved();
	} else {
		hot_size = memparse(size, &end);
		if (*end || !hot_size || !devices || devices > COHMEM_MAX_DEVICES) {
			pr_err("size=%s devices=%u: need a size and 1 to %d devices\n",
			       size, devices, COHMEM_MAX_DEVICES);
			ret = -EINVAL;
		/* Also keeps the rounding to memory blocks from wrapping. */
		} else if (hot_size > (u64)totalram_pages() << PAGE_SHIFT &&
			   !COHMEM_MUTANT(hot_size_unbounded)) {
			pr_err("size=%s: more than this machine's memory\n", size);
			ret = -EINVAL;
		}
		for (i = 0; i < devices && !ret; i++)
			ret = cohmem_dev_create(0, 0, hot_size);
	}
	/*
	 * /dev/cohmemN appears only once every device exists, and a node can
	 * be opened as soon as it appears (a module being initialised is live
	 * for try_module_get()): once one is registered the load must not fail,
	 * or it would free a device somebody holds open, and the module's code
	 * with it. A later node that cannot be registered costs its device
	 * only, which nobody can have opened.
	 */
	for (i = 0; !ret && i < cohmem_ndevs; i++) {
		ret = cohmem_chardev_register(cohmem_devs[i]);
		if (ret && i) {
			pr_err("%s: cannot register its node (%d): %u of %u devices kept\n",
			       cohmem_devs[i]->name, ret, i, cohmem_ndevs);
			while (cohmem_ndevs > i)
				cohmem_dev_destroy(cohmem_devs[--cohmem_ndevs]);
			ret = 0;
			break;
		}
	}
	if (ret) {
		cohmem_destroy_all();
		cohmem_owners_exit();
		return ret;
	}
	/*
	 * The upstream interfaces come last and cost only themselves when
	 * they cannot be made (each says why): the devices are live already.
	 */
	if (cohmem_upstream_abi) {
		for (i = 0; i < cohmem_ndevs; i++)
			cohmem_dmirror_register(cohmem_devs[i]);
		cohmem_gup_test_init();
	}
	/* Pairs with the drain's load: it sees every device made here. */
	smp_store_release(&cohmem_ready, true);
	return 0;
}

static void __exit cohmem_exit(void)
{
	if (cohmem_upstream_abi)
		cohmem_gup_test_exit();
	cohmem_destroy_all();
	cohmem_owners_exit();
}

module_init(cohmem_init);
module_exit(cohmem_exit);

MODULE_DESCRIPTION("Simulated device memory (MEMORY_DEVICE_COHERENT, MEMORY_DEVICE_PRIVATE)");
MODULE_AUTHOR("cohmem developers");
MODULE_LICENSE("GPL");
MODULE_VERSION("0.1.0");
