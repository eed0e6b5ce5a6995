// SPDX-License-Identifier: GPL-2.0
/* Must build on every kernel: if not, the probe flags are wrong. */
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>

int cohmem_probe(void);
int cohmem_probe(void)
{
	return MEMORY_DEVICE_COHERENT + MIGRATE_VMA_SELECT_DEVICE_COHERENT;
}
