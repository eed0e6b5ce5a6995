// SPDX-License-Identifier: GPL-2.0
/*
 * cohmem-private: device-private memory (cohmem loaded with type=private on
 * a kernel with CONFIG_DEVICE_PRIVATE). The CPU cannot map device-private
 * pages: every access faults the page back to system RAM. Each case checks
 * data and residency, the latter two ways: SNAPSHOT, and the PFNs of
 * /proc/self/pagemap (a device-private page is not present there at all).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define N 256	/* pages: 1 MiB */

/* Pages of the range that /proc/self/pagemap shows present. */
static long count_present(const char *p, size_t n)
{
	long present = 0;
	size_t i;

	for (i = 0; i < n; i++)
		present += pagemap_pfn(p + i * page_size) != 0;
	return present;
}

/* A filled buffer of n pages moved to the device, checked there. */
static char *on_private(size_t n, unsigned int seed)
{
	struct cohmem_migrate m;
	char *p = map_anon(n, false);

	if (CHECK(p))
		return NULL;
	fill(p, n, seed);
	if (CHECK(migrate(dev_fd, p, n, true, &m) == 0) ||
	    CHECK(m.moved == n, "moved %llu of %zu", (unsigned long long)m.moved, n) ||
	    CHECK(count_not_state(dev_fd, p, n, COHMEM_STATE_DEVICE) == 0) ||
	    CHECK(count_present(p, n) == 0, "device-private pages show in pagemap")) {
		munmap(p, n * page_size);
		return NULL;
	}
	return p;
}

/* Every page back in system RAM, outside the device's range, data intact. */
static void in_system(const char *p, size_t n, unsigned int seed)
{
	CHECK(count_not_state(dev_fd, (void *)p, n, COHMEM_STATE_SYSTEM) == 0);
	CHECK(count_present(p, n) == (long)n);
	CHECK(count_pfn_in_dev(&dev_info, p, n) == 0);
	CHECK(verify(p, n, seed) == -1);
}

/* The device as free as the case found it. */
static void used_back(const struct cohmem_info *before)
{
	struct cohmem_info after = get_info(dev_fd);

	CHECK(after.used_pages == before->used_pages, "%llu pages in use, %llu before",
	      (unsigned long long)after.used_pages,
	      (unsigned long long)before->used_pages);
}

static void info_private(void)
{
	struct cohmem_info i = get_info(dev_fd);

	CHECK(i.type == COHMEM_TYPE_PRIVATE, "type %u", i.type);
	CHECK(i.features & COHMEM_FEATURE_PRIVATE, "features %#x", i.features);
	CHECK(i.used_pages == 0, "%llu pages in use at start",
	      (unsigned long long)i.used_pages);
	CHECK(i.free_pages + i.used_pages == i.total_pages);
	ktap_diag("cohmem%u: %llu MiB of device-private memory backed at %#llx",
		  i.id, (unsigned long long)i.size >> 20, (unsigned long long)i.base);
}

/* The pagemap checks need real PFNs (root). */
static void pagemap_pfns_visible(void)
{
	char *p = map_anon(1, false);

	REQUIRE(p);
	p[0] = 1;
	CHECK(pagemap_pfn(p) != 0, "run as root: /proc/self/pagemap hides PFNs");
	munmap(p, page_size);
}

static void migrate_to_device(void)
{
	struct cohmem_info before = get_info(dev_fd), after;
	char *p = on_private(N, 1);

	REQUIRE(p);
	after = get_info(dev_fd);
	CHECK(after.used_pages == before.used_pages + N);
	CHECK(after.migrated_to_dev == before.migrated_to_dev + N);
	/* Already there: nothing moves, nothing faults back. */
	{
		struct cohmem_migrate m;

		CHECK(migrate(dev_fd, p, N, true, &m) == 0);
		CHECK(m.moved == 0 && m.skipped_other == N, "moved %llu, other %llu",
		      (unsigned long long)m.moved, (unsigned long long)m.skipped_other);
		CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	}
	munmap(p, N * page_size);
	used_back(&before);
}

