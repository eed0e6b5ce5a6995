// SPDX-License-Identifier: GPL-2.0
/*
 * cohmem's debugfs gup_test (loaded with upstream_abi=1), which the
 * kernel's mm selftests drive: its ABI, written down here from the numbers
 * of the kernel's mm/gup_test.h and not taken from the module, so that a
 * mismatch shows; what its commands do to device-coherent pages (short-term
 * GUP leaves them on the device, a long-term pin moves them to system RAM
 * first, the data intact either way, nothing left pinned or referenced);
 * the arguments it refuses; its sessions (PIN_LONGTERM_TEST_*, 6.2 on; one
 * for the system before 7.3, one per open file from 7.3); who may open it.
 * FOLL_* values are the running kernel's, as its own selftests hard-code
 * them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define GUPT_PATH	"/sys/kernel/debug/gup_test"
#define NOBODY		65534
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* The kernel's gup_test ABI (mm/gup_test.h), byte for byte. */
struct gup_test {
	uint64_t get_delta_usec;
	uint64_t put_delta_usec;
	uint64_t addr;
	uint64_t size;
	uint32_t nr_pages_per_call;
	uint32_t gup_flags;
	uint32_t test_flags;
	uint32_t which_pages[8];
};

struct pin_longterm_test {
	uint64_t addr;
	uint64_t size;
	uint32_t flags;
};

_Static_assert(sizeof(struct gup_test) == 80, "struct gup_test");
_Static_assert(sizeof(struct pin_longterm_test) == 24, "struct pin_longterm_test");

#define GUP_FAST_BENCHMARK	0xc0506701UL
#define PIN_FAST_BENCHMARK	0xc0506702UL
#define PIN_LONGTERM_BENCHMARK	0xc0506703UL
#define GUP_BASIC_TEST		0xc0506704UL
#define PIN_BASIC_TEST		0xc0506705UL
#define DUMP_USER_PAGES_TEST	0xc0506706UL
#define PIN_LONGTERM_TEST_START	0x40186707UL
#define PIN_LONGTERM_TEST_STOP	0x6708UL
#define PIN_LONGTERM_TEST_READ	0x40086709UL

_Static_assert(_IOWR('g', 1, struct gup_test) == GUP_FAST_BENCHMARK, "cmd 1");
_Static_assert(_IOWR('g', 6, struct gup_test) == DUMP_USER_PAGES_TEST, "cmd 6");
_Static_assert(_IOW('g', 7, struct pin_longterm_test) == PIN_LONGTERM_TEST_START, "cmd 7");
_Static_assert(_IO('g', 8) == PIN_LONGTERM_TEST_STOP, "cmd 8");
_Static_assert(_IOW('g', 9, uint64_t) == PIN_LONGTERM_TEST_READ, "cmd 9");

#define GUP_TEST_FLAG_DUMP_PAGES_USE_PIN	0x1
#define PIN_LONGTERM_TEST_FLAG_USE_WRITE	0x1
#define PIN_LONGTERM_TEST_FLAG_USE_FAST		0x2

#define FOLL_WRITE	0x1
/* FOLL_LONGTERM: 0x10000 up to 6.2, 0x100 since 6.3 (from uname) */
static uint32_t foll_longterm, foll_longterm_other;

/* Symbolic flags of the tables, made the running kernel's FOLL_* bits. */
#define W	1U
#define LT	2U

static uint32_t foll(unsigned int f)
{
	return (f & W ? FOLL_WRITE : 0) | (f & LT ? foll_longterm : 0);
}

static int kmajor, kminor;
static bool has_session;	/* PIN_LONGTERM_TEST_*: 6.2 on */
static bool per_file;		/* one session per open file: 7.3 on */
static int gfd = -1;		/* the gup_test file */
static bool kernel_own;		/* the kernel has its own: cohmem made none */
static char no_coherent[128];	/* why no coherent cohmem device, or "" */

static const char *no_session_why(void)
{
	return "this kernel's gup_test has no PIN_LONGTERM_TEST_START/STOP/READ (6.2 on)";
}

/* Records of the kernel log; returns how many contain needle. */
static int kmsg_count(int fd, const char *needle)
{
	char rec[8192];
	ssize_t n;
	int found = 0;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten: go on */
			continue;
		if (n <= 0)
			return found;
		rec[n] = 0;
		found += strstr(rec, needle) != NULL;
	}
}

/* /dev/kmsg, read from its end (new records only) or from the start. */
static int kmsg_open(bool from_end)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0 && from_end)
		lseek(fd, 0, SEEK_END);
	return fd;
}

static int walk(unsigned long cmd, const void *addr, uint64_t size,
		uint32_t per_call, uint32_t gup_flags, uint32_t test_flags,
		struct gup_test *out)
{
	struct gup_test g;
	int ret;

	memset(&g, 0, sizeof(g));
	g.addr = (uintptr_t)addr;
	g.size = size;
	g.nr_pages_per_call = per_call;
	g.gup_flags = gup_flags;
	g.test_flags = test_flags;
	if (out)
		memcpy(g.which_pages, out->which_pages, sizeof(g.which_pages));
	ret = xioctl(gfd, cmd, &g);
	if (out)
		*out = g;
	return ret;
}

