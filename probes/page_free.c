// SPDX-License-Identifier: GPL-2.0
/* dev_pagemap_ops.page_free (before 6.19). */
#include <linux/memremap.h>

void cohmem_probe(struct page *page);
void cohmem_probe(struct page *page)
{
}

const struct dev_pagemap_ops cohmem_probe_ops = { .page_free = cohmem_probe };
