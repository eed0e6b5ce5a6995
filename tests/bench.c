// SPDX-License-Identifier: GPL-2.0
/*
 * cohmem-bench: migration throughput, printed next to a memcpy of the same
 * bytes measured in the same run. Only the ratios mean anything under an
 * emulator (QEMU TCG); absolute MiB/s depend on the host.
 *
 *   cohmem-bench           cohmem0, 64 MiB, best of 3 per copy engine and
 *                          batch size (the demo; cohmemctl bench runs the
 *                          same code, cohmem_bench())
 *   cohmem-bench --lane    the benchmark lane (scripts/bench.sh): cohmem
 *                          against the kernel's own test_hmm, see below
 *
 * COHMEM_BENCH_BATCHES="2 16": where the module has the batch_mib
 * parameter, alternate these batch sizes round by round (as the copy
 * engines alternate) and report each; otherwise the module's own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/cohmem_hmm.h>

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

static bool set_engine(const char *name)
{
	return !set_param("copy_engine", name);
}

/*
 * The batch sizes (batch_mib parameter, MiB of a range per migrate_vma
 * pass) of COHMEM_BENCH_BATCHES, those the module accepts; none (the
 * module's own, not touched) without the variable or the parameter.
 */
#define MAX_BATCHES 8
static char batches[MAX_BATCHES][12];
static int nbatches;
static char batch_orig[12];	/* restored at the end */
#define BATCH_PARAM "/sys/module/cohmem/parameters/batch_mib"

/* The module's batch_mib now, "-" where it has none. */
static const char *batch_now(void)
{
	static char v[12];
	FILE *f = fopen(BATCH_PARAM, "r");

	strcpy(v, "-");
	if (f) {
		if (fgets(v, sizeof(v), f))
			v[strcspn(v, "\n")] = 0;
		fclose(f);
	}
	return v;
}

static void batches_init(void)
{
	const char *env = getenv("COHMEM_BENCH_BATCHES");
	char list[128], *tok, *save;

	nbatches = 0;
	if (!env || !*env)
		return;
	if (access(BATCH_PARAM, W_OK)) {
		printf("# COHMEM_BENCH_BATCHES: this module has no writable batch_mib parameter; its own batch size only\n");
		return;
	}
	snprintf(batch_orig, sizeof(batch_orig), "%s", batch_now());
	snprintf(list, sizeof(list), "%s", env);
	for (tok = strtok_r(list, " ,", &save); tok && nbatches < MAX_BATCHES;
	     tok = strtok_r(NULL, " ,", &save)) {
		int ret = set_param("batch_mib", tok);

		if (ret)
			printf("# batch_mib=%s refused by the module (%s): left out\n", tok, strerror(-ret));
		else
			snprintf(batches[nbatches++], sizeof(batches[0]), "%s", tok);
	}
	set_param("batch_mib", batch_orig);
}

static void set_batch(int b)
{
	if (nbatches && b >= 0)
		set_param("batch_mib", batches[b]);
}

