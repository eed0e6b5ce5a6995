// SPDX-License-Identifier: GPL-2.0
/*
 * cohmem core cases: migration both ways with data and residency checked
 * three ways (contents, SNAPSHOT, /proc/self/pagemap PFNs), CPU access to
 * device pages, eviction, device full, process exit, and bad arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define N 256	/* pages: 1 MiB */

/* Everything back in system RAM, device as free as before the case. */
static void back_to_sys(char *p, size_t n)
{
	struct cohmem_migrate m;

	CHECK(migrate(dev_fd, p, n, false, &m) == 0);
	CHECK(count_not_state(dev_fd, p, n, COHMEM_STATE_SYSTEM) == 0);
	CHECK(count_pfn_in_dev(&dev_info, p, n) == 0);
}

static void info(void)
{
	struct cohmem_info i = get_info(dev_fd);

	CHECK(i.abi_version == COHMEM_ABI_VERSION);
	CHECK(i.page_size == page_size);
	CHECK(i.size == i.total_pages * page_size);
	CHECK(i.free_pages + i.used_pages == i.total_pages);
	CHECK(i.used_pages == 0, "%llu pages in use at start",
	      (unsigned long long)i.used_pages);
	CHECK(i.source == COHMEM_SOURCE_RESERVED || i.source == COHMEM_SOURCE_HOTREMOVE);
	ktap_diag("cohmem%u: %llu MiB at %#llx, source %u", i.id,
		  (unsigned long long)i.size >> 20, (unsigned long long)i.base, i.source);
}

/* One attribute of /sys/class/misc/cohmemN as a number; -1 if unreadable. */
static long long sysfs_num(const char *attr)
{
	char path[128], buf[64] = "";
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/misc/cohmem%u/%s", dev_info.id, attr);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		v = strtoll(buf, NULL, 0);
	fclose(f);
	return v;
}

static bool sysfs_is(const char *attr, const char *want)
{
	char path[128], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/misc/cohmem%u/%s", dev_info.id, attr);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return !strcmp(buf, want);
}

/* The device's attributes agree with INFO after migrations, a pin, EVICT. */
static void sysfs_matches_info(void)
{
	static const struct {
		const char *attr;
		size_t off;
	} nums[] = {
		{ "base", offsetof(struct cohmem_info, base) },
		{ "size", offsetof(struct cohmem_info, size) },
		{ "total_pages", offsetof(struct cohmem_info, total_pages) },
		{ "free_pages", offsetof(struct cohmem_info, free_pages) },
		{ "used_pages", offsetof(struct cohmem_info, used_pages) },
		{ "migrated_to_dev", offsetof(struct cohmem_info, migrated_to_dev) },
		{ "migrated_to_sys", offsetof(struct cohmem_info, migrated_to_sys) },
		{ "evicted", offsetof(struct cohmem_info, evicted) },
		{ "freed", offsetof(struct cohmem_info, freed) },
	};
	struct cohmem_evict e = { .flags = COHMEM_EVICT_ALL };
	struct cohmem_info i;
	struct cohmem_pin pn;
	char *p = map_anon(256, false);
	size_t k;

	REQUIRE(p);
	fill(p, 256, 90);
	REQUIRE(migrate(dev_fd, p, 256, true, NULL) == 0);
	REQUIRE(migrate(dev_fd, p, 64, false, NULL) == 0);
	REQUIRE(pin(dev_fd, p + 64 * page_size, 16, COHMEM_PIN_SHORT, &pn) == 0);
	REQUIRE(xioctl(dev_fd, COHMEM_IOC_EVICT, &e) == 0);
	/* In use now: the 16 pinned pages. Nothing moves while we read. */
	i = get_info(dev_fd);
	CHECK(i.used_pages == 16, "%llu in use", (unsigned long long)i.used_pages);
	for (k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
		unsigned long long want = *(const __u64 *)((const char *)&i + nums[k].off);
		long long got = sysfs_num(nums[k].attr);

		CHECK(got >= 0 && (unsigned long long)got == want, "%s: sysfs %lld, INFO %llu",
		      nums[k].attr, got, want);
	}
	CHECK(sysfs_num("page_size") == (long long)page_size);
	CHECK(sysfs_num("huge") == !!(i.features & COHMEM_FEATURE_HUGE));
	CHECK(sysfs_is("type", i.type == COHMEM_TYPE_PRIVATE ? "private" : "coherent"));
	CHECK(sysfs_is("source", i.source == COHMEM_SOURCE_RESERVED ? "reserved" : "hotremove"));
	CHECK(unpin(dev_fd, pn.handle) == 0);
	migrate(dev_fd, p, 256, false, NULL);
	CHECK(verify(p, 256, 90) == -1);
	CHECK(sysfs_num("used_pages") == 0);
	munmap(p, 256 * page_size);
}

#define TRACEFS "/sys/kernel/tracing"

static int tracefs_write(const char *file, const char *v)
{
	char path[128];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), TRACEFS "/%s", file);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	ok = fputs(v, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -EIO;
}

/* How many lines of the trace buffer contain every one of @needles. */
static int trace_count(const char *buf, const char *const *needles, size_t n)
{
	const char *line = buf;
	int count = 0;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line), k;
		char tmp[512];

		snprintf(tmp, sizeof(tmp), "%.*s", (int)(len < sizeof(tmp) ? len : sizeof(tmp) - 1), line);
		for (k = 0; k < n && strstr(tmp, needles[k]); k++)
			;
		count += k == n;
		line = end ? end + 1 : NULL;
	}
	return count;
}

/* Sum of nr= over the page-free events of this device. */
static long trace_freed(const char *buf, const char *dev)
{
	const char *p = buf;
	long sum = 0;

	while ((p = strstr(p, "cohmem_page_free: "))) {
		const char *nr = strstr(p, " nr=");

		if (!strncmp(p + strlen("cohmem_page_free: "), dev, strlen(dev)) && nr)
			sum += strtol(nr + 4, NULL, 10);
		p++;
	}
	return sum;
}

