/* test_vgg.c - each layer against a naive double-precision reference on
 * seeded random inputs with odd shapes (fc1 and fc2: test_gemm.c), and the
 * whole forward against the golden fc2 vectors written by
 * tests/ref/keras_ref.py (PyTorch + Pillow + h5py, an implementation that
 * shares no code with ours).
 * Letters: N batch, H height, W width, C input channels, K output channels. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "img.h"
#include "testutil.h"
#include "vgg.h"

#define GOLDEN "tests/golden/fc2_golden.h5"

/* max |a - ref| <= tol * max |ref|, on a reference that is not all zeros. */
static void assert_close(const char *what, const float *a, const double *ref,
			 size_t n, double tol)
{
	assert_true(tu_assert_close(what, a, ref, n, 0, tol, 0) > 0);
}

static void check_conv(int N, int H, int W, int C, int K, size_t col_len)
{
	tu_rng_t r = {(uint64_t)(N * 1000003 + H * 1009 + W * 101 + C * 11 + K)};
	size_t nin = (size_t)N * H * W * C, nout = (size_t)N * H * W * K;
	float *in = tu_rand_floats(&r, nin, -2, 2);
	float *kernel = tu_rand_floats(&r, (size_t)9 * C * K, -0.5, 0.5);
	float *bias = tu_rand_floats(&r, (size_t)K, -0.5, 0.5);
	float *out = malloc(nout * sizeof *out);
	float *col = malloc(col_len * sizeof *col);
	double *ref = malloc(nout * sizeof *ref);

	assert_true(out && col && ref);
	vgg_conv3x3_relu(in, N, H, W, C, kernel, bias, K, out, col, col_len);
	tu_conv3x3_ref(in, N, H, W, C, kernel, bias, K, ref);
	assert_close("conv3x3", out, ref, nout, 1e-5);
	free(in), free(kernel), free(bias), free(out), free(col), free(ref);
}

/* The comparison every layer test relies on must fail on a NaN or an
 * infinity, which compare false with any tolerance. */
static void test_compare_fails_on_nan(void **state)
{
	(void)state;
	const double ref[3] = {1.0, -2.0, 3.0};
	float a[3] = {1.0f, -2.0f, 3.0f};
	tu_close_t c;

	assert_int_equal(tu_close(a, ref, 3, 1e-6, 1e-6, 1e-6, &c), 0);
	a[1] = NAN;
	assert_int_equal(tu_close(a, ref, 3, 1e-6, 1e-6, 1e-6, &c), -1);
	assert_int_equal(c.worst, 1);
	a[1] = -2.0f;
	a[2] = INFINITY;
	assert_int_equal(tu_close(a, ref, 3, 1e-6, 1e-6, 1e-6, &c), -1);
	assert_int_equal(c.worst, 2);
}

static void test_conv3x3_odd_shapes(void **state)
{
	(void)state;
	check_conv(1, 1, 1, 1, 1, 9);
	check_conv(2, 7, 5, 3, 4, 1 << 16);
	check_conv(1, 13, 11, 17, 9, 1 << 16);
	check_conv(3, 6, 9, 64, 33, 1 << 20);
	/* Bands of 1 and 2 rows, and a band that does not divide H. */
	check_conv(2, 9, 7, 5, 6, 7 * 9 * 5);
	check_conv(2, 9, 7, 5, 6, 2 * 7 * 9 * 5 + 3);
	check_conv(1, 11, 3, 2, 3, 4 * 3 * 9 * 2);
}

static void check_pool(int N, int H, int W, int C)
{
	tu_rng_t r = {(uint64_t)(N * 7 + H * 131 + W * 17 + C)};
	int Ho = H / 2, Wo = W / 2;
	size_t nout = (size_t)N * Ho * Wo * C;
	float *in = tu_rand_floats(&r, (size_t)N * H * W * C, -3, 3);
	float *out = malloc(nout * sizeof *out);
	double *ref = malloc(nout * sizeof *ref);

	assert_true(out && ref);
	vgg_maxpool2(in, N, H, W, C, out);
	for (int n = 0; n < N; n++)
		for (int y = 0; y < Ho; y++)
			for (int x = 0; x < Wo; x++)
				for (int c = 0; c < C; c++) {
					double m = -INFINITY;
					for (int dy = 0; dy < 2; dy++)
						for (int dx = 0; dx < 2; dx++) {
							double v = in[(((size_t)n * H + 2 * y + dy) * W + 2 * x + dx) * C + c];
							m = v > m ? v : m;
						}
					ref[(((size_t)n * Ho + y) * Wo + x) * C + c] = m;
				}
	/* A max is exact: no tolerance. */
	assert_close("maxpool2", out, ref, nout, 0);
	free(in), free(out), free(ref);
}

static void test_maxpool_odd_shapes(void **state)
{
	(void)state;
	check_pool(1, 2, 2, 1);
	check_pool(2, 7, 5, 3);  /* odd rows and columns are dropped */
	check_pool(3, 14, 9, 19);
}

/* The golden data: keys, fc2 vectors and weight checksums. */
typedef struct golden {
	int n;
	char **keys;
	float *fc2; /* (n, 4096) */
	double sums[3][WEIGHTS_NLAYERS]; /* kernel, bias, |kernel| */
} golden_t;

static void read_doubles(hid_t f, const char *name, double *out, int n)
{
	hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
	assert_true(d >= 0);
	hid_t sp = H5Dget_space(d);
	assert_int_equal(H5Sget_simple_extent_npoints(sp), n);
	assert_true(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0);
	H5Sclose(sp);
	H5Dclose(d);
}

