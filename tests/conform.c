// SPDX-License-Identifier: GPL-2.0
/*
 * cohmem conformance: what the kernel does with device-coherent pages on
 * the paths an mm developer would poke. Every case states its expectation
 * in its KTAP line ("expect: ...") and asserts data and residency.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define N 256

/* The expectation goes in the KTAP stream, for the conformance table. */
#define EXPECT(fn, what) do { ktap_diag("expect: %s", what); RUN(fn); } while (0)

static long used(void)
{
	return get_info(dev_fd).used_pages;
}

/* expect: unmapping part of a device range frees exactly that part */
static void munmap_part(void)
{
	long before = used();
	char *p = on_device(dev_fd, N, 1);

	REQUIRE(p);
	REQUIRE(munmap(p + 64 * page_size, 64 * page_size) == 0);
	CHECK(used() == before + N - 64, "%ld in use, expected %ld", used(), before + N - 64);
	CHECK(verify(p, 64, 1) == -1);
	CHECK(count_not_state(dev_fd, p, 64, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_not_state(dev_fd, p + 128 * page_size, N - 128, COHMEM_STATE_DEVICE) == 0);
	munmap(p, 64 * page_size);
	munmap(p + 128 * page_size, (N - 128) * page_size);
	CHECK(used() == before);
}

/* expect: mremap moves the page tables: same device pages at the new address */
static void mremap_move(void)
{
	char *p = on_device(dev_fd, N, 2), *q;
	uint64_t pfn;

	REQUIRE(p);
	pfn = pagemap_pfn(p);
	q = mremap(p, N * page_size, N * page_size, MREMAP_MAYMOVE | MREMAP_FIXED,
		   p + 64 * N * page_size);
	REQUIRE(q != MAP_FAILED, "mremap: %s", strerror(errno));
	CHECK(count_not_state(dev_fd, q, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(pagemap_pfn(q) == pfn, "PFN changed");
	CHECK(verify(q, N, 2) == -1);
	munmap(q, N * page_size);
}

/* expect: growing keeps the device pages; the new tail is not present */
static void mremap_grow(void)
{
	char *p = on_device(dev_fd, N, 3), *q;

	REQUIRE(p);
	q = mremap(p, N * page_size, 2 * N * page_size, MREMAP_MAYMOVE);
	REQUIRE(q != MAP_FAILED, "mremap: %s", strerror(errno));
	CHECK(count_not_state(dev_fd, q, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_not_state(dev_fd, q + N * page_size, N, COHMEM_STATE_NONE) == 0);
	CHECK(verify(q, N, 3) == -1);
	munmap(q, 2 * N * page_size);
}

/* expect: read-only then writable again: the write fault reuses the device page */
static void mprotect_write_fault(void)
{
	char *p = on_device(dev_fd, N, 4);
	uint64_t pfn;

	REQUIRE(p);
	pfn = pagemap_pfn(p);
	REQUIRE(mprotect(p, N * page_size, PROT_READ) == 0);
	CHECK(count_flag(dev_fd, p, N, COHMEM_PAGE_WRITE) == 0);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	REQUIRE(mprotect(p, N * page_size, PROT_READ | PROT_WRITE) == 0);
	fill(p, N, 5);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(pagemap_pfn(p) == pfn, "write fault moved the page");
	CHECK(verify(p, N, 5) == -1);
	munmap(p, N * page_size);
}

/* expect: MADV_DONTNEED drops the device pages: zero-fill, device pages freed */
static void madvise_dontneed(void)
{
	long before = used();
	char *p = on_device(dev_fd, N, 6);
	size_t i;

	REQUIRE(p);
	REQUIRE(madvise(p, N * page_size, MADV_DONTNEED) == 0);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_NONE) == 0);
	CHECK(used() == before);
	for (i = 0; i < N * page_size; i += 512)
		if (CHECK(p[i] == 0, "byte %zu", i))
			break;
	munmap(p, N * page_size);
}

/* expect: the kernel skips device pages for this advice: they stay, intact */
static void advice_skipped(int advice, const char *name)
{
	char *p = on_device(dev_fd, N, 7);
	int ret;

	REQUIRE(p);
	ret = madvise(p, N * page_size, advice);
	if (ret && errno == EINVAL) {
		munmap(p, N * page_size);
		SKIP("madvise(%s): EINVAL, not supported by this kernel", name);
	}
	CHECK(ret == 0, "madvise(%s): %s", name, strerror(errno));
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_pfn_in_dev(&dev_info, p, N) == N);
	CHECK(verify(p, N, 7) == -1);
	munmap(p, N * page_size);
}

static void madvise_free_skipped(void)
{
	advice_skipped(MADV_FREE, "MADV_FREE");
}

static void madvise_cold_skipped(void)
{
	advice_skipped(MADV_COLD, "MADV_COLD");
}

static void madvise_pageout_skipped(void)
{
	advice_skipped(MADV_PAGEOUT, "MADV_PAGEOUT");
}

/* expect: mlock leaves device pages on the device */
static void mlock_stays(void)
{
	char *p = on_device(dev_fd, N, 8);

	REQUIRE(p);
	CHECK(mlock(p, N * page_size) == 0, "mlock: %s", strerror(errno));
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(verify(p, N, 8) == -1);
	munlock(p, N * page_size);
	munmap(p, N * page_size);
}

/* expect: move_pages() reports device pages as -ENOENT (no NUMA node) */
static void move_pages_enoent(void)
{
	char *p = on_device(dev_fd, 16, 9);
	void *pages[16];
	int status[16], i;
	long ret;

	REQUIRE(p);
	for (i = 0; i < 16; i++)
		pages[i] = p + i * page_size;
	ret = syscall(SYS_move_pages, 0, 16UL, pages, NULL, status, 0);
	if (ret && errno == ENOSYS) {
		munmap(p, 16 * page_size);
		SKIP("move_pages: ENOSYS (no NUMA in this kernel)");
	}
	CHECK(ret == 0, "move_pages: %s", strerror(errno));
	for (i = 0; i < 16; i++)
		if (CHECK(status[i] == -ENOENT, "page %d: status %d", i, status[i]))
			break;
	CHECK(count_not_state(dev_fd, p, 16, COHMEM_STATE_DEVICE) == 0);
	munmap(p, 16 * page_size);
}

/*
 * expect: the shared zero page becomes a zero-filled device page (all the
 * kernels tested; Debian's 6.1 has that behaviour backported)
 */
static void zero_page(void)
{
	char *p = map_anon(N, false);
	struct cohmem_migrate m;
	volatile char sum = 0;
	size_t i;

	REQUIRE(p);
	for (i = 0; i < N; i++)
		sum += p[i * page_size];
	CHECK(sum == 0);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0);
	CHECK(count_flag(dev_fd, p, N, COHMEM_PAGE_WRITE) == 0);
	REQUIRE(migrate(dev_fd, p, N, true, &m) == 0);
	CHECK(m.moved == N, "moved %llu", (unsigned long long)m.moved);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	for (i = 0; i < N * page_size; i += 256)
		if (CHECK(p[i] == 0, "byte %zu", i))
			break;
	munmap(p, N * page_size);
}

