/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the cohmem test programs: KTAP output, the device, and
 * independent residency checks through /proc/self/pagemap.
 */
#ifndef COHMEM_TEST_LIB_H
#define COHMEM_TEST_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/cohmem.h>

/* KTAP (kselftest style): plan, one result line per case, totals. */
void ktap_plan(int n);
void ktap_result(bool ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ktap_skip(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int ktap_finish(void);
/* A diagnostic line ("# ..."), kept next to the result it explains. */
void ktap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Checks inside a case: CHECK() records the first failure of the case (with
 * its line) and makes the case fail; the case goes on or returns as it sees
 * fit. A case is a function returning void, run by RUN().
 */
extern char case_failure[256];
bool check(bool ok, const char *expr, const char *file, int line,
	   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Evaluates to true when the check failed. */
#define CHECK(cond, ...) \
	check(!!(cond), #cond, __FILE__, __LINE__, " " __VA_ARGS__)
#define REQUIRE(cond, ...) do { if (CHECK(cond, __VA_ARGS__)) return; } while (0)
/* Skip the running case: says why, never fails. */
extern char case_skip[256];
#define SKIP(...) do { snprintf(case_skip, sizeof(case_skip), __VA_ARGS__); return; } while (0)
void run_case(const char *name, void (*fn)(void));
#define RUN(fn) run_case(#fn, fn)

extern size_t page_size;
extern int dev_fd;		/* /dev/cohmem0 */
extern struct cohmem_info dev_info;

/* Open /dev/cohmemN; exits the program with a KTAP bail-out on failure. */
int open_dev(int id);
void test_init(int id);
struct cohmem_info get_info(int fd);

/* Anonymous private mapping of n pages, huge pages off unless thp. */
char *map_anon(size_t npages, bool thp);
void fill(char *p, size_t npages, unsigned int seed);
/* Index of the first page whose contents differ, or -1. */
long verify(const char *p, size_t npages, unsigned int seed);
/* The same for pages [first, first + npages) of a buffer filled from p. */
long verify_at(const char *p, size_t first, size_t npages, unsigned int seed);

/* Even pages filled with 0x5a, odd ones never touched; first bad page or -1. */
void fill_holes(char *p, size_t npages);
long verify_holes(const char *p, size_t npages);
int migrate(int fd, void *addr, size_t npages, bool to_dev,
	    struct cohmem_migrate *out);
/* Snapshot into states[npages]; returns 0 or -errno. */
int snapshot(int fd, void *addr, size_t npages, uint8_t *states,
	     struct cohmem_snapshot *out);
/* Pages whose state (low bits) is not `state`; -1 on a failed snapshot. */
long count_not_state(int fd, void *addr, size_t npages, uint8_t state);
/* Pages with flag set (any state). */
long count_flag(int fd, void *addr, size_t npages, uint8_t flag);

/* PFN of a present page from /proc/self/pagemap (root only), or 0. */
uint64_t pagemap_pfn(const void *addr);
/* Pages of the range whose PFN lies inside the device's region. */
long count_pfn_in_dev(const struct cohmem_info *info, const void *addr,
		      size_t npages);

/*
 * Whether stress and fuzz race device-side eviction (EVICT) with the owning
 * processes' munmap and exit: yes, unless COHMEM_RACE_EVICT=0. (It used to
 * oops the kernel while eviction went through migrate_device_range(); see
 * src/evict.c.)
 */
bool race_evict(void);

/* Why no THP backs a mapping here: the kernel has none, or none was had. */
const char *no_thp_why(void);

/* PIN n pages for write in a mode (out: handle, counts); UNPIN a handle. */
int pin(int fd, void *addr, size_t n, unsigned int mode, struct cohmem_pin *out);
int unpin(int fd, unsigned int handle);

/* n pages of pattern seed, all on the device of fd (a failed check and NULL if not). */
char *on_device(int fd, size_t n, unsigned int seed);

/* Write a module parameter (/sys/module/cohmem/parameters/name); 0 or -errno. */
int set_param(const char *name, const char *value);

/* ioctl returning -errno instead of -1. */
int xioctl(int fd, unsigned long req, void *arg);

#endif
