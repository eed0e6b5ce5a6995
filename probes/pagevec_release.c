// SPDX-License-Identifier: GPL-2.0
/* __pagevec_release() (up to 6.3). */
#include <linux/pagevec.h>

void cohmem_probe(struct pagevec *pv);
void cohmem_probe(struct pagevec *pv)
{
	__pagevec_release(pv);
}