/*
 * The cohmem: tracepoints report a known sequence with its counts: 64
 * pages to the device, a short pin of 8, EVICT (56 moved, 8 busy), the
 * unpin, the last 8 back; 64 pages freed.
 */
static void tracepoints_report_a_sequence(void)
{
	static char buf[1 << 20];
	char dev[16], mv[32];
	struct cohmem_evict e = { .flags = COHMEM_EVICT_ALL };
	struct cohmem_migrate m;
	struct cohmem_pin pn;
	char *p = map_anon(64, false);
	size_t got = 0;
	ssize_t r;
	int fd, ret;

	REQUIRE(p);
	if (access(TRACEFS "/events", F_OK))
		mount("tracefs", TRACEFS, "tracefs", 0, NULL);
	ret = tracefs_write("events/cohmem/enable", "1");
	if (ret == -ENOENT && access(TRACEFS "/events", F_OK))
		SKIP("no tracefs in this kernel");
	REQUIRE(ret == 0, "enabling events/cohmem: %s", strerror(-ret));
	REQUIRE(tracefs_write("trace", "") == 0);
	fill(p, 64, 91);
	CHECK(migrate(dev_fd, p, 64, true, &m) == 0 && m.moved == 64);
	CHECK(pin(dev_fd, p, 8, COHMEM_PIN_SHORT, &pn) == 0);
	CHECK(xioctl(dev_fd, COHMEM_IOC_EVICT, &e) == 0 && e.evicted == 56 && e.busy == 8,
	      "evicted %llu busy %llu", (unsigned long long)e.evicted,
	      (unsigned long long)e.busy);
	CHECK(unpin(dev_fd, pn.handle) == 0);
	CHECK(migrate(dev_fd, p, 64, false, &m) == 0 && m.moved == 8);
	tracefs_write("events/cohmem/enable", "0");
	fd = open(TRACEFS "/trace", O_RDONLY);
	REQUIRE(fd >= 0);
	while (got < sizeof(buf) - 1 && (r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += r;
	buf[got] = 0;
	close(fd);
	snprintf(dev, sizeof(dev), "dev=%u ", dev_info.id);
	snprintf(mv, sizeof(mv), "addr=%#lx ", (unsigned long)p);
	{
		const char *to_dev[] = { "cohmem_migrate: ", dev, "dir=to_dev", mv, "moved=64 " };
		const char *pinned[] = { "cohmem_pin: ", dev, " pin mode=3 ", "npages=8 ", "ndevice=8" };
		const char *evict[] = { "cohmem_evict: ", dev, "reason=ioctl", "evicted=56 ", "busy=8 " };
		const char *unpinned[] = { "cohmem_pin: ", dev, " unpin mode=3 ", "npages=8 " };
		const char *to_sys[] = { "cohmem_migrate: ", dev, "dir=to_sys", mv, "moved=8 " };

		CHECK(trace_count(buf, to_dev, 5) == 1, "no migrate to_dev event with moved=64");
		CHECK(trace_count(buf, pinned, 5) == 1, "no pin event of 8 device pages");
		CHECK(trace_count(buf, evict, 5) == 1, "no ioctl evict event, 56 evicted, 8 busy");
		CHECK(trace_count(buf, unpinned, 4) == 1, "no unpin event");
		CHECK(trace_count(buf, to_sys, 5) == 1, "no migrate to_sys event with moved=8");
	}
	CHECK(trace_freed(buf, dev) == 64, "page_free events: %ld pages", trace_freed(buf, dev));
	CHECK(verify(p, 64, 91) == -1);
	munmap(p, 64 * page_size);
}

/* What a command prints (at most @len - 1 bytes); -1 if it did not run. */
static int run_cmd(const char *cmd, char *out, size_t len)
{
	FILE *f = popen(cmd, "r");
	size_t got = 0, r;

	if (!f)
		return -1;
	while (got < len - 1 && (r = fread(out + got, 1, len - 1 - got, f)) > 0)
		got += r;
	out[got] = 0;
	return pclose(f);
}

/* Whether cohmemctl is in $PATH (the guest's /bin, the package's /usr/bin). */
static bool have_cohmemctl(void)
{
	const char *path = getenv("PATH"), *e;
	char file[PATH_MAX];

	for (; path && *path; path = *e ? e + 1 : e) {
		e = strchrnul(path, ':');
		snprintf(file, sizeof(file), "%.*s/cohmemctl", (int)(e - path), path);
		if (!access(file, X_OK))
			return true;
	}
	return false;
}

/* cohmemctl: info (JSON and table), watch, map of this process. */
static void cohmemctl_reports(void)
{
	static char out[1 << 16];
	char want[64], cmd[128];
	struct cohmem_info i;
	char *p = map_anon(64, false);
	int ret, lines = 0;
	const char *q;

	REQUIRE(p);
	if (!have_cohmemctl())
		SKIP("no cohmemctl in $PATH");
	fill(p, 64, 92);
	REQUIRE(migrate(dev_fd, p, 64, true, NULL) == 0);
	i = get_info(dev_fd);
	ret = run_cmd("cohmemctl --json info", out, sizeof(out));
	CHECK(ret == 0, "info --json: exit %d", ret);
	snprintf(want, sizeof(want), "{\"id\":%u,", i.id);
	q = strstr(out, want);
	CHECK(q, "no device %u in: %s", i.id, out);
	snprintf(want, sizeof(want), "\"used_pages\":%llu,", (unsigned long long)i.used_pages);
	CHECK(q && strstr(q, want), "%s not in: %s", want, out);
	snprintf(want, sizeof(want), "\"base\":%llu,", (unsigned long long)i.base);
	CHECK(q && strstr(q, want), "%s not in: %s", want, out);
	ret = run_cmd("cohmemctl info", out, sizeof(out));
	snprintf(want, sizeof(want), "\ncohmem%-2u %s", i.id,
		 i.type == COHMEM_TYPE_PRIVATE ? "private" : "coherent");
	CHECK(ret == 0 && strstr(out, want), "info table: %s", out);
	ret = run_cmd("cohmemctl watch --interval 0.2 --count 2", out, sizeof(out));
	for (q = out; (q = strstr(q, "\ncohmem")); q++)
		lines++;
	CHECK(ret == 0 && lines >= 2 && lines % 2 == 0, "watch: %d device lines: %s", lines, out);
	snprintf(cmd, sizeof(cmd), "cohmemctl --json map %d %#lx %zu", getpid(),
		 (unsigned long)p, 64 * page_size);
	ret = run_cmd(cmd, out, sizeof(out));
	snprintf(want, sizeof(want), "\"cohmem%u\":64", i.id);
	CHECK(ret == 0 && strstr(out, want) && strstr(out, "\"system\":0,"),
	      "map: %s", out);
	ret = run_cmd("cohmemctl bogus 2>/dev/null", out, sizeof(out));
	CHECK(WIFEXITED(ret) && WEXITSTATUS(ret) == 2, "bad usage: status %#x", ret);
	migrate(dev_fd, p, 64, false, NULL);
	CHECK(verify(p, 64, 92) == -1);
	munmap(p, 64 * page_size);
	snprintf(cmd, sizeof(cmd), "cohmemctl bench --device %u --mib 8", i.id);
	ret = run_cmd(cmd, out, sizeof(out));
	CHECK(ret == 0 && strstr(out, "x memcpy") && strstr(out, "MIGRATE_TO_DEV") &&
	      strstr(out, "EVICT"), "bench: status %#x: %s", ret, out);
	CHECK(get_info(dev_fd).used_pages == 0, "bench left pages on the device");
}

/* What a command printed, as KTAP diagnostics ("# " each line). */
static void show(const char *what, const char *s)
{
	const char *e;

	for (; *s; s = *e ? e + 1 : e) {
		e = strchrnul(s, '\n');
		ktap_diag("%s: %.*s", what, (int)(e - s), s);
	}
}

/*
 * cohmemctl selftest: refused without its confirmation flag (status 2,
 * saying what it would do); --list finds the programs where this one is
 * (the guest's /bin, the package's /usr/libexec/cohmem); parameters refused
 * while the module is loaded; then cohmem-perm run nested (the module
 * loaded before stays loaded): its KTAP streamed indented on stderr
 * (--json), the per-program and total counts, and the JSON's agreeing.
 */
static void cohmemctl_selftest(void)
{
	static char out[1 << 16], ktap[1 << 16];
	int ret, fd, n, pass = -1, fail = -1, skip = -1, jpass = -1, jfail = -1, jskip = -1;
	char dir[PATH_MAX], cmd[PATH_MAX + 128], want[PATH_MAX + 96];
	const char *q;
	bool ok, bad;
	ssize_t len;

	if (!have_cohmemctl())
		SKIP("no cohmemctl in $PATH");
	len = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	REQUIRE(len > 0, "readlink /proc/self/exe: %s", strerror(errno));
	dir[len] = 0;
	*strrchr(dir, '/') = 0;
	ret = run_cmd("cohmemctl selftest 2>&1", out, sizeof(out));
	ok = WIFEXITED(ret) && WEXITSTATUS(ret) == 2 &&
	     strstr(out, "would load the cohmem module into the running kernel") &&
	     strstr(out, "  cohmemctl selftest --yes-load-the-module");
	if (CHECK(ok, "without the flag: status %#x", ret))
		show("no flag", out);
	ret = run_cmd("cohmemctl selftest --yes-load-the-module no-such-program 2>&1", out,
		      sizeof(out));
	CHECK(WIFEXITED(ret) && WEXITSTATUS(ret) == 2, "unknown program: status %#x", ret);
	snprintf(cmd, sizeof(cmd), "COHMEM_TESTS_DIR='%s' cohmemctl selftest --list", dir);
	ret = run_cmd(cmd, out, sizeof(out));
	snprintf(want, sizeof(want), "\n# in %s\n", dir);
	ok = ret == 0 && strstr(out, "\ncohmem-perm      yes ") &&
	     strstr(out, "\ncohmem-core      yes ") && strstr(out, want);
	if (CHECK(ok, "--list: status %#x", ret))
		show("--list", out);
	snprintf(cmd, sizeof(cmd),
		 "cohmemctl selftest --yes-load-the-module --dir '%s' perm -- devices=2 2>&1", dir);
	ret = run_cmd(cmd, out, sizeof(out));
	ok = WIFEXITED(ret) && WEXITSTATUS(ret) == 1 && strstr(out, "loaded already");
	if (CHECK(ok, "parameters while loaded: status %#x", ret))
		show("params", out);

	unlink("/tmp/selftest.ktap");
	snprintf(cmd, sizeof(cmd), "COHMEM_TESTS_DIR='%s' cohmemctl --json selftest "
		 "--yes-load-the-module perm 2>/tmp/selftest.ktap", dir);
	ret = run_cmd(cmd, out, sizeof(out));
	fd = open("/tmp/selftest.ktap", O_RDONLY);
	n = fd < 0 ? 0 : read(fd, ktap, sizeof(ktap) - 1);
	ktap[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
	CHECK(ret == 0, "selftest perm: status %#x", ret);
	ok = strstr(ktap, "# cohmem is loaded already: it stays loaded\n") &&
	     strstr(ktap, "\n1..1\n") && strstr(ktap, "\n    KTAP version 1\n") &&
	     strstr(ktap, "\n    ok 1 node_root_only") && strstr(ktap, "\nok 1 cohmem-perm\n") &&
	     !strstr(ktap, "# unloading");
	bad = CHECK(ok, "the KTAP stream");
	q = strstr(ktap, "\n# cohmem-perm: ");
	ok = q && sscanf(q, "\n# cohmem-perm: %d passed, %d failed, %d skipped",
			 &pass, &fail, &skip) == 3 && pass > 0 && fail == 0 && pass + skip == 6;
	bad |= CHECK(ok, "summary: %d passed, %d failed, %d skipped", pass, fail, skip);
	snprintf(want, sizeof(want), "\n# total: %d passed, 0 failed, %d skipped\n", pass, skip);
	q = strstr(ktap, "\n# total: ");
	ok = q && !strcmp(q, want);
	bad |= CHECK(ok, "not the last line: %s", want + 1);
	if (bad)
		show("selftest", ktap);
	q = strstr(out, "\"programs\":[{\"name\":\"cohmem-perm\",\"ran\":true,\"planned\":6,");
	snprintf(want, sizeof(want), "{\"dir\":\"%s\",\"loaded_by_selftest\":false,"
		 "\"unloaded\":false,", dir);
	ok = !strncmp(out, want, strlen(want)) && q && strstr(q, "\"exit_status\":0,\"signal\":-1}],") &&
	     (q = strstr(out, "}],\"passed\":")) &&
	     sscanf(q, "}],\"passed\":%d,\"failed\":%d,\"skipped\":%d}", &jpass, &jfail,
		    &jskip) == 3 && jpass == pass && jfail == 0 && jskip == skip;
	if (CHECK(ok, "JSON: %d passed, %d failed, %d skipped", jpass, jfail, jskip))
		show("json", out);
	CHECK(!access("/sys/module/cohmem", F_OK), "selftest unloaded a module it did not load");
	CHECK(get_info(dev_fd).used_pages == 0, "pages left on the device");
}

/* The independent residency check needs real PFNs (root). */
static void pagemap_pfns_visible(void)
{
	char *p = map_anon(1, false);

	REQUIRE(p);
	p[0] = 1;
	CHECK(pagemap_pfn(p) != 0, "run as root: /proc/self/pagemap hides PFNs");
	CHECK(count_pfn_in_dev(&dev_info, p, 1) == 0);
	munmap(p, page_size);
}

static void roundtrip_case(bool thp)
{
	size_t n = thp ? 1024 : N;	/* THP: 4 MiB, two huge pages */
	struct cohmem_info before = get_info(dev_fd), after;
	struct cohmem_migrate m;
	char *p = map_anon(n, thp);

	REQUIRE(p);
	fill(p, n, 1);
	if (thp && count_flag(dev_fd, p, n, COHMEM_PAGE_HUGE) != (long)n) {
		munmap(p, n * page_size);
		SKIP("no transparent huge pages here: %s", no_thp_why());
	}
	REQUIRE(migrate(dev_fd, p, n, true, &m) == 0);
	CHECK(m.moved == n, "moved %llu of %zu", (unsigned long long)m.moved, n);
	CHECK(count_not_state(dev_fd, p, n, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_pfn_in_dev(&dev_info, p, n) == (long)n);
	CHECK(verify(p, n, 1) == -1);
	after = get_info(dev_fd);
	CHECK(after.used_pages == before.used_pages + n);
	CHECK(after.migrated_to_dev == before.migrated_to_dev + n);

	REQUIRE(migrate(dev_fd, p, n, false, &m) == 0);
	CHECK(m.moved == n, "moved back %llu of %zu", (unsigned long long)m.moved, n);
	CHECK(count_not_state(dev_fd, p, n, COHMEM_STATE_SYSTEM) == 0);
	CHECK(count_pfn_in_dev(&dev_info, p, n) == 0);
	CHECK(verify(p, n, 1) == -1);
	after = get_info(dev_fd);
	CHECK(after.used_pages == before.used_pages);
	CHECK(after.migrated_to_sys == before.migrated_to_sys + n);
	munmap(p, n * page_size);
}

static void migrate_roundtrip_4k(void)
{
	roundtrip_case(false);
}

static void migrate_roundtrip_thp(void)
{
	roundtrip_case(true);
}

/* Never-touched pages become zero-filled device pages. */
static void migrate_holes(void)
{
	char *p = map_anon(N, false);
	struct cohmem_migrate m;

	REQUIRE(p);
	fill_holes(p, N);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_NONE) == N / 2);
	REQUIRE(migrate(dev_fd, p, N, true, &m) == 0);
	CHECK(m.moved == N, "moved %llu", (unsigned long long)m.moved);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(verify_holes(p, N) == -1, "page %ld", verify_holes(p, N));
	back_to_sys(p, N);
	munmap(p, N * page_size);
}

/* Read-only pages migrate and stay read-only. */
static void migrate_readonly(void)
{
	char *p = map_anon(N, false);
	struct cohmem_migrate m;

	REQUIRE(p);
	fill(p, N, 2);
	REQUIRE(mprotect(p, N * page_size, PROT_READ) == 0);
	REQUIRE(migrate(dev_fd, p, N, true, &m) == 0);
	CHECK(m.moved == N, "moved %llu", (unsigned long long)m.moved);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_flag(dev_fd, p, N, COHMEM_PAGE_WRITE) == 0);
	CHECK(verify(p, N, 2) == -1);
	back_to_sys(p, N);
	CHECK(verify(p, N, 2) == -1);
	munmap(p, N * page_size);
}

/*
 * A counter of /proc/vmstat, or -1. Read with read() into a static buffer:
 * stdio's malloc() and free() could munmap(), and munmap() drains this
 * CPU's LRU batches (lru_add_drain() in unmap_region()).
 */
static long long vmstat(const char *name)
{
	static char buf[16384];
	size_t got = 0, len = strlen(name);
	int fd = open("/proc/vmstat", O_RDONLY | O_CLOEXEC);
	ssize_t r;
	char *s;

	if (fd < 0)
		return -1;
	while (got < sizeof(buf) - 1 &&
	       (r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += r;
	close(fd);
	buf[got] = 0;
	for (s = buf; (s = strstr(s, name)); s += len)
		if ((s == buf || s[-1] == '\n') && s[len] == ' ')
			return strtoll(s + len + 1, NULL, 10);
	return -1;
}

static bool run_on(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0 && sched_getcpu() == cpu;
}

/*
 * 58 pages MADV_FREEd on CPU b: madvise_free_single_vma() first drains b's
 * LRU batches (lru_add_drain()), so the fresh pages are on the LRU, then
 * folio_mark_lazyfree() (6.1: mark_page_lazyfree()) queues each in b's
 * lazyfree batch with a reference, PG_lru still set; a full batch is moved
 * and let go, 15 folios (6.1) or 31 (6.12 on) at a time, so the last 13 or
 * 27 stay there. MGLRU (7.x) does not change that path. Written again and
 * migrated from CPU a, they fail migrate_vma's reference check
 * (migrate_vma_check_page()) on every pass until b's batch is drained:
 * migrate_vma_setup() drains a's batches only (lru_add_drain()), and every
 * CPU's (lru_add_drain_all()) only for a folio not on the LRU. Every page
 * must move all the same.
 */
static void lru_batch_case(int a, int b)
{
	size_t n = 58;
	struct cohmem_migrate m;
	long long before;
	long held = 0;
	char *p = NULL;
	int try;

	REQUIRE(run_on(b), "cannot run on CPU %d", b);
	/* A drain of b's batches by someone else in between: start again. */
	for (try = 0; try < 3 && held <= 0; try++) {
		if (p)
			munmap(p, n * page_size);
		p = map_anon(n, false);
		REQUIRE(p);
		fill(p, n, 11);
		before = vmstat("pglazyfree");
		REQUIRE(before >= 0, "no pglazyfree in /proc/vmstat");
		REQUIRE(madvise(p, n * page_size, MADV_FREE) == 0);
		/* pglazyfree counts the folios a lazyfree batch has moved. */
		held = (long)n - (long)(vmstat("pglazyfree") - before);
	}
	fill(p, n, 12);		/* dirty again: this data must survive */
	REQUIRE(run_on(a), "cannot run on CPU %d", a);
	REQUIRE(migrate(dev_fd, p, n, true, &m) == 0);
	ktap_diag("%ld of %zu pages were in CPU %d's lazyfree batch", held, n, b);
	CHECK(held > 0, "no page stayed in CPU %d's lazyfree batch", b);
	CHECK(m.moved == n, "moved %llu of %zu (busy %llu, other %llu)",
	      (unsigned long long)m.moved, n, (unsigned long long)m.skipped_busy,
	      (unsigned long long)m.skipped_other);
	CHECK(count_not_state(dev_fd, p, n, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_pfn_in_dev(&dev_info, p, n) == (long)n);
	CHECK(verify(p, n, 12) == -1);
	back_to_sys(p, n);
	CHECK(verify(p, n, 12) == -1);
	munmap(p, n * page_size);
}

/* Pages in another CPU's LRU batch (lazyfree) migrate like any other. */
static void migrate_other_cpu_lru_batch(void)
{
	cpu_set_t all;
	int a = -1, b = -1, cpu;

	REQUIRE(sched_getaffinity(0, sizeof(all), &all) == 0);
	for (cpu = 0; cpu < CPU_SETSIZE && b < 0; cpu++) {
		if (!CPU_ISSET(cpu, &all))
			continue;
		if (a < 0)
			a = cpu;
		else
			b = cpu;
	}
	if (b < 0)
		SKIP("one CPU: no other CPU's LRU batch to hold pages");
	lru_batch_case(a, b);
	CHECK(sched_setaffinity(0, sizeof(all), &all) == 0);
}

/* Shared anonymous (shmem) and shared file pages are not migrated. */
static void shared_case(int fd)
{
	char *p = mmap(NULL, N * page_size, PROT_READ | PROT_WRITE, MAP_SHARED |
		       (fd < 0 ? MAP_ANONYMOUS : 0), fd, 0);
	struct cohmem_migrate m;

	REQUIRE(p != MAP_FAILED);
	fill(p, N, 3);
	REQUIRE(migrate(dev_fd, p, N, true, &m) == 0);
	CHECK(m.moved == 0, "moved %llu", (unsigned long long)m.moved);
	CHECK(m.skipped_other + m.skipped_busy == N);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0);
	CHECK(count_pfn_in_dev(&dev_info, p, N) == 0);
	CHECK(verify(p, N, 3) == -1);
	munmap(p, N * page_size);
}

static void shared_anon_skipped(void)
{
	shared_case(-1);
}

static void shared_file_skipped(void)
{
	int fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);

	REQUIRE(fd >= 0);
	REQUIRE(ftruncate(fd, N * page_size) == 0);
	shared_case(fd);
	close(fd);
}

/* The CPU reads and writes device pages in place: no fault, no migration. */
static void cpu_access_in_place(void)
{
	struct cohmem_info before, after;
	char *p = map_anon(N, false);
	uint64_t pfn0;

	REQUIRE(p);
	fill(p, N, 4);
	REQUIRE(migrate(dev_fd, p, N, true, NULL) == 0);
	REQUIRE(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	pfn0 = pagemap_pfn(p);
	before = get_info(dev_fd);
	CHECK(verify(p, N, 4) == -1);
	fill(p, N, 5);
	CHECK(verify(p, N, 5) == -1);
	after = get_info(dev_fd);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	CHECK(pagemap_pfn(p) == pfn0);
	CHECK(after.migrated_to_sys == before.migrated_to_sys);
	CHECK(after.freed == before.freed, "%llu pages freed by CPU access",
	      (unsigned long long)(after.freed - before.freed));
	back_to_sys(p, N);
	CHECK(verify(p, N, 5) == -1);
	munmap(p, N * page_size);
}

static int device_access(int fd, bool write, void *addr, size_t npages, void *buf,
			 struct cohmem_access *out)
{
	struct cohmem_access a = {
		.addr = (uintptr_t)addr,
		.len = npages * page_size,
		.buf = (uintptr_t)buf,
	};
	int ret = xioctl(fd, write ? COHMEM_IOC_DEVICE_WRITE : COHMEM_IOC_DEVICE_READ, &a);

	if (out)
		*out = a;
	return ret;
}

/*
 * The device reads and writes the process's memory where it is, system
 * RAM or its own pages, through its mirror: one fault round for a range
 * it has not seen, none after; nothing migrates; munmap of part of the
 * range drops those pages from the mirror (a new fault round).
 */
static void device_read_write(void)
{
	struct cohmem_info before = get_info(dev_fd), after;
	char *p = map_anon(N, false), *b = map_anon(N, false);
	struct cohmem_access a;

	REQUIRE(p && b);
	fill(p, N, 30);
	REQUIRE(device_access(dev_fd, false, p, N, b, &a) == 0);
	CHECK(a.done == N * page_size && a.faults == 1, "done %llu faults %llu",
	      (unsigned long long)a.done, (unsigned long long)a.faults);
	CHECK(verify(b, N, 30) == -1, "the device read other data");
	fill(b, N, 31);
	REQUIRE(device_access(dev_fd, true, p, N, b, &a) == 0);
	CHECK(a.faults == 0, "a write to pages read before: %llu faults (writable already)",
	      (unsigned long long)a.faults);
	CHECK(verify(p, N, 31) == -1, "the CPU does not see the device's write");
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0, "pages moved");
	/* On the device: the same, in the device's own memory. */
	REQUIRE(migrate(dev_fd, p, N, true, NULL) == 0);
	REQUIRE(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	fill(b, N, 32);
	REQUIRE(device_access(dev_fd, true, p, N, b, &a) == 0);
	CHECK(a.faults == 1, "after the migration the mirror kept the old pages");
	CHECK(verify(p, N, 32) == -1);
	memset(b, 0, N * page_size);
	REQUIRE(device_access(dev_fd, false, p, N, b, &a) == 0);
	CHECK(a.faults == 0 && verify(b, N, 32) == -1);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0, "pages moved");
	after = get_info(dev_fd);
	CHECK(after.migrated_to_sys == before.migrated_to_sys);
	/* munmap of the second half: the device sees a hole there. */
	REQUIRE(munmap(p + N / 2 * page_size, N / 2 * page_size) == 0);
	CHECK(device_access(dev_fd, false, p, N, b, &a) == -EFAULT && a.done == N / 2 * page_size,
	      "READ over a hole: done %llu", (unsigned long long)a.done);
	back_to_sys(p, N / 2);
	munmap(p, N / 2 * page_size);
	munmap(b, N * page_size);
}

/* Every bad DEVICE_READ/WRITE argument, and the refusals: a table. */
static void device_access_refused(void)
{
	char *p = map_anon(4, false), *b = map_anon(4, false);
	struct {
		const char *what;
		bool write;
		uint64_t addr, len, buf;
		uint32_t flags;
		int prot;	/* of p, before the call */
		int err;
	} cases[] = {
		{ "flags", false, (uintptr_t)p, 4096, (uintptr_t)b, 1, PROT_READ | PROT_WRITE, -EINVAL },
		{ "unaligned", false, (uintptr_t)p + 8, 4096, (uintptr_t)b, 0, PROT_READ, -EINVAL },
		{ "no bytes", false, (uintptr_t)p, 0, (uintptr_t)b, 0, PROT_READ, -EINVAL },
		{ "kernel buffer", false, (uintptr_t)p, 4096, ~0ULL << 47, 0, PROT_READ, -EFAULT },
		{ "PROT_NONE read", false, (uintptr_t)p, 4096, (uintptr_t)b, 0, PROT_NONE, -EFAULT },
		{ "read-only write", true, (uintptr_t)p, 4096, (uintptr_t)b, 0, PROT_READ, -EPERM },
		{ "hole", false, 4096, 4096, (uintptr_t)b, 0, PROT_READ, -EFAULT },
	};
	unsigned int i;
	int status;
	pid_t pid;

	REQUIRE(p && b);
	fill(p, 4, 33);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cohmem_access a = {
			.addr = cases[i].addr, .len = cases[i].len,
			.buf = cases[i].buf, .flags = cases[i].flags,
		};
		int ret;

		REQUIRE(mprotect(p, 4 * page_size, cases[i].prot) == 0);
		ret = xioctl(dev_fd, cases[i].write ? COHMEM_IOC_DEVICE_WRITE :
						      COHMEM_IOC_DEVICE_READ, &a);
		CHECK(ret == cases[i].err, "%s: %s, expected %s", cases[i].what,
		      strerror(-ret), strerror(-cases[i].err));
	}
	REQUIRE(mprotect(p, 4 * page_size, PROT_READ | PROT_WRITE) == 0);
	CHECK(verify(p, 4, 33) == -1, "a refused call changed the data");
	/* The file mirrors the process that used it first: not a child. */
	REQUIRE(device_access(dev_fd, false, p, 1, b, NULL) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (!pid)
		_exit(device_access(dev_fd, false, p, 1, b, NULL) == -EINVAL ? 0 : 1);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child used its parent's mirror");
	munmap(p, 4 * page_size);
	munmap(b, 4 * page_size);
}

static void evict_all(void)
{
	struct cohmem_evict e = { .flags = COHMEM_EVICT_ALL };
	struct cohmem_info after;
	char *p = map_anon(N, false);

	REQUIRE(p);
	fill(p, N, 6);
	REQUIRE(migrate(dev_fd, p, N, true, NULL) == 0);
	REQUIRE(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == 0);
	REQUIRE(xioctl(dev_fd, COHMEM_IOC_EVICT, &e) == 0);
	CHECK(e.evicted == N, "evicted %llu", (unsigned long long)e.evicted);
	CHECK(e.busy == 0);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_SYSTEM) == 0);
	CHECK(count_pfn_in_dev(&dev_info, p, N) == 0);
	CHECK(verify(p, N, 6) == -1);
	after = get_info(dev_fd);
	CHECK(after.used_pages == 0);
	munmap(p, N * page_size);
}