static int start(int fd, const void *addr, uint64_t size, uint32_t flags)
{
	struct pin_longterm_test t = {
		.addr = (uintptr_t)addr, .size = size, .flags = flags,
	};

	return xioctl(fd, PIN_LONGTERM_TEST_START, &t);
}

static int stop(int fd)
{
	return ioctl(fd, PIN_LONGTERM_TEST_STOP, 0) ? -errno : 0;
}

static int read_pinned(int fd, void *to)
{
	uint64_t addr = (uintptr_t)to;

	return xioctl(fd, PIN_LONGTERM_TEST_READ, &addr);
}

static long used(void)
{
	return get_info(dev_fd).used_pages;
}

/* Cases that need the coherent device skip without one. */
#define NEED_DEVICE() do { if (no_coherent[0]) SKIP("%s", no_coherent); } while (0)
#define NEED_SESSION() do { if (!has_session) SKIP("%s", no_session_why()); } while (0)

/* expect: root's, mode 0600, a regular file */
static void node_root_only(void)
{
	struct stat st;

	REQUIRE(stat(GUPT_PATH, &st) == 0, "%s: %s", GUPT_PATH, strerror(errno));
	CHECK(S_ISREG(st.st_mode));
	CHECK((st.st_mode & 0777) == 0600, "mode %o", st.st_mode & 0777);
	CHECK(st.st_uid == 0 && st.st_gid == 0);
}

static int run_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn());
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int open_as_nobody(void)
{
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		return 100;
	if (open(GUPT_PATH, O_RDWR) >= 0)
		return 1;
	return errno == EACCES ? 0 : 2;
}

/* expect: nobody cannot open it: EACCES */
static void nobody_cannot_open(void)
{
	int ret = run_child(open_as_nobody);

	CHECK(ret == 0, "child: %d (1: opened, 2: not EACCES)", ret);
}

static int open_without_cap(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return 100;
	d[CAP_SYS_ADMIN / 32].effective &= ~(1U << (CAP_SYS_ADMIN % 32));
	if (syscall(SYS_capset, &h, d))
		return 101;
	if (open(GUPT_PATH, O_RDWR) >= 0)
		return 1;
	return errno == EPERM ? 0 : 2;
}

/* expect: root without CAP_SYS_ADMIN cannot open it (mode 0600 lets it): EPERM */
static void root_without_cap_sys_admin(void)
{
	int ret = run_child(open_without_cap);

	CHECK(ret == 0, "child: %d (1: opened, 2: not EPERM)", ret);
}

/* Where a row of the argument table points. */
enum where { AT_BUF, AT_BUF_PLUS_1, AT_HOLE, AT_HALF_HOLE, AT_RO, AT_WRAP, AT_NULL_ARG };

struct arg_row {
	const char *what;
	unsigned long cmd;
	enum where at;
	uint64_t pages;		/* size: pages, */
	uint32_t extra;		/* and bytes */
	uint32_t per_call;
	uint32_t flags;		/* W, LT */
	uint32_t test_flags;
	int want;		/* 0 or -errno */
	uint64_t want_pages;	/* size out, in pages, when want is 0 */
};

/* Pages of the table's buffer; a hole of as many follows it. */
#define AP	8

static const struct arg_row arg_rows[] = {
	{ "unknown command 10", _IOWR('g', 10, struct gup_test), AT_BUF, AP, 0, 1, 0, 0, -EINVAL, 0 },
	{ "unknown command 0", _IOWR('g', 0, struct gup_test), AT_BUF, AP, 0, 1, 0, 0, -EINVAL, 0 },
	{ "command 1, i386 size", _IOWR('g', 1, char[76]), AT_BUF, AP, 0, 1, 0, 0, -EINVAL, 0 },
	{ "command 1 without a size", _IO('g', 1), AT_BUF, AP, 0, 1, 0, 0, -EINVAL, 0 },
	{ "GUP_FAST with FOLL_LONGTERM", GUP_FAST_BENCHMARK, AT_BUF, AP, 0, 1, LT, 0, -EINVAL, 0 },
	{ "GUP_BASIC with FOLL_LONGTERM", GUP_BASIC_TEST, AT_BUF, AP, 0, 1, W | LT, 0, -EINVAL, 0 },
	{ "DUMP (get) with FOLL_LONGTERM", DUMP_USER_PAGES_TEST, AT_BUF, AP, 0, 1, LT, 0, -EINVAL, 0 },
	{ "test_flags 0x2", PIN_BASIC_TEST, AT_BUF, AP, 0, 1, 0, 2, -EINVAL, 0 },
	{ "addr + size wraps", GUP_BASIC_TEST, AT_WRAP, 2, 0, 1, 0, 0, -EINVAL, 0 },
	{ "NULL argument", GUP_FAST_BENCHMARK, AT_NULL_ARG, AP, 0, 1, 0, 0, -EFAULT, 0 },
	{ "size 0: nothing walked", PIN_FAST_BENCHMARK, AT_BUF, 0, 0, 1, W, 0, 0, 0 },
	{ "nr_pages_per_call 0: nothing walked", GUP_BASIC_TEST, AT_BUF, AP, 0, 0, W, 0, 0, 0 },
	{ "unmapped: GUP fails, the walk does not", PIN_BASIC_TEST, AT_HOLE, AP, 0, 1, W, 0, 0, 0 },
	{ "half unmapped, fast: size cut", GUP_FAST_BENCHMARK, AT_HALF_HOLE, AP, 0, 3, W, 0, 0, AP / 2 },
	{ "half unmapped, slow: size cut", PIN_LONGTERM_BENCHMARK, AT_HALF_HOLE, AP, 0, AP, 0, 0, 0, AP / 2 },
	{ "FOLL_WRITE on read-only memory: size 0", PIN_FAST_BENCHMARK, AT_RO, AP, 0, 2, W, 0, 0, 0 },
	{ "read of read-only memory", GUP_BASIC_TEST, AT_RO, AP, 0, 2, 0, 0, 0, AP },
	{ "unaligned addr: pages from its own", PIN_BASIC_TEST, AT_BUF_PLUS_1, AP - 1, 0, 2, W, 0, 0, AP - 1 },
	{ "unaligned size: whole pages only", GUP_FAST_BENCHMARK, AT_BUF, 4, 100, 1, 0, 0, 0, 4 },
};

