// SPDX-License-Identifier: GPL-2.0
/*
 * cohmem-bench: migration throughput, printed next to a memcpy of the same
 * bytes measured in the same run. Only the ratios mean anything under an
 * emulator (QEMU TCG); absolute MiB/s depend on the host.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

int cohmem_bench(int dev, int mib);
static void print_results(const char *name);

#define MIB	64	/* default size */
#define ROUNDS	3

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * The copy engines (copy_engine parameter) to compare, alternating round
 * by round in the same guest; just the module's default where the
 * parameter cannot be written (an older module, not root).
 */
#define MAX_ENGINES 2
static const char *const engines[MAX_ENGINES] = { "serial", "parallel" };
static int nengines = 1;
static int engine;	/* the one measured now */

static double best_of[MAX_ENGINES][6];
#define best (best_of[engine])
static int mib = MIB;
static const char *const what[6] = {
	"memcpy (same bytes, reference)",
	"MIGRATE_TO_DEV",
	"MIGRATE_TO_SYS",
	"long-term pin eviction (pin_user_pages FOLL_LONGTERM)",
	"EVICT (device-side, by owner through migrate_vma)",
	"memcpy from device pages (CPU reads in place)",
};

/* Seconds spent in each operation over all rounds (for the breakdown). */
static double total_of[MAX_ENGINES][6];
#define total (total_of[engine])

static void record(int i, double secs)
{
	double mibs = mib / secs;

	total[i] += secs;
	if (mibs > best[i])
		best[i] = mibs;
}

/*
 * The module's own breakdown of migration passes (phase_stats, sysfs
 * phase_ns): ns per phase, [to device, to system][setup, alloc, copy,
 * pages, finalize]. False where there is none (an older module, not root).
 */
#define PHASES 5
static const char *const phase_names[PHASES] = { "setup", "alloc", "copy", "pages", "finalize" };
static bool phases_on;
static char phase_path[64];

static bool read_phases(unsigned long long ns[2][PHASES])
{
	FILE *f = fopen(phase_path, "r");
	char dir[16];
	int d, ok = 1;

	if (!f)
		return false;
	for (d = 0; d < 2 && ok; d++)
		ok = fscanf(f, "%15s setup %llu alloc %llu copy %llu pages %llu finalize %llu",
			    dir, &ns[d][0], &ns[d][1], &ns[d][2], &ns[d][3], &ns[d][4]) == 6;
	fclose(f);
	return ok;
}

static bool set_phase_stats(const char *v)
{
	return !set_param("phase_stats", v);
}

/* Phase ns of operation i (1: to device, 2 and 4: to system), summed. */
static unsigned long long phase_sum_of[MAX_ENGINES][6][PHASES];
#define phase_sum (phase_sum_of[engine])

static bool set_engine(const char *name)
{
	return !set_param("copy_engine", name);
}

static void phases_add(int i, int d, unsigned long long before[2][PHASES])
{
	unsigned long long after[2][PHASES];
	int k;

	if (!phases_on || !read_phases(after))
		return;
	for (k = 0; k < PHASES; k++)
		phase_sum[i][k] += after[d][k] - before[d][k];
}

static void to_dev(char *p, size_t n)
{
	struct cohmem_migrate m;

	if (migrate(dev_fd, p, n, true, &m) || m.moved != n) {
		printf("Bail out! migrate to device moved %llu of %zu\n",
		       (unsigned long long)m.moved, n);
		exit(1);
	}
}

/*
 * The benchmark on device @dev, @size MiB; cohmem-bench runs it on cohmem0,
 * and cohmemctl bench (built with COHMEM_BENCH_NO_MAIN) as asked.
 */
