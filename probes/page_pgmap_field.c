// SPDX-License-Identifier: GPL-2.0
/* struct page has a pgmap member for ZONE_DEVICE pages. */
#include <linux/mm.h>
#include <linux/memremap.h>

struct dev_pagemap *cohmem_probe(struct page *page);
struct dev_pagemap *cohmem_probe(struct page *page)
{
	return page->pgmap;
}