/*
 * expect: each row's errno; a walk that GUP ends early still returns 0,
 * with size the part walked
 */
static void walk_arguments(void)
{
	char *buf, *ro;
	struct gup_test g;
	size_t i;

	/* No mapping made after the hole: it stays a hole. */
	ro = mmap(NULL, AP * page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(ro != MAP_FAILED);
	buf = map_anon(2 * AP, false);
	REQUIRE(buf);
	REQUIRE(munmap(buf + AP * page_size, AP * page_size) == 0);
	memset(buf, 0x33, AP * page_size);
	for (i = 0; i < ARRAY_SIZE(arg_rows); i++) {
		const struct arg_row *r = &arg_rows[i];
		uint64_t size = r->pages * page_size + r->extra;
		const char *addr = buf;
		int ret;

		if (r->at == AT_BUF_PLUS_1)
			addr = buf + 1;
		else if (r->at == AT_HOLE)
			addr = buf + AP * page_size;
		else if (r->at == AT_HALF_HOLE)
			addr = buf + AP / 2 * page_size;
		else if (r->at == AT_RO)
			addr = ro;
		else if (r->at == AT_WRAP)
			addr = (const char *)(uintptr_t)(-page_size);
		memset(&g, 0, sizeof(g));
		if (r->at == AT_NULL_ARG)
			ret = ioctl(gfd, r->cmd, NULL) ? -errno : 0;
		else
			ret = walk(r->cmd, addr, size, r->per_call, foll(r->flags), r->test_flags,
				   &g);
		if (CHECK(ret == r->want, "%s: %s, expected %s", r->what, strerror(-ret),
			  strerror(-r->want)))
			continue;
		if (!ret)
			CHECK(g.size == r->want_pages * page_size, "%s: size %llu, expected %llu pages",
			      r->what, (unsigned long long)g.size,
			      (unsigned long long)r->want_pages);
	}
	CHECK(count_flag(dev_fd, buf, AP, COHMEM_PAGE_PINNED) == 0);
	munmap(ro, AP * page_size);
	munmap(buf, AP * page_size);
}

/*
 * expect: every FOLL_* bit but FOLL_WRITE and FOLL_LONGTERM is EINVAL, for
 * every command (the kernel's own would pass it on: internal bits WARN),
 * and so is the other kernels' FOLL_LONGTERM value
 */
static void foreign_flag_bits(void)
{
	static const unsigned long cmds[] = {
		GUP_FAST_BENCHMARK, PIN_FAST_BENCHMARK, PIN_LONGTERM_BENCHMARK,
		GUP_BASIC_TEST, PIN_BASIC_TEST, DUMP_USER_PAGES_TEST,
	};
	char *buf = map_anon(1, false);
	unsigned int b, c, bad = 0;
	int ret;

	REQUIRE(buf);
	buf[0] = 1;
	for (c = 0; c < ARRAY_SIZE(cmds); c++) {
		for (b = 0; b < 32; b++) {
			if ((1U << b) == FOLL_WRITE || (1U << b) == foll_longterm)
				continue;
			ret = walk(cmds[c], buf, page_size, 1, FOLL_WRITE | 1U << b, 0, NULL);
			if (ret != -EINVAL && !bad++)
				CHECK(false, "command %#lx, bit %#x: %s", cmds[c], 1U << b,
				      strerror(-ret));
		}
	}
	CHECK(bad == 0, "%u of %zu combinations not EINVAL", bad, 30 * ARRAY_SIZE(cmds));
	ret = walk(PIN_FAST_BENCHMARK, buf, page_size, 1, foll_longterm_other, 0, NULL);
	CHECK(ret == -EINVAL, "the other kernels' FOLL_LONGTERM %#x: %s",
	      foll_longterm_other, strerror(-ret));
	munmap(buf, page_size);
}

/* One row: a command over pages on the device, and where they end up. */
struct residency_row {
	const char *name;
	unsigned long cmd;
	unsigned int flags;	/* W, LT */
	uint32_t test_flags;
	size_t npages;
	uint32_t per_call;
	bool moves;		/* to system RAM: a long-term pin */
};

static const struct residency_row residency_rows[] = {
	{ "gup_basic_write_stays", GUP_BASIC_TEST, W, 0, 64, 1, false },
	{ "gup_fast_write_stays", GUP_FAST_BENCHMARK, W, 0, 64, 7, false },
	{ "gup_fast_read_stays", GUP_FAST_BENCHMARK, 0, 0, 64, 64, false },
	{ "pin_basic_write_stays", PIN_BASIC_TEST, W, 0, 64, 16, false },
	{ "pin_fast_stays_beyond_a_chunk", PIN_FAST_BENCHMARK, W, 0, 1100, 100000, false },
	{ "dump_get_stays", DUMP_USER_PAGES_TEST, W, 0, 64, 64, false },
	{ "dump_pin_stays", DUMP_USER_PAGES_TEST, 0, GUP_TEST_FLAG_DUMP_PAGES_USE_PIN, 64, 9, false },
	{ "pin_longterm_moves", PIN_LONGTERM_BENCHMARK, 0, 0, 64, 1, true },
	{ "pin_longterm_write_moves_beyond_a_chunk", PIN_LONGTERM_BENCHMARK, W, 0, 1100, 600, true },
	{ "pin_fast_longterm_moves", PIN_FAST_BENCHMARK, W | LT, 0, 64, 64, true },
	{ "pin_basic_longterm_moves", PIN_BASIC_TEST, LT, 0, 64, 5, true },
	{ "dump_pin_longterm_moves", DUMP_USER_PAGES_TEST, LT, GUP_TEST_FLAG_DUMP_PAGES_USE_PIN, 64, 64, true },
};

static const struct residency_row *row;

/*
 * expect: the walk covers the range; short-term GUP leaves the pages on the
 * device, a long-term pin moves them to system RAM (freeing the device
 * pages); data intact; nothing left pinned or referenced (the pages
 * migrate afterwards)
 */
static void residency_case(void)
{
	const struct residency_row *r = row;
	unsigned int seed = 100 + (unsigned int)(r - residency_rows);
	struct cohmem_migrate m;
	struct gup_test g;
	long before;
	char *p;
	int ret;

	NEED_DEVICE();
	p = on_device(dev_fd, r->npages, seed);
	REQUIRE(p);
	before = used();
	memset(&g, 0, sizeof(g));
	ret = walk(r->cmd, p, r->npages * page_size, r->per_call, foll(r->flags),
		   r->test_flags, &g);
	REQUIRE(ret == 0, "%s", strerror(-ret));
	CHECK(g.size == r->npages * page_size, "walked %llu of %zu pages",
	      (unsigned long long)g.size / page_size, r->npages);
	if (r->moves) {
		CHECK(count_not_state(dev_fd, p, r->npages, COHMEM_STATE_SYSTEM) == 0,
		      "%ld pages not in system RAM",
		      count_not_state(dev_fd, p, r->npages, COHMEM_STATE_SYSTEM));
		CHECK(count_pfn_in_dev(&dev_info, p, r->npages) == 0);
		CHECK(used() == before - (long)r->npages, "device pages in use %ld, before %ld",
		      used(), before);
	} else {
		CHECK(count_not_state(dev_fd, p, r->npages, COHMEM_STATE_DEVICE) == 0,
		      "%ld pages not on the device",
		      count_not_state(dev_fd, p, r->npages, COHMEM_STATE_DEVICE));
		CHECK(count_pfn_in_dev(&dev_info, p, r->npages) == (long)r->npages);
		CHECK(used() == before);
	}
	CHECK(count_flag(dev_fd, p, r->npages, COHMEM_PAGE_PINNED) == 0, "still pinned");
	CHECK(verify(p, r->npages, seed) == -1);
	/* No reference left behind: every page migrates. */
	CHECK(migrate(dev_fd, p, r->npages, r->moves, &m) == 0 && m.moved == r->npages,
	      "moved %llu, busy %llu", (unsigned long long)m.moved,
	      (unsigned long long)m.skipped_busy);
	CHECK(verify(p, r->npages, seed) == -1);
	munmap(p, r->npages * page_size);
}

/*
 * expect: hmm-tests' hmm_gup_test on coherent pages: GUP_BASIC_TEST and
 * GUP_FAST_BENCHMARK leave theirs on the device, PIN_FAST_BENCHMARK with
 * FOLL_LONGTERM and PIN_LONGTERM_BENCHMARK move theirs to system RAM
 */
static void upstream_hmm_gup_sequence(void)
{
	static const unsigned long cmds[] = {
		GUP_BASIC_TEST, GUP_FAST_BENCHMARK, PIN_FAST_BENCHMARK, PIN_LONGTERM_BENCHMARK,
	};
	static const uint32_t extra[] = { 0, 0, LT, 0 };
	static const uint8_t want[] = {
		COHMEM_STATE_DEVICE, COHMEM_STATE_DEVICE, COHMEM_STATE_SYSTEM, COHMEM_STATE_SYSTEM,
	};
	uint8_t st[4];
	unsigned int i;
	char *p;

	NEED_DEVICE();
	p = on_device(dev_fd, 4, 30);
	REQUIRE(p);
	for (i = 0; i < 4; i++)
		CHECK(walk(cmds[i], p + i * page_size, page_size, 1, foll(W | extra[i]), 0,
			   NULL) == 0, "command %#lx", cmds[i]);
	REQUIRE(snapshot(dev_fd, p, 4, st, NULL) == 0);
	for (i = 0; i < 4; i++)
		CHECK((st[i] & COHMEM_STATE_MASK) == want[i] && !(st[i] & COHMEM_PAGE_PINNED),
		      "page %u: state %#x", i, st[i]);
	CHECK(verify(p, 4, 30) == -1);
	munmap(p, 4 * page_size);
}

/*
 * expect: DUMP_USER_PAGES_TEST dumps the pages named (numbered from 1) to
 * the kernel log and zeroes the numbers beyond the range; get or pin
 */
static void dump_names_pages(void)
{
	const char *reason = "page dumped because: cohmem gup_test DUMP_USER_PAGES_TEST";
	unsigned int use_pin;
	struct gup_test g;
	int kfd, ret;
	char *p;

	NEED_DEVICE();
	p = on_device(dev_fd, 16, 31);
	REQUIRE(p);
	kfd = kmsg_open(true);
	REQUIRE(kfd >= 0, "/dev/kmsg: %s", strerror(errno));
	for (use_pin = 0; use_pin <= 1; use_pin++) {
		memset(&g, 0, sizeof(g));
		g.which_pages[0] = 1;
		g.which_pages[3] = 16;
		g.which_pages[5] = 17;
		ret = walk(DUMP_USER_PAGES_TEST, p, 16 * page_size, 4, 0,
			   use_pin ? GUP_TEST_FLAG_DUMP_PAGES_USE_PIN : 0, &g);
		CHECK(ret == 0, "%s", strerror(-ret));
		CHECK(g.which_pages[0] == 1 && g.which_pages[3] == 16 && g.which_pages[5] == 0,
		      "which_pages out: %u %u %u", g.which_pages[0], g.which_pages[3],
		      g.which_pages[5]);
		ret = kmsg_count(kfd, reason);
		CHECK(ret == 2, "%d pages dumped, expected 2 (pin %u)", ret, use_pin);
	}
	close(kfd);
	CHECK(count_not_state(dev_fd, p, 16, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_flag(dev_fd, p, 16, COHMEM_PAGE_PINNED) == 0);
	CHECK(verify(p, 16, 31) == -1);
	munmap(p, 16 * page_size);
}

#define THREADS	4
static char *shared_range;

static void *walker(void *arg)
{
	struct gup_test g;
	long bad = 0;
	int i;

	(void)arg;
	for (i = 0; i < 20; i++) {
		memset(&g, 0, sizeof(g));
		bad += walk(i % 2 ? PIN_FAST_BENCHMARK : GUP_FAST_BENCHMARK, shared_range,
			    64 * page_size, 8, FOLL_WRITE, 0, &g) != 0 ||
		       g.size != 64 * page_size;
	}
	return (void *)bad;
}

/* expect: walks from several threads at once on one file all succeed */
static void concurrent_walks(void)
{
	pthread_t t[THREADS];
	void *bad;
	int i, failed = 0;

	NEED_DEVICE();
	shared_range = on_device(dev_fd, 64, 32);
	REQUIRE(shared_range);
	for (i = 0; i < THREADS; i++)
		REQUIRE(pthread_create(&t[i], NULL, walker, NULL) == 0);
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], &bad);
		failed += bad != NULL;
	}
	CHECK(failed == 0, "%d threads saw a failed walk", failed);
	CHECK(count_not_state(dev_fd, shared_range, 64, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_flag(dev_fd, shared_range, 64, COHMEM_PAGE_PINNED) == 0);
	CHECK(verify(shared_range, 64, 32) == -1);
	munmap(shared_range, 64 * page_size);
}

