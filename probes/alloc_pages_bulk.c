// SPDX-License-Identifier: GPL-2.0
/* alloc_pages_bulk(gfp, nr, pages) filling an array (6.14 on). */
#include <linux/gfp.h>

unsigned long cohmem_probe(struct page **pages);
unsigned long cohmem_probe(struct page **pages)
{
	return alloc_pages_bulk(GFP_KERNEL, 1, pages);
}