/* expect: page-cache pages of a private file mapping are skipped; COWed ones move */
static void private_file_pages(void)
{
	int fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	struct cohmem_migrate m;
	char *buf, *p;

	REQUIRE(fd >= 0);
	buf = map_anon(N, false);
	fill(buf, N, 10);
	REQUIRE(pwrite(fd, buf, N * page_size, 0) == (ssize_t)(N * page_size));
	p = mmap(NULL, N * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	REQUIRE(p != MAP_FAILED);
	CHECK(verify(p, N, 10) == -1);
	REQUIRE(migrate(dev_fd, p, N, true, &m) == 0);
	CHECK(m.moved == 0, "moved %llu page-cache pages", (unsigned long long)m.moved);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0);
	/* Write the first half: private anonymous copies, which do move. */
	fill(p, N / 2, 11);
	REQUIRE(migrate(dev_fd, p, N, true, &m) == 0);
	CHECK(m.moved == N / 2, "moved %llu COWed pages", (unsigned long long)m.moved);
	CHECK(count_not_state(dev_fd, p, N / 2, COHMEM_STATE_DEVICE) == 0);
	CHECK(verify(p, N / 2, 11) == -1);
	CHECK(verify(p + N / 2 * page_size, N / 2, 10) == -1 ||
	      memcmp(p + N / 2 * page_size, buf + N / 2 * page_size, N / 2 * page_size) == 0);
	munmap(p, N * page_size);
	munmap(buf, N * page_size);
	close(fd);
}

