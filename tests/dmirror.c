// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/hmm_dmirrorN (upstream_abi=1), cohmem's own tests of it: the
 * device's mirror (READ and WRITE fault once, see the CPU's writes, are
 * invalidated by munmap, mprotect and other devices' migrations), the
 * migrations and what SNAPSHOT says of them, every bad argument's errno,
 * and that the data is intact throughout. Devices 0 and 1 of whatever
 * type they were loaded with (the expected SNAPSHOT bytes follow it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/cohmem_hmm.h>

#include "lib.h"

#define N 256	/* pages per case */

static int hfd[2];		/* /dev/hmm_dmirror0 and 1 */
static struct cohmem_info hinfo[2];	/* of cohmem0 and cohmem1 */
static int kmajor, kminor;

static bool kernel_at_least(int major, int minor)
{
	return kmajor > major || (kmajor == major && kminor >= minor);
}

static bool is_private(int d)
{
	return hinfo[d].type == COHMEM_TYPE_PRIVATE;
}

/* The byte SNAPSHOT gives for a writable page of device d, seen from device d. */
static uint8_t local_write(int d)
{
	return (is_private(d) ? COHMEM_HMM_STATE_PRIVATE_LOCAL :
				COHMEM_HMM_STATE_COHERENT_LOCAL) | COHMEM_HMM_STATE_WRITE;
}

/* cmd on node d over [p, p + npages pages), data or states in buf. */
static int hmm(int d, unsigned long req, void *p, size_t npages, void *buf,
	       struct cohmem_hmm_cmd *out)
{
	struct cohmem_hmm_cmd c = {
		.addr = (uintptr_t)p,
		.ptr = (uintptr_t)buf,
		.npages = npages,
	};
	int ret = xioctl(hfd[d], req, &c);

	if (out)
		*out = c;
	return ret;
}

/* Pages of states[] that are not `want`; the first such index in *first. */
static long count_not(const uint8_t *states, size_t n, uint8_t want, long *first)
{
	long bad = 0;
	size_t i;

	*first = -1;
	for (i = 0; i < n; i++) {
		if (states[i] == want)
			continue;
		if (*first < 0)
			*first = i;
		bad++;
	}
	return bad;
}

#define CHECK_STATES(d, p, n, want) do {					\
	static uint8_t st_[N];							\
	long first_, bad_;							\
	REQUIRE(hmm(d, COHMEM_HMM_SNAPSHOT, p, n, st_, NULL) == 0);		\
	bad_ = count_not(st_, n, want, &first_);				\
	CHECK(bad_ == 0, "%ld of %d pages not %#x; page %ld is %#x", bad_,	\
	      (int)(n), want, first_, first_ < 0 ? 0 : st_[first_]);		\
} while (0)

static char *buf;	/* N pages of scratch for data read by the device */

/* --- bad arguments: a table --------------------------------------------- */

