// SPDX-License-Identifier: GPL-2.0
/*
 * cohmem-fuzz SECONDS: random sequences of valid and invalid calls from
 * several processes and threads, with munmap, fork and exit racing them,
 * for a bounded time. Afterwards every device page must be free again; the
 * host checks the guest's kernel log.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

#define PROCS	3
#define THREADS	3
#define SLOTS	8

static char *slots[SLOTS];
/* Writers of slot contents vs. remappers: ioctls race both, unlocked. */
static pthread_rwlock_t slot_lock = PTHREAD_RWLOCK_INITIALIZER;
static atomic_bool stop;

static const unsigned long cmds[] = {
	COHMEM_IOC_INFO, COHMEM_IOC_MIGRATE_TO_DEV, COHMEM_IOC_MIGRATE_TO_SYS,
	COHMEM_IOC_PIN, COHMEM_IOC_UNPIN, COHMEM_IOC_SNAPSHOT, COHMEM_IOC_EVICT,
	COHMEM_IOC_DEVICE_READ, COHMEM_IOC_DEVICE_WRITE,
	_IO(COHMEM_IOC_MAGIC, 0x42), _IOWR(COHMEM_IOC_MAGIC, 0x01, char[8]),
};

/* Where DEVICE_READ writes: never into the program's own data. */
static char scratch[16 * 4096] __attribute__((aligned(4096)));

static uint64_t pick_addr(unsigned int *seed)
{
	char *p = slots[rand_r(seed) % SLOTS];

	switch (rand_r(seed) % 8) {
	case 0:
		return 0;
	case 1:
		return 0xffff888000000000ULL;
	case 2:
		return (uintptr_t)p + 1;
	default:
		return (uintptr_t)p + (rand_r(seed) % 16) * page_size;
	}
}

static uint64_t pick_len(unsigned int *seed)
{
	switch (rand_r(seed) % 8) {
	case 0:
		return 0;
	case 1:
		return -page_size;
	case 2:
		return 1ULL << 40;
	default:
		return (1 + rand_r(seed) % 48) * page_size;
	}
}

static void one_call(int fd, unsigned int *seed)
{
	union {
		struct cohmem_info info;
		struct cohmem_migrate m;
		struct cohmem_pin pin;
		struct cohmem_unpin up;
		struct cohmem_snapshot s;
		struct cohmem_evict e;
		struct cohmem_access a;
		uint64_t raw[16];
	} u;
	static uint8_t states[64];
	unsigned long cmd = cmds[rand_r(seed) % (sizeof(cmds) / sizeof(cmds[0]))];
	void *arg = &u;
	size_t i;

	if (cmd == COHMEM_IOC_EVICT && !race_evict())
		cmd = COHMEM_IOC_INFO;	/* see race_evict() */
	for (i = 0; i < 16; i++)
		u.raw[i] = rand_r(seed) % 4 ? 0 : (uint64_t)rand_r(seed) << (rand_r(seed) % 40);
	switch (cmd) {
	case COHMEM_IOC_MIGRATE_TO_DEV:
	case COHMEM_IOC_MIGRATE_TO_SYS:
		u.m.addr = pick_addr(seed);
		u.m.len = pick_len(seed);
		break;
	case COHMEM_IOC_PIN:
		u.pin.addr = pick_addr(seed);
		u.pin.len = pick_len(seed);
		u.pin.mode = rand_r(seed) % 7;
		u.pin.handle = 0;
		break;
	case COHMEM_IOC_UNPIN:
		u.up.handle = rand_r(seed) % 16;
		break;
	case COHMEM_IOC_SNAPSHOT:
		u.s.addr = pick_addr(seed);
		u.s.len = pick_len(seed) % (64 * page_size);
		u.s.buf = rand_r(seed) % 8 ? (uintptr_t)states : (uintptr_t)pick_addr(seed);
		break;
	case COHMEM_IOC_DEVICE_READ:
	case COHMEM_IOC_DEVICE_WRITE:
		u.a.addr = pick_addr(seed);
		u.a.len = pick_len(seed) % sizeof(scratch);
		u.a.buf = rand_r(seed) % 8 ? (uintptr_t)scratch : (uintptr_t)pick_addr(seed);
		break;
	case COHMEM_IOC_EVICT:
		u.e.offset = (rand_r(seed) % 64) * page_size;
		u.e.len = pick_len(seed);
		u.e.flags = rand_r(seed) % 4 == 0;
		if (u.e.flags)
			u.e.offset = u.e.len = 0;
		break;
	}
	if (rand_r(seed) % 32 == 0)
		arg = rand_r(seed) & 1 ? NULL : (void *)0xffff888000000000ULL;
	ioctl(fd, cmd, arg);
}

static void *thread_main(void *arg)
{
	unsigned int seed = (uintptr_t)arg;
	int fd = rand_r(&seed) & 1 ? dev_fd : open_dev(0);

	while (!atomic_load(&stop)) {
		int r = rand_r(&seed) % 64;

		if (r == 0) {
			/* Race an unmap and a new mapping with the others' calls. */
			int s = rand_r(&seed) % SLOTS;
			char *p = map_anon(16, false);

			pthread_rwlock_wrlock(&slot_lock);
			if (p) {
				munmap(slots[s], 16 * page_size);
				slots[s] = p;
			}
			pthread_rwlock_unlock(&slot_lock);
		} else if (r == 1) {
			pthread_rwlock_rdlock(&slot_lock);
			fill(slots[rand_r(&seed) % SLOTS], 16, rand_r(&seed));
			pthread_rwlock_unlock(&slot_lock);
		} else if (r == 2) {
			pid_t pid = fork();

			if (pid == 0) {
				for (r = 0; r < 20; r++)
					one_call(dev_fd, &seed);
				_exit(0);
			}
			if (pid > 0) {
				if (rand_r(&seed) & 1)
					kill(pid, SIGKILL);
				waitpid(pid, NULL, 0);
			}
		} else {
			one_call(fd, &seed);
		}
	}
	if (fd != dev_fd)
		close(fd);
	return NULL;
}

static int process_main(unsigned int seed, double secs)
{
	pthread_t t[THREADS];
	int i;

	for (i = 0; i < SLOTS; i++)
		slots[i] = map_anon(16, false);
	for (i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, thread_main, (void *)(uintptr_t)(seed * 10 + i));
	usleep(secs * 1e6);
	atomic_store(&stop, true);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	return 0;
}

static double duration;

static void random_calls_leave_nothing(void)
{
	pid_t pids[PROCS];
	int i, status, bad = 0;

	for (i = 0; i < PROCS; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(process_main(i + 1, duration));
	}
	for (i = 0; i < PROCS; i++) {
		REQUIRE(pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i]);
		bad += !WIFEXITED(status) || WEXITSTATUS(status);
	}
	CHECK(bad == 0, "%d fuzz processes died", bad);
	/*
	 * Pins live as long as their file: the workers shared this process's
	 * dev_fd, so what they left pinned on it goes only when it closes.
	 */
	close(dev_fd);
	dev_fd = open_dev(0);
	CHECK(get_info(dev_fd).used_pages == 0, "%llu pages leaked",
	      (unsigned long long)get_info(dev_fd).used_pages);
	CHECK(get_info(dev_fd).free_pages == get_info(dev_fd).total_pages);
}

int main(int argc, char **argv)
{
	duration = argc > 1 ? atof(argv[1]) : 20;
	test_init(0);
	ktap_plan(1);
	RUN(random_calls_leave_nothing);
	return ktap_finish();
}