/* Never-touched pages become zero-filled device pages. */
static void migrate_holes(void)
{
	struct cohmem_info before = get_info(dev_fd);
	struct cohmem_migrate m;
	char *p = map_anon(N, false);

	REQUIRE(p);
	fill_holes(p, N);
	REQUIRE(migrate(dev_fd, p, N, true, &m) == 0);
	CHECK(m.moved == N, "moved %llu", (unsigned long long)m.moved);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(verify_holes(p, N) == -1, "page %ld", verify_holes(p, N));
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0);
	munmap(p, N * page_size);
	used_back(&before);
}

/* THP-backed memory is split on its way to the device. */
static void migrate_thp(void)
{
	struct cohmem_info before = get_info(dev_fd);
	size_t n = 1024;	/* 4 MiB, two huge pages */
	struct cohmem_migrate m;
	char *p = map_anon(n, true);

	REQUIRE(p);
	fill(p, n, 13);
	if (count_flag(dev_fd, p, n, COHMEM_PAGE_HUGE) != (long)n) {
		munmap(p, n * page_size);
		SKIP("no transparent huge pages here: %s", no_thp_why());
	}
	CHECK(migrate(dev_fd, p, n, true, &m) == 0);
	CHECK(m.moved == n, "moved %llu of %zu", (unsigned long long)m.moved, n);
	CHECK(count_not_state(dev_fd, p, n, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_present(p, n) == 0);
	CHECK(verify(p, n, 13) == -1);
	CHECK(count_not_state(dev_fd, p, n, COHMEM_STATE_SYSTEM) == 0);
	munmap(p, n * page_size);
	used_back(&before);
}

/* MIGRATE_TO_DEV with COHMEM_MIGRATE_HUGE; returns 0 or -errno. */
static int migrate_huge(void *p, size_t n, struct cohmem_migrate *m)
{
	memset(m, 0, sizeof(*m));
	m->addr = (uintptr_t)p;
	m->len = n * page_size;
	m->flags = COHMEM_MIGRATE_HUGE;
	return xioctl(dev_fd, COHMEM_IOC_MIGRATE_TO_DEV, m);
}

#define HN 512	/* pages of a huge page (x86-64) */

/*
 * n pages of THP-backed memory (filled with seed) or of never-touched
 * memory (holes), moved to the device as huge device folios and checked
 * there: device pages mapped huge, none in /proc/self/pagemap.
 */
static char *on_device_huge(size_t n, unsigned int seed, bool holes)
{
	struct cohmem_migrate m;
	char *p = map_anon(n, true);

	if (CHECK(p))
		return NULL;
	if (!holes) {
		fill(p, n, seed);
		if (count_flag(dev_fd, p, n, COHMEM_PAGE_HUGE) != (long)n) {
			munmap(p, n * page_size);
			snprintf(case_skip, sizeof(case_skip),
				 "no transparent huge pages here: %s", no_thp_why());
			return NULL;
		}
	}
	if (CHECK(migrate_huge(p, n, &m) == 0) ||
	    CHECK(m.moved == n && m.huge == n, "moved %llu, huge %llu of %zu",
		  (unsigned long long)m.moved, (unsigned long long)m.huge, n) ||
	    CHECK(count_not_state(dev_fd, p, n, COHMEM_STATE_DEVICE) == 0) ||
	    CHECK(count_flag(dev_fd, p, n, COHMEM_PAGE_HUGE) == (long)n,
		  "%ld pages mapped huge", count_flag(dev_fd, p, n, COHMEM_PAGE_HUGE)) ||
	    CHECK(count_present(p, n) == 0)) {
		munmap(p, n * page_size);
		return NULL;
	}
	return p;
}

/* The kernel cannot do huge device folios: the flag says so. */
static bool huge_unsupported(void)
{
	return !(get_info(dev_fd).features & COHMEM_FEATURE_HUGE);
}

#define REQUIRE_HUGE() do {						\
		if (huge_unsupported())					\
			SKIP("no huge device-private folios on this kernel: %s", \
			     access("/sys/kernel/mm/transparent_hugepage", F_OK) ? \
			     no_thp_why() : "THP device migration is 6.19+"); \
	} while (0)

/*
 * expect: with COHMEM_MIGRATE_HUGE a THP moves as one 2 MiB device folio,
 * and MIGRATE_TO_SYS brings it back whole (a system THP) with its data.
 */
