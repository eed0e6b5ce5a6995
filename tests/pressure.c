// SPDX-License-Identifier: GPL-2.0
/*
 * cohmem under memory pressure: a migration that finds the device full
 * evicts the least recently migrated pages (of any process, never pinned
 * ones) to make room, unless evict_on_full is off. Data must survive every
 * round trip and the counters must add up. Device pages still referenced
 * after their owner unmapped them (a pipe, a FOLL_GET reference, an exited
 * process's leftovers) are busy to every eviction, never forced.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <fcntl.h>
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

/* Who keeps device pages referenced once no process maps them any more. */
enum holder { HOLD_PIPE_MUNMAP, HOLD_PIPE_EXIT, HOLD_GET_MUNMAP };

struct held {
	int pipe[2];
	unsigned int handle;
};

#define HELD 8	/* pages */

/* vmsplice @np pages at @p into @fd: the pipe takes references to them. */
static bool splice_pages(int fd, char *p, size_t np)
{
	struct iovec iov = { .iov_base = p, .iov_len = np * page_size };

	return vmsplice(fd, &iov, 1, 0) == (ssize_t)(np * page_size);
}

/*
 * HELD pages (seed @seed) migrated to the device, handed to holder @h,
 * then unmapped from every process. A device-private page is faulted back
 * by the holder's GUP, a coherent one stays on the device.
 */
static bool hold_unmapped(enum holder h, unsigned int seed, struct held *hd)
{
	struct cohmem_migrate m;
	struct cohmem_pin pn;
	char *a;
	pid_t pid;
	int st;

	if (pipe(hd->pipe))
		return false;
	if (h == HOLD_PIPE_EXIT) {
		pid = fork();
		if (pid == 0) {
			a = map_anon(HELD, false);
			fill(a, HELD, seed);
			_exit(!a || migrate(dev_fd, a, HELD, true, &m) || m.moved != HELD ||
			      !splice_pages(hd->pipe[1], a, HELD));
		}
		return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
		       WEXITSTATUS(st) == 0;
	}
	a = map_anon(HELD, false);
	if (!a)
		return false;
	fill(a, HELD, seed);
	if (migrate(dev_fd, a, HELD, true, &m) || m.moved != HELD)
		return false;
	if (h == HOLD_GET_MUNMAP) {
		if (pin(dev_fd, a, HELD, COHMEM_PIN_GET_FAST, &pn))
			return false;
		hd->handle = pn.handle;
	} else if (!splice_pages(hd->pipe[1], a, HELD)) {
		return false;
	}
	return munmap(a, HELD * page_size) == 0;
}

/* Let go of what the holder holds; 0, or the page whose data differ + 1. */
static long release_held(enum holder h, unsigned int seed, struct held *hd)
{
	char *buf = map_anon(HELD, false);
	long bad = 0;
	size_t got = 0;
	ssize_t r;

	if (h == HOLD_GET_MUNMAP) {
		unpin(dev_fd, hd->handle);
	} else {
		while (buf && got < HELD * page_size &&
		       (r = read(hd->pipe[0], buf + got, HELD * page_size - got)) > 0)
			got += r;
		bad = got == HELD * page_size ? verify(buf, HELD, seed) + 1 : HELD + 1;
	}
	close(hd->pipe[0]);
	close(hd->pipe[1]);
	if (buf)
		munmap(buf, HELD * page_size);
	return bad;
}

/* Device pages in use that nobody maps: EVICT takes none, loses none. */
static void evict_unmapped_held(enum holder h)
{
	bool coherent = dev_info.type == COHMEM_TYPE_COHERENT;
	struct cohmem_info before = get_info(dev_fd);
	unsigned long long held;
	struct cohmem_evict e;
	struct held hd;
	long bad;

	REQUIRE(hold_unmapped(h, 60 + h, &hd), "setting up the holder failed");
	held = get_info(dev_fd).used_pages - before.used_pages;
	CHECK(held == (coherent ? HELD : 0), "%llu pages held on the device", held);
	memset(&e, 0, sizeof(e));
	e.flags = COHMEM_EVICT_ALL;
	REQUIRE(xioctl(dev_fd, COHMEM_IOC_EVICT, &e) == 0);
	CHECK(e.evicted == 0 && e.busy == held, "evicted %llu busy %llu, %llu held",
	      (unsigned long long)e.evicted, (unsigned long long)e.busy, held);
	CHECK(get_info(dev_fd).used_pages == before.used_pages + held);
	bad = release_held(h, 60 + h, &hd);
	CHECK(bad == 0, "held page %ld differs", bad - 1);
	CHECK(get_info(dev_fd).used_pages == before.used_pages, "%llu pages leaked",
	      (unsigned long long)(get_info(dev_fd).used_pages - before.used_pages));
}

static void evict_skips_pipe_held_pages_after_munmap(void)
{
	evict_unmapped_held(HOLD_PIPE_MUNMAP);
}

static void evict_skips_pipe_held_pages_after_exit(void)
{
	evict_unmapped_held(HOLD_PIPE_EXIT);
}

static void evict_skips_get_pinned_pages_after_munmap(void)
{
	evict_unmapped_held(HOLD_GET_MUNMAP);
}

/* A full device whose held pages nobody maps: pressure takes the rest. */
static void pressure_skips_unmapped_held_pages(void)
{
	bool coherent = dev_info.type == COHMEM_TYPE_COHERENT;
	size_t held = coherent ? HELD : 0;
	struct cohmem_migrate m;
	struct held hd;
	char *a = map_anon(n, false), *b = map_anon(n, false);
	long bad;

	REQUIRE(a && b && pipe(hd.pipe) == 0);
	fill(a, n, 70);
	fill(b, n, 71);
	REQUIRE(migrate(dev_fd, a, n, true, &m) == 0 && m.moved == n);
	REQUIRE(splice_pages(hd.pipe[1], a, HELD));
	REQUIRE(munmap(a, HELD * page_size) == 0);
	CHECK(get_info(dev_fd).used_pages == n - HELD + held);
	REQUIRE(migrate(dev_fd, b, n, true, &m) == 0);
	CHECK(m.moved == n - held && m.skipped_nomem == held && m.evicted == n - HELD,
	      "moved %llu nomem %llu evicted %llu", (unsigned long long)m.moved,
	      (unsigned long long)m.skipped_nomem, (unsigned long long)m.evicted);
	CHECK(verify_at(a, HELD, n - HELD, 70) == -1);
	CHECK(verify(b, n, 71) == -1);
	bad = release_held(HOLD_PIPE_MUNMAP, 70, &hd);
	CHECK(bad == 0, "held page %ld differs", bad - 1);
	migrate(dev_fd, b, n, false, NULL);
	CHECK(get_info(dev_fd).used_pages == 0);
	munmap(a + HELD * page_size, (n - HELD) * page_size);
	munmap(b, n * page_size);
}

int main(void)
{
	test_init(0);
	n = dev_info.total_pages;
	ktap_plan(7);
	RUN(working_set_3x);
	RUN(pinned_never_evicted);
	RUN(evict_on_full_off);
	RUN(evict_skips_pipe_held_pages_after_munmap);
	RUN(evict_skips_pipe_held_pages_after_exit);
	RUN(evict_skips_get_pinned_pages_after_munmap);
	RUN(pressure_skips_unmapped_held_pages);
	set_evict_on_full("Y");
	return ktap_finish();
}
