/* test_h5util.c - h5util.h, the reader of Keras' string-list attributes
 * (layer_names, weight_names, classes), on every form h5py and numpy have
 * written them in: fixed-length NUL-padded strings (one filling its slot,
 * so with no terminator), space-padded ones, variable-length UTF-8, a
 * scalar, an empty float64 array, a list split into name0, name1, ...,
 * plus the refusals (numbers, a 2-d array) and HDF5's own reason. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "h5util.h"
#include "testutil.h"

static char g_path[4096];

/* A fixed-length string attribute of n strings of size bytes each (the
 * bytes as given: padding and all) with the given padding rule. */
static void put_fixed(hid_t obj, const char *name, const char *bytes,
		      size_t size, hsize_t n, H5T_str_t pad)
{
	hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(1, &n, NULL);
	assert_true(H5Tset_size(t, size) >= 0 && H5Tset_strpad(t, pad) >= 0);
	hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(a >= 0 && H5Awrite(a, t, bytes) >= 0);
	H5Aclose(a);
	H5Sclose(sp);
	H5Tclose(t);
}

static void put_vlen(hid_t obj, const char *name, const char **v, hsize_t n)
{
	hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(1, &n, NULL);
	assert_true(H5Tset_size(t, H5T_VARIABLE) >= 0 &&
		    H5Tset_cset(t, H5T_CSET_UTF8) >= 0);
	hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(a >= 0 && H5Awrite(a, t, v) >= 0);
	H5Aclose(a);
	H5Sclose(sp);
	H5Tclose(t);
}

static void put_numbers(hid_t obj, const char *name, const hsize_t *dims,
			int rank, hid_t type, const void *data)
{
	hid_t sp = H5Screate_simple(rank, dims, NULL);
	hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(a >= 0);
	if (data)
		assert_true(H5Awrite(a, type, data) >= 0);
	H5Aclose(a);
	H5Sclose(sp);
}

