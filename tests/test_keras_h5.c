/* test_keras_h5.c - keras_h5.h, the walk over a Keras weights file's
 * layer_names and weight_names, on small hand-made files: the layers
 * without weights (an empty list, an empty float64 array, no attribute at
 * all, a nested group) are skipped as Keras skips them, the limit, the
 * /model_weights of model.save, and the refusals (a listed layer without
 * its group, no layer_names). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "hdf5/keras_h5.h"
#include "testutil.h"

/* A list attribute of n variable-length strings, as newer h5py writes. */
static void put_list(hid_t obj, const char *name, const char *const *v,
		     hsize_t n)
{
	hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(1, &n, NULL);
	assert_true(H5Tset_size(t, H5T_VARIABLE) >= 0);
	hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(a >= 0);
	if (n)
		assert_true(H5Awrite(a, t, v) >= 0);
	H5Aclose(a);
	H5Sclose(sp);
	H5Tclose(t);
}

/* np.asarray([]) as h5py stores it: float64, no elements. */
static void put_empty_f64(hid_t obj, const char *name)
{
	hsize_t zero = 0;
	hid_t sp = H5Screate_simple(1, &zero, NULL);
	hid_t a = H5Acreate2(obj, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT,
			     H5P_DEFAULT);
	assert_true(a >= 0);
	H5Aclose(a);
	H5Sclose(sp);
}

/* How a layer's group carries (or lacks) weight_names. */
enum { WN_TWO, WN_EMPTY, WN_F64, WN_ABSENT, WN_NO_GROUP };

typedef struct layer {
	const char *name;
	int wn;
} layer_t;

/* make_file writes layer_names = the n layers' names under the root, or
 * under /model_weights when model_save is set (no layer_names at all
 * when n is negative), and a group per layer as wn says. */
static void make_file(const char *path, const layer_t *l, int n,
		      int model_save)
{
	hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	hid_t top = f, lcpl = H5Pcreate(H5P_LINK_CREATE);
	const char *names[16];

	assert_true(f >= 0 && lcpl >= 0 && n <= 16);
	assert_true(H5Pset_create_intermediate_group(lcpl, 1) >= 0);
	if (model_save)
		assert_true((top = H5Gcreate2(f, "model_weights", H5P_DEFAULT,
					      H5P_DEFAULT, H5P_DEFAULT)) >= 0);
	for (int i = 0; i < n; i++)
		names[i] = l[i].name;
	if (n >= 0)
		put_list(top, "layer_names", names, (hsize_t)n);
	for (int i = 0; i < n; i++) {
		char k[64], b[64];
		const char *wn[2] = {k, b};
		hid_t g;

		if (l[i].wn == WN_NO_GROUP)
			continue;
		assert_true((g = H5Gcreate2(top, l[i].name, lcpl, H5P_DEFAULT,
					    H5P_DEFAULT)) >= 0);
		snprintf(k, sizeof k, "%s/kernel:0", l[i].name);
		snprintf(b, sizeof b, "%s/bias:0", l[i].name);
		if (l[i].wn == WN_TWO)
			put_list(g, "weight_names", wn, 2);
		else if (l[i].wn == WN_EMPTY)
			put_list(g, "weight_names", NULL, 0);
		else if (l[i].wn == WN_F64)
			put_empty_f64(g, "weight_names");
		H5Gclose(g);
	}
	if (model_save)
		H5Gclose(top);
	H5Pclose(lcpl);
	H5Fclose(f);
}

/* walk opens path and walks it with limit: the return code, and in got
 * the layers found, "name=weight|weight;..." */
static int walk(const char *path, size_t limit, char *got, size_t len,
		char *err)
{
	hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), root;
	keras_h5_layers_t l = {0};
	int rc;

	assert_true(f >= 0);
	got[0] = '\0';
	if (!(rc = keras_h5_open_root(f, "w.h5", &root, err))) {
		rc = keras_h5_layers(root, "w.h5", limit, &l, err);
		H5Oclose(root);
	}
	for (size_t i = 0; rc == 0 && i < l.names.n; i++) {
		snprintf(got + strlen(got), len - strlen(got), "%s%s=", i ? ";" : "",
			 l.names.v[i]);
		for (size_t j = 0; j < l.weights[i].n; j++)
			snprintf(got + strlen(got), len - strlen(got), "%s%s",
				 j ? "|" : "", l.weights[i].v[j]);
	}
	keras_h5_layers_free(&l);
	assert_null(l.weights);
	assert_int_equal(l.names.n, 0);
	H5Fclose(f);
	return rc;
}

static char g_dir[4096], g_path[4200];

static int setup(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
	snprintf(g_path, sizeof g_path, "%s/w.h5", g_dir);
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the tests read the reasons */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rm_rf(g_dir);
	return 0;
}

/* Every way a layer has no weights, VGG-Face's nested "fc6/relu" among
 * them: only the layers whose weight_names lists something are kept, in
 * file order, each with its weight names. */
