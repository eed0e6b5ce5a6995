// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib.h"

size_t page_size;
int dev_fd = -1;
struct cohmem_info dev_info;
char case_failure[256];
char case_skip[256];

static int ktap_n, ktap_pass, ktap_fail, ktap_skipped;

void ktap_plan(int n)
{
	/* A line at a time, also into a pipe: the guest streams results. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("KTAP version 1\n1..%d\n", n);
	fflush(stdout);
}

void ktap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

void ktap_result(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d %s", ok ? "" : "not ", ++ktap_n, name);
	if (fmt && *fmt) {
		fputs(" # ", stdout);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	fputc('\n', stdout);
	fflush(stdout);
	ok ? ktap_pass++ : ktap_fail++;
}

void ktap_skip(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("ok %d %s # SKIP ", ++ktap_n, name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	ktap_skipped++;
}

int ktap_finish(void)
{
	printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0\n",
	       ktap_pass, ktap_fail, ktap_skipped);
	fflush(stdout);
	return ktap_fail ? 1 : 0;
}

bool check(bool ok, const char *expr, const char *file, int line,
	   const char *fmt, ...)
{
	char buf[160] = "", *msg = buf;
	va_list ap;

	if (ok)
		return false;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	while (*msg == ' ')	/* CHECK() passes " " before its format */
		msg++;
	ktap_diag("%s:%d: CHECK(%s) failed%s%s", file, line, expr,
		  *msg ? ": " : "", msg);
	if (!case_failure[0])
		snprintf(case_failure, sizeof(case_failure), "line %d: %s%s%s",
			 line, expr, *msg ? ": " : "", msg);
	return true;
}

void run_case(const char *name, void (*fn)(void))
{
	case_failure[0] = 0;
	case_skip[0] = 0;
	fn();
	if (case_skip[0] && !case_failure[0])
		ktap_skip(name, "%s", case_skip);
	else
		ktap_result(!case_failure[0], name, "%s", case_failure);
}

bool race_evict(void)
{
	const char *v = getenv("COHMEM_RACE_EVICT");

	return !v || *v != '0';
}

int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) ? -errno : 0;
}

