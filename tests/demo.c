// SPDX-License-Identifier: GPL-2.0
/*
 * cohmem-demo: migrate a buffer to device memory, touch it there, pin it
 * short-term (it stays), then long-term (the kernel evicts it to system RAM
 * first), and show where every page lives at each step.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib.h"

#define N 4096	/* 16 MiB */

static uint8_t st[N];

static void where(const char *step, char *p)
{
	struct cohmem_snapshot s;
	uint64_t pfn = pagemap_pfn(p);
	bool in = count_pfn_in_dev(&dev_info, p, 1) == 1;

	if (snapshot(dev_fd, p, N, st, &s)) {
		printf("  %-34s snapshot failed\n", step);
		exit(1);
	}
	printf("  %-34s device %5llu  system %5llu  | page 0 at PFN %#llx (%s), data %s\n",
	       step, (unsigned long long)s.count[COHMEM_STATE_DEVICE],
	       (unsigned long long)s.count[COHMEM_STATE_SYSTEM],
	       (unsigned long long)pfn, in ? "device range" : "system RAM",
	       verify(p, N, 42) == -1 ? "intact" : "CORRUPT");
}

static struct cohmem_pin do_pin(char *p, unsigned int mode)
{
	struct cohmem_pin pn;

	memset(&pn, 0, sizeof(pn));
	pn.addr = (uintptr_t)p;
	pn.len = (uint64_t)N * page_size;
	pn.mode = mode;
	pn.flags = COHMEM_PIN_WRITE;
	if (xioctl(dev_fd, COHMEM_IOC_PIN, &pn)) {
		perror("COHMEM_IOC_PIN");
		exit(1);
	}
	return pn;
}

static void do_unpin(struct cohmem_pin *pn)
{
	struct cohmem_unpin u = { .handle = pn->handle };

	xioctl(dev_fd, COHMEM_IOC_UNPIN, &u);
}

int main(void)
{
	struct cohmem_migrate m;
	struct cohmem_pin pn;
	struct cohmem_info i;
	char *p;

	test_init(0);
	i = dev_info;
	printf("cohmem%u: %llu MiB of coherent device memory at %#llx-%#llx (%s), %llu pages free\n",
	       i.id, (unsigned long long)i.size >> 20, (unsigned long long)i.base,
	       (unsigned long long)(i.base + i.size - 1),
	       i.source == COHMEM_SOURCE_RESERVED ? "memmap= reservation" : "hot-removed System RAM",
	       (unsigned long long)i.free_pages);
	p = map_anon(N, false);
	fill(p, N, 42);
	printf("a 16 MiB anonymous buffer, %d pages:\n", N);
	where("filled in system RAM", p);

	migrate(dev_fd, p, N, true, &m);
	printf("MIGRATE_TO_DEV: %llu pages moved\n", (unsigned long long)m.moved);
	where("after MIGRATE_TO_DEV", p);
	fill(p, N, 42);
	where("after CPU writes in place", p);

	pn = do_pin(p, COHMEM_PIN_SHORT);
	printf("short-term pin (pin_user_pages): %llu pinned, %llu of them device pages\n",
	       (unsigned long long)pn.npinned, (unsigned long long)pn.ndevice);
	where("while short-term pinned", p);
	do_unpin(&pn);

	pn = do_pin(p, COHMEM_PIN_LONGTERM);
	printf("long-term pin (FOLL_LONGTERM): %llu pinned, %llu of them device pages\n",
	       (unsigned long long)pn.npinned, (unsigned long long)pn.ndevice);
	where("while long-term pinned", p);
	do_unpin(&pn);

	i = get_info(dev_fd);
	printf("device: %llu pages in use; migrated to device %llu, to system %llu, freed %llu\n",
	       (unsigned long long)i.used_pages, (unsigned long long)i.migrated_to_dev,
	       (unsigned long long)i.migrated_to_sys, (unsigned long long)i.freed);
	migrate(dev_fd, p, N, true, &m);
	printf("migrated to the device again (%llu pages) and left there for rmmod\n",
	       (unsigned long long)m.moved);
	printf("the kernel evicted %s device page under the long-term pin: %s\n",
	       pn.ndevice ? "NOT every" : "every",
	       pn.ndevice ? "FAIL" : "as it must");
	return pn.ndevice ? 1 : 0;
}