static void bad_arguments(void)
{
	char *p = map_anon(N, false);
	struct {
		const char *what;
		unsigned long req;
		uint64_t addr;
		uint64_t ptr;
		uint64_t npages;
		int err;
	} cases[] = {
		{ "unaligned address", COHMEM_HMM_READ, (uintptr_t)p + 1, (uintptr_t)buf, 1, -EINVAL },
		{ "no pages", COHMEM_HMM_READ, (uintptr_t)p, (uintptr_t)buf, 0, -EINVAL },
		{ "wrapping range", COHMEM_HMM_READ, (uintptr_t)p, (uintptr_t)buf,
		  UINT64_MAX / 4096, -EINVAL },
		{ "unknown command", _IOWR('H', 0x3f, struct cohmem_hmm_cmd), (uintptr_t)p,
		  (uintptr_t)buf, 1, -EINVAL },
		{ "READ into an unmapped buffer", COHMEM_HMM_READ, (uintptr_t)p, 8, 1, -EFAULT },
		{ "WRITE from an unmapped buffer", COHMEM_HMM_WRITE, (uintptr_t)p, 8, 1, -EFAULT },
		{ "SNAPSHOT into an unmapped buffer", COHMEM_HMM_SNAPSHOT, (uintptr_t)p, 8, 1,
		  -EFAULT },
		{ "MIGRATE_TO_DEV of a hole", COHMEM_HMM_MIGRATE_TO_DEV, 4096, (uintptr_t)buf, 1,
		  -EINVAL },
		{ "MIGRATE_TO_SYS of a hole", COHMEM_HMM_MIGRATE_TO_SYS, 4096, (uintptr_t)buf, 1,
		  -EINVAL },
		{ "READ of a hole", COHMEM_HMM_READ, 4096, (uintptr_t)buf, 1, -EFAULT },
		/* FLAGS: only where the kernel's test_hmm has it (7.2 on). */
		{ "FLAGS, unknown bit", COHMEM_HMM_FLAGS, (uintptr_t)p, 0, 2,
		  -EINVAL },
		{ "FLAGS before 7.2 / READ_UNLOCKED before 7.3", 0, (uintptr_t)p, (uintptr_t)buf,
		  1, -EINVAL },
	};
	struct cohmem_hmm_cmd c;
	unsigned int i;
	int ret;

	REQUIRE(p);
	fill(p, N, 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned long req = cases[i].req;

		if (!req && !kernel_at_least(7, 2))
			req = COHMEM_HMM_FLAGS;
		else if (!req && !kernel_at_least(7, 3))
			req = COHMEM_HMM_READ_UNLOCKED;
		else if (!req)
			continue;	/* both exist here */
		memset(&c, 0, sizeof(c));
		c.addr = cases[i].addr;
		c.ptr = cases[i].ptr;
		c.npages = cases[i].npages;
		ret = xioctl(hfd[0], req, &c);
		CHECK(ret == cases[i].err, "%s: %d (%s), expected %s", cases[i].what, ret,
		      strerror(-ret), strerror(-cases[i].err));
	}
	/* None of it moved or changed anything. */
	CHECK(verify(p, N, 1) == -1);
	CHECK(count_pfn_in_dev(&hinfo[0], p, N) == 0);
	munmap(p, N * page_size);
}

/* --- the mirror ----------------------------------------------------------- */

/* READ faults the range in once; a second READ needs no fault. */
static void read_faults_once(void)
{
	char *p = map_anon(N, false);
	struct cohmem_hmm_cmd c;

	REQUIRE(p);
	fill(p, N, 2);
	REQUIRE(hmm(0, COHMEM_HMM_READ, p, N, buf, &c) == 0);
	CHECK(c.cpages == N && c.faults == 1, "cpages %llu faults %llu",
	      (unsigned long long)c.cpages, (unsigned long long)c.faults);
	CHECK(verify(buf, N, 2) == -1, "the device read other data");
	memset(buf, 0, N * page_size);
	REQUIRE(hmm(0, COHMEM_HMM_READ, p, N, buf, &c) == 0);
	CHECK(c.cpages == N && c.faults == 0, "second READ: faults %llu",
	      (unsigned long long)c.faults);
	CHECK(verify(buf, N, 2) == -1);
	munmap(p, N * page_size);
}

/*
 * The mirror maps the process's pages: a CPU write in place is seen by
 * the device's next READ without a fault (coherence); MADV_DONTNEED
 * invalidates the mirror, and the next READ faults the zero pages in.
 */
static void cpu_writes_and_invalidation(void)
{
	char *p = map_anon(N, false);
	struct cohmem_hmm_cmd c;
	size_t i;

	REQUIRE(p);
	fill(p, N, 3);
	REQUIRE(hmm(0, COHMEM_HMM_READ, p, N, buf, &c) == 0);
	fill(p, N, 4);
	REQUIRE(hmm(0, COHMEM_HMM_READ, p, N, buf, &c) == 0);
	CHECK(c.faults == 0 && verify(buf, N, 4) == -1,
	      "after CPU writes in place: faults %llu, data %s", (unsigned long long)c.faults,
	      verify(buf, N, 4) == -1 ? "new" : "stale");
	REQUIRE(madvise(p, N * page_size, MADV_DONTNEED) == 0);
	REQUIRE(hmm(0, COHMEM_HMM_READ, p, N, buf, &c) == 0);
	CHECK(c.faults == 1, "after MADV_DONTNEED: faults %llu (the mirror kept stale pages)",
	      (unsigned long long)c.faults);
	for (i = 0; i < N * page_size && !buf[i]; i++)
		;
	CHECK(i == N * page_size, "after MADV_DONTNEED the device read non-zero byte %zu", i);
	munmap(p, N * page_size);
}