/* EVICT of a physical sub-range moves exactly the pages inside it. */
static void evict_range(void)
{
	uint64_t first = dev_info.base / page_size, pfn, lo = UINT64_MAX, hi = 0;
	struct cohmem_evict e = { 0 };
	char *p = map_anon(N, false);
	long inside = 0, i;
	uint8_t st[N];

	REQUIRE(p);
	fill(p, N, 7);
	REQUIRE(migrate(dev_fd, p, N, true, NULL) == 0);
	for (i = 0; i < N; i++) {
		pfn = pagemap_pfn(p + i * page_size) - first;
		lo = pfn < lo ? pfn : lo;
		hi = pfn > hi ? pfn : hi;
	}
	REQUIRE(hi < dev_info.total_pages);
	/* The lower half of the pages this buffer got. */
	e.offset = lo * page_size;
	e.len = ((hi - lo) / 2 + 1) * page_size;
	for (i = 0; i < N; i++) {
		pfn = pagemap_pfn(p + i * page_size) - first;
		inside += pfn >= lo && pfn < lo + e.len / page_size;
	}
	REQUIRE(xioctl(dev_fd, COHMEM_IOC_EVICT, &e) == 0);
	CHECK((long)e.evicted == inside, "evicted %llu, %ld inside",
	      (unsigned long long)e.evicted, inside);
	REQUIRE(snapshot(dev_fd, p, N, st, NULL) == 0);
	CHECK(count_not_state(dev_fd, p, N, COHMEM_STATE_DEVICE) == inside);
	CHECK(count_pfn_in_dev(&dev_info, p, N) == N - inside);
	CHECK(verify(p, N, 7) == -1);
	back_to_sys(p, N);
	munmap(p, N * page_size);
}