/* Child process runs fn(parent pid, buffer) and exits 0 on success. */
static void remote_case(int (*fn)(pid_t, char *))
{
	char *p = on_device(dev_fd, N, 12);
	int status;
	pid_t pid, parent = getpid();

	REQUIRE(p);
	pid = fork();
	if (pid == 0)
		_exit(fn(parent, p));
	REQUIRE(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %#x", status);
	/* The child wrote seed 13 into our buffer from outside. */
	CHECK(verify(p, N, 13) == -1);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_pfn_in_dev(&dev_info, p, N) == N);
	munmap(p, N * page_size);
}

static int vm_rw(pid_t pid, char *p)
{
	char *buf = map_anon(N, false);
	struct iovec local = { buf, N * page_size }, remote = { p, N * page_size };

	/* A fork child shares the pages: drop them to read remotely for real. */
	munmap(p, N * page_size);
	if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)(N * page_size) ||
	    verify(buf, N, 12) != -1)
		return 1;
	fill(buf, N, 13);
	if (process_vm_writev(pid, &local, 1, &remote, 1, 0) != (ssize_t)(N * page_size))
		return 2;
	return 0;
}

/* expect: remote GUP (process_vm_readv/writev) reads and writes in place */
static void process_vm_rw(void)
{
	remote_case(vm_rw);
}

static int proc_mem(pid_t pid, char *p)
{
	char *buf = map_anon(N, false), path[64];
	int fd;

	munmap(p, N * page_size);
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDWR);
	if (fd < 0)
		return 1;
	if (pread(fd, buf, N * page_size, (uintptr_t)p) != (ssize_t)(N * page_size) ||
	    verify(buf, N, 12) != -1)
		return 2;
	fill(buf, N, 13);
	if (pwrite(fd, buf, N * page_size, (uintptr_t)p) != (ssize_t)(N * page_size))
		return 3;
	return 0;
}

/* expect: /proc/PID/mem reads and writes device pages in place */
static void proc_pid_mem(void)
{
	remote_case(proc_mem);
}

/* expect: vmsplice holds references while in the pipe; pages stay on the device */
static void vmsplice_stays(void)
{
	struct cohmem_migrate m;
	char *p = on_device(dev_fd, 16, 14), *buf;
	struct iovec iov;
	int pfd[2];

	REQUIRE(p);
	REQUIRE(pipe(pfd) == 0);
	iov.iov_base = p;
	iov.iov_len = 16 * page_size;
	CHECK(vmsplice(pfd[1], &iov, 1, 0) == (ssize_t)(16 * page_size), "vmsplice: %s",
	      strerror(errno));
	CHECK(count_not_state(dev_fd, p, 16, COHMEM_STATE_DEVICE) == 0);
	/* The pipe's references make the pages busy for migration. */
	CHECK(migrate(dev_fd, p, 16, false, &m) == 0 && m.moved == 0 && m.skipped_busy == 16,
	      "moved %llu busy %llu", (unsigned long long)m.moved,
	      (unsigned long long)m.skipped_busy);
	buf = map_anon(16, false);
	CHECK(read(pfd[0], buf, 16 * page_size) == (ssize_t)(16 * page_size));
	CHECK(verify(buf, 16, 14) == -1);
	CHECK(migrate(dev_fd, p, 16, false, &m) == 0 && m.moved == 16);
	CHECK(verify(p, 16, 14) == -1);
	close(pfd[0]);
	close(pfd[1]);
	munmap(buf, 16 * page_size);
	munmap(p, 16 * page_size);
}

