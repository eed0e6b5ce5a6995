// SPDX-License-Identifier: GPL-2.0
/*
 * Who may do what: the device node is root-only until an administrator
 * grants a group; an unprivileged process acts on its own address space
 * only, and cannot move other users' pages off a device or see its
 * physical address; pins are charged to RLIMIT_MEMLOCK. The unprivileged
 * cases run in a child that drops to nobody (65534).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define NOBODY	65534
#define GRANTED	4242	/* the group an administrator grants the node to */

/* Run fn as nobody (with GRANTED as a supplementary group if asked). */
static int as_nobody(bool in_group, int (*fn)(void))
{
	gid_t g = GRANTED;
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (setgroups(in_group ? 1 : 0, &g) || setgid(NOBODY) || setuid(NOBODY))
			_exit(100);
		_exit(fn());
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int open_fails(void)
{
	int fd = open("/dev/cohmem0", O_RDWR);

	return fd < 0 && errno == EACCES ? 0 : 1;
}

/* expect: mode 0600 root:root; nobody gets EACCES */
static void node_root_only(void)
{
	struct stat st;

	REQUIRE(stat("/dev/cohmem0", &st) == 0);
	CHECK((st.st_mode & 0777) == 0600, "mode %o", st.st_mode & 0777);
	CHECK(st.st_uid == 0 && st.st_gid == 0);
	CHECK(as_nobody(false, open_fails) == 0, "nobody opened /dev/cohmem0");
}

static int use_device(void)
{
	int fd = open("/dev/cohmem0", O_RDWR);
	struct cohmem_migrate m;
	char *p;

	if (fd < 0)
		return 1;
	p = map_anon(64, false);
	fill(p, 64, 50);
	if (migrate(fd, p, 64, true, &m) || m.moved != 64 ||
	    count_not_state(fd, p, 64, COHMEM_STATE_DEVICE))
		return 2;
	/* Not root: no PFNs from /proc/self/pagemap, but the data is there. */
	if (verify(p, 64, 50) != -1 || migrate(fd, p, 64, false, &m) || m.moved != 64)
		return 3;
	return 0;
}

/* expect: chgrp + chmod 0660 (what the udev rule does) lets the group in */
static void granted_group_may_use(void)
{
	int ret;

	REQUIRE(chown("/dev/cohmem0", 0, GRANTED) == 0 && chmod("/dev/cohmem0", 0660) == 0);
	ret = as_nobody(true, use_device);
	CHECK(ret == 0, "nobody in the granted group: step %d failed", ret);
	CHECK(as_nobody(false, open_fails) == 0, "nobody outside the group got in");
	CHECK(chmod("/dev/cohmem0", 0600) == 0 && chown("/dev/cohmem0", 0, 0) == 0);
}

static long vmlck_kb(void)
{
	char line[128];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static int pin_as(int fd, char *p, size_t n, unsigned int mode, unsigned int *handle)
{
	struct cohmem_pin pn;
	int ret;

	memset(&pn, 0, sizeof(pn));
	pn.addr = (uintptr_t)p;
	pn.len = n * page_size;
	pn.mode = mode;
	ret = xioctl(fd, COHMEM_IOC_PIN, &pn);
	*handle = pn.handle;
	return ret;
}

/* The pin mode memlock_limits() tries, set before each as_nobody() run. */
static unsigned int memlock_mode;

static int memlock_limits(void)
{
	struct rlimit rl = { 64 * page_size, 64 * page_size };
	int fd = open("/dev/cohmem0", O_RDWR);
	unsigned int h1, h2, h3;
	struct cohmem_unpin up = { 0 };
	char *p = map_anon(256, false);

	if (fd < 0 || setrlimit(RLIMIT_MEMLOCK, &rl))
		return 1;
	fill(p, 256, 51);
	if (pin_as(fd, p, 32, memlock_mode, &h1))
		return 2;	/* within the limit */
	if (vmlck_kb() != (long)(32 * page_size / 1024))
		return 3;	/* charged */
	if (pin_as(fd, p, 64, memlock_mode, &h2) != -ENOMEM)
		return 4;	/* 32 + 64 > 64: refused */
	if (pin_as(fd, p + 32 * page_size, 32, COHMEM_PIN_LONGTERM_FAST, &h3) ||
	    vmlck_kb() != (long)(64 * page_size / 1024))
		return 5;	/* every mode draws on the same limit */
	up.handle = h3;
	if (xioctl(fd, COHMEM_IOC_UNPIN, &up))
		return 6;
	up.handle = h1;
	if (xioctl(fd, COHMEM_IOC_UNPIN, &up) || vmlck_kb() != 0)
		return 7;	/* uncharged on unpin */
	if (pin_as(fd, p, 64, memlock_mode, &h2))
		return 8;	/* the whole limit is free again */
	close(fd);
	if (vmlck_kb() != 0)
		return 9;	/* uncharged on close */
	return verify(p, 256, 51) == -1 ? 0 : 10;
}

/*
 * expect: every pin mode counts against RLIMIT_MEMLOCK (ENOMEM past it):
 * a short-term pin or a GET held until UNPIN or close lasts as long as a
 * long-term one
 */
static void memlock_charged(void)
{
	static const struct {
		const char *name;
		unsigned int mode;
	} modes[] = {
		{ "LONGTERM", COHMEM_PIN_LONGTERM },
		{ "LONGTERM_FAST", COHMEM_PIN_LONGTERM_FAST },
		{ "SHORT", COHMEM_PIN_SHORT },
		{ "SHORT_FAST", COHMEM_PIN_SHORT_FAST },
		{ "GET_FAST", COHMEM_PIN_GET_FAST },
	};
	size_t i;
	int ret;

	REQUIRE(chown("/dev/cohmem0", 0, GRANTED) == 0 && chmod("/dev/cohmem0", 0660) == 0);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		memlock_mode = modes[i].mode;
		ret = as_nobody(true, memlock_limits);
		CHECK(ret == 0, "%s: step %d failed", modes[i].name, ret);
	}
	CHECK(chmod("/dev/cohmem0", 0600) == 0 && chown("/dev/cohmem0", 0, 0) == 0);
}

static int shared_node_limits(void)
{
	int fd = open("/dev/cohmem0", O_RDWR);
	struct cohmem_evict e = { 0 };
	struct cohmem_migrate m;
	struct cohmem_info i;
	char *p = map_anon(64, false);

	if (fd < 0 || !p)
		return 1;
	i = get_info(fd);
	if (i.base != 0 || i.total_pages == 0)
		return 2;	/* no physical address for an unprivileged caller */
	e.flags = COHMEM_EVICT_ALL;
	if (xioctl(fd, COHMEM_IOC_EVICT, &e) != -EPERM)
		return 3;	/* another user's pages: not to evict */
	memset(&e, 0, sizeof(e));
	e.len = page_size;
	if (xioctl(fd, COHMEM_IOC_EVICT, &e) != -EPERM)
		return 4;
	fill(p, 64, 54);
	if (migrate(fd, p, 64, true, &m) || m.moved || m.evicted || m.skipped_nomem != 64)
		return 5;	/* a full device: no pressure eviction for it */
	if (verify(p, 64, 54) != -1)
		return 6;
	/* sysfs: the counters for anyone, the physical address for root. */
	if (access("/sys/class/misc/cohmem0/free_pages", R_OK) ||
	    !access("/sys/class/misc/cohmem0/base", R_OK))
		return 7;
	return 0;
}

/*
 * expect: on a node granted to a group, a member cannot move other users'
 * pages off the device: EVICT is EPERM, a migration into a device full of
 * root's pages moves nothing and evicts nothing (root's stay, data
 * intact), and neither INFO nor sysfs gives it the physical address
 */
static void shared_node_permissions(void)
{
	struct cohmem_info i = get_info(dev_fd);
	size_t root_npages = i.free_pages;
	struct cohmem_migrate m;
	char *root_pages;
	int ret;

	REQUIRE(i.base != 0, "root sees no physical address");
	root_pages = map_anon(root_npages, false);
	REQUIRE(root_pages);
	fill(root_pages, root_npages, 55);
	REQUIRE(migrate(dev_fd, root_pages, root_npages, true, &m) == 0 &&
		m.moved == root_npages, "filling the device: moved %llu of %zu",
		(unsigned long long)m.moved, root_npages);
	REQUIRE(chown("/dev/cohmem0", 0, GRANTED) == 0 && chmod("/dev/cohmem0", 0660) == 0);
	ret = as_nobody(true, shared_node_limits);
	CHECK(ret == 0, "nobody in the granted group: step %d failed", ret);
	CHECK(chmod("/dev/cohmem0", 0600) == 0 && chown("/dev/cohmem0", 0, 0) == 0);
	CHECK(count_not_state(dev_fd, root_pages, root_npages, COHMEM_STATE_DEVICE) == 0,
	      "root's pages left the device");
	CHECK(verify(root_pages, root_npages, 55) == -1);
	munmap(root_pages, root_npages * page_size);
	CHECK(get_info(dev_fd).used_pages == 0);
}

/*
 * expect: a process reaches only what its own address space maps. A child
 * naming an address the parent kept out of the fork (MADV_DONTFORK) gets
 * EFAULT and the parent's pages stay; a page both still map after fork is
 * one physical page, so the child's migration moves it for both (data
 * intact: migration never changes contents).
 */
static void own_address_space(void)
{
	char *priv = map_anon(64, false), *shared = map_anon(64, false);
	struct cohmem_migrate m;
	int status;
	pid_t pid;

	REQUIRE(priv && shared);
	fill(priv, 64, 52);
	fill(shared, 64, 53);
	REQUIRE(madvise(priv, 64 * page_size, MADV_DONTFORK) == 0);
	REQUIRE(migrate(dev_fd, priv, 64, true, &m) == 0 && m.moved == 64);
	REQUIRE(migrate(dev_fd, shared, 64, true, &m) == 0 && m.moved == 64);
	pid = fork();
	if (pid == 0)
		_exit((migrate(dev_fd, priv, 64, false, &m) != -EFAULT) |
		      (migrate(dev_fd, shared, 64, false, &m) || m.moved != 64) << 1);
	REQUIRE(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %#x", status);
	CHECK(count_not_state(dev_fd, priv, 64, COHMEM_STATE_DEVICE) == 0,
	      "the child reached the parent's private pages");
	CHECK(count_not_state(dev_fd, shared, 64, COHMEM_STATE_SYSTEM) == 0,
	      "a shared page did not move for both");
	CHECK(verify(priv, 64, 52) == -1 && verify(shared, 64, 53) == -1);
	migrate(dev_fd, priv, 64, false, NULL);
	munmap(priv, 64 * page_size);
	munmap(shared, 64 * page_size);
}

static int set_proc_limit(size_t pages)
{
	FILE *f = fopen("/sys/module/cohmem/parameters/proc_limit", "w");
	int ok;

	if (!f)
		return -errno;
	ok = fprintf(f, "%zu\n", pages * page_size) > 0;
	return fclose(f) == 0 && ok ? 0 : -EIO;
}

/*
 * expect: proc_limit caps the device pages one process holds over all
 * devices: past it pages stay in system RAM (skipped_limit), data intact;
 * freeing device pages makes room again; another process has its own
 * share; no limit, no cap.
 */
static void proc_limit_caps(void)
{
	int fd1 = open("/dev/cohmem1", O_RDWR);
	char *p = map_anon(192, false);
	struct cohmem_migrate m;
	int status;
	pid_t pid;

	REQUIRE(fd1 >= 0 && p, "needs /dev/cohmem1: %s", strerror(errno));
	fill(p, 192, 54);
	REQUIRE(set_proc_limit(128) == 0);
	CHECK(get_info(dev_fd).proc_limit_pages == 128, "INFO says %llu",
	      (unsigned long long)get_info(dev_fd).proc_limit_pages);
	CHECK(migrate(dev_fd, p, 96, true, &m) == 0 && m.moved == 96,
	      "moved %llu", (unsigned long long)m.moved);
	/* The share counts both devices: 32 more fit, on device 1. */
	CHECK(migrate(fd1, p + 96 * page_size, 96, true, &m) == 0 &&
	      m.moved == 32 && m.skipped_limit == 64 && !m.skipped_nomem,
	      "device 1: moved %llu, limit %llu, nomem %llu",
	      (unsigned long long)m.moved, (unsigned long long)m.skipped_limit,
	      (unsigned long long)m.skipped_nomem);
	CHECK(count_not_state(dev_fd, p, 96, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_not_state(fd1, p + 96 * page_size, 32, COHMEM_STATE_DEVICE) == 0);
	CHECK(count_not_state(fd1, p + 128 * page_size, 64, COHMEM_STATE_SYSTEM) == 0);
	CHECK(verify(p, 192, 54) == -1, "data changed");

	/* Another process has a share of its own. */
	pid = fork();
	if (pid == 0) {
		char *c = map_anon(64, false);

		fill(c, 64, 55);
		_exit(!c || migrate(dev_fd, c, 64, true, &m) || m.moved != 64 ||
		      verify(c, 64, 55) != -1);
	}
	REQUIRE(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the child got no share of its own: %#x", status);

	/* Device pages freed (here: migrated back) give the share back. */
	REQUIRE(migrate(dev_fd, p, 32, false, &m) == 0 && m.moved == 32);
	CHECK(migrate(dev_fd, p + 128 * page_size, 64, true, &m) == 0 &&
	      m.moved == 32 && m.skipped_limit == 32,
	      "after freeing 32: moved %llu, limit %llu",
	      (unsigned long long)m.moved, (unsigned long long)m.skipped_limit);
	REQUIRE(set_proc_limit(0) == 0);
	CHECK(migrate(dev_fd, p + 160 * page_size, 32, true, &m) == 0 &&
	      m.moved == 32, "no limit: moved %llu", (unsigned long long)m.moved);
	CHECK(count_not_state(dev_fd, p + 128 * page_size, 64, COHMEM_STATE_DEVICE) == 0);
	CHECK(verify(p, 192, 54) == -1, "data changed");
	munmap(p, 192 * page_size);
	close(fd1);
}

int main(void)
{
	test_init(0);
	ktap_plan(6);
	RUN(node_root_only);
	RUN(granted_group_may_use);
	RUN(memlock_charged);
	RUN(shared_node_permissions);
	RUN(own_address_space);
	RUN(proc_limit_caps);
	set_proc_limit(0);
	return ktap_finish();
}