/* A full device moves what fits and says how much did not. */
static void device_full(void)
{
	struct cohmem_info before = get_info(dev_fd);
	size_t n = before.free_pages + 64;
	struct cohmem_migrate m;
	char *p = map_anon(n, false);

	REQUIRE(p);
	fill(p, n, 8);
	REQUIRE(migrate(dev_fd, p, n, true, &m) == 0);
	CHECK(m.moved == before.free_pages, "moved %llu, %llu were free",
	      (unsigned long long)m.moved, (unsigned long long)before.free_pages);
	/* A page the kernel transiently refuses (busy) is not a full device. */
	CHECK(m.skipped_nomem + m.skipped_busy == 64 && m.skipped_nomem >= 60,
	      "nomem %llu busy %llu", (unsigned long long)m.skipped_nomem,
	      (unsigned long long)m.skipped_busy);
	CHECK(get_info(dev_fd).free_pages == 0);
	CHECK(count_pfn_in_dev(&dev_info, p, n) == (long)m.moved);
	CHECK(verify(p, n, 8) == -1);
	back_to_sys(p, n);
	CHECK(get_info(dev_fd).free_pages == before.free_pages);
	munmap(p, n * page_size);
}

/* A process that exits with pages on the device gives every one back. */
static void exit_frees_pages(void)
{
	struct cohmem_info before = get_info(dev_fd);
	int status;
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		char *p = map_anon(N, false);
		struct cohmem_migrate m;

		fill(p, N, 9);
		if (migrate(dev_fd, p, N, true, &m) || m.moved != N)
			_exit(2);
		_exit(get_info(dev_fd).used_pages == before.used_pages + N ? 0 : 3);
	}
	REQUIRE(pid > 0);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
	CHECK(get_info(dev_fd).used_pages == before.used_pages);
}