static void batches_restore(void)
{
	if (nbatches)
		set_param("batch_mib", batch_orig);
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

static bool read_phases_at(const char *path, unsigned long long ns[2][PHASES])
{
	FILE *f = fopen(path, "r");
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

static bool read_phases(unsigned long long ns[2][PHASES])
{
	return read_phases_at(phase_path, ns);
}

static bool set_phase_stats(const char *v)
{
	return !set_param("phase_stats", v);
}

/*
 * What the default benchmark measures, per variant: a copy engine and a
 * batch size, alternating round by round (variant v: engine v % nengines,
 * batch v / nengines).
 */
#define MAX_VARIANTS (MAX_ENGINES * MAX_BATCHES)
static int variant;	/* the one measured now */
static double best_of[MAX_VARIANTS][6];
#define best (best_of[variant])
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
static double total_of[MAX_VARIANTS][6];
#define total (total_of[variant])

static void record(int i, double secs)
{
	double mibs = mib / secs;

	total[i] += secs;
	if (mibs > best[i])
		best[i] = mibs;
}

/* Phase ns of operation i (1: to device, 2 and 4: to system), summed. */
static unsigned long long phase_sum_of[MAX_VARIANTS][6][PHASES];
#define phase_sum (phase_sum_of[variant])

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
	int nvariants, r, ret = 0;
	size_t n;
	char *p, *q;

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
	batches_init();
	nvariants = nengines * (nbatches ? nbatches : 1);
	p = map_anon(n, false);
	q = map_anon(n, false);
	fill(p, n, 1);
	memset(q, 0, n * page_size);

	for (r = 0; r < ROUNDS * nvariants; r++) {
		struct cohmem_migrate m;
		struct cohmem_evict e = { .flags = COHMEM_EVICT_ALL };
		struct cohmem_unpin u;
		struct cohmem_pin pn;
		unsigned long long ph[2][PHASES];
		double t;

		/*
		 * Engines and batch sizes alternate round by round: the same
		 * guest, the same moment.
		 */
		variant = r % nvariants;
		if (nengines > 1)
			set_engine(engines[variant % nengines]);
		set_batch(variant / nengines);
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
			ret = 1;
			break;
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
			ret = 1;
			break;
		}
	}

	if (nengines > 1)
		set_engine(engines[0]);
	batches_restore();
	if (!ret) {
		for (variant = 0; variant < nvariants; variant++) {
			char name[64] = "";

			if (nengines > 1)
				snprintf(name, sizeof(name), "copy engine %s", engines[variant % nengines]);
			if (nbatches)
				snprintf(name + strlen(name), sizeof(name) - strlen(name), "%sbatch_mib %s",
					 nengines > 1 ? ", " : "", batches[variant / nengines]);
			print_results(name[0] ? name : NULL);
		}
	}
	if (phases_on)
		set_phase_stats("0");
	munmap(p, n * page_size);
	munmap(q, n * page_size);
	return ret;
}

