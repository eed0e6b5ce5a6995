// SPDX-License-Identifier: GPL-2.0
/*
 * cohmem pin cases: a long-term pin never lands on device memory (the kernel
 * migrates the pages to system RAM first, whichever GUP path or kernel
 * client asks), short-term pins and FOLL_GET leave pages where they are,
 * and fork/COW over device pages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define N 256

static const char *const mode_name[] = {
	[COHMEM_PIN_LONGTERM] = "pin_user_pages(FOLL_LONGTERM)",
	[COHMEM_PIN_LONGTERM_FAST] = "pin_user_pages_fast(FOLL_LONGTERM)",
	[COHMEM_PIN_SHORT] = "pin_user_pages()",
	[COHMEM_PIN_SHORT_FAST] = "pin_user_pages_fast()",
	[COHMEM_PIN_GET_FAST] = "get_user_pages_fast()",
};

static void longterm_case(unsigned int mode)
{
	struct cohmem_info before = get_info(dev_fd);
	struct cohmem_pin pn;
	char *p = on_device(dev_fd, N, mode);

	REQUIRE(p);
	REQUIRE(pin(dev_fd, p, N, mode, &pn) == 0, "%s", mode_name[mode]);
	CHECK(pn.npinned == N);
	CHECK(pn.ndevice == 0, "%llu pinned pages on the device",
	      (unsigned long long)pn.ndevice);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0);
	CHECK(count_flag(dev_fd, p, N, COHMEM_PAGE_PINNED) == N);
	CHECK(count_pfn_in_dev(&dev_info, p, N) == 0);
	CHECK(verify(p, N, mode) == -1);
	/* The device got its pages back: they were freed, not leaked. */
	CHECK(get_info(dev_fd).used_pages == before.used_pages);
	CHECK(unpin(dev_fd, pn.handle) == 0);
	CHECK(count_flag(dev_fd, p, N, COHMEM_PAGE_PINNED) == 0);
	CHECK(unpin(dev_fd, pn.handle) == -ENOENT, "handle freed");
	munmap(p, N * page_size);
}

static void longterm_slow_evicts(void)
{
	longterm_case(COHMEM_PIN_LONGTERM);
}

static void longterm_fast_evicts(void)
{
	longterm_case(COHMEM_PIN_LONGTERM_FAST);
}

static void shortterm_case(unsigned int mode)
{
	bool pinned = mode != COHMEM_PIN_GET_FAST;
	struct cohmem_migrate m;
	struct cohmem_pin pn;
	char *p = on_device(dev_fd, N, mode);

	REQUIRE(p);
	REQUIRE(pin(dev_fd, p, N, mode, &pn) == 0, "%s", mode_name[mode]);
	CHECK(pn.npinned == N);
	CHECK(pn.ndevice == N, "only %llu pages on the device",
	      (unsigned long long)pn.ndevice);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_flag(dev_fd, p, N, COHMEM_PAGE_PINNED) == (pinned ? N : 0));
	CHECK(count_pfn_in_dev(&dev_info, p, N) == N);
	CHECK(verify(p, N, mode) == -1);
	/* Extra references: migrate_vma skips every page, nothing is lost. */
	CHECK(migrate(dev_fd, p, N, false, &m) == 0);
	CHECK(m.moved == 0 && m.skipped_busy == N, "moved %llu busy %llu",
	      (unsigned long long)m.moved, (unsigned long long)m.skipped_busy);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(unpin(dev_fd, pn.handle) == 0);
	CHECK(migrate(dev_fd, p, N, false, &m) == 0 && m.moved == N);
	CHECK(verify(p, N, mode) == -1);
	munmap(p, N * page_size);
}

static void short_slow_stays(void)
{
	shortterm_case(COHMEM_PIN_SHORT);
}

static void short_fast_stays(void)
{
	shortterm_case(COHMEM_PIN_SHORT_FAST);
}

static void get_fast_stays(void)
{
	shortterm_case(COHMEM_PIN_GET_FAST);
}

/* Device-side eviction cannot move pinned pages: they stay, intact. */
static void evict_skips_pinned(void)
{
	struct cohmem_evict e = { .flags = COHMEM_EVICT_ALL };
	struct cohmem_pin pn;
	char *p = on_device(dev_fd, N, 19);

	REQUIRE(p);
	REQUIRE(pin(dev_fd, p, N, COHMEM_PIN_SHORT, &pn) == 0);
	CHECK(xioctl(dev_fd, COHMEM_IOC_EVICT, &e) == 0);
	CHECK(e.evicted == 0 && e.busy == N, "evicted %llu busy %llu",
	      (unsigned long long)e.evicted, (unsigned long long)e.busy);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_pfn_in_dev(&dev_info, p, N) == N);
	CHECK(verify(p, N, 19) == -1);
	CHECK(unpin(dev_fd, pn.handle) == 0);
	memset(&e, 0, sizeof(e));
	e.flags = COHMEM_EVICT_ALL;
	CHECK(xioctl(dev_fd, COHMEM_IOC_EVICT, &e) == 0 && e.evicted == N,
	      "evicted %llu after unpin", (unsigned long long)e.evicted);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0);
	CHECK(verify(p, N, 19) == -1);
	munmap(p, N * page_size);
}

