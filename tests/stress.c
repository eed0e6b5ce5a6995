// SPDX-License-Identifier: GPL-2.0
/*
 * cohmem-stress SECONDS: threads migrating, pinning in every mode,
 * evicting, unmapping and writing the same regions at once, then a check of
 * every byte; processes killed with SIGKILL in the middle of operations;
 * rmmod attempted while all that runs. Nothing may be lost or leaked.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

#define REGIONS		16
#define RPAGES		64
#define WORKERS		4

struct region {
	pthread_mutex_t lock;	/* held to write or remap, not to migrate */
	char *p;
	unsigned int version;
};

static struct region regions[REGIONS];
static atomic_bool stop;
static atomic_long ops, rmmod_busy, rmmod_other;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
	unsigned int seed = (uintptr_t)arg;
	struct cohmem_evict e;
	struct cohmem_pin pn;
	struct cohmem_unpin up;
	uint8_t st[RPAGES];

	while (!atomic_load(&stop)) {
		struct region *r = &regions[rand_r(&seed) % REGIONS];
		char *p = r->p;	/* may be remapped under us: then EFAULT */

		switch (rand_r(&seed) % 6) {
		case 0:
		case 1:
			migrate(dev_fd, p, RPAGES, rand_r(&seed) & 1, NULL);
			break;
		case 2:
			memset(&pn, 0, sizeof(pn));
			pn.addr = (uintptr_t)p;
			pn.len = RPAGES * page_size;
			pn.mode = 1 + rand_r(&seed) % 5;
			pn.flags = rand_r(&seed) & 1 ? COHMEM_PIN_WRITE : 0;
			if (!xioctl(dev_fd, COHMEM_IOC_PIN, &pn)) {
				usleep(rand_r(&seed) % 2000);
				up.handle = pn.handle;
				up.flags = 0;
				xioctl(dev_fd, COHMEM_IOC_UNPIN, &up);
			}
			break;
		case 3:
			if (!race_evict())
				break;	/* see race_evict() */
			memset(&e, 0, sizeof(e));
			e.flags = COHMEM_EVICT_ALL;
			xioctl(dev_fd, COHMEM_IOC_EVICT, &e);
			break;
		case 4:
			snapshot(dev_fd, p, RPAGES, st, NULL);
			break;
		default:
			/* Write a new version of the region, or remap it first. */
			pthread_mutex_lock(&r->lock);
			if (rand_r(&seed) % 4 == 0) {
				char *q = map_anon(RPAGES, false);

				munmap(r->p, RPAGES * page_size);
				r->p = q;
			}
			r->version++;
			fill(r->p, RPAGES, r->version);
			pthread_mutex_unlock(&r->lock);
		}
		atomic_fetch_add(&ops, 1);
	}
	return NULL;
}

/* rmmod while the device is open: refused at once (EBUSY or EWOULDBLOCK). */
static void *remover(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		if (syscall(SYS_delete_module, "cohmem", O_NONBLOCK) == 0) {
			atomic_fetch_add(&rmmod_other, 1);
			break;
		}
		if (errno == EBUSY || errno == EWOULDBLOCK || errno == EAGAIN)
			atomic_fetch_add(&rmmod_busy, 1);
		else
			atomic_fetch_add(&rmmod_other, 1);
		usleep(200000);
	}
	return NULL;
}

static void concurrent_ops_keep_data(double secs)
{
	pthread_t t[WORKERS], rm;
	long device = 0, i;
	double end = now() + secs;

	for (i = 0; i < REGIONS; i++) {
		pthread_mutex_init(&regions[i].lock, NULL);
		regions[i].p = map_anon(RPAGES, false);
		regions[i].version = i + 1;
		fill(regions[i].p, RPAGES, regions[i].version);
	}
	for (i = 0; i < WORKERS; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	pthread_create(&rm, NULL, remover, NULL);
	while (now() < end)
		usleep(100000);
	atomic_store(&stop, true);
	for (i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	pthread_join(rm, NULL);

	ktap_diag("%ld operations in %.0f s", atomic_load(&ops), secs);
	for (i = 0; i < REGIONS; i++) {
		CHECK(verify(regions[i].p, RPAGES, regions[i].version) == -1,
		      "region %ld lost data", i);
		device += RPAGES - count_not_state(dev_fd, regions[i].p, RPAGES,
						   COHMEM_STATE_DEVICE);
	}
	/* The module's count agrees with what the page tables show. */
	CHECK(get_info(dev_fd).used_pages == (unsigned long long)device,
	      "INFO says %llu in use, page tables %ld",
	      (unsigned long long)get_info(dev_fd).used_pages, device);
	CHECK(atomic_load(&rmmod_other) == 0, "rmmod while open: not refused");
	CHECK(atomic_load(&rmmod_busy) > 0, "rmmod was never attempted");
	for (i = 0; i < REGIONS; i++) {
		migrate(dev_fd, regions[i].p, RPAGES, false, NULL);
		CHECK(verify(regions[i].p, RPAGES, regions[i].version) == -1);
		munmap(regions[i].p, RPAGES * page_size);
	}
	CHECK(get_info(dev_fd).used_pages == 0);
}

static void stress_concurrent(void);
static double duration;

static void stress_concurrent(void)
{
	concurrent_ops_keep_data(duration);
}

/* A child doing everything at once, killed at a random moment. */
static void killed_midway_leaks_nothing(void)
{
	unsigned int seed = 7;
	double end = now() + duration / 2;
	int kills = 0, status;

	while (now() < end) {
		pid_t pid = fork();

		if (pid == 0) {
			int fd = open_dev(0);
			char *p = map_anon(512, false);
			struct cohmem_pin pn;

			for (;;) {
				fill(p, 512, 1);
				migrate(fd, p, 512, true, NULL);
				memset(&pn, 0, sizeof(pn));
				pn.addr = (uintptr_t)p;
				pn.len = 512 * page_size;
				pn.mode = 1 + rand_r(&seed) % 5;
				xioctl(fd, COHMEM_IOC_PIN, &pn);
				migrate(fd, p, 512, false, NULL);
			}
		}
		REQUIRE(pid > 0);
		usleep(1000 + rand_r(&seed) % 200000);
		kill(pid, SIGKILL);
		REQUIRE(waitpid(pid, &status, 0) == pid);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		kills++;
		if (CHECK(get_info(dev_fd).used_pages == 0, "kill %d: %llu pages left", kills,
			  (unsigned long long)get_info(dev_fd).used_pages))
			break;
	}
	ktap_diag("%d processes killed mid-operation", kills);
}

int main(int argc, char **argv)
{
	duration = argc > 1 ? atof(argv[1]) : 20;
	test_init(0);
	ktap_plan(2);
	RUN(stress_concurrent);
	RUN(killed_midway_leaks_nothing);
	return ktap_finish();
}
