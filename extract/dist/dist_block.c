/* dist_block.c - how one to-do list divides among the ranks (dist.h): one
 * rule for the MPI and the one-process builds, and for tests/test_dist.c. */
#include "dist.h"

void dist_block(size_t n, int rank, int size, size_t *first, size_t *count)
{
	size_t q = n / (size_t)size, r = n % (size_t)size, k = (size_t)rank;

	*first = k * q + (k < r ? k : r);
	*count = q + (k < r);
}
