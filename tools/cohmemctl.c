// SPDX-License-Identifier: GPL-2.0
/*
 * cohmemctl: look at cohmem devices, and load or unload the module.
 *
 *   cohmemctl [--json] info
 *   cohmemctl watch [--interval SECONDS] [--count N]
 *   cohmemctl [--json] map PID ADDR LEN
 *   cohmemctl load [PARAM=VALUE...]
 *   cohmemctl unload
 *   cohmemctl bench [--device N] [--mib SIZE]
 *
 * Everything is read from sysfs (/sys/class/misc/cohmemN/) and procfs; the
 * module is loaded and unloaded through libkmod, as modprobe does. No
 * shell-outs. Exit status: 0 done, 1 failed, 2 bad usage, 3 no device.
 * See cohmemctl(1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libkmod.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SYSDIR		"/sys/class/misc"
#define MAX_DEVS	8

static bool json;

struct dev {
	int id;
	char type[16], source[16];
	uint64_t base;		/* 0: not readable (root only) */
	uint64_t size, page_size, huge, total, free, used;
	uint64_t to_dev, to_sys, evicted, freed;
};

static int read_attr(int id, const char *attr, char *buf, size_t len)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), SYSDIR "/cohmem%d/%s", id, attr);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static uint64_t num_attr(int id, const char *attr, bool *ok)
{
	char buf[64];

	if (read_attr(id, attr, buf, sizeof(buf))) {
		*ok = false;
		return 0;
	}
	return strtoull(buf, NULL, 0);
}

/* Device @id as sysfs shows it; false if there is no such device. */
static bool get_dev(int id, struct dev *d)
{
	bool ok = true, base_ok = true;

	memset(d, 0, sizeof(*d));
	d->id = id;
	if (read_attr(id, "type", d->type, sizeof(d->type)) ||
	    read_attr(id, "source", d->source, sizeof(d->source)))
		return false;
	d->size = num_attr(id, "size", &ok);
	d->page_size = num_attr(id, "page_size", &ok);
	d->huge = num_attr(id, "huge", &ok);
	d->total = num_attr(id, "total_pages", &ok);
	d->free = num_attr(id, "free_pages", &ok);
	d->used = num_attr(id, "used_pages", &ok);
	d->to_dev = num_attr(id, "migrated_to_dev", &ok);
	d->to_sys = num_attr(id, "migrated_to_sys", &ok);
	d->evicted = num_attr(id, "evicted", &ok);
	d->freed = num_attr(id, "freed", &ok);
	d->base = num_attr(id, "base", &base_ok);
	return ok;
}

static int get_devs(struct dev *d)
{
	int n = 0, id;

	for (id = 0; id < MAX_DEVS; id++)
		if (get_dev(id, &d[n]))
			n++;
	return n;
}

static int no_device(void)
{
	fprintf(stderr, "cohmemctl: no cohmem device (is the module loaded? cohmemctl load)\n");
	return 3;
}

static int cmd_info(void)
{
	struct dev d[MAX_DEVS];
	int n = get_devs(d), i;

	if (!n)
		return no_device();
	if (json) {
		printf("[");
		for (i = 0; i < n; i++)
			printf("%s{\"id\":%d,\"type\":\"%s\",\"source\":\"%s\",\"base\":%" PRIu64
			       ",\"size\":%" PRIu64 ",\"page_size\":%" PRIu64 ",\"huge\":%" PRIu64
			       ",\"total_pages\":%" PRIu64 ",\"free_pages\":%" PRIu64
			       ",\"used_pages\":%" PRIu64 ",\"migrated_to_dev\":%" PRIu64
			       ",\"migrated_to_sys\":%" PRIu64 ",\"evicted\":%" PRIu64
			       ",\"freed\":%" PRIu64 "}",
			       i ? "," : "", d[i].id, d[i].type, d[i].source, d[i].base,
			       d[i].size, d[i].page_size, d[i].huge, d[i].total, d[i].free,
			       d[i].used, d[i].to_dev, d[i].to_sys, d[i].evicted, d[i].freed);
		printf("]\n");
		return 0;
	}
	printf("%-8s %-9s %-9s %-18s %8s %9s %9s %9s %12s %12s %12s %12s\n", "device", "type",
	       "source", "base", "MiB", "pages", "free", "used", "to_dev", "to_sys",
	       "evicted", "freed");
	for (i = 0; i < n; i++) {
		char base[24];

		if (d[i].base)
			snprintf(base, sizeof(base), "%#" PRIx64, d[i].base);
		else
			snprintf(base, sizeof(base), "(root only)");
		printf("cohmem%-2d %-9s %-9s %-18s %8" PRIu64 " %9" PRIu64 " %9" PRIu64
		       " %9" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "\n",
		       d[i].id, d[i].type, d[i].source, base, d[i].size >> 20, d[i].total,
		       d[i].free, d[i].used, d[i].to_dev, d[i].to_sys, d[i].evicted,
		       d[i].freed);
	}
	return 0;
}

