// SPDX-License-Identifier: GPL-2.0
/*
 * Region acquisition: a physical range of DRAM that is not System RAM, either
 * reserved at boot with memmap=SIZE$ADDR, or hot-removed from System RAM at
 * load time and given back, online, at unload.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/ioport.h>
#include <linux/memory.h>
#include <linux/memory_hotplug.h>
#include <linux/mm.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>
#include <linux/workqueue.h>

#include "cohmem.h"

/* memremap_pages() maps device memory in units of a memory subsection. */
#define COHMEM_ALIGN	(PAGES_PER_SUBSECTION << PAGE_SHIFT)

static int cohmem_request(struct cohmem_region *r)
{
	r->res = request_mem_region(r->start, r->size, KBUILD_MODNAME);
	return r->res ? 0 : -EBUSY;
}

struct cohmem_span {
	u64 lo, hi;	/* inclusive */
};

static int cohmem_span_add(struct resource *res, void *arg)
{
	struct cohmem_span *span = arg;

	span->lo = min_t(u64, span->lo, res->start);
	span->hi = max_t(u64, span->hi, res->end);
	return 0;
}

/* Whether System RAM lies both below @start and above @end. */
static bool cohmem_within_ram(u64 start, u64 end)
{
	struct cohmem_span span = { .lo = U64_MAX, .hi = 0 };

	walk_iomem_res_desc(IORES_DESC_NONE,
			    IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY, 0, U64_MAX,
			    &span, cohmem_span_add);
	return span.lo < start && end < span.hi;
}

int cohmem_region_claim(struct cohmem_region *r, u64 start, u64 size)
{
	u64 end = start + size - 1;
	int fw;

	if (!size || !IS_ALIGNED(start | size, COHMEM_ALIGN) || end < start) {
		pr_err("reserved range %#llx+%#llx: must be non-empty and %lu KiB aligned\n",
		       start, size, COHMEM_ALIGN >> 10);
		return -EINVAL;
	}
	if (region_intersects(start, size, IORESOURCE_SYSTEM_RAM,
			      IORES_DESC_NONE) != REGION_DISJOINT) {
		pr_err("reserved range [%#llx-%#llx] is System RAM: boot with memmap=%lluM$%#llx to reserve it\n",
		       start, end, size >> 20, start);
		return -EBUSY;
	}
	/*
	 * memmap=SIZE$ADDR turns the range into an E820 "Reserved" entry.
	 * Anything else (a hole, MMIO, a range beyond DRAM) is not memory we
	 * may hand to the CPU as RAM.
	 */
	if (region_intersects(start, size, IORESOURCE_MEM,
			      IORES_DESC_RESERVED) != REGION_INTERSECTS) {
		pr_err("reserved range [%#llx-%#llx] is not wholly inside a Reserved (memmap=) range\n",
		       start, end);
		return -EINVAL;
	}
	/*
	 * memmap=SIZE$ADDR reserves RAM; firmware also reports ranges that
	 * are no RAM at all (ROM, MMIO, holes) as Reserved. Tell them apart
	 * by the firmware's own map where the kernel exports it, or else at
	 * least refuse what lies beyond System RAM's span.
	 */
	fw = cohmem_firmware_ram(start, start + size);
	if ((!fw || (fw < 0 && !cohmem_within_ram(start, end))) &&
	    !COHMEM_MUTANT(reserved_takes_firmware_ranges)) {
		pr_err("reserved range [%#llx-%#llx] is %s: not memory memmap= reserved\n",
		       start, end, fw ? "outside the span of System RAM" :
					"not RAM in the firmware's memory map");
		return -EINVAL;
	}
	r->start = start;
	r->size = size;
	r->source = COHMEM_SOURCE_RESERVED;
	r->nid = NUMA_NO_NODE;
	if (cohmem_request(r)) {
		pr_err("reserved range [%#llx-%#llx] is already claimed (see /proc/iomem)\n",
		       start, end);
		return -EBUSY;
	}
	return 0;
}