static void huge_round_trip(void)
{
	struct cohmem_info before = get_info(dev_fd);
	struct cohmem_migrate m;
	size_t n = 2 * HN;
	char *p;

	REQUIRE_HUGE();
	p = on_device_huge(n, 40, false);
	if (!p)
		return;
	CHECK(get_info(dev_fd).used_pages == before.used_pages + n);
	CHECK(migrate(dev_fd, p, n, false, &m) == 0);
	CHECK(m.moved == n, "back: moved %llu", (unsigned long long)m.moved);
	ktap_diag("back in system RAM: %llu of %zu pages as whole THPs",
		  (unsigned long long)m.huge, n);
	CHECK(count_flag(dev_fd, p, n, COHMEM_PAGE_HUGE) == (long)m.huge,
	      "%ld mapped huge, %llu came back huge",
	      count_flag(dev_fd, p, n, COHMEM_PAGE_HUGE), (unsigned long long)m.huge);
	in_system(p, n, 40);
	used_back(&before);
	munmap(p, n * page_size);
}

/* expect: an empty 2 MiB stretch becomes a zero-filled huge device folio. */
static void huge_holes(void)
{
	struct cohmem_info before = get_info(dev_fd);
	char *p;
	size_t i;

	REQUIRE_HUGE();
	p = on_device_huge(HN, 0, true);
	if (!p)
		return;
	for (i = 0; i < HN; i++)
		if (CHECK(p[i * page_size] == 0 && p[(i + 1) * page_size - 1] == 0,
			  "page %zu not zero", i))
			break;
	CHECK(count_not_state(dev_fd, p, HN, COHMEM_STATE_SYSTEM) == 0);
	munmap(p, HN * page_size);
	used_back(&before);
}

/*
 * expect: a CPU fault on a huge device folio brings the whole folio back
 * (as a THP when one is free); unmapping part of one splits it (the device
 * hears of it through folio_split) and the rest comes back in small pages;
 * every page and charge comes back at munmap.
 */
static void huge_split(void)
{
	struct cohmem_info before = get_info(dev_fd);
	struct cohmem_migrate m;
	char *p;

	REQUIRE_HUGE();
	p = on_device_huge(2 * HN, 41, false);
	if (!p)
		return;
	/* A read in the first huge page faults all of it back. */
	CHECK(verify(p, 1, 41) == -1);
	CHECK(count_not_state(dev_fd, p, HN, COHMEM_STATE_SYSTEM) == 0,
	      "a fault brought back part of a huge folio");
	CHECK(count_not_state(dev_fd, p + HN * page_size, HN, COHMEM_STATE_DEVICE) == 0,
	      "the next huge folio left the device");
	/* Unmap the first 4 KiB of the second one. */
	REQUIRE(munmap(p + HN * page_size, page_size) == 0);
	CHECK(count_not_state(dev_fd, p + (HN + 1) * page_size, HN - 1,
			      COHMEM_STATE_DEVICE) == 0);
	/* What is left comes back intact, in small pages. */
	CHECK(verify(p, HN, 41) == -1, "first huge page: data");
	CHECK(migrate(dev_fd, p + (HN + 1) * page_size, HN - 1, false, &m) == 0 &&
	      m.moved == HN - 1, "moved %llu", (unsigned long long)m.moved);
	CHECK(count_not_state(dev_fd, p + (HN + 1) * page_size, HN - 1,
			      COHMEM_STATE_SYSTEM) == 0);
	CHECK(verify_at(p, HN + 1, HN - 1, 41) == -1, "second huge page: data");
	munmap(p, HN * page_size);
	munmap(p + (HN + 1) * page_size, (HN - 1) * page_size);
	used_back(&before);
}

/*
 * expect: EVICT and a long-term pin move huge device folios back to system
 * RAM with their data.
 */
