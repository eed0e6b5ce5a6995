/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The ABI of the kernel's debugfs gup_test, which the kernel's mm selftests
 * (hmm-tests, gup_longterm, cow, the gup_test tool) drive: the layouts and
 * command numbers they pass to /sys/kernel/debug/gup_test, written down for
 * guptest.c. The kernel keeps its own copy in mm/, in no headers package.
 * Names are cohmem's; each command's upstream name is beside it.
 */
#ifndef COHMEM_GUPTEST_H
#define COHMEM_GUPTEST_H

#include <linux/build_bug.h>
#include <linux/ioctl.h>
#include <linux/stddef.h>
#include <linux/types.h>

/* Pages one DUMP_USER_PAGES_TEST can name. */
#define COHMEM_GUPT_NDUMP		8
/* test_flags: DUMP_USER_PAGES_TEST pins (FOLL_PIN) rather than gets. */
#define COHMEM_GUPT_DUMP_USE_PIN	0x1

/* Commands 1 to 6: one walk over a range, getting or pinning and releasing. */
struct cohmem_gupt_walk {
	__u64 get_usec;		/* out: microseconds spent in GUP */
	__u64 put_usec;		/* out: microseconds spent releasing */
	__u64 addr;		/* in */
	__u64 size;		/* in: bytes; out: bytes walked before a stop */
	__u32 per_call;		/* in: pages asked of one GUP call */
	__u32 gup_flags;	/* in: FOLL_* bits, the running kernel's values */
	__u32 test_flags;	/* in: COHMEM_GUPT_DUMP_USE_PIN */
	/*
	 * in: DUMP_USER_PAGES_TEST's pages, numbered from 1 (0: none);
	 * out: the numbers beyond the pages walked set to 0
	 */
	__u32 dump[COHMEM_GUPT_NDUMP];
};

/* PIN_LONGTERM_TEST_START flags */
#define COHMEM_GUPT_START_WRITE		0x1	/* FOLL_WRITE */
#define COHMEM_GUPT_START_FAST		0x2	/* pin_user_pages_fast() */

/* PIN_LONGTERM_TEST_START: pin [addr, addr + size) long-term until STOP. */
struct cohmem_gupt_start {
	__u64 addr;
	__u64 size;
	__u32 flags;		/* COHMEM_GUPT_START_* */
};

#define COHMEM_GUPT_MAGIC	'g'

/* upstream name: GUP_FAST_BENCHMARK */
#define COHMEM_GUPT_GET_FAST	_IOWR(COHMEM_GUPT_MAGIC, 1, struct cohmem_gupt_walk)
/* PIN_FAST_BENCHMARK */
#define COHMEM_GUPT_PIN_FAST	_IOWR(COHMEM_GUPT_MAGIC, 2, struct cohmem_gupt_walk)
/* PIN_LONGTERM_BENCHMARK */
#define COHMEM_GUPT_PIN_LONGTERM _IOWR(COHMEM_GUPT_MAGIC, 3, struct cohmem_gupt_walk)
/* GUP_BASIC_TEST */
#define COHMEM_GUPT_GET		_IOWR(COHMEM_GUPT_MAGIC, 4, struct cohmem_gupt_walk)
/* PIN_BASIC_TEST */
#define COHMEM_GUPT_PIN		_IOWR(COHMEM_GUPT_MAGIC, 5, struct cohmem_gupt_walk)
/* DUMP_USER_PAGES_TEST */
#define COHMEM_GUPT_DUMP	_IOWR(COHMEM_GUPT_MAGIC, 6, struct cohmem_gupt_walk)
/* PIN_LONGTERM_TEST_START, STOP and READ (6.2 on) */
#define COHMEM_GUPT_START	_IOW(COHMEM_GUPT_MAGIC, 7, struct cohmem_gupt_start)
#define COHMEM_GUPT_STOP	_IO(COHMEM_GUPT_MAGIC, 8)
#define COHMEM_GUPT_READ	_IOW(COHMEM_GUPT_MAGIC, 9, __u64)

/* Byte for byte what userspace built from the kernel's source passes. */
static_assert(sizeof(struct cohmem_gupt_walk) == 80);
static_assert(offsetof(struct cohmem_gupt_walk, per_call) == 32);
static_assert(offsetof(struct cohmem_gupt_walk, dump) == 44);
static_assert(sizeof(struct cohmem_gupt_start) == 24);
static_assert(offsetof(struct cohmem_gupt_start, flags) == 16);
static_assert(COHMEM_GUPT_GET_FAST == 0xc0506701);
static_assert(COHMEM_GUPT_PIN_FAST == 0xc0506702);
static_assert(COHMEM_GUPT_PIN_LONGTERM == 0xc0506703);
static_assert(COHMEM_GUPT_GET == 0xc0506704);
static_assert(COHMEM_GUPT_PIN == 0xc0506705);
static_assert(COHMEM_GUPT_DUMP == 0xc0506706);
static_assert(COHMEM_GUPT_START == 0x40186707);
static_assert(COHMEM_GUPT_STOP == 0x6708);
static_assert(COHMEM_GUPT_READ == 0x40086709);

#endif /* COHMEM_GUPTEST_H */