/*
 * Top-level System RAM ranges, to pick memory blocks from. Removing a block
 * from the middle or the end of a range shrinks the range's resource, which
 * the kernel cannot do (it WARNs and leaves the resource tree wrong) while a
 * resource nested in the range (the kernel image, a crash kernel...) lies
 * above the block: cohmem_ram_nested() tells.
 */
struct cohmem_ram {
	unsigned int nr, max;
	struct cohmem_ram_range {
		u64 start, end;		/* inclusive */
	} *range;
};

static int cohmem_ram_add(struct resource *res, void *arg)
{
	struct cohmem_ram *ram = arg;

	/* Only top-level ranges: not driver-managed RAM nested elsewhere. */
	if (res->parent != &iomem_resource)
		return 0;
	if (ram->range && ram->nr < ram->max) {
		ram->range[ram->nr].start = res->start;
		ram->range[ram->nr].end = res->end;
	}
	ram->nr++;
	return 0;
}

/* Every top-level System RAM range, or NULL ranges if there is no memory. */
static void cohmem_ram_get(struct cohmem_ram *ram)
{
	ram->nr = 0;
	ram->range = NULL;
	walk_iomem_res_desc(IORES_DESC_NONE, IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY,
			    0, U64_MAX, ram, cohmem_ram_add);
	ram->max = ram->nr;
	ram->range = kvcalloc(ram->max, sizeof(*ram->range), GFP_KERNEL);
	ram->nr = 0;
	if (ram->range)
		walk_iomem_res_desc(IORES_DESC_NONE,
				    IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY, 0,
				    U64_MAX, ram, cohmem_ram_add);
	/* Ranges may come and go between the walks: keep what fits. */
	ram->nr = min(ram->nr, ram->max);
}

/*
 * Whether a resource is nested inside System RAM anywhere in [start, end]:
 * insert a resource over the range (the kernel puts it inside the System
 * RAM range and under whatever it covers, all under its resource lock),
 * see what it holds and where it went, and take it out again (which gives
 * the nested resources back to their parent).
 */
static bool cohmem_ram_nested(u64 start, u64 end)
{
	struct resource probe = DEFINE_RES_MEM_NAMED(start, end - start + 1,
						     "cohmem probe");
	bool nested;

	/* Refused: it would cut a resource in two. */
	if (insert_resource(&iomem_resource, &probe))
		return true;
	nested = READ_ONCE(probe.child) || !probe.parent ||
		 probe.parent->parent != &iomem_resource;
	remove_resource(&probe);
	return nested;
}

static int cohmem_ram_cmp(const void *a, const void *b)
{
	const struct cohmem_ram_range *x = a, *y = b;

	return x->end == y->end ? 0 : x->end < y->end ? 1 : -1;
}

int cohmem_region_hotremove(struct cohmem_region *r, u64 size)
{
	u64 block = memory_block_size_bytes();
	struct cohmem_ram ram;
	unsigned int i, tries = 0;
	int ret = -ENOSPC;

	size = ALIGN(size, block);
	cohmem_ram_get(&ram);
	if (!ram.range)
		return -ENOMEM;
	/* Highest range first; within a range, from its top downward. */
	sort(ram.range, ram.nr, sizeof(*ram.range), cohmem_ram_cmp, NULL);
	for (i = 0; i < ram.nr; i++) {
		u64 lo = ALIGN(ram.range[i].start, block);
		u64 hi = ALIGN_DOWN(ram.range[i].end + 1, block);

		/* Blocks with holes (partly outside this range) are skipped. */
		for (; hi >= lo + size && tries < 64; hi -= block, tries++) {
			int nid = page_to_nid(pfn_to_page(PHYS_PFN(hi - size)));

			/* Below a nested resource: so is every lower block. */
			if (cohmem_ram_nested(hi - size, ram.range[i].end))
				break;
			ret = offline_and_remove_memory(hi - size, size);
			if (ret)
				continue;
			r->start = hi - size;
			r->size = size;
			r->source = COHMEM_SOURCE_HOTREMOVE;
			r->nid = nid;
			ret = cohmem_request(r);
			if (ret) {
				pr_err("hot-removed [%#llx-%#llx] was claimed by someone else\n",
				       r->start, r->start + size - 1);
				r->res = NULL;
				cohmem_region_release(r);
			}
			goto out;
		}
	}
	pr_err("could not hot-remove %llu MiB of System RAM (last error %d); reserve memory at boot with memmap=SIZE$ADDR and load with reserved=SIZE@ADDR\n",
	       size >> 20, ret);
	ret = ret ?: -ENOSPC;
out:
	kvfree(ram.range);
	return ret;
}