static void print_results(const char *name)
{
	int i;

	printf("# cohmem-bench: %d MiB in %zu-byte pages, best of %d, one guest run%s%s\n",
	       mib, page_size, ROUNDS, name ? ", " : "", name ? name : "");
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
/*
 * The benchmark lane (cohmem-bench --lane; scripts/bench.sh boots it):
 * cohmem against the kernel's own test driver, test_hmm, in one guest,
 * over the same sizes, the two alternating round by round (cohmem at each
 * batch size, then test_hmm), each operation's time printed raw for the
 * host to sum up (scripts/bench-table.awk):
 *
 *   # bench-raw  KIND MIB ROUND IMPL BATCH OP NS
 *   # bench-phase KIND MIB ROUND BATCH OP SETUP ALLOC COPY PAGES FINALIZE NS
 *   # bench-na   KIND MIB IMPL WHY
 *   # bench-note KIND MIB ROUND IMPL TEXT
 *
 * KIND: coherent-4k (cohmem's coherent device against test_hmm's device 2,
 * coherent, over spm_addr), private-4k and private-2m (cohmem's private
 * device against test_hmm's device 0; 2m: THP-backed buffers, cohmem's
 * COHMEM_MIGRATE_HUGE, test_hmm's MIGRATE_VMA_SELECT_COMPOUND which it
 * always asks for). OP, each on the whole buffer: memcpy (the reference,
 * just before the implementation's round), to_dev, readback (test_hmm
 * only: its MIGRATE_TO_DEV copies every page back to the caller inside
 * the ioctl; a READ of the same range right after, timed, is that part),
 * to_sys, longterm_pin (cohmem's PIN, pin_user_pages FOLL_LONGTERM, on
 * pages of either driver's device: the kernel moves them to system RAM)
 * and evict (cohmem: EVICT of the whole device; test_hmm: RELEASE, which
 * evicts every chunk with migrate_device_range() and then unmaps the
 * chunks: the next migration makes them again, outside the timing).
 * Each result is checked: every page moved, the data (test_hmm's read-back
 * and the buffer after every return to system RAM), every page in system
 * RAM after to_sys, the pin and evict (cohmem's SNAPSHOT).
 *
 * Environment: COHMEM_BENCH_SIZES (MiB, default "1 4 16 64 256 512"),
 * COHMEM_BENCH_ROUNDS (default 3), COHMEM_BENCH_BATCHES,
 * COHMEM_BENCH_KINDS (default all three), COHMEM_BENCH_THMM_COHERENT_MIB
 * (what test_hmm's coherent device holds: one DEVMEM_CHUNK_SIZE chunk,
 * default 256), COHMEM_BENCH_NO_THMM (why there is no test_hmm, if so).
 */
enum { OP_MEMCPY, OP_TO_DEV, OP_READBACK, OP_TO_SYS, OP_PIN, OP_EVICT, NOPS };
static const char *const op_names[NOPS] = {
	"memcpy", "to_dev", "readback", "to_sys", "longterm_pin", "evict",
};

struct kind {
	const char *name;
	bool private, huge;
	const char *thmm_node;	/* test_hmm's device of that type */
};
static const struct kind kinds[] = {
	{ "coherent-4k", false, false, "/dev/hmm_dmirror2" },
	{ "private-4k", true, false, "/dev/hmm_dmirror0" },
	{ "private-2m", true, true, "/dev/hmm_dmirror0" },
};
#define NKINDS (int)(sizeof(kinds) / sizeof(kinds[0]))

/* One implementation as measured: cohmem at a batch size, or test_hmm. */
struct impl {
	bool thmm;
	int batch;		/* cohmem: index in batches[], -1: the module's own */
	const char *na;		/* why it cannot run this kind and size, or NULL */
	bool warm;		/* migrated the size once since its device was (re)made */
};

static int cfd[2] = { -1, -1 };	/* cohmem's coherent and private devices */
static int cid[2];		/* their N of /dev/cohmemN */
static struct cohmem_info cinfo[2];
static const char *kname;
static size_t kmib;
static char failure[256];

#define FAIL(...) do { snprintf(failure, sizeof(failure), __VA_ARGS__); return false; } while (0)

static double ns_since(double t)
{
	return (now() - t) * 1e9;
}

static const char *impl_name(const struct impl *im)
{
	return im->thmm ? "test_hmm" : "cohmem";
}

static const char *impl_batch(const struct impl *im)
{
	if (im->thmm)
		return "-";
	return im->batch >= 0 ? batches[im->batch] : batch_now();
}

static void raw(int round, const struct impl *im, int op, double ns)
{
	printf("# bench-raw\t%s\t%zu\t%d\t%s\t%s\t%s\t%.0f\n", kname, kmib, round,
	       impl_name(im), impl_batch(im), op_names[op], ns);
}

static void note(int round, const struct impl *im, const char *text)
{
	printf("# bench-note\t%s\t%zu\t%d\t%s\t%s\n", kname, kmib, round, impl_name(im), text);
}

/* The device's phase_ns before an operation, and the difference after. */
static void phase_raw(int round, const struct impl *im, int c, int op, int dir,
		      unsigned long long before[2][PHASES], double ns)
{
	unsigned long long after[2][PHASES];
	char path[64];
	int k;

	snprintf(path, sizeof(path), "/sys/class/misc/cohmem%d/phase_ns", cid[c]);
	if (im->thmm || !phases_on || !read_phases_at(path, after))
		return;
	printf("# bench-phase\t%s\t%zu\t%d\t%s\t%s", kname, kmib, round, impl_batch(im), op_names[op]);
	for (k = 0; k < PHASES; k++)
		printf("\t%llu", after[dir][k] - before[dir][k]);
	printf("\t%.0f\n", ns);
}

static void phase_before(int c, unsigned long long ns[2][PHASES])
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/class/misc/cohmem%d/phase_ns", cid[c]);
	memset(ns, 0, sizeof(unsigned long long) * 2 * PHASES);
	if (phases_on)
		read_phases_at(path, ns);
}

static int thmm_cmd(int fd, unsigned long req, char *addr, char *ptr, size_t n,
		    struct cohmem_hmm_cmd *c)
{
	memset(c, 0, sizeof(*c));
	c->addr = (uintptr_t)addr;
	c->ptr = (uintptr_t)ptr;
	c->npages = n;
	return xioctl(fd, req, c);
}

/*
 * test_hmm's MIGRATE_TO_SYS counts the source entries migrate_vma_setup()
 * filled: a 2 MiB folio is one entry, so cpages is n / 512 for a buffer of
 * huge folios (mixed: in between). Where each page went is checked after
 * it anyway (in_system()).
 */
static bool thmm_to_sys_ok(const struct kind *k, const struct cohmem_hmm_cmd *cmd, size_t n)
{
	return cmd->cpages == n || (k->huge && cmd->cpages >= n / 512 && cmd->cpages < n);
}