static int setup(void **state)
{
	(void)state;
	snprintf(g_path, sizeof g_path, "%s/lists.h5", tu_tmpdir());
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the test reads the reasons */
	hid_t f = H5Fcreate(g_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(f >= 0);

	/* numpy's 'S5': NUL-padded, "block" fills its slot. */
	put_fixed(f, "nulpad", "fc1\0\0block" "x\0\0\0\0", 5, 3, H5T_STR_NULLPAD);
	put_fixed(f, "nullterm", "ab\0\0cde\0", 4, 2, H5T_STR_NULLTERM);
	put_fixed(f, "spacepad", "fc1  fc2  pred ", 5, 3, H5T_STR_SPACEPAD);
	const char *v[] = {"conv1", "Zoë", ""};
	put_vlen(f, "vlen", v, 3);
	/* A scalar counts as a list of one. */
	assert_int_equal(h5util_attr_write_text(f, "scalar", "block1_conv1"), 0);
	/* np.asarray([]): float64, no elements. */
	hsize_t zero = 0;
	put_numbers(f, "empty", &zero, 1, H5T_NATIVE_DOUBLE, NULL);
	/* A list that outgrew the object header: weight_names0, 1, 2. */
	put_fixed(f, "chunked0", "a\0b\0", 2, 2, H5T_STR_NULLPAD);
	put_fixed(f, "chunked1", "c\0", 2, 1, H5T_STR_NULLPAD);
	const char *last[] = {"d"};
	put_vlen(f, "chunked2", last, 1);

	hsize_t three = 3, two_by_two[2] = {2, 2};
	int ints[4] = {1, 2, 3, 4};
	put_numbers(f, "ints", &three, 1, H5T_NATIVE_INT, ints);
	/* A 2 x 2 array of strings is not a list. */
	hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(2, two_by_two, NULL);
	H5Tset_size(t, 2);
	hid_t a = H5Acreate2(f, "square", t, sp, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(a >= 0 && H5Awrite(a, t, "abcdefgh") >= 0);
	H5Aclose(a);
	H5Sclose(sp);
	H5Tclose(t);
	H5Fclose(f);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	remove(g_path);
	return 0;
}

/* Reads name from the test file: rc, and the list joined by '|' in got. */
static int read_list(const char *name, char *got, size_t len, int *found,
		     char *err)
{
	hid_t f = H5Fopen(g_path, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(f >= 0);
	h5util_strlist_t l = {0};
	int rc = h5util_attr_strings(f, name, &l, found, "lists.h5", err);
	got[0] = 0;
	for (size_t i = 0; i < l.n; i++)
		snprintf(got + strlen(got), len - strlen(got), "%s%s",
			 i ? "|" : "", l.v[i]);
	if (rc == 0)
		snprintf(got + strlen(got), len - strlen(got), " (%zu)", l.n);
	h5util_strlist_free(&l);
	assert_null(l.v);
	H5Fclose(f);
	return rc;
}

static void test_lists(void **state)
{
	(void)state;
	static const struct { const char *name, *want; } cases[] = {
		{"nulpad", "fc1|block|x (3)"},
		{"nullterm", "ab|cde (2)"},
		{"spacepad", "fc1|fc2|pred (3)"},
		{"vlen", "conv1|Zo\xc3\xab| (3)"},
		{"scalar", "block1_conv1 (1)"},
		{"empty", " (0)"},
		{"chunked", "a|b|c|d (4)"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char got[256], err[ERR_LEN];
		int found = -1;
		assert_int_equal(read_list(cases[i].name, got, sizeof got,
					   &found, err), 0);
		assert_int_equal(found, 1);
		assert_string_equal(got, cases[i].want);
	}
}

static void test_absent(void **state)
{
	(void)state;
	char got[256], err[ERR_LEN];
	int found = -1;
	assert_int_equal(read_list("classes", got, sizeof got, &found, err), 0);
	assert_int_equal(found, 0);
	assert_string_equal(got, " (0)");
}

static void test_refusals(void **state)
{
	(void)state;
	char got[256], err[ERR_LEN];
	int found;
	assert_int_equal(read_list("ints", got, sizeof got, &found, err),
			 ERR_FORMAT);
	assert_non_null(strstr(err, "lists.h5: attribute ints is not a list of strings"));
	assert_int_equal(read_list("square", got, sizeof got, &found, err),
			 ERR_FORMAT);
	assert_non_null(strstr(err, "attribute square has 2 dimensions"));
}

static void test_reason(void **state)
{
	(void)state;
	char buf[256];
	H5Eclear2(H5E_DEFAULT);
	assert_string_equal(h5util_reason(buf, sizeof buf), "no detail from HDF5");

	/* A missing file: the system call's own text, not HDF5's wrapper. */
	char missing[4200];
	snprintf(missing, sizeof missing, "%s/no-such.h5", tu_tmpdir());
	assert_true(H5Fopen(missing, H5F_ACC_RDONLY, H5P_DEFAULT) < 0);
	assert_string_equal(h5util_reason(buf, sizeof buf),
			    "No such file or directory");
	/* The stack was cleared. */
	assert_string_equal(h5util_reason(buf, sizeof buf), "no detail from HDF5");

	/* A short buffer is cut, not overrun. */
	char small[8 + 4];
	memset(small, 'x', sizeof small);
	assert_true(H5Fopen(missing, H5F_ACC_RDONLY, H5P_DEFAULT) < 0);
	h5util_reason(small, 8);
	assert_int_equal(strlen(small), 7);
	assert_int_equal(small[8], 'x');
}

static void test_strlist(void **state)
{
	(void)state;
	h5util_strlist_t l = {0};
	char s[16];
	for (int i = 0; i < 1000; i++) {
		int len = snprintf(s, sizeof s, "name%dtail", i);
		/* Only the first len - 4 bytes: the copy stops there. */
		assert_int_equal(h5util_strlist_push(&l, s, (size_t)len - 4), 0);
	}
	assert_int_equal(l.n, 1000);
	assert_string_equal(l.v[0], "name0");
	assert_string_equal(l.v[999], "name999");
	assert_int_equal(h5util_strlist_push(&l, s, SIZE_MAX), -1);
	assert_int_equal(l.n, 1000);
	h5util_strlist_free(&l);
	assert_int_equal(l.n, 0);
	h5util_strlist_free(&l); /* twice is harmless */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_absent),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_strlist),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