static void golden_read(golden_t *g)
{
	hid_t f = H5Fopen(GOLDEN, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(f >= 0);
	hid_t d = H5Dopen2(f, "keys", H5P_DEFAULT);
	hid_t sp = H5Dget_space(d), ft = H5Dget_type(d);
	g->n = (int)H5Sget_simple_extent_npoints(sp);
	size_t len = H5Tget_size(ft);
	char *raw = calloc((size_t)g->n, len + 1);
	hid_t mt = H5Tcopy(H5T_C_S1);
	H5Tset_size(mt, len + 1);
	assert_true(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0);
	g->keys = calloc((size_t)g->n, sizeof *g->keys);
	for (int i = 0; i < g->n; i++)
		g->keys[i] = strdup(raw + (size_t)i * (len + 1));
	free(raw);
	H5Tclose(mt), H5Tclose(ft), H5Sclose(sp), H5Dclose(d);

	g->fc2 = malloc((size_t)g->n * VGG_FEATURES * sizeof(float));
	d = H5Dopen2(f, "fc2", H5P_DEFAULT);
	assert_true(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, g->fc2) >= 0);
	H5Dclose(d);
	read_doubles(f, "kernel_sum", g->sums[0], WEIGHTS_NLAYERS);
	read_doubles(f, "bias_sum", g->sums[1], WEIGHTS_NLAYERS);
	read_doubles(f, "kernel_abs_sum", g->sums[2], WEIGHTS_NLAYERS);
	H5Fclose(f);
}

static void golden_free(golden_t *g)
{
	for (int i = 0; i < g->n; i++)
		free(g->keys[i]);
	free(g->keys);
	free(g->fc2);
}

/* Fails unless w holds the numbers the golden data were computed with. */
static void assert_same_weights(const weights_t *w, const golden_t *g)
{
	for (int i = 0; i < WEIGHTS_NLAYERS; i++) {
		double ks = 0, bs = 0;
		size_t nk = weights_kernel_count(i);
		for (size_t j = 0; j < nk; j++)
			ks += w->kernel[i][j];
		for (int j = 0; j < weights_spec[i].cout; j++)
			bs += w->bias[i][j];
		if (fabs(ks - g->sums[0][i]) > 1e-6 * g->sums[2][i] ||
		    fabs(bs - g->sums[1][i]) > 1e-6 * (fabs(g->sums[1][i]) + 1)) {
			print_error("layer %s: weights differ from the golden data's "
				    "(kernel sum %.9g vs %.9g): regenerate %s\n",
				    weights_spec[i].name, ks, g->sums[0][i], GOLDEN);
			fail();
		}
	}
}

/* Resolves a golden key to a file; NULL when its shared data is absent. */
static const char *golden_path(const char *key, char *buf, size_t len)
{
	if (strncmp(key, "repo:", 5) == 0)
		return key + 5;
	assert_int_equal(strncmp(key, "shared:", 7), 0);
	const char *rel = key + 7, *slash = strchr(rel, '/');
	char top[256];
	snprintf(top, sizeof top, "%.*s", (int)(slash - rel), rel);
	const char *dir = tu_shared_data(top);
	if (!dir)
		return NULL;
	snprintf(buf, len, "%s%s", dir, slash);
	return buf;
}

/* The whole network, batched, against PyTorch-in-double on Pillow-decoded
 * images: fc2 within 1e-4 of max |ref| for every image. */
static void test_forward_matches_golden(void **state)
{
	(void)state;
	golden_t g = {0};
	weights_t w = {0};
	vgg_t *net = NULL;
	char err[ERR_LEN], buf[4096];
	int used = 0;

	golden_read(&g);
	int rc = weights_load(tu_weights_path(), &w, err);
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	assert_same_weights(&w, &g);

	float *in = malloc((size_t)g.n * VGG_IN * VGG_IN * 3 * sizeof(float));
	float *out = malloc((size_t)g.n * VGG_FEATURES * sizeof(float));
	double *ref = malloc((size_t)VGG_FEATURES * sizeof(double));
	int *row = calloc((size_t)g.n, sizeof *row);
	assert_true(in && out && ref && row);
	for (int i = 0; i < g.n; i++) {
		const char *path = golden_path(g.keys[i], buf, sizeof buf);
		if (!path)
			continue;
		rc = img_load_vgg(path, in + (size_t)used * VGG_IN * VGG_IN * 3, err);
		if (rc)
			print_error("%s\n", err);
		assert_int_equal(rc, 0);
		row[used++] = i;
	}
	assert_int_equal(vgg_create(&w, used > 0 ? used : 1, &net, err), 0);
	if (used)
		assert_int_equal(vgg_forward(net, in, used, out, err), 0);
	for (int j = 0; j < used; j++) {
		const float *gv = g.fc2 + (size_t)row[j] * VGG_FEATURES;
		for (int k = 0; k < VGG_FEATURES; k++)
			ref[k] = gv[k];
		assert_close(g.keys[row[j]], out + (size_t)j * VGG_FEATURES, ref,
			     VGG_FEATURES, 1e-4);
	}
	vgg_free(net);
	weights_free(&w);
	free(in), free(out), free(ref), free(row);
	int total = g.n;
	golden_free(&g);
	if (used < total)
		print_message("%d of %d golden images absent (../shared/data)\n",
			      total - used, total);
	assert_true(used > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compare_fails_on_nan),
		cmocka_unit_test(test_conv3x3_odd_shapes),
		cmocka_unit_test(test_maxpool_odd_shapes),
		cmocka_unit_test(test_forward_matches_golden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