/* A real kernel client of long-term pins: io_uring fixed buffers. */
static void io_uring_fixed_buffers_evict(void)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct iovec iov;
	char *p = NULL, *src;
	int fd, ret;

	ret = io_uring_queue_init(4, &ring, 0);
	if (ret)
		SKIP("io_uring_queue_init: %s", strerror(-ret));
	p = on_device(dev_fd, N, 11);
	if (!p)
		goto out_ring;
	iov.iov_base = p;
	iov.iov_len = N * page_size;
	ret = io_uring_register_buffers(&ring, &iov, 1);
	if (CHECK(ret == 0, "IORING_REGISTER_BUFFERS: %s", strerror(-ret)))
		goto out;
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0);
	CHECK(count_pfn_in_dev(&dev_info, p, N) == 0);
	CHECK(count_flag(dev_fd, p, N, COHMEM_PAGE_PINNED) == N);
	CHECK(verify(p, N, 11) == -1);

	/* The registered buffer is the process's memory: read into it. */
	src = malloc(N * page_size);
	fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	if (!CHECK(src && fd >= 0)) {
		fill(src, N, 12);
		CHECK(pwrite(fd, src, N * page_size, 0) == (ssize_t)(N * page_size));
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_read_fixed(sqe, fd, p, N * page_size, 0, 0);
		CHECK(io_uring_submit(&ring) == 1);
		if (!CHECK(io_uring_wait_cqe(&ring, &cqe) == 0)) {
			CHECK(cqe->res == (int)(N * page_size), "read_fixed: %d", cqe->res);
			io_uring_cqe_seen(&ring, cqe);
		}
		CHECK(verify(p, N, 12) == -1);
	}
	if (fd >= 0)
		close(fd);
	free(src);
	CHECK(io_uring_unregister_buffers(&ring) == 0);
	CHECK(count_flag(dev_fd, p, N, COHMEM_PAGE_PINNED) == 0);
out:
	munmap(p, N * page_size);
out_ring:
	io_uring_queue_exit(&ring);
}

/* Pages held by a long-term pin cannot go (back) to the device. */
static void migrate_longterm_pinned_moves_nothing(void)
{
	struct cohmem_migrate m;
	struct cohmem_pin pn;
	char *p = map_anon(N, false);

	REQUIRE(p);
	fill(p, N, 13);
	REQUIRE(pin(dev_fd, p, N, COHMEM_PIN_LONGTERM, &pn) == 0);
	CHECK(migrate(dev_fd, p, N, true, &m) == 0);
	CHECK(m.moved == 0, "moved %llu pinned pages", (unsigned long long)m.moved);
	CHECK(m.skipped_busy == N, "busy %llu", (unsigned long long)m.skipped_busy);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0);
	CHECK(count_pfn_in_dev(&dev_info, p, N) == 0);
	CHECK(verify(p, N, 13) == -1);
	CHECK(unpin(dev_fd, pn.handle) == 0);
	munmap(p, N * page_size);
}

/*
 * A long-term pin of device pages that are short-term pinned: the kernel
 * cannot migrate them. On 6.1 and 6.12 it refuses with -EBUSY (no retry);
 * what must never happen is a long-term pin that holds device pages.
 */
static void longterm_while_short_pinned(void)
{
	struct cohmem_pin sp, lp;
	char *p = on_device(dev_fd, N, 14);
	int ret;

	REQUIRE(p);
	REQUIRE(pin(dev_fd, p, N, COHMEM_PIN_SHORT, &sp) == 0);
	ret = pin(dev_fd, p, N, COHMEM_PIN_LONGTERM, &lp);
	ktap_diag("long-term pin while short-term pinned: %s",
		  ret ? strerror(-ret) : "pinned");
	if (ret == 0) {
		CHECK(lp.ndevice == 0, "long-term pin holds %llu device pages",
		      (unsigned long long)lp.ndevice);
		unpin(dev_fd, lp.handle);
	} else {
		CHECK(ret == -EBUSY, "expected EBUSY, got %s", strerror(-ret));
		CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	}
	CHECK(verify(p, N, 14) == -1);
	CHECK(unpin(dev_fd, sp.handle) == 0);
	/* With the short-term pin gone, the long-term pin evicts. */
	CHECK(pin(dev_fd, p, N, COHMEM_PIN_LONGTERM, &lp) == 0 && lp.ndevice == 0);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0);
	CHECK(verify(p, N, 14) == -1);
	unpin(dev_fd, lp.handle);
	munmap(p, N * page_size);
}