/* expect: a long-term pin over a half-device range evicts that half, keeps all data */
static void longterm_partial(void)
{
	char *p = map_anon(N, false);
	struct cohmem_migrate m;
	struct cohmem_pin pn;

	REQUIRE(p);
	fill(p, N, 15);
	REQUIRE(migrate(dev_fd, p + N / 2 * page_size, N / 2, true, &m) == 0 && m.moved == N / 2);
	REQUIRE(pin(dev_fd, p, N, COHMEM_PIN_LONGTERM, &pn) == 0);
	CHECK(pn.ndevice == 0);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0);
	CHECK(verify(p, N, 15) == -1);
	CHECK(unpin(dev_fd, pn.handle) == 0);
	munmap(p, N * page_size);
}

/*
 * expect: fork copies pinned anonymous pages for the child at once (they
 * may be under DMA): the child gets system RAM, the parent keeps its
 * pinned device pages.
 */
static void pin_across_fork(void)
{
	char *p = on_device(dev_fd, N, 16);
	struct cohmem_pin pn;
	int status;
	pid_t pid;

	REQUIRE(p);
	REQUIRE(pin(dev_fd, p, N, COHMEM_PIN_SHORT, &pn) == 0 && pn.ndevice == N);
	pid = fork();
	if (pid == 0)
		_exit((count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) != 0) |
		      (verify(p, N, 16) != -1) << 1);
	REQUIRE(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %#x", status);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_flag(dev_fd, p, N, COHMEM_PAGE_PINNED) == N);
	CHECK(verify(p, N, 16) == -1);
	CHECK(unpin(dev_fd, pn.handle) == 0);
	munmap(p, N * page_size);
}

/*
 * expect: device 1's pages are "another device's memory" seen through
 * device 0, which can neither migrate them back nor evict them; two
 * processes use the two devices at once.
 */
static void two_devices(void)
{
	struct cohmem_evict e = { .flags = COHMEM_EVICT_ALL };
	struct cohmem_info i1;
	struct cohmem_migrate m;
	int fd1 = open("/dev/cohmem1", O_RDWR), status;
	char *p;
	pid_t pid;

	if (fd1 < 0)
		SKIP("no /dev/cohmem1 (one device loaded)");
	i1 = get_info(fd1);
	p = on_device(fd1, N, 17);
	REQUIRE(p);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_OTHER) == 0);
	CHECK(count_not_state(fd1, p, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_pfn_in_dev(&i1, p, N) == N);
	CHECK(migrate(dev_fd, p, N, false, &m) == 0 && m.moved == 0,
	      "device 0 moved %llu of device 1's pages", (unsigned long long)m.moved);
	CHECK(migrate(dev_fd, p, N, true, &m) == 0 && m.moved == 0,
	      "device 0 took %llu of device 1's pages", (unsigned long long)m.moved);
	CHECK(xioctl(dev_fd, COHMEM_IOC_EVICT, &e) == 0);
	CHECK(count_not_state(fd1, p, N, COHMEM_STATE_DEVICE) == 0);

	munmap(p, N * page_size);

	/* Concurrently: a child on device 0, this process on device 1. */
	pid = fork();
	if (pid == 0) {
		char *q = on_device(dev_fd, N, 18);

		_exit(!q || verify(q, N, 18) != -1 ||
		      count_not_state(dev_fd, q, N, COHMEM_STATE_DEVICE) != 0);
	}
	p = on_device(fd1, N, 19);
	CHECK(p && count_not_state(fd1, p, N, COHMEM_STATE_DEVICE) == 0);
	REQUIRE(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %#x", status);
	REQUIRE(p);
	CHECK(migrate(fd1, p, N, false, &m) == 0 && m.moved == N,
	      "moved back %llu", (unsigned long long)m.moved);
	CHECK(verify(p, N, 19) == -1);
	CHECK(get_info(fd1).used_pages == 0);
	munmap(p, N * page_size);
	close(fd1);
}

static long sysfs_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void sysfs_write(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(val, f);
		fclose(f);
	}
}

/*
 * expect: KSM merges identical pages in system RAM (the control) but never
 * device pages.
 */