/* Like vmstat: free and used pages, and what the counters moved since. */
static int cmd_watch(double interval, long count)
{
	struct dev prev[MAX_DEVS], cur[MAX_DEVS];
	struct timespec ts;
	long round;
	int n, i;

	n = get_devs(prev);
	if (!n)
		return no_device();
	ts.tv_sec = (time_t)interval;
	ts.tv_nsec = (long)((interval - (double)ts.tv_sec) * 1e9);
	printf("%-8s %9s %9s %10s %10s %10s %10s\n", "device", "free", "used",
	       "to_dev/s", "to_sys/s", "evict/s", "freed/s");
	for (round = 0; count <= 0 || round < count; round++) {
		if (round)
			nanosleep(&ts, NULL);
		if (get_devs(cur) != n) {
			fprintf(stderr, "cohmemctl: the devices changed\n");
			return 1;
		}
		for (i = 0; i < n; i++) {
			double s = round ? interval : 1;

			printf("cohmem%-2d %9" PRIu64 " %9" PRIu64 " %10.0f %10.0f %10.0f %10.0f\n",
			       cur[i].id, cur[i].free, cur[i].used,
			       round ? (cur[i].to_dev - prev[i].to_dev) / s : 0,
			       round ? (cur[i].to_sys - prev[i].to_sys) / s : 0,
			       round ? (cur[i].evicted - prev[i].evicted) / s : 0,
			       round ? (cur[i].freed - prev[i].freed) / s : 0);
			prev[i] = cur[i];
		}
		fflush(stdout);
	}
	return 0;
}

/*
 * The residency of [addr, addr + len) of process @pid from its pagemap:
 * one character per page, 64 to a line: '.' nothing there, 's' system RAM,
 * '0'..'7' a page of that cohmem device, '-' not present (swapped, or a
 * device-private page, which the CPU cannot map). Physical addresses need
 * root (CAP_SYS_ADMIN): without them every present page reads 's'.
 */
static int cmd_map(const char *spid, const char *saddr, const char *slen)
{
	uint64_t addr = strtoull(saddr, NULL, 0), len = strtoull(slen, NULL, 0);
	long psize = sysconf(_SC_PAGESIZE);
	struct dev d[MAX_DEVS];
	uint64_t i, npages, counts[MAX_DEVS + 3] = { 0 };
	char path[64];
	int fd, n, k;

	if (!len || addr % psize || len % psize) {
		fprintf(stderr, "cohmemctl: map: ADDR and LEN must be page-aligned, LEN > 0\n");
		return 2;
	}
	n = get_devs(d);
	snprintf(path, sizeof(path), "/proc/%s/pagemap", spid);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "cohmemctl: %s: %s\n", path, strerror(errno));
		return 1;
	}
	npages = len / psize;
	if (json)
		printf("{\"pid\":%s,\"addr\":%" PRIu64 ",\"pages\":%" PRIu64 ",\"map\":\"",
		       spid, addr, npages);
	for (i = 0; i < npages; i++) {
		uint64_t e = 0;
		char c = '.';

		if (pread(fd, &e, sizeof(e), (addr / psize + i) * 8) != sizeof(e)) {
			fprintf(stderr, "cohmemctl: reading %s: %s\n", path, strerror(errno));
			close(fd);
			return 1;
		}
		if (e & (1ULL << 63)) {
			uint64_t phys = (e & ((1ULL << 55) - 1)) * psize;

			c = 's';
			for (k = 0; k < n; k++)
				if (d[k].base && phys >= d[k].base && phys < d[k].base + d[k].size)
					c = '0' + d[k].id;
		} else if (e & (1ULL << 62)) {
			c = '-';
		}
		counts[c == '.' ? MAX_DEVS : c == 's' ? MAX_DEVS + 1 :
		       c == '-' ? MAX_DEVS + 2 : c - '0']++;
		putchar(c);
		if (!json && (i % 64 == 63 || i + 1 == npages))
			putchar('\n');
	}
	close(fd);
	if (json) {
		printf("\",\"none\":%" PRIu64 ",\"system\":%" PRIu64 ",\"not_present\":%" PRIu64,
		       counts[MAX_DEVS], counts[MAX_DEVS + 1], counts[MAX_DEVS + 2]);
		for (k = 0; k < n; k++)
			printf(",\"cohmem%d\":%" PRIu64, d[k].id, counts[d[k].id]);
		printf("}\n");
	} else {
		printf("# %" PRIu64 " pages: %" PRIu64 " none, %" PRIu64 " system, %" PRIu64
		       " not present", npages, counts[MAX_DEVS], counts[MAX_DEVS + 1],
		       counts[MAX_DEVS + 2]);
		for (k = 0; k < n; k++)
			printf(", %" PRIu64 " on cohmem%d", counts[d[k].id], d[k].id);
		printf("\n");
	}
	return 0;
}

