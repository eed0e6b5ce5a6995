// SPDX-License-Identifier: GPL-2.0
/* get_user_pages() with a trailing vmas argument (before 6.5). */
#include <linux/mm.h>

long cohmem_probe(struct page **pages);
long cohmem_probe(struct page **pages)
{
	return get_user_pages(0, 1, 0, pages, NULL);
}