/* munmap of device pages returns them to the allocator. */
static void munmap_frees_pages(void)
{
	struct cohmem_info before = get_info(dev_fd);
	char *p = map_anon(N, false);

	REQUIRE(p);
	fill(p, N, 10);
	REQUIRE(migrate(dev_fd, p, N, true, NULL) == 0);
	CHECK(get_info(dev_fd).used_pages == before.used_pages + N);
	munmap(p, N * page_size);
	CHECK(get_info(dev_fd).used_pages == before.used_pages);
	CHECK(get_info(dev_fd).freed >= before.freed + N);
}

static void bad_arguments(void)
{
	char *p = map_anon(16, false);
	size_t len = 16 * page_size;
	struct cohmem_migrate m;
	struct cohmem_pin pin;
	struct cohmem_unpin up;
	struct cohmem_snapshot s;
	struct cohmem_evict e;
	uint8_t st[16];
	char *hole;

	REQUIRE(p);
#define MIG(a, l, field, val, want) do {					\
		memset(&m, 0, sizeof(m));					\
		m.addr = (uintptr_t)(a);					\
		m.len = (l);							\
		field = (val);							\
		CHECK(xioctl(dev_fd, COHMEM_IOC_MIGRATE_TO_DEV, &m) == (want),	\
		      "migrate %s", #a " " #l " " #field);			\
		CHECK(xioctl(dev_fd, COHMEM_IOC_MIGRATE_TO_SYS, &m) == (want));	\
	} while (0)
	MIG(p + 1, len, m.flags, 0, -EINVAL);		/* unaligned address */
	MIG(p, len - 1, m.flags, 0, -EINVAL);		/* unaligned length */
	MIG(p, 0, m.flags, 0, -EINVAL);			/* zero length */
	MIG(p, -page_size, m.flags, 0, -EINVAL);	/* addr + len wraps */
	MIG(p, 1ULL << 60, m.flags, 0, -EFAULT);	/* huge length */
	MIG(0xffff888000000000ULL, len, m.flags, 0, -EFAULT);	/* kernel address */
	MIG(p, len, m.flags, 0x80, -EINVAL);		/* unknown flag */
	/* Huge device folios: private devices only; never toward system RAM. */
	memset(&m, 0, sizeof(m));
	m.addr = (uintptr_t)p;
	m.len = len;
	m.flags = COHMEM_MIGRATE_HUGE;
	CHECK(xioctl(dev_fd, COHMEM_IOC_MIGRATE_TO_DEV, &m) ==
	      (dev_info.features & COHMEM_FEATURE_HUGE ? 0 : -EOPNOTSUPP));
	CHECK(xioctl(dev_fd, COHMEM_IOC_MIGRATE_TO_SYS, &m) == -EINVAL);
	MIG(p, len, m.pad, 1, -EINVAL);
	MIG(p, len, m.reserved, 1, -EINVAL);
	hole = map_anon(16, false);
	REQUIRE(hole);
	munmap(hole + 4 * page_size, page_size);
	MIG(hole, len, m.flags, 0, -EFAULT);		/* partly unmapped */
	CHECK(count_not_state(dev_fd, hole, 4, COHMEM_STATE_NONE) == 0,
	      "nothing migrated before the hole was found");

	memset(&pin, 0, sizeof(pin));
	pin.addr = (uintptr_t)p;
	pin.len = len;
	pin.mode = 0;
	CHECK(xioctl(dev_fd, COHMEM_IOC_PIN, &pin) == -EINVAL);	/* no mode */
	pin.mode = 99;
	CHECK(xioctl(dev_fd, COHMEM_IOC_PIN, &pin) == -EINVAL);	/* unknown mode */
	pin.mode = COHMEM_PIN_SHORT;
	pin.flags = 0x80;
	CHECK(xioctl(dev_fd, COHMEM_IOC_PIN, &pin) == -EINVAL);	/* unknown flag */
	pin.flags = 0;
	pin.len = 1ULL << 40;
	CHECK(xioctl(dev_fd, COHMEM_IOC_PIN, &pin) == -E2BIG);	/* oversize */
	pin.len = len;
	pin.addr = (uintptr_t)hole;
	CHECK(xioctl(dev_fd, COHMEM_IOC_PIN, &pin) == -EFAULT);	/* unmapped */
	CHECK(count_flag(dev_fd, hole, 4, COHMEM_PAGE_PINNED) == 0, "nothing left pinned");

	up.handle = 12345;
	up.flags = 0;
	CHECK(xioctl(dev_fd, COHMEM_IOC_UNPIN, &up) == -ENOENT);	/* bad handle */
	up.handle = 0;
	CHECK(xioctl(dev_fd, COHMEM_IOC_UNPIN, &up) == -ENOENT);
	up.flags = 1;
	CHECK(xioctl(dev_fd, COHMEM_IOC_UNPIN, &up) == -EINVAL);

	memset(&s, 0, sizeof(s));
	s.addr = (uintptr_t)p;
	s.len = len;
	s.buf = 0xffff888000000000ULL;
	CHECK(xioctl(dev_fd, COHMEM_IOC_SNAPSHOT, &s) == -EFAULT);	/* kernel buffer */
	s.buf = (uintptr_t)st;
	s.flags = 1;
	CHECK(xioctl(dev_fd, COHMEM_IOC_SNAPSHOT, &s) == -EINVAL);
	s.flags = 0;
	s.len = 0;
	CHECK(xioctl(dev_fd, COHMEM_IOC_SNAPSHOT, &s) == -EINVAL);

	memset(&e, 0, sizeof(e));
	CHECK(xioctl(dev_fd, COHMEM_IOC_EVICT, &e) == -EINVAL);	/* zero length */
	e.len = page_size;
	e.offset = dev_info.size;
	CHECK(xioctl(dev_fd, COHMEM_IOC_EVICT, &e) == -EINVAL);	/* beyond device */
	e.offset = 1;
	CHECK(xioctl(dev_fd, COHMEM_IOC_EVICT, &e) == -EINVAL);	/* unaligned */
	e.offset = 0;
	e.len = dev_info.size + page_size;
	CHECK(xioctl(dev_fd, COHMEM_IOC_EVICT, &e) == -EINVAL);	/* too long */
	e.len = page_size;
	e.flags = COHMEM_EVICT_ALL;
	CHECK(xioctl(dev_fd, COHMEM_IOC_EVICT, &e) == -EINVAL);	/* ALL with a range */
	e.flags = 2;
	CHECK(xioctl(dev_fd, COHMEM_IOC_EVICT, &e) == -EINVAL);

	CHECK(xioctl(dev_fd, _IO(COHMEM_IOC_MAGIC, 0x7f), NULL) == -ENOTTY);
	CHECK(xioctl(dev_fd, COHMEM_IOC_INFO, (void *)8) == -EFAULT);
	CHECK(get_info(dev_fd).used_pages == 0);
	munmap(p, len);
	munmap(hole, 4 * page_size);
	munmap(hole + 5 * page_size, 11 * page_size);
}

int main(void)
{
	test_init(0);
	ktap_plan(22);
	RUN(info);
	RUN(sysfs_matches_info);
	RUN(tracepoints_report_a_sequence);
	RUN(cohmemctl_reports);
	RUN(cohmemctl_selftest);
	RUN(pagemap_pfns_visible);
	RUN(migrate_roundtrip_4k);
	RUN(migrate_roundtrip_thp);
	RUN(migrate_holes);
	RUN(migrate_readonly);
	RUN(migrate_other_cpu_lru_batch);
	RUN(shared_anon_skipped);
	RUN(shared_file_skipped);
	RUN(cpu_access_in_place);
	RUN(device_read_write);
	RUN(device_access_refused);
	RUN(evict_all);
	RUN(evict_range);
	RUN(device_full);
	RUN(exit_frees_pages);
	RUN(munmap_frees_pages);
	RUN(bad_arguments);
	return ktap_finish();
}
