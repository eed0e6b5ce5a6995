// SPDX-License-Identifier: GPL-2.0
/* __folio_batch_release() in <linux/folio_batch.h> (7.x). */
#include <linux/folio_batch.h>

void cohmem_probe(struct folio_batch *fb);
void cohmem_probe(struct folio_batch *fb)
{
	__folio_batch_release(fb);
}
