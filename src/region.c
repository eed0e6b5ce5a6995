// SPDX-License-Identifier: GPL-2.0
/*
 * Region acquisition: a physical range of DRAM that is not System RAM, either
 * reserved at boot with memmap=SIZE$ADDR, or hot-removed from System RAM at
 * load time and given back, online, at unload.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/ioport.h>
#include <linux/memory.h>
#include <linux/memory_hotplug.h>
#include <linux/mm.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>

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
 * busy child resource (the kernel image, a crash kernel...) lies above the
 * block: remember the highest child of each range and stay above it.
 */
struct cohmem_ram {
	unsigned int nr;
	struct {
		u64 start, end;		/* inclusive */
		u64 child_end;		/* highest end of a nested resource */
	} range[32];
};

static int cohmem_ram_add(struct resource *res, void *arg)
{
	struct cohmem_ram *ram = arg;

	if (ram->nr < ARRAY_SIZE(ram->range)) {
		ram->range[ram->nr].start = res->start;
		ram->range[ram->nr].end = res->end;
		ram->range[ram->nr].child_end = 0;
		ram->nr++;
	}
	return 0;
}

/*
 * No exported call walks the children of a resource (walk_iomem_res_desc()
 * steps over them), so read them where an administrator would: the nested
 * entries of /proc/iomem. Returns false when that is not possible.
 */
static bool cohmem_ram_children(struct cohmem_ram *ram)
{
	const size_t size = SZ_64K;
	char *buf, *line, *cur;
	bool any = false;
	struct file *f;
	ssize_t n, len;
	loff_t pos = 0;

	buf = kvzalloc(size, GFP_KERNEL);
	if (!buf)
		return false;
	f = filp_open("/proc/iomem", O_RDONLY, 0);
	if (IS_ERR(f)) {
		kvfree(buf);
		return false;
	}
	for (n = 0; n < size - 1; n += len) {
		len = kernel_read(f, buf + n, size - 1 - n, &pos);
		if (len <= 0)
			break;
	}
	filp_close(f, NULL);
	cur = buf;
	while (n > 0 && (line = strsep(&cur, "\n")) != NULL) {
		unsigned long long start, end;
		unsigned int i;

		if (line[0] != ' ' ||
		    sscanf(skip_spaces(line), "%llx-%llx", &start, &end) != 2)
			continue;
		any |= end != 0;	/* all zero without CAP_SYS_ADMIN */
		for (i = 0; i < ram->nr; i++)
			if (start >= ram->range[i].start && end <= ram->range[i].end)
				ram->range[i].child_end = max_t(u64, ram->range[i].child_end, end);
	}
	kvfree(buf);
	return any;
}

int cohmem_region_hotremove(struct cohmem_region *r, u64 size)
{
	u64 block = memory_block_size_bytes();
	struct cohmem_ram *ram;
	unsigned int i, tries = 0;
	int ret = -ENOSPC;

	size = ALIGN(size, block);
	ram = kzalloc(sizeof(*ram), GFP_KERNEL);
	if (!ram)
		return -ENOMEM;
	walk_iomem_res_desc(IORES_DESC_NONE,
			    IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY, 0, U64_MAX,
			    ram, cohmem_ram_add);
	if (!cohmem_ram_children(ram)) {
		pr_err("cannot read the kernel's resources from /proc/iomem; load with reserved= instead\n");
		kfree(ram);
		return -EPERM;
	}

	/* Highest range first; within a range, from its top downward. */
	for (;;) {
		unsigned int best = ram->nr;
		u64 lo, hi;

		for (i = 0; i < ram->nr; i++)
			if (ram->range[i].end > ram->range[i].start &&
			    (best == ram->nr || ram->range[i].end > ram->range[best].end))
				best = i;
		if (best == ram->nr)
			break;
		lo = ALIGN(max(ram->range[best].start, ram->range[best].child_end + 1),
			   block);
		hi = ALIGN_DOWN(ram->range[best].end + 1, block);
		/* Blocks with holes (partly outside this range) are skipped. */
		for (; hi >= lo + size && tries < 64; hi -= block, tries++) {
			int nid = page_to_nid(pfn_to_page(PHYS_PFN(hi - size)));

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
		ram->range[best].end = ram->range[best].start;	/* exhausted */
	}
	pr_err("could not hot-remove %llu MiB of System RAM (last error %d); reserve memory at boot with memmap=SIZE$ADDR and load with reserved=SIZE@ADDR\n",
	       size >> 20, ret);
	ret = ret ?: -ENOSPC;
out:
	kfree(ram);
	return ret;
}

/*
 * add_memory() leaves the blocks offline unless the kernel is set to online
 * new memory itself. There is no exported call to online a memory block, so
 * do what an administrator would: write "online" to its state file.
 */
static void cohmem_online_block(unsigned long id)
{
	char path[64], state[16] = "";
	struct file *f;
	loff_t pos = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/devices/system/memory/memory%lu/state", id);
	f = filp_open(path, O_RDWR, 0);
	if (IS_ERR(f)) {
		pr_warn("cannot open %s (%ld): memory block left as is\n", path, PTR_ERR(f));
		return;
	}
	n = kernel_read(f, state, sizeof(state) - 1, &pos);
	if (n > 0 && strncmp(state, "offline", 7) == 0) {
		pos = 0;
		n = kernel_write(f, "online", 6, &pos);
		if (n < 0)
			pr_warn("could not online memory block %lu: %zd\n", id, n);
	}
	filp_close(f, NULL);
}

void cohmem_region_release(struct cohmem_region *r)
{
	u64 block = memory_block_size_bytes();
	u64 addr;
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
	for (addr = r->start; addr < r->start + r->size; addr += block)
		cohmem_online_block(addr / block);
}
