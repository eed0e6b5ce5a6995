// SPDX-License-Identifier: GPL-2.0
/* migrate_vma can move THP-sized device folios (6.19 on). */
#include <linux/migrate.h>

int cohmem_probe(void);
int cohmem_probe(void)
{
	return MIGRATE_VMA_SELECT_COMPOUND;
}
