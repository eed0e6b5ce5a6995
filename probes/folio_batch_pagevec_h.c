// SPDX-License-Identifier: GPL-2.0
/* __folio_batch_release() in <linux/pagevec.h> (6.4 to 6.x). */
#include <linux/pagevec.h>

void cohmem_probe(struct folio_batch *fb);
void cohmem_probe(struct folio_batch *fb)
{
	__folio_batch_release(fb);
}
