// SPDX-License-Identifier: GPL-2.0
/*
 * cohmem under memory pressure: a migration that finds the device full
 * evicts the least recently migrated pages (of any process, never pinned
 * ones) to make room, unless evict_on_full is off. Data must survive every
 * round trip and the counters must add up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib.h"

#define PARAM "/sys/module/cohmem/parameters/evict_on_full"

static size_t n;	/* pages: the device's size */

static int set_evict_on_full(const char *v)
{
	FILE *f = fopen(PARAM, "w");
	int ret;

	if (!f)
		return -errno;
	ret = fputs(v, f) < 0 ? -EIO : 0;
	return fclose(f) ? -errno : ret;
}

/* Working set three times the device, migrated round-robin three times. */
static void working_set_3x(void)
{
	struct cohmem_info before = get_info(dev_fd), after;
	unsigned long long evicted = 0, moved = 0;
	struct cohmem_migrate m;
	char *buf[3];
	int r, i, j;

	for (i = 0; i < 3; i++) {
		buf[i] = map_anon(n, false);
		REQUIRE(buf[i]);
		fill(buf[i], n, 20 + i);
	}
	for (r = 0; r < 3; r++) {
		for (i = 0; i < 3; i++) {
			REQUIRE(migrate(dev_fd, buf[i], n, true, &m) == 0);
			CHECK(m.moved == n, "round %d buffer %d: moved %llu of %zu (nomem %llu busy %llu)",
			      r, i, (unsigned long long)m.moved, n,
			      (unsigned long long)m.skipped_nomem,
			      (unsigned long long)m.skipped_busy);
			/* Room for this buffer came from the previous one. */
			if (r || i)
				CHECK(m.evicted >= n, "round %d buffer %d: evicted %llu",
				      r, i, (unsigned long long)m.evicted);
			evicted += m.evicted;
			moved += m.moved;
			CHECK(count_not_state(dev_fd, buf[i], n, COHMEM_STATE_DEVICE) == 0);
			CHECK(count_pfn_in_dev(&dev_info, buf[(i + 2) % 3], n) == 0,
			      "the previous buffer still has pages on the device");
			for (j = 0; j < 3; j++)
				CHECK(verify(buf[j], n, 20 + j) == -1, "round %d: buffer %d", r, j);
		}
	}
	after = get_info(dev_fd);
	CHECK(after.evicted - before.evicted == evicted, "INFO evicted %llu, reported %llu",
	      (unsigned long long)(after.evicted - before.evicted), evicted);
	CHECK(after.migrated_to_dev - before.migrated_to_dev == moved);
	CHECK(after.used_pages == n);
	for (i = 0; i < 3; i++) {
		migrate(dev_fd, buf[i], n, false, NULL);
		CHECK(verify(buf[i], n, 20 + i) == -1);
		munmap(buf[i], n * page_size);
	}
	after = get_info(dev_fd);
	CHECK(after.used_pages == 0, "%llu pages leaked", (unsigned long long)after.used_pages);
	/* Every page placed on the device was freed exactly once. */
	CHECK(after.freed - before.freed == moved, "freed %llu, placed %llu",
	      (unsigned long long)(after.freed - before.freed), moved);
}

/* A short-term-pinned page is never evicted to make room, nor lost. */
static void pinned_never_evicted(void)
{
	size_t npin = 1024;
	struct cohmem_migrate m;
	struct cohmem_unpin up;
	struct cohmem_pin pn;
	char *a = map_anon(n, false), *b = map_anon(n, false);

	REQUIRE(a && b);
	fill(a, n, 30);
	fill(b, n, 31);
	REQUIRE(migrate(dev_fd, a, n, true, &m) == 0 && m.moved == n);
	memset(&pn, 0, sizeof(pn));
	pn.addr = (uintptr_t)a;
	pn.len = npin * page_size;
	pn.mode = COHMEM_PIN_SHORT;
	REQUIRE(xioctl(dev_fd, COHMEM_IOC_PIN, &pn) == 0 && pn.ndevice == npin);
	REQUIRE(migrate(dev_fd, b, n, true, &m) == 0);
	CHECK(m.moved == n - npin, "moved %llu", (unsigned long long)m.moved);
	CHECK(m.skipped_nomem == npin, "nomem %llu", (unsigned long long)m.skipped_nomem);
	CHECK(m.evicted == n - npin, "evicted %llu", (unsigned long long)m.evicted);
	CHECK(count_not_state(dev_fd, a, npin, COHMEM_STATE_DEVICE) == 0,
	      "a pinned page was evicted");
	CHECK(count_flag(dev_fd, a, npin, COHMEM_PAGE_PINNED) == (long)npin);
	CHECK(verify(a, n, 30) == -1);
	CHECK(verify(b, n, 31) == -1);
	up.handle = pn.handle;
	up.flags = 0;
	CHECK(xioctl(dev_fd, COHMEM_IOC_UNPIN, &up) == 0);
	migrate(dev_fd, a, n, false, NULL);
	migrate(dev_fd, b, n, false, NULL);
	CHECK(verify(a, n, 30) == -1 && verify(b, n, 31) == -1);
	CHECK(get_info(dev_fd).used_pages == 0);
	munmap(a, n * page_size);
	munmap(b, n * page_size);
}

/* evict_on_full=N: a full device moves nothing more and evicts nothing. */
static void evict_on_full_off(void)
{
	struct cohmem_migrate m;
	char *a = map_anon(n, false), *b = map_anon(64, false);
	int ret = set_evict_on_full("N");

	if (ret)
		SKIP("cannot write %s: %s", PARAM, strerror(-ret));
	REQUIRE(a && b);
	fill(a, n, 40);
	fill(b, 64, 41);
	REQUIRE(migrate(dev_fd, a, n, true, &m) == 0 && m.moved == n);
	REQUIRE(migrate(dev_fd, b, 64, true, &m) == 0);
	CHECK(m.moved == 0 && m.evicted == 0 && m.skipped_nomem == 64,
	      "moved %llu evicted %llu nomem %llu", (unsigned long long)m.moved,
	      (unsigned long long)m.evicted, (unsigned long long)m.skipped_nomem);
	CHECK(count_not_state(dev_fd, a, n, COHMEM_STATE_DEVICE) == 0);
	CHECK(set_evict_on_full("Y") == 0);
	REQUIRE(migrate(dev_fd, b, 64, true, &m) == 0);
	CHECK(m.moved == 64 && m.evicted >= 64, "with Y again: moved %llu evicted %llu",
	      (unsigned long long)m.moved, (unsigned long long)m.evicted);
	CHECK(verify(a, n, 40) == -1 && verify(b, 64, 41) == -1);
	migrate(dev_fd, a, n, false, NULL);
	migrate(dev_fd, b, 64, false, NULL);
	CHECK(get_info(dev_fd).used_pages == 0);
	munmap(a, n * page_size);
	munmap(b, 64 * page_size);
}

int main(void)
{
	test_init(0);
	n = dev_info.total_pages;
	ktap_plan(3);
	RUN(working_set_3x);
	RUN(pinned_never_evicted);
	RUN(evict_on_full_off);
	set_evict_on_full("Y");
	return ktap_finish();
}
