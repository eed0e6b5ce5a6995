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
 *   cohmemctl [--json] selftest --yes-load-the-module [--dir DIR] [PROGRAM...]
 *            [-- PARAM=VALUE...]
 *   cohmemctl [--json] selftest --list [--dir DIR] [PROGRAM...]
 *   cohmemctl --help
 *
 * Everything is read from sysfs (/sys/class/misc/cohmemN/) and procfs; the
 * module is loaded and unloaded through libkmod, as modprobe does; selftest
 * runs the test programs with fork and exec. No shell-outs. Exit status:
 * 0 done, 1 failed, 2 bad usage, 3 no device. See cohmemctl(1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libkmod.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

/*
 * Drain first (evict what can be evicted), then remove. @tries > 1: while
 * the module is still in use, drain and try again every 200 ms (a page the
 * last test program let go of may be freed a moment after it exits).
 */
static int unload_module(int tries)
{
	struct kmod_ctx *ctx = kmod_new(NULL, NULL);
	struct kmod_module *mod;
	int ret;

	if (!ctx)
		return 1;
	if (kmod_module_new_from_name(ctx, "cohmem", &mod) < 0) {
		kmod_unref(ctx);
		return 1;
	}
	for (;;) {
		FILE *f = fopen("/sys/module/cohmem/parameters/drain", "w");

		if (f) {
			fputs("1\n", f);
			fclose(f);
		}
		ret = kmod_module_remove_module(mod, 0);
		if (ret >= 0 || --tries <= 0 || (ret != -EAGAIN && ret != -EBUSY))
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 200000000 }, NULL);
	}
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

