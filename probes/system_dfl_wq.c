// SPDX-License-Identifier: GPL-2.0
/*
 * system_dfl_wq (6.18 on): the unbound system workqueue's new name; 7.x
 * warns on system_unbound_wq.
 */
#include <linux/workqueue.h>

struct workqueue_struct **cohmem_probe(void);
struct workqueue_struct **cohmem_probe(void)
{
	return &system_dfl_wq;
}
