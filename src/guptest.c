// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs gup_test (upstream_abi=1): not there yet.
 */
#include "cohmem.h"

int cohmem_gup_test_init(void)
{
	return 0;
}

void cohmem_gup_test_exit(void)
{
}