/*
 * expect: before 6.2 PIN_LONGTERM_TEST_* are unknown commands (EINVAL);
 * from 6.2 STOP without a session is 0 and READ is EINVAL
 */
static void session_commands(void)
{
	char buf[64];

	if (!has_session) {
		CHECK(start(gfd, buf, page_size, 0) == -EINVAL);
		CHECK(stop(gfd) == -EINVAL);
		CHECK(read_pinned(gfd, buf) == -EINVAL);
		return;
	}
	CHECK(stop(gfd) == 0);
	CHECK(read_pinned(gfd, buf) == -EINVAL);
}

static const uint32_t session_flags[] = {
	0,
	PIN_LONGTERM_TEST_FLAG_USE_WRITE,
	PIN_LONGTERM_TEST_FLAG_USE_FAST,
	PIN_LONGTERM_TEST_FLAG_USE_WRITE | PIN_LONGTERM_TEST_FLAG_USE_FAST,
};
static uint32_t session_row;

/*
 * expect: START pins the range long-term, moving it to system RAM; READ
 * copies out the pinned bytes; the pages cannot go back to the device
 * while pinned; STOP unpins, after which they can
 */
static void session_case(void)
{
	const size_t n = 64;
	unsigned int seed = 40 + session_row;
	struct cohmem_migrate m;
	char *p, *out;
	long before;
	int ret;

	NEED_SESSION();
	NEED_DEVICE();
	p = on_device(dev_fd, n, seed);
	REQUIRE(p);
	out = map_anon(n, false);
	REQUIRE(out);
	before = used();
	ret = start(gfd, p, n * page_size, session_flags[session_row]);
	REQUIRE(ret == 0, "START: %s", strerror(-ret));
	CHECK(count_not_state(dev_fd, p, n, COHMEM_STATE_SYSTEM) == 0, "%ld pages not in RAM",
	      count_not_state(dev_fd, p, n, COHMEM_STATE_SYSTEM));
	CHECK(count_pfn_in_dev(&dev_info, p, n) == 0);
	CHECK(count_flag(dev_fd, p, n, COHMEM_PAGE_PINNED) == (long)n);
	CHECK(used() == before - (long)n);
	CHECK(read_pinned(gfd, out) == 0);
	CHECK(verify(out, n, seed) == -1, "READ gave other bytes");
	CHECK(migrate(dev_fd, p, n, true, &m) == 0 && m.moved == 0 && m.skipped_busy == n,
	      "pinned pages: moved %llu busy %llu", (unsigned long long)m.moved,
	      (unsigned long long)m.skipped_busy);
	CHECK(stop(gfd) == 0);
	CHECK(count_flag(dev_fd, p, n, COHMEM_PAGE_PINNED) == 0);
	CHECK(read_pinned(gfd, out) == -EINVAL, "READ after STOP");
	CHECK(migrate(dev_fd, p, n, true, &m) == 0 && m.moved == n, "after STOP: moved %llu",
	      (unsigned long long)m.moved);
	CHECK(verify(p, n, seed) == -1);
	munmap(out, n * page_size);
	munmap(p, n * page_size);
}