/* READ of PROT_NONE is -EFAULT; WRITE of read-only is -EPERM until mprotect. */
static void protections(void)
{
	char *p = map_anon(N, false);
	struct cohmem_hmm_cmd c;

	REQUIRE(p);
	fill(p, N, 5);
	REQUIRE(mprotect(p, N * page_size, PROT_NONE) == 0);
	memset(buf, 0x77, page_size);
	CHECK(hmm(0, COHMEM_HMM_READ, p, N, buf, &c) == -EFAULT, "READ of PROT_NONE");
	CHECK(buf[0] == 0x77 && buf[page_size - 1] == 0x77, "the buffer was written");
	REQUIRE(mprotect(p, N * page_size, PROT_READ) == 0);
	REQUIRE(hmm(0, COHMEM_HMM_READ, p, N, buf, &c) == 0);
	CHECK(verify(buf, N, 5) == -1);
	fill(buf, N, 6);
	CHECK(hmm(0, COHMEM_HMM_WRITE, p, N, buf, &c) == -EPERM, "WRITE of read-only");
	CHECK(verify(p, N, 5) == -1, "a refused WRITE changed the data");
	REQUIRE(mprotect(p, N * page_size, PROT_READ | PROT_WRITE) == 0);
	REQUIRE(hmm(0, COHMEM_HMM_WRITE, p, N, buf, &c) == 0);
	CHECK(c.cpages == N && c.faults == 1, "cpages %llu faults %llu",
	      (unsigned long long)c.cpages, (unsigned long long)c.faults);
	CHECK(verify(p, N, 6) == -1, "the CPU does not see the device's write");
	munmap(p, N * page_size);
}

/* A file opened by one process is that process's mirror only. */
static void other_process_refused(void)
{
	char *p = map_anon(N, false);
	int status;
	pid_t pid;

	REQUIRE(p);
	fill(p, N, 7);
	pid = fork();
	REQUIRE(pid >= 0);
	if (!pid) {
		struct cohmem_hmm_cmd c = { (uintptr_t)p, (uintptr_t)buf, N, 0, 0 };

		_exit(xioctl(hfd[0], COHMEM_HMM_READ, &c) == -EINVAL ? 0 : 1);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the child used its parent's mirror");
	munmap(p, N * page_size);
}

/* --- migrations ----------------------------------------------------------- */

static void migrate_and_back(void)
{
	char *p = map_anon(N, false);
	struct cohmem_hmm_cmd c;

	REQUIRE(p);
	fill(p, N, 8);
	memset(buf, 0, N * page_size);
	REQUIRE(hmm(0, COHMEM_HMM_MIGRATE_TO_DEV, p, N, buf, &c) == 0);
	CHECK(c.cpages == N, "cpages %llu", (unsigned long long)c.cpages);
	CHECK(verify(buf, N, 8) == -1, "the read-back differs");
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0,
	      "cohmem0's SNAPSHOT: not all on the device");
	CHECK_STATES(0, p, N, local_write(0));
	/* (A CPU access here would fault private pages back: after.) */
	REQUIRE(hmm(0, COHMEM_HMM_MIGRATE_TO_SYS, p, N, buf, &c) == 0);
	CHECK(c.cpages == N, "MIGRATE_TO_SYS moved %llu", (unsigned long long)c.cpages);
	CHECK_STATES(0, p, N, COHMEM_HMM_STATE_WRITE);
	CHECK(count_pfn_in_dev(&hinfo[0], p, N) == 0);
	CHECK(verify(p, N, 8) == -1);
	munmap(p, N * page_size);
}

