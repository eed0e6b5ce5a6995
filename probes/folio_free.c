// SPDX-License-Identifier: GPL-2.0
/* dev_pagemap_ops.folio_free (6.19 on) replaced page_free. */
#include <linux/memremap.h>

void cohmem_probe(struct folio *folio);
void cohmem_probe(struct folio *folio)
{
}

const struct dev_pagemap_ops cohmem_probe_ops = { .folio_free = cohmem_probe };
