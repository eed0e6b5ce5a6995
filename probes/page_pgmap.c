// SPDX-License-Identifier: GPL-2.0
/* page_pgmap() (6.15 on), rather than reading page->pgmap. */
#include <linux/mm.h>
#include <linux/memremap.h>

struct dev_pagemap *cohmem_probe(struct page *page);
struct dev_pagemap *cohmem_probe(struct page *page)
{
	return page_pgmap(page);
}
