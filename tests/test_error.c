/* test_error.c - error.h: err_set's text and code (truncated, never
 * overrun, NULL allowed), err_name for every code, and the checked size
 * products against 128-bit arithmetic at the edges of size_t. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "error.h"

static void test_err_set(void **state)
{
	(void)state;
	char err[ERR_LEN + 16];
	memset(err, 'x', sizeof err);
	assert_int_equal(err_set(err, ERR_IO, "cannot open %s: %d", "a.jpg", 2), ERR_IO);
	assert_string_equal(err, "cannot open a.jpg: 2");
	assert_int_equal(err_set(NULL, ERR_FORMAT, "nowhere %d", 1), ERR_FORMAT);

	/* A reason longer than the buffer is cut at ERR_LEN - 1 bytes and
	 * terminated; the bytes after the buffer stay as they were. */
	char long_name[2 * ERR_LEN];
	memset(long_name, 'n', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = 0;
	memset(err, 'x', sizeof err);
	err_set(err, ERR_ARG, "%s", long_name);
	assert_int_equal(strlen(err), ERR_LEN - 1);
	for (size_t i = ERR_LEN; i < sizeof err; i++)
		assert_int_equal(err[i], 'x');
}

static void test_err_name(void **state)
{
	(void)state;
	static const struct { int code; const char *name; } names[] = {
		{ERR_OK, "ok"}, {ERR_IO, "io"}, {ERR_FORMAT, "format"},
		{ERR_NOMEM, "nomem"}, {ERR_SHAPE, "shape"},
		{ERR_TOO_BIG, "too-big"}, {ERR_UNSUPPORTED, "unsupported"},
		{ERR_ARG, "arg"}, {ERR_MISSING, "missing"},
		{ERR_MISMATCH, "mismatch"},
	};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		assert_string_equal(err_name(names[i].code), names[i].name);
	assert_string_equal(err_name(-100), "unknown");
	assert_string_equal(err_name(1), "unknown");
}

static void test_checked_products(void **state)
{
	(void)state;
	static const size_t v[] = {
		0, 1, 2, 3, 4096, 65535, 65536, (size_t)1 << 31, (size_t)1 << 32,
		SIZE_MAX / 2, SIZE_MAX / 2 + 1, SIZE_MAX / 3, SIZE_MAX - 1, SIZE_MAX,
	};
	const size_t n = sizeof v / sizeof *v;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			unsigned __int128 p = (unsigned __int128)v[i] * v[j];
			size_t out = 7;
			int r = err_mul_size(v[i], v[j], &out);
			if (p > SIZE_MAX) {
				assert_int_equal(r, -1);
				assert_int_equal(out, 7); /* untouched on overflow */
			} else {
				assert_int_equal(r, 0);
				assert_true(out == (size_t)p);
			}
			for (size_t k = 0; k < n; k++) {
				unsigned __int128 ab = (unsigned __int128)v[i] * v[j];
				int over = ab > SIZE_MAX ||
					   (v[k] != 0 && ab > SIZE_MAX / v[k]);
				/* a*b overflowing with c = 0 still fails: the
				 * product is computed in that order. */
				r = err_mul3_size(v[i], v[j], v[k], &out);
				if (over) {
					assert_int_equal(r, -1);
				} else {
					assert_int_equal(r, 0);
					assert_true(out == (size_t)(ab * v[k]));
				}
			}
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_set),
		cmocka_unit_test(test_err_name),
		cmocka_unit_test(test_checked_products),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