static void huge_evict_and_pin(void)
{
	struct cohmem_info before = get_info(dev_fd);
	struct cohmem_evict e;
	struct cohmem_pin pn;
	char *p, *q;

	REQUIRE_HUGE();
	p = on_device_huge(HN, 42, false);
	if (!p)
		return;
	memset(&e, 0, sizeof(e));
	e.flags = COHMEM_EVICT_ALL;
	CHECK(xioctl(dev_fd, COHMEM_IOC_EVICT, &e) == 0);
	CHECK(e.evicted == HN && e.busy == 0, "evicted %llu busy %llu",
	      (unsigned long long)e.evicted, (unsigned long long)e.busy);
	in_system(p, HN, 42);
	munmap(p, HN * page_size);

	q = on_device_huge(HN, 43, false);
	if (!q)
		return;
	CHECK(pin(dev_fd, q, HN, COHMEM_PIN_LONGTERM, &pn) == 0);
	CHECK(pn.npinned == HN && pn.ndevice == 0, "pinned %llu, on device %llu",
	      (unsigned long long)pn.npinned, (unsigned long long)pn.ndevice);
	in_system(q, HN, 43);
	CHECK(unpin(dev_fd, pn.handle) == 0);
	munmap(q, HN * page_size);
	used_back(&before);
}

/*
 * expect: a huge folio is charged whole against proc_limit; a process
 * without room for one gets small pages of a THP up to its limit, and
 * nothing of an empty stretch.
 */
static void huge_limit(void)
{
	FILE *f;
	struct cohmem_migrate m;
	char *p;

	REQUIRE_HUGE();
	p = map_anon(HN, true);
	REQUIRE(p);
	fill(p, HN, 44);
	f = fopen("/sys/module/cohmem/parameters/proc_limit", "w");
	REQUIRE(f);
	fprintf(f, "%zu\n", HN / 2 * page_size);
	fclose(f);
	CHECK(migrate_huge(p, HN, &m) == 0);
	CHECK(m.moved == HN / 2 && m.huge == 0 && m.skipped_limit == HN / 2,
	      "moved %llu huge %llu limit %llu", (unsigned long long)m.moved,
	      (unsigned long long)m.huge, (unsigned long long)m.skipped_limit);
	CHECK(verify(p, HN, 44) == -1);
	munmap(p, HN * page_size);

	/*
	 * An empty 2 MiB stretch without room for a huge folio or for all
	 * its small pages moves not at all (the kernel would fill every one
	 * of its page table entries), and stays empty.
	 */
	p = map_anon(HN, true);
	REQUIRE(p);
	CHECK(migrate_huge(p, HN, &m) == 0);
	CHECK(m.moved == 0 && m.skipped_nomem + m.skipped_limit == HN,
	      "hole: moved %llu nomem %llu limit %llu", (unsigned long long)m.moved,
	      (unsigned long long)m.skipped_nomem, (unsigned long long)m.skipped_limit);
	CHECK(count_not_state(dev_fd, p, HN, COHMEM_STATE_NONE) == 0);
	f = fopen("/sys/module/cohmem/parameters/proc_limit", "w");
	if (f) {
		fputs("0\n", f);
		fclose(f);
	}
	CHECK(p[0] == 0 && p[HN * page_size - 1] == 0);
	munmap(p, HN * page_size);
}

/* Read-only pages go to the device read-only and come back read-only. */
static void migrate_readonly(void)
{
	struct cohmem_info before = get_info(dev_fd);
	struct cohmem_migrate m;
	char *p = map_anon(N, false);

	REQUIRE(p);
	fill(p, N, 14);
	REQUIRE(mprotect(p, N * page_size, PROT_READ) == 0);
	CHECK(migrate(dev_fd, p, N, true, &m) == 0);
	CHECK(m.moved == N, "moved %llu", (unsigned long long)m.moved);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_flag(dev_fd, p, N, COHMEM_PAGE_WRITE) == 0);
	CHECK(verify(p, N, 14) == -1);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0);
	CHECK(count_flag(dev_fd, p, N, COHMEM_PAGE_WRITE) == 0);
	munmap(p, N * page_size);
	used_back(&before);
}

/* A CPU read faults each page back to system RAM. */
static void cpu_read_faults_back(void)
{
	struct cohmem_info before = get_info(dev_fd);
	char *p = on_private(N, 2);

	REQUIRE(p);
	CHECK(verify(p, N, 2) == -1);
	in_system(p, N, 2);
	used_back(&before);
	munmap(p, N * page_size);
}