/* The buffer to the implementation's device and back, untimed. */
static bool round_trip(const struct kind *k, const struct impl *im, int c, int tfd,
		       char *p, char *q, size_t n)
{
	struct cohmem_migrate m;
	struct cohmem_hmm_cmd cmd;
	int ret;

	if (im->thmm) {
		ret = thmm_cmd(tfd, COHMEM_HMM_MIGRATE_TO_DEV, p, q, n, &cmd);
		if (ret || cmd.cpages != n)
			FAIL("test_hmm MIGRATE_TO_DEV: %s, %llu of %zu pages", strerror(-ret),
			     (unsigned long long)cmd.cpages, n);
		ret = thmm_cmd(tfd, COHMEM_HMM_MIGRATE_TO_SYS, p, q, n, &cmd);
		if (ret || !thmm_to_sys_ok(k, &cmd, n))
			FAIL("test_hmm MIGRATE_TO_SYS: %s, %llu of %zu pages", strerror(-ret),
			     (unsigned long long)cmd.cpages, n);
		return true;
	}
	memset(&m, 0, sizeof(m));
	m.addr = (uintptr_t)p;
	m.len = n * page_size;
	m.flags = k->huge ? COHMEM_MIGRATE_HUGE : 0;
	ret = xioctl(cfd[c], COHMEM_IOC_MIGRATE_TO_DEV, &m);
	if (ret || m.moved != n)
		FAIL("cohmem MIGRATE_TO_DEV: %s, %llu of %zu pages", strerror(-ret),
		     (unsigned long long)m.moved, n);
	ret = migrate(cfd[c], p, n, false, &m);
	if (ret || m.moved != n)
		FAIL("cohmem MIGRATE_TO_SYS: %s, %llu of %zu pages", strerror(-ret),
		     (unsigned long long)m.moved, n);
	return true;
}

/*
 * The first migration after (re)making device memory, untimed: test_hmm
 * makes its chunks (memremap_pages()) as it needs them, at load and after
 * RELEASE; cohmem's memory is there from the load, warmed the same way.
 */
static bool warm_up(const struct kind *k, struct impl *im, char *p, char *q, size_t n)
{
	int tfd = -1;
	bool ok;

	set_batch(im->batch);
	if (im->thmm) {
		tfd = open(k->thmm_node, O_RDWR | O_CLOEXEC);
		if (tfd < 0)
			FAIL("%s: %s", k->thmm_node, strerror(errno));
	}
	ok = round_trip(k, im, k->private, tfd, p, q, n);
	if (!ok && im->thmm) {
		/*
		 * Seen once in 7.3 (init_on_alloc=0, 256 MiB): test_hmm's
		 * MIGRATE_TO_DEV left pages behind (-ENOENT on its read-back).
		 * It drains no other CPU's LRU batches before migrating, as
		 * cohmem does: a page held in one is skipped. Say so, bring
		 * everything back and try once more.
		 */
		struct cohmem_hmm_cmd cmd;

		printf("# bench-note\t%s\t%zu\t0\ttest_hmm\twarm-up failed (%s), tried again\n",
		       kname, kmib, failure);
		thmm_cmd(tfd, COHMEM_HMM_MIGRATE_TO_SYS, p, q, n, &cmd);
		ok = round_trip(k, im, k->private, tfd, p, q, n);
	}
	if (tfd >= 0)
		close(tfd);
	im->warm = ok;
	return ok;
}

/*
 * Pages [0, n) of p hold pattern seed: every page when full, else every
 * 8th page and the last (the full check of every page costs about four
 * memcpys under TCG; each case checks every page once at its end). The
 * first bad page, or -1.
 */
static long check_data(const char *p, size_t n, unsigned int seed, bool full)
{
	size_t i, step = full ? 1 : 8;

	if (full)
		return verify(p, n, seed);
	for (i = 0; i < n; i += step)
		if (verify_at(p, i, 1, seed) != -1)
			return i;
	return verify_at(p, n - 1, 1, seed) != -1 ? (long)n - 1 : -1;
}

/* Every page of the buffer in system RAM, with its data (sampled). */
static bool in_system(char *p, size_t n, unsigned int seed, const char *after)
{
	long bad = count_not_state(cfd[0], p, n, COHMEM_STATE_SYSTEM);
	long v;

	if (bad)
		FAIL("after %s, %ld of %zu pages not in system RAM", after, bad, n);
	v = check_data(p, n, seed, false);
	if (v != -1)
		FAIL("after %s, page %ld of %zu has the wrong data", after, v, n);
	return true;
}