struct start_row {
	const char *what;
	enum where at;
	uint64_t bytes;		/* raw */
	uint32_t flags;
	int want;
};

/*
 * expect: START refuses each row with its errno, leaving no session and
 * nothing pinned
 */
static void session_arguments(void)
{
	const uint64_t ps = page_size;
	const struct start_row rows[] = {
		{ "unknown flag 0x4", AT_BUF, ps, 0x4, -EINVAL },
		{ "unaligned addr", AT_BUF_PLUS_1, ps, 0, -EINVAL },
		{ "unaligned size", AT_BUF, ps + 1, 0, -EINVAL },
		{ "size 0", AT_BUF, 0, 0, -EINVAL },
		{ "addr + size wraps", AT_WRAP, 2 * ps, 0, -EINVAL },
		{ "over 1 GiB", AT_BUF, (1ULL << 30) + ps, 0, -E2BIG },
		{ "NULL argument", AT_NULL_ARG, ps, 0, -EFAULT },
		{ "unmapped", AT_HOLE, 4 * ps, 0, -EFAULT },
		{ "half unmapped", AT_HALF_HOLE, 8 * ps, 0, -EFAULT },
		{ "half unmapped, fast", AT_HALF_HOLE, 8 * ps, PIN_LONGTERM_TEST_FLAG_USE_FAST, -EFAULT },
		{ "write to read-only memory", AT_RO, 4 * ps, PIN_LONGTERM_TEST_FLAG_USE_WRITE, -EFAULT },
	};
	char *buf, *ro, out[64];
	size_t i;
	int ret;

	NEED_SESSION();
	/* No mapping made after the hole: it stays a hole. */
	ro = mmap(NULL, 4 * page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(ro != MAP_FAILED);
	buf = map_anon(8, false);
	REQUIRE(buf);
	memset(buf, 0x44, 4 * page_size);
	REQUIRE(munmap(buf + 4 * page_size, 4 * page_size) == 0);
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct start_row *r = &rows[i];
		const char *addr = buf;

		if (r->at == AT_BUF_PLUS_1)
			addr = buf + 1;
		else if (r->at == AT_HOLE)
			addr = buf + 4 * page_size;
		else if (r->at == AT_RO)
			addr = ro;
		else if (r->at == AT_WRAP)
			addr = (const char *)(uintptr_t)(-page_size);
		if (r->at == AT_NULL_ARG)
			ret = ioctl(gfd, PIN_LONGTERM_TEST_START, NULL) ? -errno : 0;
		else
			ret = start(gfd, addr, r->bytes, r->flags);
		CHECK(ret == r->want, "%s: %s, expected %s", r->what, strerror(-ret),
		      strerror(-r->want));
		if (!ret)
			stop(gfd);
		CHECK(read_pinned(gfd, out) == -EINVAL, "%s: a session is left", r->what);
		CHECK(count_flag(dev_fd, buf, 4, COHMEM_PAGE_PINNED) == 0, "%s: pages left pinned",
		      r->what);
	}
	munmap(ro, 4 * page_size);
	munmap(buf, 4 * page_size);
}

