/* test_dist.c - dist_block, the division of one to-do list among the MPI
 * ranks: against a plain reference (deal the items one by one to the rank
 * whose block is furthest from its share), for every list of up to 200 items
 * over 1 to 17 ranks and for lists too long to count. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "dist.h"

/* The reference: block sizes by dealing n items round-robin (rank k gets
 * one more than rank k+1 at most, the first n % size ranks the extra), then
 * consecutive blocks in rank order. */
static void reference(size_t n, int size, size_t *first, size_t *count)
{
	for (int k = 0; k < size; k++)
		count[k] = 0;
	for (size_t i = 0; i < n; i++)
		count[i % (size_t)size]++;
	size_t at = 0;
	for (int k = 0; k < size; k++) {
		first[k] = at;
		at += count[k];
	}
}

static void test_small_lists(void **state)
{
	(void)state;
	for (int size = 1; size <= 17; size++)
		for (size_t n = 0; n <= 200; n++) {
			size_t rf[17], rc[17], covered = 0;
			reference(n, size, rf, rc);
			for (int k = 0; k < size; k++) {
				size_t first = 999, count = 999;
				dist_block(n, k, size, &first, &count);
				assert_int_equal(first, rf[k]);
				assert_int_equal(count, rc[k]);
				/* Consecutive, in rank order, nothing twice. */
				assert_int_equal(first, covered);
				covered += count;
			}
			assert_int_equal(covered, n);
		}
}

/* Lists near SIZE_MAX: no product or sum may overflow. */
static void test_huge_lists(void **state)
{
	(void)state;
	static const int sizes[] = {1, 2, 3, 7, 64, 1000};
	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		size_t n = SIZE_MAX - 5, covered = 0, lo = SIZE_MAX, hi = 0;
		for (int k = 0; k < sizes[s]; k++) {
			size_t first, count;
			dist_block(n, k, sizes[s], &first, &count);
			assert_int_equal(first, covered);
			covered += count;
			lo = count < lo ? count : lo;
			hi = count > hi ? count : hi;
		}
		assert_int_equal(covered, n);
		assert_true(hi - lo <= 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_lists),
		cmocka_unit_test(test_huge_lists),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
