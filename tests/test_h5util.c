/* test_h5util.c - h5util.h, the reader of Keras' string-list attributes
 * (layer_names, weight_names, classes), on every form h5py and numpy have
 * written them in: fixed-length NUL-padded strings (one filling its slot,
 * so with no terminator), space-padded ones, variable-length UTF-8, a
 * scalar, an empty float64 array, a list split into name0, name1, ...,
 * plus the refusals (numbers, a 2-d array) and HDF5's own reason; then the
 * smaller helpers: quiet error printing, link lookups along a path, and
 * datasets written in one call. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "hdf5/h5util.h"
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

/* An automatic error handler that counts its calls. */
static int g_printed;

static herr_t count_handler(hid_t stack, void *data)
{
	(void)stack;
	(void)data;
	g_printed++;
	return 0;
}

static void test_quiet(void **state)
{
	(void)state;
	H5E_auto2_t before_func, func;
	void *before_data, *data;
	h5util_quiet_t q, inner;
	char missing[4200], buf[256];

	H5Eget_auto2(H5E_DEFAULT, &before_func, &before_data);
	H5Eset_auto2(H5E_DEFAULT, count_handler, &g_printed);
	g_printed = 0;
	snprintf(missing, sizeof missing, "%s/no-such.h5", tu_tmpdir());

	h5util_quiet(&q);
	H5Eget_auto2(H5E_DEFAULT, &func, &data);
	assert_null(func);
	assert_true(H5Fopen(missing, H5F_ACC_RDONLY, H5P_DEFAULT) < 0);
	assert_int_equal(g_printed, 0);
	/* The stack is still there for h5util_reason. */
	assert_string_equal(h5util_reason(buf, sizeof buf),
			    "No such file or directory");
	/* Nested: the inner unquiet keeps things quiet. */
	h5util_quiet(&inner);
	h5util_unquiet(&inner);
	H5Eget_auto2(H5E_DEFAULT, &func, &data);
	assert_null(func);

	/* unquiet puts back the handler that was there, data and all. */
	h5util_unquiet(&q);
	H5Eget_auto2(H5E_DEFAULT, &func, &data);
	assert_true(func == count_handler);
	assert_ptr_equal(data, &g_printed);
	assert_true(H5Fopen(missing, H5F_ACC_RDONLY, H5P_DEFAULT) < 0);
	assert_true(g_printed > 0);
	H5Eclear2(H5E_DEFAULT);
	H5Eset_auto2(H5E_DEFAULT, before_func, before_data);
}

static void test_link_exists(void **state)
{
	(void)state;
	char path[4200];
	snprintf(path, sizeof path, "%s/links.h5", tu_tmpdir());
	hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
	assert_true(f >= 0 && lcpl >= 0);
	assert_true(H5Pset_create_intermediate_group(lcpl, 1) >= 0);
	hid_t g = H5Gcreate2(f, "fc6/relu", lcpl, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(g >= 0);
	H5Gclose(g);

	assert_int_equal(h5util_link_exists(f, "fc6"), 1);
	assert_int_equal(h5util_link_exists(f, "fc6/relu"), 1);
	assert_int_equal(h5util_link_exists(f, "fc6/relu/"), 1);
	assert_int_equal(h5util_link_exists(f, "fc6/kernel:0"), 0);
	/* H5Lexists alone fails on a missing component before the last. */
	assert_int_equal(h5util_link_exists(f, "fc7/relu"), 0);
	assert_int_equal(h5util_link_exists(f, ""), 0);
	H5Pclose(lcpl);
	H5Fclose(f);
	remove(path);
}

static void test_write_dataset(void **state)
{
	(void)state;
	char path[4200];
	snprintf(path, sizeof path, "%s/data.h5", tu_tmpdir());
	hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
	const float k[6] = {1.5f, -2, 3, 4e-7f, 5, 6};
	const hsize_t kd[2] = {3, 2}, ed[2] = {0, 4};
	float back[6] = {0};
	hsize_t dims[2];

	assert_true(f >= 0 && lcpl >= 0);
	assert_true(H5Pset_create_intermediate_group(lcpl, 1) >= 0);
	/* A 2-d float32 array, at a path inside new groups (as h5py's
	 * dense_1/dense_1/kernel:0). */
	assert_int_equal(h5util_write_dataset(f, "d/d/kernel:0", H5T_IEEE_F32LE,
					      H5T_NATIVE_FLOAT, 2, kd, lcpl,
					      H5P_DEFAULT, k), 0);
	/* An empty shape writes nothing: buf may be NULL. */
	assert_int_equal(h5util_write_dataset(f, "empty", H5T_IEEE_F32LE,
					      H5T_NATIVE_FLOAT, 2, ed,
					      H5P_DEFAULT, H5P_DEFAULT, NULL), 0);
	/* A name that is taken: -1, with HDF5's reason. */
	assert_int_equal(h5util_write_dataset(f, "empty", H5T_IEEE_F32LE,
					      H5T_NATIVE_FLOAT, 2, ed,
					      H5P_DEFAULT, H5P_DEFAULT, NULL), -1);
	char why[256];
	assert_string_not_equal(h5util_reason(why, sizeof why),
				"no detail from HDF5");
	H5Pclose(lcpl);
	H5Fclose(f);

	f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	hid_t d = H5Dopen2(f, "d/d/kernel:0", H5P_DEFAULT);
	hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
	assert_true(d >= 0 && sp >= 0 && t >= 0);
	assert_int_equal(H5Sget_simple_extent_ndims(sp), 2);
	H5Sget_simple_extent_dims(sp, dims, NULL);
	assert_int_equal(dims[0], 3);
	assert_int_equal(dims[1], 2);
	assert_true(H5Tequal(t, H5T_IEEE_F32LE) > 0);
	assert_true(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
			    back) >= 0);
	assert_memory_equal(back, k, sizeof k);
	H5Tclose(t), H5Sclose(sp), H5Dclose(d);

	d = H5Dopen2(f, "empty", H5P_DEFAULT);
	sp = H5Dget_space(d);
	assert_true(d >= 0 && sp >= 0);
	assert_int_equal(H5Sget_simple_extent_npoints(sp), 0);
	H5Sget_simple_extent_dims(sp, dims, NULL);
	assert_int_equal(dims[0], 0);
	assert_int_equal(dims[1], 4);
	H5Sclose(sp), H5Dclose(d);
	H5Fclose(f);
	remove(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_absent),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_strlist),
		cmocka_unit_test(test_quiet),
		cmocka_unit_test(test_link_exists),
		cmocka_unit_test(test_write_dataset),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