/*
 * fork over device pages: both processes see them; whoever writes first
 * gets a copy in system RAM, the other keeps the device pages.
 */
static void fork_cow_case(bool child_writes)
{
	int go[2], status;
	char *p = on_device(dev_fd, N, 15);
	pid_t pid;

	REQUIRE(p);
	REQUIRE(pipe(go) == 0);
	pid = fork();
	if (pid == 0) {
		char c;
		int bad = 0;

		bad |= count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) != 0;
		bad |= (verify(p, N, 15) != -1) << 1;
		if (child_writes) {
			fill(p, N, 16);
			bad |= (count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) != 0) << 2;
			bad |= (verify(p, N, 16) != -1) << 3;
		} else {
			if (read(go[0], &c, 1) != 1)
				bad |= 1 << 4;
			bad |= (count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) != 0) << 5;
			bad |= (verify(p, N, 15) != -1) << 6;
		}
		_exit(bad);
	}
	REQUIRE(pid > 0);
	if (child_writes) {
		REQUIRE(waitpid(pid, &status, 0) == pid);
		CHECK(WIFEXITED(status) && !WEXITSTATUS(status), "child: %#x", status);
		CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
		CHECK(verify(p, N, 15) == -1);
	} else {
		fill(p, N, 17);
		CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0);
		CHECK(verify(p, N, 17) == -1);
		CHECK(write(go[1], "x", 1) == 1);
		REQUIRE(waitpid(pid, &status, 0) == pid);
		CHECK(WIFEXITED(status) && !WEXITSTATUS(status), "child: %#x", status);
	}
	close(go[0]);
	close(go[1]);
	munmap(p, N * page_size);
	CHECK(get_info(dev_fd).used_pages == 0, "%llu pages left in use",
	      (unsigned long long)get_info(dev_fd).used_pages);
}

static void fork_cow_child_writes(void)
{
	fork_cow_case(true);
}

static void fork_cow_parent_writes(void)
{
	fork_cow_case(false);
}

/* Closing the file drops its pins; a child's exit drops the child's. */
static void close_releases_pins(void)
{
	struct cohmem_migrate m;
	struct cohmem_pin pn;
	char *p = on_device(dev_fd, N, 18);
	int fd = open_dev(0), status;
	pid_t pid;

	REQUIRE(p);
	REQUIRE(pin(fd, p, N, COHMEM_PIN_SHORT, &pn) == 0);
	CHECK(count_flag(dev_fd, p, N, COHMEM_PAGE_PINNED) == N);
	close(fd);
	CHECK(count_flag(dev_fd, p, N, COHMEM_PAGE_PINNED) == 0);

	pid = fork();
	if (pid == 0) {
		int cfd = open_dev(0);

		/* The child pins its own (shared, COW) mapping, then dies. */
		_exit(pin(cfd, p, N, COHMEM_PIN_SHORT_FAST, &pn) ? 1 : 0);
	}
	REQUIRE(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && !WEXITSTATUS(status));
	CHECK(count_flag(dev_fd, p, N, COHMEM_PAGE_PINNED) == 0);
	CHECK(migrate(dev_fd, p, N, false, &m) == 0 && m.moved == N,
	      "moved %llu", (unsigned long long)m.moved);
	CHECK(verify(p, N, 18) == -1);
	munmap(p, N * page_size);
}

static void nothing_left_in_use(void)
{
	struct cohmem_info i = get_info(dev_fd);

	CHECK(i.used_pages == 0, "%llu pages in use", (unsigned long long)i.used_pages);
	CHECK(i.free_pages == i.total_pages);
}

int main(void)
{
	test_init(0);
	ktap_plan(13);
	RUN(longterm_slow_evicts);
	RUN(longterm_fast_evicts);
	RUN(short_slow_stays);
	RUN(short_fast_stays);
	RUN(get_fast_stays);
	RUN(evict_skips_pinned);
	RUN(io_uring_fixed_buffers_evict);
	RUN(migrate_longterm_pinned_moves_nothing);
	RUN(longterm_while_short_pinned);
	RUN(fork_cow_child_writes);
	RUN(fork_cow_parent_writes);
	RUN(close_releases_pins);
	RUN(nothing_left_in_use);
	return ktap_finish();
}
