/* test_classes.c - the class-name lists (classes.h): the union of two lists
 * in Keras' order, each name once, whatever the inputs' order; the map of
 * one list into another; list equality.  (Keras' order itself, name
 * against name, is checked in test_dataset.c.) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "dataset/classes.h"
#include "error.h"

static void free_list(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void expect_list(char **got, int ngot, const char *const *want, int nwant)
{
	assert_int_equal(ngot, nwant);
	for (int i = 0; i < nwant; i++)
		assert_string_equal(got[i], want[i]);
	assert_null(got[ngot]);
}

static void test_union(void **state)
{
	(void)state;
	char *store[] = {"ann", "carl"};
	char *folder[] = {"bob", "carl", "dora"};
	/* U+00E9 (2 bytes) before U+E000 (3 bytes); 0xFF, not UTF-8, is
	 * U+DCFF in Python, between them: not the order of the bytes. */
	char *odd[] = {"\xee\x80\x80", "caf\xc3\xa9", "\xff"};
	static const char *const merged[] = {"ann", "bob", "carl", "dora"};
	static const char *const odd_sorted[] = {"caf\xc3\xa9", "\xff", "\xee\x80\x80"};
	char err[ERR_LEN], **u;
	int n;

	assert_int_equal(classes_union(store, 2, folder, 3, &u, &n, err), 0);
	expect_list(u, n, merged, 4);
	free_list(u, n);
	/* Either side may be empty, or both. */
	assert_int_equal(classes_union(NULL, 0, folder, 3, &u, &n, err), 0);
	expect_list(u, n, merged + 1, 3);
	free_list(u, n);
	assert_int_equal(classes_union(store, 2, NULL, 0, &u, &n, err), 0);
	expect_list(u, n, (const char *const[]){"ann", "carl"}, 2);
	free_list(u, n);
	assert_int_equal(classes_union(NULL, 0, NULL, 0, &u, &n, err), 0);
	expect_list(u, n, NULL, 0);
	free_list(u, n);
	/* Lists out of order (a store written in byte order) and a name twice
	 * in one list still give one sorted list. */
	assert_int_equal(classes_union(odd, 3, odd, 1, &u, &n, err), 0);
	expect_list(u, n, odd_sorted, 3);
	free_list(u, n);
	/* The copies are the caller's: the inputs may go. */
	char *mine[] = {strdup("zoe")};
	assert_int_equal(classes_union(mine, 1, store, 2, &u, &n, err), 0);
	free(mine[0]);
	expect_list(u, n, (const char *const[]){"ann", "carl", "zoe"}, 3);
	free_list(u, n);
}

static void test_union_too_big(void **state)
{
	(void)state;
	char *one[] = {"ann"}, err[ERR_LEN], **u = (char **)one;
	int n = 7;

	/* Refused before either list is read. */
	assert_int_equal(classes_union(NULL, INT_MAX, one, 1, &u, &n, err), ERR_TOO_BIG);
	assert_null(u);
	assert_int_equal(n, 0);
	assert_non_null(strstr(err, "more than"));
}

static void test_map(void **state)
{
	(void)state;
	char *all[] = {"ann", "bob", "carl", "dora", "eve"};
	char *some[] = {"eve", "ann", "carl"};
	char *stranger[] = {"bob", "fred", "ann"};
	char err[ERR_LEN];
	int map[3];

	assert_int_equal(classes_map(some, 3, all, 5, map, err), 0);
	assert_int_equal(map[0], 4);
	assert_int_equal(map[1], 0);
	assert_int_equal(map[2], 2);
	assert_int_equal(classes_map(stranger, 3, all, 5, map, err), ERR_MISSING);
	assert_int_equal(map[0], 1);
	assert_int_equal(map[1], -1);
	assert_int_equal(map[2], 0);
	assert_non_null(strstr(err, "'fred'"));
	/* Into an empty list nothing is found; an empty list maps to nothing. */
	assert_int_equal(classes_map(some, 1, NULL, 0, map, err), ERR_MISSING);
	assert_int_equal(map[0], -1);
	assert_int_equal(classes_map(NULL, 0, all, 5, map, NULL), 0);
	/* A union's own names map onto it one to one. */
	char **u;
	int n;
	assert_int_equal(classes_union(some, 3, stranger, 3, &u, &n, err), 0);
	int back[5];
	assert_int_equal(classes_map(u, n, u, n, back, err), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(back[i], i);
	free_list(u, n);
}

static void test_equal(void **state)
{
	(void)state;
	char *a[] = {"ann", "bob"}, *b[] = {"ann", "bob"}, *c[] = {"ann", "bobby"};
	char *d[] = {"bob", "ann"};

	assert_int_equal(classes_equal(a, 2, b, 2), 1);
	assert_int_equal(classes_equal(a, 2, c, 2), 0);
	assert_int_equal(classes_equal(a, 2, d, 2), 0);
	assert_int_equal(classes_equal(a, 2, b, 1), 0);
	assert_int_equal(classes_equal(a, 1, b, 1), 1);
	assert_int_equal(classes_equal(NULL, 0, NULL, 0), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_union),
		cmocka_unit_test(test_union_too_big),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
