// SPDX-License-Identifier: GPL-2.0
/* zone_device_page_init(page, pgmap, order) (7.0 on). */
#include <linux/memremap.h>

void cohmem_probe(struct page *page, struct dev_pagemap *pgmap);
void cohmem_probe(struct page *page, struct dev_pagemap *pgmap)
{
	zone_device_page_init(page, pgmap, 0);
}