static int cmd_unload(void)
{
	return unload_module(1);
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

/*
 * selftest: the KTAP programs of cohmem-tests, on this machine.
 *
 * Where they are: --dir, else $COHMEM_TESTS_DIR, else COHMEM_TESTS_DIR as
 * built (the package's /usr/libexec/cohmem; the test guest has them in /bin).
 */
#ifndef COHMEM_TESTS_DIR
#define COHMEM_TESTS_DIR "/usr/libexec/cohmem"
#endif
#define CONFIRM_FLAG "--yes-load-the-module"

enum { ON_COHERENT = 1, ON_PRIVATE = 2, ON_DMIRROR = 4, ON_GUPTEST = 8, ON_ANY = 15 };

/* In the order selftest runs them; @on: which loads run them by default. */
static const struct prog {
	const char *name;
	unsigned int on;
	const char *needs;
} progs[] = {
	{ "cohmem-core", ON_COHERENT, "cohmem0 coherent" },
	{ "cohmem-pin", ON_COHERENT, "cohmem0 coherent" },
	{ "cohmem-conform", ON_COHERENT, "cohmem0 coherent (one case: two devices)" },
	{ "cohmem-pressure", ON_COHERENT, "cohmem0 coherent" },
	{ "cohmem-perm", ON_COHERENT, "cohmem0 coherent" },
	{ "cohmem-private", ON_PRIVATE, "cohmem0 private (type=private)" },
	{ "cohmem-dmirror", ON_DMIRROR, "upstream_abi=1, two devices" },
	{ "cohmem-guptest", ON_GUPTEST, "upstream_abi=1, debugfs mounted" },
	{ "cohmem-stress", ON_ANY, "any device; 20 seconds" },
	{ "cohmem-fuzz", ON_ANY, "any device; 20 seconds" },
};
#define NPROGS (sizeof(progs) / sizeof(progs[0]))

struct result {
	const struct prog *prog;
	bool installed, ran;
	int planned, passed, failed, skipped;
	int exit_code, signal;		/* of the program; -1: none */
};

static FILE *ktap;			/* the programs' stream: stdout, or stderr with --json */
static volatile sig_atomic_t stop_sig;
static volatile pid_t child_pid;

static void on_signal(int sig)
{
	stop_sig = sig;
	if (child_pid > 0)
		kill(child_pid, sig);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static const struct prog *find_prog(const char *name)
{
	char full[64];
	size_t i;

	if (strncmp(name, "cohmem-", 7)) {
		snprintf(full, sizeof(full), "cohmem-%s", name);
		name = full;
	}
	for (i = 0; i < NPROGS; i++)
		if (!strcmp(progs[i].name, name))
			return &progs[i];
	return NULL;
}

static bool installed(const char *dir, const struct prog *p, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", dir, p->name);
	return !access(path, X_OK);
}

/* What this load runs by default: device 0's type, the upstream_abi nodes. */
static unsigned int loaded_kind(void)
{
	char type[16] = "";
	unsigned int on = 0;

	if (!read_attr(0, "type", type, sizeof(type)))
		on |= strcmp(type, "private") ? ON_COHERENT : ON_PRIVATE;
	if (!access("/dev/hmm_dmirror0", F_OK) && !access("/dev/hmm_dmirror1", F_OK))
		on |= ON_DMIRROR;
	if (!access("/sys/kernel/debug/gup_test", F_OK))
		on |= ON_GUPTEST;
	return on;
}

/* 1 loaded (live), 0 not loaded, -1 on its way in or out. */
static int module_state(void)
{
	struct kmod_ctx *ctx = kmod_new(NULL, NULL);
	struct kmod_module *mod;
	int state = -ENOENT;

	if (!ctx)
		return 0;
	if (!kmod_module_new_from_name(ctx, "cohmem", &mod)) {
		state = kmod_module_get_initstate(mod);
		kmod_module_unref(mod);
	}
	kmod_unref(ctx);
	if (state < 0)
		return 0;
	return state == KMOD_MODULE_LIVE || state == KMOD_MODULE_BUILTIN ? 1 : -1;
}

/*
 * Run one program, its stdout and stderr streamed as a KTAP subtest
 * (indented four spaces), and count its results as scripts/ktap-summary.awk
 * does: a result missing from its plan fails, and so does a non-zero exit
 * without a failed case (a crash, a bail-out).
 */
static void run_prog(const char *path, struct result *r)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int fds[2], status, seen = 0;
	FILE *f;
	pid_t pid;

	r->ran = true;
	r->exit_code = r->signal = -1;
	if (pipe2(fds, O_CLOEXEC)) {
		fprintf(ktap, "# %s: pipe: %s\n", r->prog->name, strerror(errno));
		r->failed++;
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(ktap, "# %s: fork: %s\n", r->prog->name, strerror(errno));
		close(fds[0]);
		close(fds[1]);
		r->failed++;
		return;
	}
	if (!pid) {
		int null = open("/dev/null", O_RDONLY);

		signal(SIGPIPE, SIG_DFL);
		if (null >= 0)
			dup2(null, 0);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		execl(path, path, (char *)NULL);
		dprintf(2, "Bail out! cannot run %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	child_pid = pid;
	if (stop_sig)
		kill(pid, stop_sig);
	close(fds[1]);
	f = fdopen(fds[0], "r");
	while (f && (n = getline(&line, &cap, f)) >= 0) {
		int k;

		line[strcspn(line, "\n")] = 0;
		fprintf(ktap, "    %s\n", line);
		fflush(ktap);
		if (sscanf(line, "1..%d", &k) == 1) {
			r->planned = k;
		} else if (!strncmp(line, "ok ", 3)) {
			seen++;
			if (strstr(line, "# SKIP"))
				r->skipped++;
			else
				r->passed++;
		} else if (!strncmp(line, "not ok ", 7)) {
			seen++;
			r->failed++;
		}
	}
	free(line);
	if (f)
		fclose(f);
	else
		close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	child_pid = 0;
	if (WIFEXITED(status))
		r->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		r->signal = WTERMSIG(status);
	if (r->planned > seen) {
		fprintf(ktap, "# %s: %d of %d results missing\n", r->prog->name,
			r->planned - seen, r->planned);
		r->failed += r->planned - seen;
	}
	if (r->exit_code != 0 && !r->failed)
		r->failed++;
}

static int selftest_usage(void)
{
	fprintf(stderr, "usage: cohmemctl [--json] selftest " CONFIRM_FLAG
		" [--dir DIR] [PROGRAM...] [-- PARAM=VALUE...]\n"
		"       cohmemctl [--json] selftest --list [--dir DIR] [PROGRAM...]\n");
	return 2;
}

static int selftest_list(const char *dir, const struct prog **sel, int nsel)
{
	char path[PATH_MAX];
	int i;

	if (json)
		putchar('[');
	else
		printf("%-16s %-9s %s\n", "program", "installed", "runs by default with");
	for (i = 0; i < nsel; i++) {
		bool ok = installed(dir, sel[i], path, sizeof(path));

		if (json) {
			printf("%s{\"name\":\"%s\",\"path\":", i ? "," : "", sel[i]->name);
			json_str(path);
			printf(",\"installed\":%s,\"needs\":\"%s\"}", ok ? "true" : "false",
			       sel[i]->needs);
		} else {
			printf("%-16s %-9s %s\n", sel[i]->name, ok ? "yes" : "no", sel[i]->needs);
		}
	}
	if (json)
		printf("]\n");
	else
		printf("# in %s\n", dir);
	return 0;
}

static int cmd_selftest(int argc, char **argv)
{
	const char *dir = getenv("COHMEM_TESTS_DIR");
	const struct prog *sel[NPROGS];
	struct result res[NPROGS];
	bool confirmed = false, list = false, named = false, loaded_here = false;
	bool unloaded = false;
	int nsel = 0, nres = 0, nparams = 0, i, ndev, state, total[3] = { 0 }, ret = 0;
	char **params = NULL, path[PATH_MAX];
	struct sigaction sa;
	struct dev d[MAX_DEVS];
	unsigned int on;
	size_t k;

	if (!dir || !*dir)
		dir = COHMEM_TESTS_DIR;
	for (i = 0; i < argc; i++) {
		const struct prog *p;
		int j;

		if (!strcmp(argv[i], CONFIRM_FLAG)) {
			confirmed = true;
		} else if (!strcmp(argv[i], "--list")) {
			list = true;
		} else if (!strcmp(argv[i], "--dir")) {
			if (i + 1 == argc) {
				fprintf(stderr, "cohmemctl: selftest: --dir needs a directory\n");
				return selftest_usage();
			}
			dir = argv[++i];
		} else if (!strcmp(argv[i], "--")) {
			params = argv + i + 1;
			nparams = argc - i - 1;
			break;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "cohmemctl: selftest: unknown option %s\n", argv[i]);
			return selftest_usage();
		} else if (!(p = find_prog(argv[i]))) {
			fprintf(stderr, "cohmemctl: selftest: no test program %s (cohmemctl selftest --list)\n",
				argv[i]);
			return 2;
		} else {
			for (j = 0; j < nsel && sel[j] != p; j++)
				;
			if (j == nsel)
				sel[nsel++] = p;
			named = true;
		}
	}
	if (list) {
		if (!named)
			for (k = 0; k < NPROGS; k++)
				sel[nsel++] = &progs[k];
		return selftest_list(dir, sel, nsel);
	}
	if (!confirmed) {
		fprintf(stderr,
			"cohmemctl: selftest would load the cohmem module into the running kernel\n"
			"(unless it is loaded already) and run the test programs in %s\n"
			"against it. While loaded, cohmem takes RAM away from this machine (a boot\n"
			"reservation, or memory it hot-removes); the programs need root, migrate and\n"
			"pin memory and race eviction against munmap and exit, and a kernel bug they\n"
			"hit takes the whole machine down. It is meant for test machines and virtual\n"
			"machines. To go ahead, confirm with:\n"
			"  cohmemctl selftest " CONFIRM_FLAG " [PROGRAM...] [-- PARAM=VALUE...]\n",
			dir);
		return 2;
	}
	if (geteuid()) {
		fprintf(stderr, "cohmemctl: selftest needs root (it loads a module; the programs use /dev/cohmemN)\n");
		return 1;
	}
	for (k = 0; k < NPROGS && !installed(dir, &progs[k], path, sizeof(path)); k++)
		;
	if (k == NPROGS) {
		fprintf(stderr, "cohmemctl: selftest: no test program in %s (install cohmem-tests, or give --dir or COHMEM_TESTS_DIR)\n",
			dir);
		return 1;
	}
	for (i = 0; i < nsel; i++)
		if (!installed(dir, sel[i], path, sizeof(path))) {
			fprintf(stderr, "cohmemctl: selftest: %s: not installed\n", path);
			return 1;
		}

	state = module_state();
	if (state < 0) {
		fprintf(stderr, "cohmemctl: selftest: cohmem is being loaded or unloaded; try again\n");
		return 1;
	}
	if (state && nparams) {
		fprintf(stderr, "cohmemctl: selftest: cohmem is loaded already, with its own parameters: unload it first (cohmemctl unload) to test with yours\n");
		return 1;
	}

	/* Whatever happens to a program, or to us, unload what we loaded. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	ktap = json ? stderr : stdout;
	setvbuf(stdout, NULL, _IOLBF, 0);
	fprintf(ktap, "KTAP version 1\n");
	if (!state) {
		fprintf(ktap, "# loading cohmem");
		for (i = 0; i < nparams; i++)
			fprintf(ktap, " %s", params[i]);
		fprintf(ktap, "\n");
		fflush(ktap);
		if (cmd_load(nparams, params))
			return 1;
		loaded_here = true;
		/* devtmpfs makes the nodes; udev, where it runs, may be later. */
		for (i = 0; i < 50 && !stop_sig && access("/dev/cohmem0", F_OK); i++)
			nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
	} else {
		fprintf(ktap, "# cohmem is loaded already: it stays loaded\n");
	}
	if (!get_devs(d)) {
		ret = no_device();
		goto out;
	}
	for (i = 0, ndev = get_devs(d); i < ndev; i++)
		fprintf(ktap, "# cohmem%d: %s, %s, %" PRIu64 " MiB\n", d[i].id, d[i].type,
			d[i].source, d[i].size >> 20);
	if (!named) {
		on = loaded_kind();
		for (k = 0; k < NPROGS; k++)
			if (progs[k].on & on)
				sel[nsel++] = &progs[k];
	}
	fprintf(ktap, "1..%d\n", nsel);
	fprintf(ktap, "# programs from %s\n", dir);
	for (i = 0; i < nsel; i++) {
		struct result *r = &res[nres++];

		memset(r, 0, sizeof(*r));
		r->prog = sel[i];
		r->exit_code = r->signal = -1;
		r->installed = installed(dir, sel[i], path, sizeof(path));
		if (stop_sig) {
			fprintf(ktap, "not ok %d %s # not run: interrupted\n", i + 1, sel[i]->name);
			continue;
		}
		if (!r->installed) {
			fprintf(ktap, "ok %d %s # SKIP not installed\n", i + 1, sel[i]->name);
			total[2]++;
			continue;
		}
		fprintf(ktap, "# running %s\n", path);
		run_prog(path, r);
		fprintf(ktap, "# %s: %d passed, %d failed, %d skipped", sel[i]->name,
			r->passed, r->failed, r->skipped);
		if (r->signal > 0)
			fprintf(ktap, " (killed by signal %d)", r->signal);
		else if (r->exit_code > 0)
			fprintf(ktap, " (exit status %d)", r->exit_code);
		fprintf(ktap, "\n%sok %d %s%s\n", r->failed ? "not " : "", i + 1, sel[i]->name,
			!r->failed && !r->passed && r->skipped ? " # SKIP every case skipped" : "");
		total[0] += r->passed;
		total[1] += r->failed;
		total[2] += r->skipped;
	}
out:
	if (loaded_here) {
		fprintf(ktap, "# unloading cohmem\n");
		fflush(ktap);
		unloaded = !unload_module(10);
		if (!unloaded)
			ret = 1;
	}
	if (stop_sig) {
		fprintf(ktap, "# interrupted by signal %d\n", (int)stop_sig);
		ret = 1;
	}
	if (nres)
		fprintf(ktap, "# total: %d passed, %d failed, %d skipped\n", total[0], total[1],
			total[2]);
	fflush(ktap);
	if (json) {
		printf("{\"dir\":");
		json_str(dir);
		printf(",\"loaded_by_selftest\":%s,\"unloaded\":%s,\"programs\":[",
		       loaded_here ? "true" : "false", unloaded ? "true" : "false");
		for (i = 0; i < nres; i++)
			printf("%s{\"name\":\"%s\",\"ran\":%s,\"planned\":%d,\"passed\":%d,\"failed\":%d,"
			       "\"skipped\":%d,\"exit_status\":%d,\"signal\":%d}",
			       i ? "," : "", res[i].prog->name, res[i].ran ? "true" : "false",
			       res[i].planned, res[i].passed, res[i].failed, res[i].skipped,
			       res[i].exit_code, res[i].signal);
		printf("],\"passed\":%d,\"failed\":%d,\"skipped\":%d}\n", total[0], total[1],
		       total[2]);
	}
	if (!ret && total[1])
		ret = 1;
	return ret;
}

#define USAGE \
	"usage: cohmemctl [--json] info\n" \
	"       cohmemctl watch [--interval SECONDS] [--count N]\n" \
	"       cohmemctl [--json] map PID ADDR LEN\n" \
	"       cohmemctl load [PARAM=VALUE...]\n" \
	"       cohmemctl unload\n" \
	"       cohmemctl bench [--device N] [--mib SIZE]\n" \
	"       cohmemctl [--json] selftest " CONFIRM_FLAG " [--dir DIR] [PROGRAM...]\n" \
	"                [-- PARAM=VALUE...]\n" \
	"       cohmemctl [--json] selftest --list [--dir DIR] [PROGRAM...]\n" \
	"       cohmemctl --help\n"

static int usage(void)
{
	fputs(USAGE, stderr);
	return 2;
}

static int help(void)
{
	printf(USAGE "\n"
	       "  info       every cohmem device: type, source, size, free and used pages,\n"
	       "             the migration counters (--json: one JSON value)\n"
	       "  watch      free and used pages and the counters' rates, every SECONDS\n"
	       "  map        residency of a process's range, one character per page:\n"
	       "             . none, s system RAM, 0-7 that device, - not present\n"
	       "  load       load the module through libkmod, with these parameters\n"
	       "  unload     drain (evict what can be evicted), then remove the module\n"
	       "  bench      the migration benchmark on device N, SIZE MiB\n"
	       "  selftest   load cohmem into the running kernel (unless loaded already;\n"
	       "             PARAMs after --), run the test programs of cohmem-tests\n"
	       "             (default: those for the devices loaded), stream their KTAP,\n"
	       "             count passed, failed, skipped; unload what it loaded. Needs\n"
	       "             root and " CONFIRM_FLAG "; --list shows the programs.\n"
	       "             DIR: --dir, $COHMEM_TESTS_DIR, or " COHMEM_TESTS_DIR "\n"
	       "\n"
	       "Exit status: 0 done (selftest: no case failed), 1 failed, 2 bad usage,\n"
	       "3 no device. See cohmemctl(1).\n");
	return 0;
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
	if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") || !strcmp(argv[i], "help"))
		return help();
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
	if (!strcmp(argv[i], "selftest"))
		return cmd_selftest(argc - i - 1, argv + i + 1);
	return usage();
}