/* A CPU write (no read first) faults the page back; the rest of it survives. */
static void cpu_write_faults_back(void)
{
	struct cohmem_info before = get_info(dev_fd);
	char *ref = malloc(N * page_size), *p;
	size_t i;

	REQUIRE(ref);
	p = on_private(N, 3);
	if (!p) {
		free(ref);
		return;
	}
	fill(ref, N, 3);
	for (i = 0; i < N; i++) {
		ref[i * page_size + 100] ^= 0xff;
		p[i * page_size + 100] = ref[i * page_size + 100];
	}
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0);
	CHECK(count_pfn_in_dev(&dev_info, p, N) == 0);
	CHECK(count_present(p, N) == N);
	CHECK(memcmp(p, ref, N * page_size) == 0, "data differs after the writes");
	used_back(&before);
	munmap(p, N * page_size);
	free(ref);
}

static void migrate_to_sys(void)
{
	struct cohmem_info before = get_info(dev_fd), after;
	struct cohmem_migrate m;
	char *p = on_private(N, 4);

	REQUIRE(p);
	CHECK(migrate(dev_fd, p, N, false, &m) == 0);
	CHECK(m.moved == N, "moved back %llu of %d", (unsigned long long)m.moved, N);
	in_system(p, N, 4);
	after = get_info(dev_fd);
	CHECK(after.migrated_to_sys == before.migrated_to_sys + N);
	used_back(&before);
	/* Nothing left on the device: a second call moves nothing. */
	CHECK(migrate(dev_fd, p, N, false, &m) == 0);
	CHECK(m.moved == 0, "moved %llu", (unsigned long long)m.moved);
	munmap(p, N * page_size);
}

/* GUP faults device-private pages back for any pin: they land in RAM. */
static void pin_case(unsigned int mode)
{
	struct cohmem_info before = get_info(dev_fd);
	struct cohmem_pin pn;
	char *p = on_private(N, 5);

	REQUIRE(p);
	if (!CHECK(pin(dev_fd, p, N, mode, &pn) == 0)) {
		CHECK(pn.npinned == N, "pinned %llu", (unsigned long long)pn.npinned);
		CHECK(pn.ndevice == 0, "%llu device pages pinned",
		      (unsigned long long)pn.ndevice);
		in_system(p, N, 5);
		if (mode != COHMEM_PIN_GET_FAST)
			CHECK(count_flag(dev_fd, p, N, COHMEM_PAGE_PINNED) == N);
		CHECK(unpin(dev_fd, pn.handle) == 0);
	}
	used_back(&before);
	munmap(p, N * page_size);
}

static void pin_longterm(void)
{
	pin_case(COHMEM_PIN_LONGTERM);
}

static void pin_longterm_fast(void)
{
	pin_case(COHMEM_PIN_LONGTERM_FAST);
}

static void pin_short(void)
{
	pin_case(COHMEM_PIN_SHORT);
}

static void pin_short_fast(void)
{
	pin_case(COHMEM_PIN_SHORT_FAST);
}

static void get_user_pages_fast_ref(void)
{
	pin_case(COHMEM_PIN_GET_FAST);
}

static void evict_all(void)
{
	struct cohmem_info before = get_info(dev_fd);
	struct cohmem_evict e;
	char *p = on_private(N, 6);

	REQUIRE(p);
	memset(&e, 0, sizeof(e));
	e.flags = COHMEM_EVICT_ALL;
	CHECK(xioctl(dev_fd, COHMEM_IOC_EVICT, &e) == 0);
	CHECK(e.evicted == N && e.busy == 0, "evicted %llu busy %llu",
	      (unsigned long long)e.evicted, (unsigned long long)e.busy);
	in_system(p, N, 6);
	used_back(&before);
	munmap(p, N * page_size);
}

/*
 * fork: both see the device pages. The parent writes its copy (a fault,
 * then COW) while the child still has the original, then the child reads
 * and writes its own.
 */
