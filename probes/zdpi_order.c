// SPDX-License-Identifier: GPL-2.0
/* zone_device_page_init(page, order) (6.19). */
#include <linux/memremap.h>

void cohmem_probe(struct page *page);
void cohmem_probe(struct page *page)
{
	zone_device_page_init(page, 0);
}