/*
 * add_memory() onlines new memory only where the kernel is set to do so
 * (memhp_default_state=online, or its build configuration); otherwise the
 * blocks stay offline. No exported call onlines a memory block (neither
 * device_online() nor the memory bus is exported), so cohmem writes
 * "online" to each block's state file as an administrator would, from a
 * kernel worker: the initial namespace's /sys and the kernel's own
 * credentials, whoever unloads the module, and nothing read from the
 * caller's file system. A block that does not come online is retried.
 */
struct cohmem_online {
	struct work_struct work;
	u64 start, size;
	unsigned int failed;	/* blocks left offline */
	int err;		/* the last error */
};

static int cohmem_online_block(unsigned long id)
{
	char path[64], state[16] = "";
	struct file *f;
	loff_t pos = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/devices/system/memory/memory%lu/state", id);
	f = filp_open(path, O_RDWR, 0);
	if (IS_ERR(f))
		return PTR_ERR(f);
	n = kernel_read(f, state, sizeof(state) - 1, &pos);
	if (n > 0 && strncmp(state, "offline", 7) == 0) {
		pos = 0;
		n = kernel_write(f, "online", 6, &pos);
	}
	filp_close(f, NULL);
	return n < 0 ? n : 0;
}

#define COHMEM_ONLINE_TRIES	10

static void cohmem_online_fn(struct work_struct *work)
{
	struct cohmem_online *o = container_of(work, struct cohmem_online, work);
	u64 block = memory_block_size_bytes(), addr;
	unsigned int tries;

	for (addr = o->start; addr < o->start + o->size; addr += block) {
		for (tries = 0; tries < COHMEM_ONLINE_TRIES; tries++) {
			int ret;

			if (pfn_to_online_page(PHYS_PFN(addr)))
				break;
			ret = cohmem_online_block(addr / block);
			if (ret)
				o->err = ret;
			if (pfn_to_online_page(PHYS_PFN(addr)))
				break;
			msleep(20 << min(tries, 4U));
		}
		if (!pfn_to_online_page(PHYS_PFN(addr)))
			o->failed++;
	}
}

void cohmem_region_release(struct cohmem_region *r)
{
	struct cohmem_online o = { .start = r->start, .size = r->size };
	u64 block = memory_block_size_bytes();
	int ret;

	if (r->res)
		release_mem_region(r->start, r->size);
	r->res = NULL;
	if (r->source != COHMEM_SOURCE_HOTREMOVE)
		return;
	ret = add_memory(r->nid, r->start, r->size, MHP_NONE);
	if (ret) {
		pr_err("could not give [%#llx-%#llx] back to the kernel: %d\n",
		       r->start, r->start + r->size - 1, ret);
		return;
	}
	INIT_WORK_ONSTACK(&o.work, cohmem_online_fn);
	queue_work(cohmem_unbound_wq, &o.work);
	flush_work(&o.work);
	destroy_work_on_stack(&o.work);
	if (o.failed)
		pr_err("%u of %llu memory blocks of [%#llx-%#llx] stay offline (last error %d): echo online > /sys/devices/system/memory/memory%llu/state (and the next ones)\n",
		       o.failed, r->size / block, r->start, r->start + r->size - 1,
		       o.err, r->start / block);
}