static void fork_cow(void)
{
	struct cohmem_info before = get_info(dev_fd);
	int go[2], status;
	char *p = on_private(N, 7);
	pid_t pid;

	REQUIRE(p);
	REQUIRE(pipe(go) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		char c;

		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		if (verify(p, N, 7) != -1)
			_exit(3);
		fill(p, N, 9);
		_exit(verify(p, N, 9) == -1 ? 0 : 4);
	}
	close(go[0]);
	fill(p, N, 8);
	CHECK(write(go[1], "g", 1) == 1);
	close(go[1]);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "child: status %#x (3: saw the parent's write, 4: lost its own)", status);
	in_system(p, N, 8);
	munmap(p, N * page_size);
	used_back(&before);
}

static void munmap_frees(void)
{
	struct cohmem_info before = get_info(dev_fd), after;
	char *p = on_private(N, 10);

	REQUIRE(p);
	CHECK(munmap(p, N * page_size) == 0);
	after = get_info(dev_fd);
	CHECK(after.used_pages == before.used_pages);
	CHECK(after.freed >= before.freed + N, "freed %llu, was %llu",
	      (unsigned long long)after.freed, (unsigned long long)before.freed);
}

static void exit_frees(void)
{
	struct cohmem_info before = get_info(dev_fd);
	int status;
	pid_t pid = fork();

	REQUIRE(pid >= 0);
	if (pid == 0) {
		char *p = map_anon(N, false);
		struct cohmem_migrate m;

		if (!p)
			_exit(2);
		fill(p, N, 11);
		_exit(migrate(dev_fd, p, N, true, &m) || m.moved != N ? 3 : 0);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %#x", status);
	used_back(&before);
}

/*
 * CPU faults racing migrations both ways and device-side eviction on one
 * range: two threads each own half the pages and keep writing and checking
 * a counter in each of their pages, while a third moves the whole range to
 * the device, back, and evicts, over and over.
 */
#define RACE_PAGES	128
#define RACE_SECS	3

static char *race_buf;
static atomic_bool race_stop;
static atomic_long race_errors, race_moves, race_ops, race_busy, race_other;

static void *race_writer(void *arg)
{
	size_t first = (size_t)(uintptr_t)arg * (RACE_PAGES / 2), i;
	unsigned long round;

	for (round = 1; !atomic_load(&race_stop); round++) {
		for (i = first; i < first + RACE_PAGES / 2; i++) {
			volatile unsigned long *w =
				(volatile unsigned long *)(race_buf + i * page_size);
			unsigned long want = (round - 1) << 16 | i;

			if (round > 1 && *w != want)
				atomic_fetch_add(&race_errors, 1);
			if (race_buf[i * page_size + 200] != (char)i)
				atomic_fetch_add(&race_errors, 1);
			*w = round << 16 | i;
		}
	}
	return NULL;
}

static void *race_mover(void *arg)
{
	struct cohmem_migrate m;
	struct cohmem_evict e;
	unsigned long k;

	(void)arg;
	for (k = 0; !atomic_load(&race_stop); k++) {
		switch (k % 3) {
		case 0:
			if (migrate(dev_fd, race_buf, RACE_PAGES, true, &m))
				atomic_fetch_add(&race_errors, 1);
			atomic_fetch_add(&race_moves, m.moved);
			atomic_fetch_add(&race_busy, m.skipped_busy);
			atomic_fetch_add(&race_other, m.skipped_other);
			atomic_fetch_add(&race_ops, 1);
			break;
		case 1:
			if (migrate(dev_fd, race_buf, RACE_PAGES, false, &m))
				atomic_fetch_add(&race_errors, 1);
			break;
		default:
			memset(&e, 0, sizeof(e));
			e.flags = COHMEM_EVICT_ALL;
			if (xioctl(dev_fd, COHMEM_IOC_EVICT, &e))
				atomic_fetch_add(&race_errors, 1);
		}
	}
	return NULL;
}

static void race_faults(void)
{
	struct cohmem_info before = get_info(dev_fd);
	pthread_t t[3];
	size_t i;

	race_buf = map_anon(RACE_PAGES, false);
	REQUIRE(race_buf);
	for (i = 0; i < RACE_PAGES; i++)
		memset(race_buf + i * page_size, (char)i, page_size);
	for (i = 0; i < RACE_PAGES; i++)
		*(unsigned long *)(race_buf + i * page_size) = i;
	atomic_store(&race_stop, false);
	atomic_store(&race_errors, 0);
	atomic_store(&race_moves, 0);
	atomic_store(&race_ops, 0);
	atomic_store(&race_busy, 0);
	atomic_store(&race_other, 0);
	REQUIRE(pthread_create(&t[0], NULL, race_writer, (void *)0) == 0);
	REQUIRE(pthread_create(&t[1], NULL, race_writer, (void *)1) == 0);
	REQUIRE(pthread_create(&t[2], NULL, race_mover, NULL) == 0);
	sleep(RACE_SECS);
	atomic_store(&race_stop, true);
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	CHECK(atomic_load(&race_errors) == 0, "%ld errors",
	      (long)atomic_load(&race_errors));
	CHECK(atomic_load(&race_moves) > 0, "nothing ever reached the device");
	ktap_diag("race_faults: %ld migrations moved %ld pages to the device in %d s (%ld busy, %ld other)",
		  (long)atomic_load(&race_ops), (long)atomic_load(&race_moves), RACE_SECS,
		  (long)atomic_load(&race_busy), (long)atomic_load(&race_other));
	for (i = 0; i < RACE_PAGES; i++)
		if (CHECK(race_buf[i * page_size + 200] == (char)i &&
			  race_buf[(i + 1) * page_size - 1] == (char)i, "page %zu", i))
			break;
	CHECK(count_not_state(dev_fd, race_buf, RACE_PAGES, COHMEM_STATE_SYSTEM) == 0);
	munmap(race_buf, RACE_PAGES * page_size);
	used_back(&before);
}

/* Another device's private pages: OTHER to this one, moved by neither. */
static void other_device(void)
{
	struct cohmem_migrate m;
	struct cohmem_info info1;
	int fd1 = open("/dev/cohmem1", O_RDWR | O_CLOEXEC);
	char *p;

	if (fd1 < 0)
		SKIP("one device only");
	info1 = get_info(fd1);
	p = map_anon(N, false);
	if (CHECK(p)) {
		close(fd1);
		return;
	}
	fill(p, N, 12);
	CHECK(migrate(fd1, p, N, true, &m) == 0 && m.moved == N);
	CHECK(count_not_state(fd1, p, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_OTHER) == 0,
	      "cohmem0 does not see cohmem1's pages as OTHER");
	CHECK(count_present(p, N) == 0);
	/* cohmem0 neither takes them nor faults them back. */
	CHECK(migrate(dev_fd, p, N, false, &m) == 0);
	CHECK(m.moved == 0, "cohmem0 moved %llu of cohmem1's pages",
	      (unsigned long long)m.moved);
	CHECK(migrate(dev_fd, p, N, true, &m) == 0);
	CHECK(m.moved == 0, "cohmem0 took %llu of cohmem1's pages",
	      (unsigned long long)m.moved);
	CHECK(count_not_state(fd1, p, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(migrate(fd1, p, N, false, &m) == 0 && m.moved == N);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0);
	CHECK(verify(p, N, 12) == -1);
	munmap(p, N * page_size);
	CHECK(get_info(fd1).used_pages == info1.used_pages);
	close(fd1);
}

int main(void)
{
	test_init(0);
	if (dev_info.type != COHMEM_TYPE_PRIVATE) {
		printf("Bail out! cohmem0 is not device-private (type %u)\n", dev_info.type);
		return 1;
	}
	ktap_plan(25);
	RUN(info_private);
	RUN(pagemap_pfns_visible);
	RUN(migrate_to_device);
	RUN(migrate_holes);
	RUN(migrate_thp);
	RUN(huge_round_trip);
	RUN(huge_holes);
	RUN(huge_split);
	RUN(huge_evict_and_pin);
	RUN(huge_limit);
	RUN(migrate_readonly);
	RUN(cpu_read_faults_back);
	RUN(cpu_write_faults_back);
	RUN(migrate_to_sys);
	RUN(pin_longterm);
	RUN(pin_longterm_fast);
	RUN(pin_short);
	RUN(pin_short_fast);
	RUN(get_user_pages_fast_ref);
	RUN(evict_all);
	RUN(fork_cow);
	RUN(munmap_frees);
	RUN(exit_frees);
	RUN(other_device);
	RUN(race_faults);
	return ktap_finish();
}