/* Holes and PROT_NONE are -EINVAL, shared memory -ENOENT; nothing moves. */
static void migrate_refused(void)
{
	char *p = map_anon(N, false), *s;
	struct cohmem_hmm_cmd c;

	REQUIRE(p);
	fill(p, N, 9);
	REQUIRE(mprotect(p + page_size, page_size, PROT_NONE) == 0);
	CHECK(hmm(0, COHMEM_HMM_MIGRATE_TO_DEV, p, N, buf, &c) == -EINVAL, "PROT_NONE inside");
	REQUIRE(munmap(p + page_size, page_size) == 0);
	CHECK(hmm(0, COHMEM_HMM_MIGRATE_TO_DEV, p, N, buf, &c) == -EINVAL, "a hole inside");
	CHECK(count_pfn_in_dev(&hinfo[0], p, 1) == 0);
	s = mmap(NULL, N * page_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(s != MAP_FAILED);
	fill(s, N, 10);
	CHECK(hmm(0, COHMEM_HMM_MIGRATE_TO_DEV, s, N, buf, &c) == -ENOENT, "shared memory");
	CHECK(verify(s, N, 10) == -1);
	munmap(s, N * page_size);
	munmap(p, N * page_size);
}

/*
 * Device 1 migrates pages device 0 mirrors: device 0's mirror must drop
 * them (a fault on its next READ) and read the same data; SNAPSHOT from
 * device 0 calls them another device's.
 */
static void other_device_migration(void)
{
	char *p = map_anon(N, false);
	struct cohmem_hmm_cmd c;
	uint8_t want;

	REQUIRE(p);
	fill(p, N, 11);
	REQUIRE(hmm(0, COHMEM_HMM_READ, p, N, buf, &c) == 0);
	REQUIRE(hmm(1, COHMEM_HMM_MIGRATE_TO_DEV, p, N, buf, &c) == 0);
	CHECK(c.cpages == N);
	memset(buf, 0, N * page_size);
	REQUIRE(hmm(0, COHMEM_HMM_READ, p, N, buf, &c) == 0);
	CHECK(c.faults == 1, "device 0 read without a fault: its mirror kept the old pages");
	CHECK(verify(buf, N, 11) == -1);
	/* Device 0's READ faulted device 1's private pages back to RAM. */
	if (is_private(1))
		want = COHMEM_HMM_STATE_WRITE;
	else
		want = COHMEM_HMM_STATE_COHERENT_REMOTE | COHMEM_HMM_STATE_WRITE;
	CHECK_STATES(0, p, N, want);
	/* A page on device 1 is not device 0's to move: -ENOENT. */
	if (!is_private(1))
		CHECK(hmm(0, COHMEM_HMM_MIGRATE_TO_DEV, p, N, buf, &c) == -ENOENT,
		      "MIGRATE_TO_DEV of device 1's pages through device 0");
	CHECK(verify(p, N, 11) == -1);
	munmap(p, N * page_size);
}

/* RELEASE evicts the whole device: the pages come back, data intact. */
static void release_evicts(void)
{
	char *p = map_anon(N, false);
	struct cohmem_hmm_cmd c;

	REQUIRE(p);
	fill(p, N, 12);
	REQUIRE(hmm(0, COHMEM_HMM_MIGRATE_TO_DEV, p, N, buf, &c) == 0);
	REQUIRE(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	REQUIRE(hmm(0, COHMEM_HMM_RELEASE, p, 1, buf, &c) == 0);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0,
	      "after RELEASE, pages still on the device");
	CHECK(get_info(dev_fd).used_pages == 0, "used pages %llu",
	      (unsigned long long)get_info(dev_fd).used_pages);
	CHECK(verify(p, N, 12) == -1);
	munmap(p, N * page_size);
}

/* SNAPSHOT of what a process has: zero page, read-only, PROT_NONE, holes. */
static void snapshot_states(void)
{
	char *p = map_anon(4, false);
	uint8_t st[4];
	volatile char x;

	REQUIRE(p);
	x = p[0];		/* page 0: the zero page, read-only */
	(void)x;
	p[page_size] = 1;	/* page 1: RAM, writable */
	REQUIRE(mprotect(p + 2 * page_size, page_size, PROT_NONE) == 0);
	REQUIRE(munmap(p + 3 * page_size, page_size) == 0);
	REQUIRE(hmm(0, COHMEM_HMM_SNAPSHOT, p, 3, st, NULL) == 0);
	CHECK(st[0] == (COHMEM_HMM_STATE_ZERO | COHMEM_HMM_STATE_READ), "zero page: %#x", st[0]);
	CHECK(st[1] == COHMEM_HMM_STATE_WRITE, "RAM: %#x", st[1]);
	CHECK(st[2] == COHMEM_HMM_STATE_ERROR, "PROT_NONE: %#x", st[2]);
	CHECK(hmm(0, COHMEM_HMM_SNAPSHOT, p + 3 * page_size, 1, st, NULL) == 0 &&
	      st[0] == COHMEM_HMM_STATE_ERROR, "hole: %#x", st[0]);
	munmap(p, 3 * page_size);
}

/* The node maps zeroed pages of its own (read-only in a private mapping). */
static void mmap_node(void)
{
	uint8_t st[4];
	char *m;
	int i;

	m = mmap(NULL, 4 * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, hfd[0], 0);
	REQUIRE(m != MAP_FAILED, "mmap: %s", strerror(errno));
	for (i = 0; i < 4; i++)
		CHECK(m[i * page_size] == 0 && m[i * page_size + 4095] == 0);
	REQUIRE(hmm(0, COHMEM_HMM_SNAPSHOT, m, 4, st, NULL) == 0);
	CHECK(st[0] == COHMEM_HMM_STATE_READ, "%#x", st[0]);
	munmap(m, 4 * page_size);
	m = mmap(NULL, 1UL << 30, PROT_READ, MAP_PRIVATE, hfd[0], 0);
	CHECK(m == MAP_FAILED && errno == ENOMEM, "a 1 GiB mapping of the node: %s",
	      m == MAP_FAILED ? strerror(errno) : "mapped");
	if (m != MAP_FAILED)
		munmap(m, 1UL << 30);
}

/*
 * EXCLUSIVE: the device holds the pages until the CPU touches them, then
 * CHECK_EXCLUSIVE says 0. Kernels without device-exclusive entries
 * (no CONFIG_DEVICE_PRIVATE) say -EOPNOTSUPP.
 */
static void exclusive(void)
{
	char *p = map_anon(N, false);
	struct cohmem_hmm_cmd c;
	int ret;
	size_t i;

	REQUIRE(p);
	fill(p, N, 13);
	ret = hmm(0, COHMEM_HMM_EXCLUSIVE, p, N, buf, &c);
	if (ret == -EOPNOTSUPP) {
		CHECK(verify(p, N, 13) == -1);
		munmap(p, N * page_size);
		SKIP("the kernel has no device-exclusive entries (CONFIG_DEVICE_PRIVATE)");
	}
	REQUIRE(ret == 0, "EXCLUSIVE: %s", strerror(-ret));
	CHECK(c.cpages == N && verify(buf, N, 13) == -1);
	CHECK(hmm(0, COHMEM_HMM_CHECK_EXCLUSIVE, p, N, buf, &c) == -EPERM,
	      "CHECK_EXCLUSIVE while exclusive");
	for (i = 0; i < N; i++)
		p[i * page_size] ^= 0xff;
	CHECK(hmm(0, COHMEM_HMM_CHECK_EXCLUSIVE, p, N, buf, &c) == 0,
	      "CHECK_EXCLUSIVE after the CPU wrote every page");
	for (i = 0; i < N; i++)
		p[i * page_size] ^= 0xff;
	CHECK(verify(p, N, 13) == -1);
	munmap(p, N * page_size);
}

int main(void)
{
	struct utsname u;
	int i;

	test_init(0);
	if (uname(&u) || sscanf(u.release, "%d.%d", &kmajor, &kminor) != 2) {
		printf("Bail out! uname: %s\n", u.release);
		return 1;
	}
	for (i = 0; i < 2; i++) {
		char path[32];
		int fd = i ? open_dev(1) : dev_fd;

		snprintf(path, sizeof(path), "/dev/hmm_dmirror%d", i);
		hfd[i] = open(path, O_RDWR | O_CLOEXEC);
		if (hfd[i] < 0) {
			printf("Bail out! %s: %s (load cohmem with upstream_abi=1 and 2 devices)\n",
			       path, strerror(errno));
			return 1;
		}
		hinfo[i] = get_info(fd);
	}
	buf = map_anon(N, false);
	if (!buf) {
		printf("Bail out! no memory\n");
		return 1;
	}
	ktap_plan(12);
	RUN(bad_arguments);
	RUN(read_faults_once);
	RUN(cpu_writes_and_invalidation);
	RUN(protections);
	RUN(other_process_refused);
	RUN(migrate_and_back);
	RUN(migrate_refused);
	RUN(other_device_migration);
	RUN(release_evicts);
	RUN(snapshot_states);
	RUN(mmap_node);
	RUN(exclusive);
	return ktap_finish();
}