/* The whole buffer to the implementation's device, untimed, before @what. */
static bool to_dev_untimed(const struct kind *k, const struct impl *im, int c, int tfd,
			   char *p, char *q, size_t n, const char *what)
{
	struct cohmem_migrate m = {
		.addr = (uintptr_t)p, .len = n * page_size,
		.flags = k->huge ? COHMEM_MIGRATE_HUGE : 0,
	};
	struct cohmem_hmm_cmd cmd;
	int ret;

	if (im->thmm)
		ret = thmm_cmd(tfd, COHMEM_HMM_MIGRATE_TO_DEV, p, q, n, &cmd) || cmd.cpages != n;
	else
		ret = xioctl(cfd[c], COHMEM_IOC_MIGRATE_TO_DEV, &m) || m.moved != n;
	if (ret)
		FAIL("%s: migrating to the device before %s failed", impl_name(im), what);
	return true;
}

/*
 * One round of one implementation over the buffer p (n pages of pattern
 * seed, in system RAM); q: as many pages, the memcpy's destination and
 * test_hmm's read-back buffer. Leaves the buffer in system RAM.
 */
static bool lane_round(const struct kind *k, struct impl *im, int round, char *p, char *q,
		       size_t n, unsigned int seed)
{
	int c = k->private, tfd = -1, ret;
	unsigned long long ph[2][PHASES];
	struct cohmem_hmm_cmd cmd;
	struct cohmem_migrate m;
	struct cohmem_pin pn;
	double t, ns;
	bool ok = false;

	set_batch(im->batch);
	if (im->thmm) {
		/*
		 * A mirror of this process only while test_hmm is measured:
		 * its MMU notifier would otherwise see cohmem's migrations.
		 */
		tfd = open(k->thmm_node, O_RDWR | O_CLOEXEC);
		if (tfd < 0)
			FAIL("%s: %s", k->thmm_node, strerror(errno));
	}

	t = now();
	memcpy(q, p, n * page_size);
	raw(round, im, OP_MEMCPY, ns_since(t));

	/* to the device */
	if (k->huge) {
		long h = count_flag(cfd[0], p, n, COHMEM_PAGE_HUGE);

		if (h != (long)n) {
			char s[96];

			snprintf(s, sizeof(s), "before to_dev: %ld of %zu pages THP-mapped", h, n);
			note(round, im, s);
		}
	}
	if (im->thmm) {
		memset(q, 0, n * page_size);
		t = now();
		ret = thmm_cmd(tfd, COHMEM_HMM_MIGRATE_TO_DEV, p, q, n, &cmd);
		ns = ns_since(t);
		if (ret || cmd.cpages != n) {
			snprintf(failure, sizeof(failure), "test_hmm MIGRATE_TO_DEV: %s, %llu of %zu pages",
				 strerror(-ret), (unsigned long long)cmd.cpages, n);
			goto out;
		}
		raw(round, im, OP_TO_DEV, ns);
		ret = check_data(q, n, seed, round == 1);
		if (ret != -1) {
			snprintf(failure, sizeof(failure), "test_hmm MIGRATE_TO_DEV read back wrong data (page %d)",
				 ret);
			goto out;
		}
		/* The read-back alone: READ of the range now on the device. */
		t = now();
		ret = thmm_cmd(tfd, COHMEM_HMM_READ, p, q, n, &cmd);
		ns = ns_since(t);
		if (ret || cmd.cpages != n) {
			snprintf(failure, sizeof(failure), "test_hmm READ: %s, %llu of %zu pages",
				 strerror(-ret), (unsigned long long)cmd.cpages, n);
			goto out;
		}
		raw(round, im, OP_READBACK, ns);
		if (cmd.faults) {
			char s[96];

			snprintf(s, sizeof(s), "READ after MIGRATE_TO_DEV faulted %llu times",
				 (unsigned long long)cmd.faults);
			note(round, im, s);
		}
		if (k->huge) {
			uint8_t *st = malloc(n);
			size_t i, pmd = 0;

			if (st && !thmm_cmd(tfd, COHMEM_HMM_SNAPSHOT, p, (char *)st, n, &cmd))
				for (i = 0; i < n; i++)
					pmd += !!(st[i] & COHMEM_HMM_STATE_PMD);
			if (pmd != n) {
				char s[96];

				snprintf(s, sizeof(s), "on the device: %zu of %zu pages in 2 MiB folios", pmd, n);
				note(round, im, s);
			}
			free(st);
		}
	} else {
		memset(&m, 0, sizeof(m));
		m.addr = (uintptr_t)p;
		m.len = n * page_size;
		m.flags = k->huge ? COHMEM_MIGRATE_HUGE : 0;
		phase_before(c, ph);
		t = now();
		ret = xioctl(cfd[c], COHMEM_IOC_MIGRATE_TO_DEV, &m);
		ns = ns_since(t);
		if (ret || m.moved != n) {
			snprintf(failure, sizeof(failure), "cohmem MIGRATE_TO_DEV: %s, %llu of %zu pages",
				 strerror(-ret), (unsigned long long)m.moved, n);
			goto out;
		}
		raw(round, im, OP_TO_DEV, ns);
		phase_raw(round, im, c, OP_TO_DEV, 0, ph, ns);
		if (k->huge && m.huge != n) {
			char s[96];

			snprintf(s, sizeof(s), "on the device: %llu of %zu pages in 2 MiB folios",
				 (unsigned long long)m.huge, n);
			note(round, im, s);
		}
	}

	/* back to system RAM */
	if (im->thmm) {
		t = now();
		ret = thmm_cmd(tfd, COHMEM_HMM_MIGRATE_TO_SYS, p, q, n, &cmd);
		ns = ns_since(t);
		if (ret || !thmm_to_sys_ok(k, &cmd, n)) {
			snprintf(failure, sizeof(failure), "test_hmm MIGRATE_TO_SYS: %s, %llu of %zu pages",
				 strerror(-ret), (unsigned long long)cmd.cpages, n);
			goto out;
		}
	} else {
		phase_before(c, ph);
		t = now();
		ret = migrate(cfd[c], p, n, false, &m);
		ns = ns_since(t);
		if (ret || m.moved != n) {
			snprintf(failure, sizeof(failure), "cohmem MIGRATE_TO_SYS: %s, %llu of %zu pages",
				 strerror(-ret), (unsigned long long)m.moved, n);
			goto out;
		}
		phase_raw(round, im, c, OP_TO_SYS, 1, ph, ns);
	}
	raw(round, im, OP_TO_SYS, ns);
	if (!in_system(p, n, seed, "to_sys"))
		goto out;

	/* long-term pin: the kernel moves the pages off either device */
	if (!to_dev_untimed(k, im, c, tfd, p, q, n, "the pin"))
		goto out;
	t = now();
	ret = pin(cfd[c], p, n, COHMEM_PIN_LONGTERM, &pn);
	ns = ns_since(t);
	if (ret || pn.npinned != n || pn.ndevice) {
		snprintf(failure, sizeof(failure), "long-term pin: %s, %llu pinned, %llu on a device",
			 strerror(-ret), (unsigned long long)pn.npinned, (unsigned long long)pn.ndevice);
		if (!ret)
			unpin(cfd[c], pn.handle);
		goto out;
	}
	raw(round, im, OP_PIN, ns);
	unpin(cfd[c], pn.handle);
	if (!in_system(p, n, seed, "longterm_pin"))
		goto out;

	/* device-side eviction */
	if (!to_dev_untimed(k, im, c, tfd, p, q, n, "eviction"))
		goto out;
	if (im->thmm) {
		t = now();
		ret = thmm_cmd(tfd, COHMEM_HMM_RELEASE, p, q, n, &cmd);
		ns = ns_since(t);
		/* Its chunks are gone: the next round makes them first. */
		im->warm = false;
		if (ret) {
			snprintf(failure, sizeof(failure), "test_hmm RELEASE: %s", strerror(-ret));
			goto out;
		}
	} else {
		struct cohmem_evict e = { .flags = COHMEM_EVICT_ALL };

		phase_before(c, ph);
		t = now();
		ret = xioctl(cfd[c], COHMEM_IOC_EVICT, &e);
		ns = ns_since(t);
		if (ret || e.evicted != n) {
			snprintf(failure, sizeof(failure), "cohmem EVICT: %s, %llu of %zu pages, %llu busy",
				 strerror(-ret), (unsigned long long)e.evicted, n,
				 (unsigned long long)e.busy);
			goto out;
		}
		phase_raw(round, im, c, OP_EVICT, 1, ph, ns);
	}
	raw(round, im, OP_EVICT, ns);
	ok = in_system(p, n, seed, "evict");
out:
	if (tfd >= 0)
		close(tfd);
	return ok;
}