static void ksm_never_merges(void)
{
	const char *ksm = "/sys/kernel/mm/ksm/";
	char path[96];
	char *sys = map_anon(32, false), *dev;
	long scans, deadline;
	uint64_t first;
	size_t i;

	snprintf(path, sizeof(path), "%sfull_scans", ksm);
	scans = sysfs_long(path);
	if (scans < 0)
		SKIP("no KSM in this kernel");
	REQUIRE(sys);
	memset(sys, 0x42, 32 * page_size);
	dev = map_anon(32, false);
	REQUIRE(dev);
	memset(dev, 0x42, 32 * page_size);
	REQUIRE(migrate(dev_fd, dev, 32, true, NULL) == 0);
	REQUIRE(count_not_state(dev_fd, dev, 32, COHMEM_STATE_DEVICE) == 0);
	REQUIRE(madvise(sys, 32 * page_size, MADV_MERGEABLE) == 0, "%s", strerror(errno));
	REQUIRE(madvise(dev, 32 * page_size, MADV_MERGEABLE) == 0);
	snprintf(path, sizeof(path), "%spages_to_scan", ksm);
	sysfs_write(path, "5000");
	snprintf(path, sizeof(path), "%ssleep_millisecs", ksm);
	sysfs_write(path, "10");
	snprintf(path, sizeof(path), "%srun", ksm);
	sysfs_write(path, "1");
	snprintf(path, sizeof(path), "%sfull_scans", ksm);
	for (deadline = 0; sysfs_long(path) < scans + 3 && deadline < 300; deadline++)
		usleep(100000);
	snprintf(path, sizeof(path), "%srun", ksm);
	CHECK(deadline < 300, "ksmd did not scan within 30 s");
	/* Control: the system RAM copies were merged into one page. */
	first = pagemap_pfn(sys);
	for (i = 1; i < 32; i++)
		if (CHECK(pagemap_pfn(sys + i * page_size) == first,
			  "system page %zu not merged: KSM did not run", i))
			break;
	CHECK(count_not_state(dev_fd, dev, 32, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_pfn_in_dev(&dev_info, dev, 32) == 32);
	for (i = 1; i < 32; i++)
		if (CHECK(pagemap_pfn(dev + i * page_size) != pagemap_pfn(dev),
			  "device page %zu merged", i))
			break;
	sysfs_write(path, "2");	/* unmerge everything, stop */
	munmap(sys, 32 * page_size);
	munmap(dev, 32 * page_size);
}

#define DIO_PAGES 64

/* PFNs of n pages (pagemap); true when every one lies in the device range. */
static bool pfns(const char *p, size_t n, uint64_t *pfn)
{
	size_t i;

	for (i = 0; i < n; i++)
		pfn[i] = pagemap_pfn(p + i * page_size);
	return count_pfn_in_dev(&dev_info, p, n) == (long)n;
}

/* Pages whose PFN is no longer the one recorded. */
static long pfns_changed(const char *p, size_t n, const uint64_t *pfn)
{
	long changed = 0;
	size_t i;

	for (i = 0; i < n; i++)
		changed += pagemap_pfn(p + i * page_size) != pfn[i];
	return changed;
}

/*
 * expect: O_DIRECT pins the user buffer short-term (FOLL_PIN without
 * FOLL_LONGTERM) for the duration of the I/O: a device buffer written to a
 * raw block device, and one read into from it, stay on the device in the
 * same pages, unpinned afterwards; the data goes to the disk and back.
 */
static void odirect_rw(void)
{
	const char *disk = getenv("COHMEM_DISK"), *why = getenv("COHMEM_NODISK");
	const size_t n = DIO_PAGES, len = DIO_PAGES * page_size;
	const off_t off = 1 << 20;
	uint64_t pfn_src[DIO_PAGES], pfn_dst[DIO_PAGES];
	long before = used();
	char *src, *dst, *ctl;
	int fd;

	if (!disk || !*disk)
		SKIP("no scratch disk: %s", why ? why : "COHMEM_DISK not set");
	/* Page-aligned buffers and a length of whole pages: fine for DIO. */
	fd = open(disk, O_RDWR | O_DIRECT);
	REQUIRE(fd >= 0, "%s: %s", disk, strerror(errno));
	src = on_device(dev_fd, n, 20);
	dst = on_device(dev_fd, n, 21);
	ctl = map_anon(n, false);
	if (CHECK(src && dst && ctl))
		goto out;
	CHECK(pfns(src, n, pfn_src), "source not in the device range");
	CHECK(pfns(dst, n, pfn_dst), "destination not in the device range");

	CHECK(pwrite(fd, src, len, off) == (ssize_t)len, "O_DIRECT pwrite: %s", strerror(errno));
	CHECK(count_not_state(dev_fd, src, n, COHMEM_STATE_DEVICE) == 0,
	      "written buffer left the device (snapshot)");
	CHECK(pfns_changed(src, n, pfn_src) == 0, "written buffer moved (pagemap)");
	CHECK(count_flag(dev_fd, src, n, COHMEM_PAGE_PINNED) == 0, "still pinned after the write");
	CHECK(verify(src, n, 20) == -1, "written buffer changed");

	/* Control: the disk holds the data, read into system RAM. */
	fill(ctl, n, 22);
	CHECK(pread(fd, ctl, len, off) == (ssize_t)len, "O_DIRECT pread: %s", strerror(errno));
	CHECK(verify(ctl, n, 20) == -1, "the disk does not hold the buffer's data");

	CHECK(pread(fd, dst, len, off) == (ssize_t)len, "O_DIRECT pread: %s", strerror(errno));
	CHECK(verify(dst, n, 20) == -1, "device buffer read from disk: page %ld differs",
	      verify(dst, n, 20));
	CHECK(count_not_state(dev_fd, dst, n, COHMEM_STATE_DEVICE) == 0,
	      "read buffer left the device (snapshot)");
	CHECK(pfns_changed(dst, n, pfn_dst) == 0, "read buffer moved (pagemap)");
	CHECK(count_flag(dev_fd, dst, n, COHMEM_PAGE_PINNED) == 0, "still pinned after the read");
	CHECK(used() == before + 2 * (long)n, "%ld in use, expected %ld", used(),
	      before + 2 * (long)n);
out:
	close(fd);
	if (src)
		munmap(src, len);
	if (dst)
		munmap(dst, len);
	if (ctl)
		munmap(ctl, len);
}

static void nothing_left_in_use(void)
{
	CHECK(used() == 0, "%ld pages in use", used());
}

int main(void)
{
	test_init(0);
	ktap_plan(21);
	EXPECT(munmap_part, "partial munmap frees exactly that part");
	EXPECT(mremap_move, "mremap moves page tables: same device pages");
	EXPECT(mremap_grow, "growing keeps device pages, new tail not present");
	EXPECT(mprotect_write_fault, "write fault after mprotect reuses the device page");
	EXPECT(madvise_dontneed, "MADV_DONTNEED frees device pages, reads zero");
	EXPECT(madvise_free_skipped, "MADV_FREE skips device pages");
	EXPECT(madvise_cold_skipped, "MADV_COLD skips device pages");
	EXPECT(madvise_pageout_skipped, "MADV_PAGEOUT skips device pages");
	EXPECT(mlock_stays, "mlock leaves pages on the device");
	EXPECT(move_pages_enoent, "move_pages() status -ENOENT");
	EXPECT(zero_page, "zero page becomes a zero-filled device page");
	EXPECT(private_file_pages, "page-cache pages skipped, COWed copies move");
	EXPECT(process_vm_rw, "process_vm_readv/writev work in place");
	EXPECT(proc_pid_mem, "/proc/PID/mem works in place");
	EXPECT(vmsplice_stays, "vmsplice refs keep pages on the device (busy)");
	EXPECT(longterm_partial, "long-term pin evicts the device half");
	EXPECT(pin_across_fork, "fork copies pinned pages for the child");
	EXPECT(two_devices, "other device's pages: OTHER, untouchable");
	EXPECT(ksm_never_merges, "KSM merges the control, never device pages");
	EXPECT(odirect_rw, "O_DIRECT write+read: device pages stay, data on disk");
	EXPECT(nothing_left_in_use, "no device page left in use");
	return ktap_finish();
}
