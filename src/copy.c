// SPDX-License-Identifier: GPL-2.0
/*
 * The copy engine: what moves the bytes of a migration. Migration plans a
 * batch (the source and destination of every page), hands the whole batch
 * to the engine, waits, then commits it; the engine knows nothing of pages
 * and mappings, only of page-sized kernel addresses. A private device's
 * data is in its backing store, a coherent device's pages and system RAM
 * are in the direct map: cohmem_copy_dev_addr() says where.
 *
 * Engines: "serial" (the default) copies in the calling thread;
 * "parallel" splits a batch of at least COHMEM_COPY_PARALLEL_MIN pages
 * across CPUs with unbound work items and copies one share itself. In
 * the test guests (2 vCPUs under QEMU TCG on a busy 2-core host) parallel
 * was no faster: the other vCPU is rarely free (README, "Performance"). A DMA engine would be a
 * third set of ops (dmaengine memcpy channels); QEMU's machine has none
 * to test it with.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/ktime.h>
#include <linux/minmax.h>
#include <linux/moduleparam.h>
#include <linux/string.h>
#include <linux/workqueue.h>

#include "cohmem.h"

/* Every page has a kernel address (cohmem_dev_data(), page_address()). */
static_assert(!IS_ENABLED(CONFIG_HIGHMEM));

/* Below this many pages a batch is copied serially: a work item costs more. */
#define COHMEM_COPY_PARALLEL_MIN	64
/* Shares of a batch, the caller's included. */
#define COHMEM_COPY_MAX_SHARES		8

static void cohmem_copy_serial(struct cohmem_copy *c, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		if (c[i].src)
			copy_page(c[i].dst, (void *)c[i].src);
		else
			clear_page(c[i].dst);
	}
}

struct cohmem_copy_share {
	struct work_struct work;
	struct cohmem_copy *c;
	unsigned long n;
};

static void cohmem_copy_share_fn(struct work_struct *work)
{
	struct cohmem_copy_share *s = container_of(work, struct cohmem_copy_share, work);

	cohmem_copy_serial(s->c, s->n);
}

static void cohmem_copy_parallel(struct cohmem_copy *c, unsigned long n)
{
	struct cohmem_copy_share shares[COHMEM_COPY_MAX_SHARES];
	unsigned long nshares, per, i, done;

	nshares = min3((unsigned long)num_online_cpus(),
		       n / (COHMEM_COPY_PARALLEL_MIN / 2),
		       (unsigned long)COHMEM_COPY_MAX_SHARES);
	if (nshares < 2) {
		cohmem_copy_serial(c, n);
		return;
	}
	per = DIV_ROUND_UP(n, nshares);
	/* Shares 1.. to the workqueue, share 0 here; then wait for them. */
	for (i = 1, done = per; i < nshares && done < n; i++, done += per) {
		shares[i].c = c + done;
		shares[i].n = min(per, n - done);
		INIT_WORK_ONSTACK(&shares[i].work, cohmem_copy_share_fn);
		queue_work(cohmem_unbound_wq, &shares[i].work);
	}
	nshares = i;
	cohmem_copy_serial(c, min(per, n));
	for (i = 1; i < nshares; i++) {
		flush_work(&shares[i].work);
		destroy_work_on_stack(&shares[i].work);
	}
}

static const struct cohmem_copy_ops cohmem_copy_engines[] = {
	{ .name = "serial", .run = cohmem_copy_serial },
	{ .name = "parallel", .run = cohmem_copy_parallel },
};

/* The engine in use: read once per batch, so a change takes effect between batches. */
static const struct cohmem_copy_ops *cohmem_copy_engine = &cohmem_copy_engines[0];

static int cohmem_copy_engine_set(const char *val, const struct kernel_param *kp)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cohmem_copy_engines); i++) {
		if (sysfs_streq(val, cohmem_copy_engines[i].name)) {
			WRITE_ONCE(cohmem_copy_engine, &cohmem_copy_engines[i]);
			return 0;
		}
	}
	pr_err("copy_engine=%s: expected serial or parallel\n", val);
	return -EINVAL;
}

static int cohmem_copy_engine_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n", READ_ONCE(cohmem_copy_engine)->name);
}

static const struct kernel_param_ops cohmem_copy_engine_ops = {
	.set = cohmem_copy_engine_set,
	.get = cohmem_copy_engine_get,
};

module_param_cb(copy_engine, &cohmem_copy_engine_ops, NULL, 0644);
MODULE_PARM_DESC(copy_engine,
		 "what copies migrated pages: serial (default) or parallel (batches of 64 pages and more split across CPUs); writable at run time");

/*
 * Copy (or clear, where src is NULL) the n pages of c; all done on return.
 * Returns the time it took, in ns, when phase_stats is on (else 0).
 */
u64 cohmem_copy_run(struct cohmem_copy *c, unsigned long n)
{
	u64 t0;

	if (!n)
		return 0;
	if (!READ_ONCE(cohmem_phase_stats)) {
		READ_ONCE(cohmem_copy_engine)->run(c, n);
		return 0;
	}
	t0 = ktime_get_ns();
	READ_ONCE(cohmem_copy_engine)->run(c, n);
	return ktime_get_ns() - t0;
}
