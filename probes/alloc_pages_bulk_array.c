// SPDX-License-Identifier: GPL-2.0
/* alloc_pages_bulk_array(gfp, nr, pages) (before 6.14). */
#include <linux/gfp.h>

unsigned long cohmem_probe(struct page **pages);
unsigned long cohmem_probe(struct page **pages)
{
	return alloc_pages_bulk_array(GFP_KERNEL, 1, pages);
}
