// SPDX-License-Identifier: GPL-2.0
/*
 * cohmem-hold: keep data on the device while the module is unloaded.
 *
 * Migrates a buffer to /dev/cohmem0 (and one to /dev/cohmem1 if there is
 * one), and vmsplices a few more device pages of cohmem0 into a pipe and
 * unmaps them, so that only the pipe holds them. Closes the device, prints
 * "ready ... pipe_device_pages=K" (K: how many of those are device pages;
 * device-private ones are faulted back by vmsplice) and waits for a line on
 * stdin, then reads the pipe, checks its data, closes it and prints
 * "pipe-done"; then waits for a second line (device-private pages are left
 * alone meanwhile: a touch would fault them back) and checks, as KTAP, that
 * every byte survived and that no page is left inside the old device
 * ranges (the unload evicted them to system RAM).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib.h"

#define N 2048	/* 8 MiB per device */
#define P 4	/* pages the pipe holds */

int main(void)
{
	struct cohmem_info info[2];
	char *buf[2] = { NULL, NULL };
	int ndev = 0, i, pfd[2] = { -1, -1 }, k = 0;
	char line[16], *pbuf;
	long pipe_bad;
	size_t got = 0;
	ssize_t r;

	page_size = sysconf(_SC_PAGESIZE);
	for (i = 0; i < 2; i++) {
		struct cohmem_migrate m;
		char path[32];
		int fd;

		snprintf(path, sizeof(path), "/dev/cohmem%d", i);
		fd = open(path, O_RDWR);
		if (fd < 0)
			break;
		info[i] = get_info(fd);
		buf[i] = map_anon(N, false);
		fill(buf[i], N, 100 + i);
		if (migrate(fd, buf[i], N, true, &m) || m.moved != N ||
		    count_not_state(fd, buf[i], N, COHMEM_STATE_DEVICE) != 0 ||
		    count_pfn_in_dev(&info[i], buf[i], N) !=
		    (info[i].type == COHMEM_TYPE_PRIVATE ? 0 : N)) {
			printf("Bail out! cohmem%d: moved %llu of %d\n", i,
			       (unsigned long long)m.moved, N);
			return 1;
		}
		if (i == 0) {
			char *p = map_anon(P, false);
			struct iovec iov = { .iov_base = p, .iov_len = P * page_size };

			fill(p, P, 200);
			if (pipe(pfd) || migrate(fd, p, P, true, &m) || m.moved != P ||
			    vmsplice(pfd[1], &iov, 1, 0) != P * (ssize_t)page_size) {
				printf("Bail out! the pipe's pages\n");
				return 1;
			}
			k = P - count_not_state(fd, p, P, COHMEM_STATE_DEVICE);
			munmap(p, P * page_size);
		}
		close(fd);
		ndev++;
	}
	fprintf(stderr, "ready: %d devices, %d pages each, pipe_device_pages=%d\n",
		ndev, N, k);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	pbuf = map_anon(P, false);
	while (got < P * page_size &&
	       (r = read(pfd[0], pbuf + got, P * page_size - got)) > 0)
		got += r;
	pipe_bad = got == P * page_size ? verify(pbuf, P, 200) : P;
	close(pfd[0]);
	close(pfd[1]);
	fprintf(stderr, "pipe-done\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;

	ktap_plan(2 * ndev + 1);
	if (pipe_bad == -1)
		ktap_result(true, "pipe_keeps_data", NULL);
	else
		ktap_result(false, "pipe_keeps_data", "page %ld differs", pipe_bad);
	for (i = 0; i < ndev; i++) {
		char name[64];
		/* Present before anything reads them (which would fault). */
		long present = 0, j, bad, in;

		for (j = 0; j < N; j++)
			present += pagemap_pfn(buf[i] + j * page_size) != 0;
		bad = verify(buf[i], N, 100 + i);
		in = count_pfn_in_dev(&info[i], buf[i], N);

		snprintf(name, sizeof(name), "unload_keeps_data_cohmem%d", i);
		if (bad == -1)
			ktap_result(true, name, NULL);
		else
			ktap_result(false, name, "page %ld differs", bad);
		snprintf(name, sizeof(name), "unload_evicted_to_system_cohmem%d", i);
		if (!in && present == N)
			ktap_result(true, name, NULL);
		else
			ktap_result(false, name, "%ld pages still in the range, %ld of %d present",
				    in, present, N);
	}
	return ktap_finish();
}