/* expect: a second START while a session is active: EINVAL, the first kept */
static void start_twice(void)
{
	char *p, *q, *out;

	NEED_SESSION();
	p = map_anon(4, false);
	q = map_anon(4, false);
	out = map_anon(4, false);
	REQUIRE(p && q && out);
	fill(p, 4, 50);
	fill(q, 4, 51);
	REQUIRE(start(gfd, p, 4 * page_size, PIN_LONGTERM_TEST_FLAG_USE_WRITE) == 0);
	CHECK(start(gfd, q, 4 * page_size, 0) == -EINVAL);
	CHECK(start(gfd, p, 4 * page_size, 0) == -EINVAL);
	CHECK(count_flag(dev_fd, q, 4, COHMEM_PAGE_PINNED) == 0);
	CHECK(read_pinned(gfd, out) == 0 && verify(out, 4, 50) == -1);
	CHECK(stop(gfd) == 0);
	CHECK(count_flag(dev_fd, p, 4, COHMEM_PAGE_PINNED) == 0);
	munmap(out, 4 * page_size);
	munmap(q, 4 * page_size);
	munmap(p, 4 * page_size);
}

/* expect: READ into memory that is not there: EFAULT, the session kept */
static void read_bad_buffer(void)
{
	char *p, *out;

	NEED_SESSION();
	p = map_anon(4, false);
	out = map_anon(4, false);
	REQUIRE(p && out);
	fill(p, 4, 52);
	REQUIRE(munmap(out + 2 * page_size, 2 * page_size) == 0);
	REQUIRE(start(gfd, p, 4 * page_size, 0) == 0);
	CHECK(read_pinned(gfd, out) == -EFAULT, "READ half into a hole");
	CHECK(verify(out, 2, 52) == -1, "the pages before the hole");
	CHECK(ioctl(gfd, PIN_LONGTERM_TEST_READ, NULL) == -1 && errno == EFAULT);
	CHECK(count_flag(dev_fd, p, 4, COHMEM_PAGE_PINNED) == 4);
	CHECK(stop(gfd) == 0);
	CHECK(count_flag(dev_fd, p, 4, COHMEM_PAGE_PINNED) == 0);
	munmap(out, 2 * page_size);
	munmap(p, 4 * page_size);
}