/* A failed round may leave pages on a device: bring back what it can. */
static void lane_cleanup(const struct kind *k)
{
	struct cohmem_evict e = { .flags = COHMEM_EVICT_ALL };
	struct cohmem_hmm_cmd cmd;
	int tfd = open(k->thmm_node, O_RDWR | O_CLOEXEC);

	xioctl(cfd[k->private], COHMEM_IOC_EVICT, &e);
	if (tfd >= 0) {
		thmm_cmd(tfd, COHMEM_HMM_RELEASE, NULL, NULL, 1, &cmd);
		close(tfd);
	}
}

static char *fresh(size_t n, bool thp, unsigned int seed)
{
	char *p = map_anon(n, thp);

	if (p)
		fill(p, n, seed);
	return p;
}

static char *refresh(char *p, size_t n, unsigned int seed)
{
	munmap(p, n * page_size);
	p = fresh(n, true, seed);
	if (!p)
		snprintf(failure, sizeof(failure), "mmap of %zu pages failed", n);
	return p;
}

static int lane(void)
{
	const char *env;
	char list[256], *tok, *save;
	size_t sizes[16];
	int nsizes = 0, rounds, nk = 0, c, i, r, s, id, plan, caseno = 0, failed = 0;
	bool want[NKINDS];
	const char *no_thmm = getenv("COHMEM_BENCH_NO_THMM");
	unsigned long thmm_coh_mib = 256;

	page_size = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	env = getenv("COHMEM_BENCH_SIZES");
	snprintf(list, sizeof(list), "%s", env && *env ? env : "1 4 16 64 256 512");
	for (tok = strtok_r(list, " ,", &save); tok && nsizes < 16; tok = strtok_r(NULL, " ,", &save))
		sizes[nsizes++] = strtoul(tok, NULL, 10);
	env = getenv("COHMEM_BENCH_ROUNDS");
	rounds = env && atoi(env) > 0 ? atoi(env) : 3;
	env = getenv("COHMEM_BENCH_THMM_COHERENT_MIB");
	if (env && *env)
		thmm_coh_mib = strtoul(env, NULL, 10);
	env = getenv("COHMEM_BENCH_KINDS");
	for (i = 0; i < NKINDS; i++) {
		want[i] = !env || !*env || strstr(env, kinds[i].name);
		nk += want[i];
	}

	/* cohmem's first coherent and first private device */
	for (id = 0; id < 8; id++) {
		char path[32];
		struct cohmem_info info;
		int fd;

		snprintf(path, sizeof(path), "/dev/cohmem%d", id);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		if (xioctl(fd, COHMEM_IOC_INFO, &info)) {
			close(fd);
			continue;
		}
		c = info.type == COHMEM_TYPE_PRIVATE;
		if (cfd[c] >= 0) {
			close(fd);
			continue;
		}
		cfd[c] = fd;
		cid[c] = id;
		cinfo[c] = info;
	}
	if (cfd[0] < 0) {
		printf("Bail out! no coherent cohmem device (the lane needs one: its SNAPSHOT checks every result)\n");
		return 1;
	}
	snprintf(phase_path, sizeof(phase_path), "/sys/class/misc/cohmem%d/phase_ns", cid[0]);
	phases_on = set_phase_stats("1");
	batches_init();

	plan = nk * nsizes;
	printf("KTAP version 1\n1..%d\n", plan);
	printf("# cohmem-bench --lane: sizes");
	for (s = 0; s < nsizes; s++)
		printf(" %zu", sizes[s]);
	printf(" MiB, %d rounds, batch_mib", rounds);
	if (nbatches)
		for (i = 0; i < nbatches; i++)
			printf(" %s", batches[i]);
	else
		printf(" %s (the module's own)", batch_now());
	printf("; QEMU TCG: only ratios within one guest run mean anything\n");

	for (i = 0; i < NKINDS; i++) {
		const struct kind *k = &kinds[i];
		int nimpl = 0;
		struct impl impls[MAX_BATCHES + 1];
		bool thmm_there;

		if (!want[i])
			continue;
		kname = k->name;
		thmm_there = !access(k->thmm_node, R_OK | W_OK);
		for (s = 0; s < nsizes; s++) {
			size_t n = (sizes[s] << 20) / page_size;
			double t0 = now();
			char *p = NULL, *q = NULL;
			bool ok = true, any = false;
			int v;

			kmib = sizes[s];
			caseno++;
			if (cfd[k->private] < 0) {
				printf("ok %d %s_%zuMiB # SKIP no device-private memory (kernel without CONFIG_DEVICE_PRIVATE)\n",
				       caseno, kname, kmib);
				printf("# bench-na\t%s\t%zu\tcohmem\tno device-private memory in this kernel\n", kname, kmib);
				printf("# bench-na\t%s\t%zu\ttest_hmm\t%s\n", kname, kmib,
				       no_thmm ? no_thmm : "no device-private memory in this kernel");
				continue;
			}
			/* cohmem at each batch size, then test_hmm: alternating */
			nimpl = 0;
			for (v = 0; v < (nbatches ? nbatches : 1); v++)
				impls[nimpl++] = (struct impl){ .batch = nbatches ? v : -1 };
			impls[nimpl++] = (struct impl){ .thmm = true, .batch = -1 };
			for (v = 0; v < nimpl; v++) {
				struct impl *im = &impls[v];
				static char why[128];

				if (k->huge && kmib < 2) {
					im->na = "smaller than one 2 MiB folio";
				} else if (!im->thmm && cinfo[k->private].total_pages < n) {
					snprintf(why, sizeof(why), "cohmem's device holds %llu MiB",
						 (unsigned long long)(cinfo[k->private].total_pages * page_size >> 20));
					im->na = why;
				} else if (!im->thmm && k->huge && !(cinfo[k->private].features & COHMEM_FEATURE_HUGE)) {
					im->na = "no huge device folios here (COHMEM_FEATURE_HUGE: device-private, 6.19 on)";
				} else if (im->thmm && !thmm_there) {
					im->na = no_thmm ? no_thmm : "test_hmm not loaded";
				} else if (im->thmm && !k->private && kmib > thmm_coh_mib) {
					static char cwhy[160];

					snprintf(cwhy, sizeof(cwhy),
						 "test_hmm's coherent device is one DEVMEM_CHUNK_SIZE chunk (%lu MiB) at spm_addr",
						 thmm_coh_mib);
					im->na = cwhy;
				}
				if (im->na && (im->thmm || v == 0))
					printf("# bench-na\t%s\t%zu\t%s\t%s\n", kname, kmib, impl_name(im), im->na);
				any |= !im->na;
			}
			if (!any) {
				printf("ok %d %s_%zuMiB # SKIP %s\n", caseno, kname, kmib, impls[0].na);
				continue;
			}
			p = fresh(n, k->huge, 1 + s);
			q = map_anon(n, false);
			if (!p || !q) {
				printf("not ok %d %s_%zuMiB # mmap of %zu MiB failed\n", caseno, kname, kmib, kmib);
				failed++;
				continue;
			}
			memset(q, 0, n * page_size);
			failure[0] = 0;
			for (r = 1; r <= rounds && ok; r++) {
				for (v = 0; v < nimpl && ok; v++) {
					struct impl *im = &impls[v];

					if (im->na)
						continue;
					/* huge: the buffer as new THPs, however it came back */
					if (k->huge)
						p = refresh(p, n, 1 + s);
					if (!im->warm) {
						ok = p && warm_up(k, im, p, q, n);
						if (ok && k->huge)
							p = refresh(p, n, 1 + s);
					}
					ok = ok && p;
					if (ok)
						ok = lane_round(k, im, r, p, q, n, 1 + s);
				}
			}
			if (ok && check_data(p, n, 1 + s, true) != -1) {
				snprintf(failure, sizeof(failure), "at the end, page %ld has the wrong data",
					 check_data(p, n, 1 + s, true));
				ok = false;
			}
			if (ok) {
				printf("ok %d %s_%zuMiB # %.1f s\n", caseno, kname, kmib, now() - t0);
			} else {
				printf("not ok %d %s_%zuMiB # %s\n", caseno, kname, kmib, failure);
				failed++;
				lane_cleanup(k);
			}
			if (p)
				munmap(p, n * page_size);
			munmap(q, n * page_size);
		}
	}
	batches_restore();
	if (phases_on)
		set_phase_stats("0");
	printf("# cohmem-bench --lane: %d of %d cases failed\n", failed, plan);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--lane"))
		return lane();
	if (argc > 1) {
		fprintf(stderr, "usage: cohmem-bench [--lane]\n");
		return 2;
	}
	return cohmem_bench(0, MIB);
}
#endif
