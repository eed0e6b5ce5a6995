// SPDX-License-Identifier: GPL-2.0
/* dev_pagemap_ops.folio_split (6.19 on): the device hears of huge folio splits. */
#include <linux/memremap.h>

void cohmem_probe(struct folio *head, struct folio *tail);
void cohmem_probe(struct folio *head, struct folio *tail)
{
}

const struct dev_pagemap_ops cohmem_probe_ops = { .folio_split = cohmem_probe };