/* expect: closing the file that started a session unpins it */
static void close_ends_session(void)
{
	struct cohmem_migrate m;
	char *p;
	int fd;

	NEED_SESSION();
	NEED_DEVICE();
	p = on_device(dev_fd, 32, 53);
	REQUIRE(p);
	fd = open(GUPT_PATH, O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0, "%s", strerror(errno));
	CHECK(start(fd, p, 32 * page_size, PIN_LONGTERM_TEST_FLAG_USE_FAST) == 0);
	CHECK(count_flag(dev_fd, p, 32, COHMEM_PAGE_PINNED) == 32);
	close(fd);
	CHECK(count_flag(dev_fd, p, 32, COHMEM_PAGE_PINNED) == 0);
	CHECK(migrate(dev_fd, p, 32, true, &m) == 0 && m.moved == 32);
	CHECK(verify(p, 32, 53) == -1);
	munmap(p, 32 * page_size);
}

/*
 * expect: a process killed while its session holds shared pages pinned
 * leaves nothing pinned (its file is closed on exit)
 */
static void killed_holder_unpins(void)
{
	const size_t n = 16;
	int go[2], status;
	char *p, c;
	pid_t pid;

	NEED_SESSION();
	p = mmap(NULL, n * page_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(p != MAP_FAILED);
	fill(p, n, 54);
	REQUIRE(pipe(go) == 0);
	pid = fork();
	if (pid == 0) {
		int fd = open(GUPT_PATH, O_RDWR);

		c = fd >= 0 && start(fd, p, n * page_size, PIN_LONGTERM_TEST_FLAG_USE_WRITE) == 0;
		if (write(go[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	REQUIRE(pid > 0);
	CHECK(read(go[0], &c, 1) == 1 && c == 1, "the child's START failed");
	CHECK(count_flag(dev_fd, p, n, COHMEM_PAGE_PINNED) == (long)n);
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
	CHECK(count_flag(dev_fd, p, n, COHMEM_PAGE_PINNED) == 0);
	CHECK(verify(p, n, 54) == -1);
	close(go[0]);
	close(go[1]);
	munmap(p, n * page_size);
}

/*
 * expect: 7.3 on, each open file has its own session; before, one for the
 * system (a second START anywhere is EINVAL, READ anywhere reads it, and
 * any close ends it)
 */
static void session_scope(void)
{
	char *a, *b, *out;
	int fd2;

	NEED_SESSION();
	a = map_anon(4, false);
	b = map_anon(4, false);
	out = map_anon(4, false);
	REQUIRE(a && b && out);
	fill(a, 4, 55);
	fill(b, 4, 56);
	fd2 = open(GUPT_PATH, O_RDWR | O_CLOEXEC);
	REQUIRE(fd2 >= 0);
	REQUIRE(start(gfd, a, 4 * page_size, 0) == 0);
	if (per_file) {
		CHECK(start(fd2, b, 4 * page_size, 0) == 0);
		CHECK(read_pinned(fd2, out) == 0 && verify(out, 4, 56) == -1);
		close(fd2);
		CHECK(count_flag(dev_fd, b, 4, COHMEM_PAGE_PINNED) == 0, "fd2's pins kept");
		CHECK(count_flag(dev_fd, a, 4, COHMEM_PAGE_PINNED) == 4, "gfd's pins dropped");
		CHECK(read_pinned(gfd, out) == 0 && verify(out, 4, 55) == -1);
	} else {
		CHECK(start(fd2, b, 4 * page_size, 0) == -EINVAL);
		CHECK(read_pinned(fd2, out) == 0 && verify(out, 4, 55) == -1,
		      "READ on another file reads the system's session");
		close(fd2);
		CHECK(count_flag(dev_fd, a, 4, COHMEM_PAGE_PINNED) == 0, "close kept the session");
		CHECK(read_pinned(gfd, out) == -EINVAL);
	}
	CHECK(stop(gfd) == 0);
	CHECK(count_flag(dev_fd, a, 4, COHMEM_PAGE_PINNED) == 0);
	munmap(out, 4 * page_size);
	munmap(b, 4 * page_size);
	munmap(a, 4 * page_size);
}

/* expect: cohmem makes no gup_test where the kernel has one (CONFIG_GUP_TEST) */
static void kernel_own_gup_test(void)
{
	if (!kernel_own)
		SKIP("this kernel has no gup_test of its own (CONFIG_GUP_TEST is off)");
	CHECK(access(GUPT_PATH, F_OK) == 0, "the kernel's gup_test is gone");
}

/* expect: every device page given back */
static void nothing_left_in_use(void)
{
	NEED_DEVICE();
	CHECK(used() == 0, "%ld device pages in use", used());
}

/* The first coherent /dev/cohmemN (upstream_abi may make others private). */
static void find_coherent(void)
{
	char path[32], types[64] = "";
	struct cohmem_info info;
	int id, fd;

	for (id = 0; id < 8; id++) {
		snprintf(path, sizeof(path), "/dev/cohmem%d", id);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		if (!xioctl(fd, COHMEM_IOC_INFO, &info) && info.type == COHMEM_TYPE_COHERENT) {
			dev_fd = fd;
			dev_info = info;
			return;
		}
		snprintf(types + strlen(types), sizeof(types) - strlen(types), " %d:%u", id,
			 info.type);
		/* SNAPSHOT works on any device: keep the first. */
		if (dev_fd < 0)
			dev_fd = fd;
		else
			close(fd);
	}
	snprintf(no_coherent, sizeof(no_coherent), "no coherent cohmem device (id:type%s)",
		 types[0] ? types : " none");
}

static void run_rows(void)
{
	char name[96];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(residency_rows); i++) {
		row = &residency_rows[i];
		run_case(row->name, residency_case);
	}
	for (session_row = 0; session_row < ARRAY_SIZE(session_flags); session_row++) {
		snprintf(name, sizeof(name), "session_%s%s",
			 session_flags[session_row] & PIN_LONGTERM_TEST_FLAG_USE_WRITE ? "write_" : "",
			 session_flags[session_row] & PIN_LONGTERM_TEST_FLAG_USE_FAST ? "fast" : "slow");
		run_case(name, session_case);
	}
}

int main(void)
{
	int ncases = 17 + ARRAY_SIZE(residency_rows) + ARRAY_SIZE(session_flags);
	struct utsname u;
	int kfd;

	page_size = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (uname(&u) || sscanf(u.release, "%d.%d", &kmajor, &kminor) != 2) {
		printf("Bail out! cannot parse the kernel's version\n");
		return 1;
	}
	/* What the running kernel's own selftests hard-code. */
	if (kmajor < 6 || (kmajor == 6 && kminor < 3)) {
		foll_longterm = 0x10000;
		foll_longterm_other = 0x100;
	} else {
		foll_longterm = 0x100;
		foll_longterm_other = 0x10000;
	}
	has_session = kmajor > 6 || (kmajor == 6 && kminor >= 2);
	per_file = kmajor > 7 || (kmajor == 7 && kminor >= 3);
	find_coherent();

	kfd = kmsg_open(false);
	kernel_own = kfd >= 0 &&
		     kmsg_count(kfd, "cohmem: gup_test: the kernel has its own") > 0;
	if (kfd >= 0)
		close(kfd);
	ktap_plan(ncases);
	ktap_diag("kernel %d.%d: FOLL_LONGTERM %#x, sessions: %s", kmajor, kminor,
		  foll_longterm, !has_session ? "none" : per_file ? "per file" : "one");
	if (kernel_own) {
		/* Only the case about that: the rest would test the kernel's. */
		RUN(kernel_own_gup_test);
		while (--ncases)
			ktap_skip("cohmem_gup_test", "the kernel has its own gup_test");
		return ktap_finish();
	}
	RUN(node_root_only);
	gfd = open(GUPT_PATH, O_RDWR | O_CLOEXEC);
	if (gfd < 0) {
		printf("Bail out! %s: %s\n", GUPT_PATH, strerror(errno));
		return 1;
	}
	RUN(nobody_cannot_open);
	RUN(root_without_cap_sys_admin);
	RUN(walk_arguments);
	RUN(foreign_flag_bits);
	run_rows();
	RUN(upstream_hmm_gup_sequence);
	RUN(dump_names_pages);
	RUN(concurrent_walks);
	RUN(session_commands);
	RUN(session_arguments);
	RUN(start_twice);
	RUN(read_bad_buffer);
	RUN(close_ends_session);
	RUN(killed_holder_unpins);
	RUN(session_scope);
	RUN(kernel_own_gup_test);
	close(gfd);
	RUN(nothing_left_in_use);
	return ktap_finish();
}