static int usage(void);

static int cmd_load(int argc, char **argv)
{
	struct kmod_list *list = NULL, *l;
	struct kmod_ctx *ctx = kmod_new(NULL, NULL);
	char opts[1024] = "";
	int i, ret = -ENOENT;

	if (!ctx)
		return 1;
	for (i = 0; i < argc; i++) {
		strncat(opts, argv[i], sizeof(opts) - strlen(opts) - 2);
		strcat(opts, " ");
	}
	if (kmod_module_new_from_lookup(ctx, "cohmem", &list) < 0 || !list) {
		fprintf(stderr, "cohmemctl: module cohmem not found (is cohmem-dkms installed for this kernel?)\n");
		kmod_unref(ctx);
		return 1;
	}
	kmod_list_foreach(l, list) {
		struct kmod_module *mod = kmod_module_get_module(l);

		ret = kmod_module_probe_insert_module(mod, 0, opts, NULL, NULL, NULL);
		kmod_module_unref(mod);
		break;
	}
	kmod_module_unref_list(list);
	kmod_unref(ctx);
	if (ret < 0) {
		fprintf(stderr, "cohmemctl: loading cohmem: %s (see the kernel log)\n", strerror(-ret));
		return 1;
	}
	return 0;
}

/* Drain first (evict what can be evicted), then remove. */
static int cmd_unload(void)
{
	struct kmod_ctx *ctx = kmod_new(NULL, NULL);
	struct kmod_module *mod;
	FILE *f;
	int ret;

	if (!ctx)
		return 1;
	f = fopen("/sys/module/cohmem/parameters/drain", "w");
	if (f) {
		fputs("1\n", f);
		fclose(f);
	}
	if (kmod_module_new_from_name(ctx, "cohmem", &mod) < 0) {
		kmod_unref(ctx);
		return 1;
	}
	ret = kmod_module_remove_module(mod, 0);
	kmod_module_unref(mod);
	kmod_unref(ctx);
	if (ret < 0) {
		fprintf(stderr, "cohmemctl: unloading cohmem: %s%s\n", strerror(-ret),
			ret == -EAGAIN || ret == -EBUSY ?
			" (device pages still in use: the kernel log names how many)" : "");
		return 1;
	}
	return 0;
}

int cohmem_bench(int dev, int mib);	/* tests/bench.c */

/* The migration benchmark of cohmem-bench, on one device. */
static int cmd_bench(int argc, char **argv)
{
	int dev = 0, mib = 64, i;

	for (i = 0; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--device"))
			dev = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--mib"))
			mib = atoi(argv[i + 1]);
		else
			return usage();
	}
	if (i != argc || mib <= 0)
		return usage();
	if (access("/dev/cohmem0", F_OK))
		return no_device();
	return cohmem_bench(dev, mib) ? 1 : 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: cohmemctl [--json] info\n"
		"       cohmemctl watch [--interval SECONDS] [--count N]\n"
		"       cohmemctl [--json] map PID ADDR LEN\n"
		"       cohmemctl load [PARAM=VALUE...]\n"
		"       cohmemctl unload\n"
		"       cohmemctl bench [--device N] [--mib SIZE]\n");
	return 2;
}

int main(int argc, char **argv)
{
	double interval = 1;
	long count = 0;
	int i = 1;

	if (i < argc && !strcmp(argv[i], "--json")) {
		json = true;
		i++;
	}
	if (i >= argc)
		return usage();
	if (!strcmp(argv[i], "info") && i + 1 == argc)
		return cmd_info();
	if (!strcmp(argv[i], "watch")) {
		for (i++; i + 1 < argc; i += 2) {
			if (!strcmp(argv[i], "--interval"))
				interval = atof(argv[i + 1]);
			else if (!strcmp(argv[i], "--count"))
				count = atol(argv[i + 1]);
			else
				return usage();
		}
		if (i != argc || interval <= 0)
			return usage();
		return cmd_watch(interval, count);
	}
	if (!strcmp(argv[i], "map") && i + 4 == argc)
		return cmd_map(argv[i + 1], argv[i + 2], argv[i + 3]);
	if (!strcmp(argv[i], "load"))
		return cmd_load(argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "unload") && i + 1 == argc)
		return cmd_unload();
	if (!strcmp(argv[i], "bench"))
		return cmd_bench(argc - i - 1, argv + i + 1);
	return usage();
}