static void test_layers_without_weights_skipped(void **state)
{
	(void)state;
	static const layer_t l[] = {
		{"input_1", WN_EMPTY}, {"conv1", WN_TWO}, {"pool1", WN_F64},
		{"flatten", WN_ABSENT}, {"fc6", WN_TWO}, {"fc6/relu", WN_EMPTY},
		{"fc7", WN_TWO},
	};
	char got[512], err[ERR_LEN];

	make_file(g_path, l, 7, 0);
	assert_int_equal(walk(g_path, 100, got, sizeof got, err), 0);
	assert_string_equal(got, "conv1=conv1/kernel:0|conv1/bias:0;"
			    "fc6=fc6/kernel:0|fc6/bias:0;"
			    "fc7=fc7/kernel:0|fc7/bias:0");
}

/* Keras' load_attributes_from_hdf5_group gives [] for a missing
 * attribute: a layer whose group has no weight_names at all is a layer
 * without weights, even where a layer with weights was expected. */
static void test_missing_weight_names_skipped(void **state)
{
	(void)state;
	static const layer_t l[] = {
		{"dense_1", WN_ABSENT}, {"dense_2", WN_TWO},
	};
	char got[512], err[ERR_LEN];

	make_file(g_path, l, 2, 0);
	assert_int_equal(walk(g_path, 100, got, sizeof got, err), 0);
	assert_string_equal(got, "dense_2=dense_2/kernel:0|dense_2/bias:0");
	/* None with weights: an empty list, not an error. */
	make_file(g_path, l, 1, 0);
	assert_int_equal(walk(g_path, 100, got, sizeof got, err), 0);
	assert_string_equal(got, "");
}

/* The walk stops at limit layers with weights and never looks further:
 * a broken layer after them does not matter. */
static void test_limit(void **state)
{
	(void)state;
	static const layer_t l[] = {
		{"a", WN_TWO}, {"b", WN_EMPTY}, {"c", WN_TWO}, {"d", WN_TWO},
		{"gone", WN_NO_GROUP},
	};
	char got[512], err[ERR_LEN];

	make_file(g_path, l, 5, 0);
	assert_int_equal(walk(g_path, 1, got, sizeof got, err), 0);
	assert_string_equal(got, "a=a/kernel:0|a/bias:0");
	assert_int_equal(walk(g_path, 3, got, sizeof got, err), 0);
	assert_string_equal(got, "a=a/kernel:0|a/bias:0;c=c/kernel:0|c/bias:0;"
			    "d=d/kernel:0|d/bias:0");
	assert_int_equal(walk(g_path, 0, got, sizeof got, err), 0);
	assert_string_equal(got, "");
	assert_int_equal(walk(g_path, 4, got, sizeof got, err), ERR_MISSING);
	assert_non_null(strstr(err, "layer gone"));
}

/* model.save keeps the weights under /model_weights. */
static void test_model_weights(void **state)
{
	(void)state;
	static const layer_t l[] = {
		{"flatten", WN_EMPTY}, {"dense_3", WN_TWO},
	};
	char got[512], err[ERR_LEN];

	make_file(g_path, l, 2, 1);
	assert_int_equal(walk(g_path, 10, got, sizeof got, err), 0);
	assert_string_equal(got, "dense_3=dense_3/kernel:0|dense_3/bias:0");
}

/* A layer listed in layer_names whose group is missing is refused, by
 * name, as Keras fails on it. */
static void test_listed_but_missing(void **state)
{
	(void)state;
	static const layer_t l[] = {
		{"input_1", WN_EMPTY}, {"fc1", WN_NO_GROUP}, {"fc2", WN_TWO},
	};
	char got[512], err[ERR_LEN];

	make_file(g_path, l, 3, 0);
	assert_int_equal(walk(g_path, 10, got, sizeof got, err), ERR_MISSING);
	assert_string_equal(err, "w.h5: layer fc1: listed in layer_names but "
			    "there is no such group");
}

/* No layer_names, under the root or /model_weights: not a Keras file. */
static void test_no_layer_names(void **state)
{
	(void)state;
	char got[512], err[ERR_LEN];

	make_file(g_path, NULL, -1, 0);
	assert_int_equal(walk(g_path, 10, got, sizeof got, err), ERR_FORMAT);
	assert_string_equal(err, "w.h5: no layer_names attribute: not a Keras "
			    "weights file");
	make_file(g_path, NULL, -1, 1);
	assert_int_equal(walk(g_path, 10, got, sizeof got, err), ERR_FORMAT);
	assert_non_null(strstr(err, "no layer_names attribute"));
}

/* A model_weights that is not a group is refused when the root has no
 * layer_names. */
static void test_model_weights_not_group(void **state)
{
	(void)state;
	hid_t f = H5Fcreate(g_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	hsize_t one = 1;
	hid_t sp = H5Screate_simple(1, &one, NULL);
	hid_t d = H5Dcreate2(f, "model_weights", H5T_IEEE_F32LE, sp,
			     H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	char err[ERR_LEN];
	hid_t root;

	assert_true(d >= 0);
	H5Dclose(d);
	H5Sclose(sp);
	H5Fclose(f);
	f = H5Fopen(g_path, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_int_equal(keras_h5_open_root(f, "w.h5", &root, err), ERR_FORMAT);
	assert_string_equal(err, "w.h5: model_weights is not a group");
	assert_true(root < 0);
	H5Fclose(f);
	keras_h5_layers_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layers_without_weights_skipped),
		cmocka_unit_test(test_missing_weight_names_skipped),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_model_weights),
		cmocka_unit_test(test_listed_but_missing),
		cmocka_unit_test(test_no_layer_names),
		cmocka_unit_test(test_model_weights_not_group),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