int open_dev(int id)
{
	char path[32];
	int fd;

	snprintf(path, sizeof(path), "/dev/cohmem%d", id);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("Bail out! cannot open %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

struct cohmem_info get_info(int fd)
{
	struct cohmem_info info;

	memset(&info, 0, sizeof(info));
	if (xioctl(fd, COHMEM_IOC_INFO, &info)) {
		printf("Bail out! COHMEM_IOC_INFO: %s\n", strerror(errno));
		exit(1);
	}
	return info;
}

void test_init(int id)
{
	page_size = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	dev_fd = open_dev(id);
	dev_info = get_info(dev_fd);
}

char *map_anon(size_t npages, bool thp)
{
	size_t len = npages * page_size, align = 2UL << 20;
	char *p, *q;

	/* Over-map to hand out a 2 MiB aligned range, as THP needs. */
	p = mmap(NULL, len + align, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	q = (char *)(((uintptr_t)p + align - 1) & ~(align - 1));
	if (q > p)
		munmap(p, q - p);
	munmap(q + len, p + len + align - q - len);
	madvise(q, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	return q;
}

static uint64_t pattern(size_t page, size_t word, unsigned int seed)
{
	uint64_t x = (page << 20) ^ (word * 0x9e3779b97f4a7c15ULL) ^ seed;

	return x * 0xff51afd7ed558ccdULL + 1;
}

void fill(char *p, size_t npages, unsigned int seed)
{
	size_t i, w, nw = page_size / 8;

	for (i = 0; i < npages; i++) {
		uint64_t *q = (uint64_t *)(p + i * page_size);

		for (w = 0; w < nw; w++)
			q[w] = pattern(i, w, seed);
	}
}

long verify(const char *p, size_t npages, unsigned int seed)
{
	return verify_at(p, 0, npages, seed);
}

long verify_at(const char *p, size_t first, size_t npages, unsigned int seed)
{
	size_t i, w, nw = page_size / 8;

	for (i = first; i < first + npages; i++) {
		const uint64_t *q = (const uint64_t *)(p + i * page_size);

		for (w = 0; w < nw; w++)
			if (q[w] != pattern(i, w, seed))
				return i;
	}
	return -1;
}

void fill_holes(char *p, size_t npages)
{
	size_t i;

	for (i = 0; i < npages; i += 2)
		memset(p + i * page_size, 0x5a, page_size);
}

long verify_holes(const char *p, size_t npages)
{
	size_t i;

	for (i = 0; i < npages; i++) {
		char want = i % 2 ? 0 : 0x5a;

		if (p[i * page_size] != want || p[(i + 1) * page_size - 1] != want)
			return i;
	}
	return -1;
}

int migrate(int fd, void *addr, size_t npages, bool to_dev,
	    struct cohmem_migrate *out)
{
	struct cohmem_migrate m;
	int ret;

	memset(&m, 0, sizeof(m));
	m.addr = (uintptr_t)addr;
	m.len = npages * page_size;
	ret = xioctl(fd, to_dev ? COHMEM_IOC_MIGRATE_TO_DEV :
				  COHMEM_IOC_MIGRATE_TO_SYS, &m);
	if (out)
		*out = m;
	return ret;
}

int snapshot(int fd, void *addr, size_t npages, uint8_t *states,
	     struct cohmem_snapshot *out)
{
	struct cohmem_snapshot s;
	int ret;

	memset(&s, 0, sizeof(s));
	s.addr = (uintptr_t)addr;
	s.len = npages * page_size;
	s.buf = (uintptr_t)states;
	ret = xioctl(fd, COHMEM_IOC_SNAPSHOT, &s);
	if (out)
		*out = s;
	return ret;
}

/* Pages of the range whose state byte, masked, is (or with !eq is not) val. */
int pin(int fd, void *addr, size_t n, unsigned int mode, struct cohmem_pin *out)
{
	memset(out, 0, sizeof(*out));
	out->addr = (uintptr_t)addr;
	out->len = n * page_size;
	out->mode = mode;
	out->flags = COHMEM_PIN_WRITE;
	return xioctl(fd, COHMEM_IOC_PIN, out);
}

int unpin(int fd, unsigned int handle)
{
	struct cohmem_unpin u = { .handle = handle };

	return xioctl(fd, COHMEM_IOC_UNPIN, &u);
}

static long count_states(int fd, void *addr, size_t npages, uint8_t mask,
			 uint8_t val, bool eq)
{
	uint8_t *st = malloc(npages);
	long n = 0;
	size_t i;

	if (!st || snapshot(fd, addr, npages, st, NULL)) {
		free(st);
		return -1;
	}
	for (i = 0; i < npages; i++)
		n += ((st[i] & mask) == val) == eq;
	free(st);
	return n;
}

long count_not_state(int fd, void *addr, size_t npages, uint8_t state)
{
	return count_states(fd, addr, npages, COHMEM_STATE_MASK, state, false);
}

long count_flag(int fd, void *addr, size_t npages, uint8_t flag)
{
	return count_states(fd, addr, npages, flag, flag, true);
}

uint64_t pagemap_pfn(const void *addr)
{
	static int fd = -1;
	uint64_t e;

	if (fd < 0)
		fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, &e, sizeof(e),
			    (uintptr_t)addr / page_size * sizeof(e)) != sizeof(e))
		return 0;
	/* bit 63: present; bits 0-54: PFN (zero without CAP_SYS_ADMIN) */
	return (e >> 63) ? e & ((1ULL << 55) - 1) : 0;
}

long count_pfn_in_dev(const struct cohmem_info *info, const void *addr,
		      size_t npages)
{
	uint64_t first = info->base / page_size;
	uint64_t last = first + info->total_pages;
	long n = 0;
	size_t i;

	for (i = 0; i < npages; i++) {
		uint64_t pfn = pagemap_pfn((const char *)addr + i * page_size);

		n += pfn >= first && pfn < last;
	}
	return n;
}

const char *no_thp_why(void)
{
	if (access("/sys/kernel/mm/transparent_hugepage", F_OK))
		return "kernel built without CONFIG_TRANSPARENT_HUGEPAGE (Debian's rt flavours)";
	return "THP disabled or none free";
}

char *on_device(int fd, size_t n, unsigned int seed)
{
	struct cohmem_migrate m;
	char *p = map_anon(n, false);

	if (!p)
		return NULL;
	fill(p, n, seed);
	if (migrate(fd, p, n, true, &m) || m.moved != n ||
	    count_not_state(fd, p, n, COHMEM_STATE_DEVICE)) {
		check(false, "on_device", __FILE__, __LINE__, "setup: moved %llu of %zu",
		      (unsigned long long)m.moved, n);
		munmap(p, n * page_size);
		return NULL;
	}
	return p;
}

int set_param(const char *name, const char *value)
{
	char path[128];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "/sys/module/cohmem/parameters/%s", name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	ret = fputs(value, f) < 0 ? -EIO : 0;
	return fclose(f) ? -errno : ret;
}