int cohmem_bench(int dev, int size)
{
	size_t n;
	char *p, *q;
	int r;

	test_init(dev);
	mib = size > 0 ? size : MIB;
	n = (size_t)mib << 20;
	n /= page_size;
	if (dev_info.free_pages < n) {
		printf("Bail out! device has %llu free pages, need %zu\n",
		       (unsigned long long)dev_info.free_pages, n);
		return 1;
	}
	snprintf(phase_path, sizeof(phase_path), "/sys/class/misc/cohmem%d/phase_ns", dev);
	phases_on = set_phase_stats("1");
	if (set_engine(engines[1]) && set_engine(engines[0]))
		nengines = MAX_ENGINES;
	p = map_anon(n, false);
	q = map_anon(n, false);
	fill(p, n, 1);
	memset(q, 0, n * page_size);

	for (r = 0; r < ROUNDS * nengines; r++) {
		struct cohmem_migrate m;
		struct cohmem_evict e = { .flags = COHMEM_EVICT_ALL };
		struct cohmem_unpin u;
		struct cohmem_pin pn;
		unsigned long long ph[2][PHASES];
		double t;

		/* Engines alternate round by round: the same guest, the same moment. */
		engine = r % nengines;
		if (nengines > 1)
			set_engine(engines[engine]);
		t = now();
		memcpy(q, p, n * page_size);
		record(0, now() - t);

		phases_on = phases_on && read_phases(ph);
		t = now();
		to_dev(p, n);
		record(1, now() - t);
		phases_add(1, 0, ph);

		t = now();
		memcpy(q, p, n * page_size);
		record(5, now() - t);

		phases_on = phases_on && read_phases(ph);
		t = now();
		migrate(dev_fd, p, n, false, &m);
		record(2, now() - t);
		phases_add(2, 1, ph);

		to_dev(p, n);
		memset(&pn, 0, sizeof(pn));
		pn.addr = (uintptr_t)p;
		pn.len = n * page_size;
		pn.mode = COHMEM_PIN_LONGTERM;
		pn.flags = COHMEM_PIN_WRITE;
		t = now();
		if (xioctl(dev_fd, COHMEM_IOC_PIN, &pn) || pn.ndevice) {
			printf("Bail out! long-term pin failed or left device pages\n");
			return 1;
		}
		record(3, now() - t);
		u.handle = pn.handle;
		u.flags = 0;
		xioctl(dev_fd, COHMEM_IOC_UNPIN, &u);

		to_dev(p, n);
		phases_on = phases_on && read_phases(ph);
		t = now();
		xioctl(dev_fd, COHMEM_IOC_EVICT, &e);
		record(4, now() - t);
		phases_add(4, 1, ph);
		if (e.evicted != n || verify(p, n, 1) != -1) {
			printf("Bail out! data or eviction count wrong after round %d\n", r);
			return 1;
		}
	}

	if (nengines > 1)
		set_engine(engines[0]);
	for (engine = 0; engine < nengines; engine++)
		print_results(nengines > 1 ? engines[engine] : NULL);
	if (phases_on)
		set_phase_stats("0");
	return 0;
}

static void print_results(const char *name)
{
	int i;

	printf("# cohmem-bench: %d MiB in %zu-byte pages, best of %d, one guest run%s%s\n",
	       mib, page_size, ROUNDS, name ? ", copy engine " : "", name ? name : "");
	printf("# Under QEMU TCG only the ratio to memcpy means anything.\n");
	printf("# %-56s %10s %8s\n", "operation", "MiB/s", "x memcpy");
	for (i = 0; i < 6; i++)
		printf("# %-56s %10.0f %8.2f\n", what[i], best[i], best[i] / best[0]);
	if (phases_on) {
		static const int ops[] = { 1, 2, 4 };
		unsigned int j;
		int k;

		printf("# where the time went (the module's phase_stats), %% of each operation:\n");
		printf("# %-56s", "operation");
		for (k = 0; k < PHASES; k++)
			printf(" %8s", phase_names[k]);
		printf(" %8s\n", "other");
		for (j = 0; j < sizeof(ops) / sizeof(ops[0]); j++) {
			double all = total[ops[j]] * 1e9, in = 0;

			printf("# %-56s", what[ops[j]]);
			for (k = 0; k < PHASES; k++) {
				in += phase_sum[ops[j]][k];
				printf(" %8.1f", 100.0 * phase_sum[ops[j]][k] / all);
			}
			printf(" %8.1f\n", 100.0 * (all - in) / all);
		}
	}
}

#ifndef COHMEM_BENCH_NO_MAIN
int main(void)
{
	return cohmem_bench(0, MIB);
}
#endif
