/* test_winograd.c - the fast convolution paths against plain references:
 * the Winograd matrices against exact correlation, each Winograd
 * convolution (every ISA's kernels, m = 2, 4, 6) and each kernel of kern.h
 * (the transforms, the products, the direct conv1_1 kernel, the max-pool)
 * against a double-precision convolution, im2col with OpenBLAS sgemm and
 * the direct kernel's promised order in plain C (tests/support/conv_ref.h),
 * all on seeded random inputs of odd shapes, and the whole network on
 * each ISA against the reference path (--conv direct).  Every kernel
 * table (portable C, with the FMA instructions and with the C library's
 * fmaf, AVX2, AVX-512, and AVX-512's code on AVX2 registers, emul512)
 * must give the same bits as each other; each test
 * says which ran and which this CPU could not run.  Closeness: |a - b| <=
 * atol + rtol * |ref| for every element, with atol a fraction of max |ref|:
 * Winograd's rounding error follows the size of the inputs, not of each
 * output.  Letters: N batch, H height, W width, C input channels, K output
 * channels, T rows of a product, m Winograd output tile side, A = m + 2. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/workers.h"
#include "error.h"
#include "kernels/isa.h"
#include "kernels/kern.h"
#include "net/vgg.h"
#include "net/winograd.h"
#include "conv_ref.h"
#include "testutil.h"

/* Every kernel table this CPU runs (tu_kernels), portable first. */
static const kern_t *ks[TU_MAX_KERNELS];
static int nks;

static int setup(void **state)
{
	(void)state;
	nks = tu_kernels(ks, 1);
	for (int i = 0; i < nks; i++)
		printf("kernels: %s\n", ks[i]->name);
	return 0;
}

/* Each F(m, 3) in exact arithmetic (double): A' ((G g) . (B' d)) is the
 * correlation of d (A) with g (3), to rounding. */
static void test_matrices_are_exact(void **state)
{
	(void)state;
	rng_t r = {7};
	for (int m = 2; m <= 6; m += 2) {
		wino_tf_t tf;
		double bt[WINO_MAX_A][WINO_MAX_A], at[WINO_MAX_A][WINO_MAX_A];
		assert_int_equal(wino_tf_make(m, &tf, bt, at, NULL), 0);
		const int A = m + 2;
		for (int trial = 0; trial < 20; trial++) {
			double d[WINO_MAX_A], g[3], u[WINO_MAX_A], v[WINO_MAX_A];
			for (int i = 0; i < A; i++)
				d[i] = rng_uniform(&r) * 2 - 1;
			for (int k = 0; k < 3; k++)
				g[k] = rng_uniform(&r) * 2 - 1;
			for (int j = 0; j < A; j++) {
				u[j] = tf.g[j][0] * g[0] + tf.g[j][1] * g[1] + tf.g[j][2] * g[2];
				v[j] = 0;
				for (int i = 0; i < A; i++)
					v[j] += bt[j][i] * d[i];
			}
			for (int i = 0; i < m; i++) {
				double y = 0, want = g[0] * d[i] + g[1] * d[i + 1] + g[2] * d[i + 2];
				for (int j = 0; j < A; j++)
					y += at[i][j] * u[j] * v[j];
				assert_true(fabs(y - want) <= 1e-12);
			}
		}
		/* B' and A' are dyadic (exact in float). */
		for (int i = 0; i < A; i++)
			for (int j = 0; j < A; j++) {
				assert_true((double)tf.bt[i][j] == bt[i][j]);
				if (i < m)
					assert_true((double)tf.at[i][j] == at[i][j]);
			}
	}
	char err[ERR_LEN];
	wino_tf_t tf;
	double bt[WINO_MAX_A][WINO_MAX_A], at[WINO_MAX_A][WINO_MAX_A];
	assert_int_equal(wino_tf_make(3, &tf, bt, at, err), ERR_ARG);
	assert_non_null(strstr(err, "tile side 3"));
}

static void test_tables_match(void **state)
{
	(void)state;
	for (int m = 2; m <= 6; m += 2) {
		wino_tf_t tf;
		double bt[WINO_MAX_A][WINO_MAX_A], at[WINO_MAX_A][WINO_MAX_A];
		assert_int_equal(wino_tf_make(m, &tf, bt, at, NULL), 0);
		assert_true(kern_tables_match(m, tf.bt, tf.at));
		tf.bt[1][1] += 1;
		assert_false(kern_tables_match(m, tf.bt, tf.at));
	}
	float zero[WINO_MAX_A][WINO_MAX_A] = {{0}};
	assert_false(kern_tables_match(3, zero, zero));
}

/* Rounding error allowed for F(m, 3), in units of max |ref|: the largest
 * measured on these shapes is 3.2e-7, 9.4e-6 (C = 512) and 1.0e-5; the
 * margin is 3x to 5x.  (fp32 im2col itself reaches 1e-6 here.) */
static double wino_tol(int m)
{
	return m == 2 ? 1.5e-6 : m == 4 ? 3e-5 : 5e-5;
}

/* One shape through Winograd (isa, m, threads) and the straightforward
 * path, both against double; and through Winograd with its pool, to the
 * bit the max-pool of its output. */
static void check_wino_out(int isa, int m, int threads, int N, int H, int W,
			   int C, int K, int shared, int block, float *keep)
{
	rng_t r = {(uint64_t)(N * 1000003 + H * 1009 + W * 101 + C * 11 + K + m)};
	size_t nin = (size_t)N * H * W * C, nout = (size_t)N * H * W * K;
	float *in = tu_rand_floats(&r, nin, -2, 2);
	float *kernel = tu_rand_floats(&r, (size_t)9 * C * K, -0.5, 0.5);
	float *bias = tu_rand_floats(&r, (size_t)K, -0.5, 0.5);
	float *out = malloc(nout * sizeof *out), *plain = malloc(nout * sizeof *plain);
	double *ref = malloc(nout * sizeof *ref);
	size_t col_len = (size_t)W * 9 * C * H;
	float *col = malloc(col_len * sizeof *col);
	float *work = NULL;
	wino_layer_t *l = NULL;
	workers_t *workers = NULL;
	char err[ERR_LEN], what[128];

	assert_true(out && plain && ref && col);
	int rc = wino_layer_create(kernel, bias, C, K, m, isa, &l, err);
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(wino_tile(l), m);
	/* The input transform's prefetch on and off by turns: no bit moves. */
	wino_layer_set_choice(l, &(wino_choice_t){shared, block, (N + H + W) % 2});
	assert_int_equal(workers_create(threads, &workers, err), 0);
	assert_non_null(work = malloc(wino_work_floats(l, threads) * sizeof(float)));
	/* NaN everywhere first: every output must be written. */
	memset(out, 0xff, nout * sizeof *out);
	wino_conv3x3_relu(l, in, N, H, W, 0, out, workers, work);
	tu_conv3x3_ref(in, N, H, W, C, kernel, bias, K, ref);
	tu_conv3x3_im2col(in, N, H, W, C, kernel, bias, K, plain, col, col_len);

	snprintf(what, sizeof what, "%s F(%d,3) %d thr %s/%d (%d,%d,%d,%d)->%d",
		 isa_name(isa), m, threads,
		 shared < 0 ? "auto" : shared ? "shared" : "own", block, N, H, W, C, K);
	tu_assert_close(what, out, ref, nout, 0, wino_tol(m), 1e-5);
	/* Against the straightforward path too, as the reference float path:
	 * their difference is within the same bound. */
	double *pd = malloc(nout * sizeof *pd);
	assert_non_null(pd);
	for (size_t i = 0; i < nout; i++)
		pd[i] = plain[i];
	snprintf(what, sizeof what, "  vs im2col");
	tu_assert_close(what, out, pd, nout, 0, wino_tol(m), 1e-5);

	size_t npool = (size_t)N * (H / 2) * (W / 2) * K;
	float *pooled = malloc((npool ? npool : 1) * sizeof *pooled);
	float *want = malloc((npool ? npool : 1) * sizeof *want);
	assert_true(pooled && want);
	memset(pooled, 0xff, npool * sizeof *pooled);
	wino_conv3x3_relu(l, in, N, H, W, 1, pooled, workers, work);
	vgg_maxpool2_ref(out, N, H, W, K, want);
	assert_memory_equal(pooled, want, npool * sizeof *pooled);
	free(pooled), free(want);

	if (keep)
		memcpy(keep, out, nout * sizeof *out);
	free(work);
	workers_free(workers);
	wino_layer_free(l);
	free(in), free(kernel), free(bias), free(out), free(plain), free(ref);
	free(col), free(pd);
}

static void check_wino(int isa, int m, int threads, int N, int H, int W,
		       int C, int K, int shared, int block)
{
	check_wino_out(isa, m, threads, N, H, W, C, K, shared, block, NULL);
}

static void check_wino_shapes(int isa)
{
	for (int m = 2; m <= 6; m += 2) {
		check_wino(isa, m, 1, 1, 1, 1, 1, 1, -1, 0);
		check_wino(isa, m, 2, 2, 7, 5, 3, 4, -1, 0);
		check_wino(isa, m, 3, 1, 13, 11, 17, 9, -1, 0);
		check_wino(isa, m, 2, 3, 9, 14, 33, 20, -1, 0);
		check_wino(isa, m, 1, 2, 6, 6, 8, 16, -1, 0);
		check_wino(isa, m, 2, 1, 23, 19, 64, 48, -1, 0);
		/* Enough tiles for several blocks per thread. */
		check_wino(isa, m, 2, 2, 31, 29, 40, 72, -1, 0);
		/* Both ways of sharing, blocks that do not divide the tiles,
		 * blocks of one tile, more channels than one task's columns. */
		check_wino(isa, m, 2, 2, 17, 23, 24, 136, 1, 5);
		check_wino(isa, m, 3, 1, 11, 13, 9, 300, 1, 1);
		check_wino(isa, m, 2, 1, 11, 13, 9, 20, 0, 1);
		check_wino(isa, m, 2, 2, 17, 23, 24, 40, 0, 7);
	}
	/* A layer whose U does not fit the caches: shared, by size. */
	check_wino(isa, 4, 2, 2, 14, 14, 512, 512, -1, 0);
}

/* Every ISA this CPU runs: the layer against double and the reference. */
static void test_wino_odd_shapes(void **state)
{
	(void)state;
	for (int isa = ISA_PORTABLE; isa < ISA_COUNT; isa++)
		if (isa_cpu_has(isa))
			check_wino_shapes(isa);
}

/* Every ISA gives the portable kernels' bits: each output gets the same
 * operations in the same order (kern.h), whatever the width and the
 * blocking. */
static void test_wino_same_bits(void **state)
{
	(void)state;
	static const int shapes[][5] = {
		{2, 13, 11, 17, 9}, {1, 23, 19, 64, 48}, {2, 17, 23, 24, 136},
		{1, 14, 14, 300, 70},
	};
	for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
		const int *d = shapes[sh];
		size_t nout = (size_t)d[0] * d[1] * d[2] * d[4];
		float *ref = malloc(nout * sizeof *ref), *out = malloc(nout * sizeof *out);
		assert_true(ref && out);
		for (int m = 2; m <= 6; m += 2) {
			check_wino_out(ISA_PORTABLE, m, 2, d[0], d[1], d[2], d[3], d[4], -1, 0,
				       ref);
			for (int isa = ISA_PORTABLE + 1; isa < ISA_COUNT; isa++) {
				if (!isa_cpu_has(isa))
					continue;
				check_wino_out(isa, m, 2, d[0], d[1], d[2], d[3], d[4], -1, 0, out);
				assert_memory_equal(out, ref, nout * sizeof *out);
			}
		}
		free(ref), free(out);
	}
}

static void test_wino_layer_errors(void **state)
{
	(void)state;
	float k[9] = {0}, b[1] = {0};
	wino_layer_t *l = (wino_layer_t *)&l;
	char err[ERR_LEN];
	assert_int_equal(wino_layer_create(k, b, 1, 1, 5, ISA_PORTABLE, &l, err),
			 ERR_ARG);
	assert_null(l);
	assert_non_null(strstr(err, "tile side 5"));
	assert_int_equal(wino_layer_create(k, b, 0, 1, 4, ISA_PORTABLE, &l, err),
			 ERR_ARG);
	assert_int_equal(wino_layer_create(k, b, 1, 1, 4, 99, &l, err), ERR_ARG);
	wino_layer_free(NULL);
}

/* V (T, Cs) at row stride ldv, U (Cs, Ks) packed in panels of each table's
 * nr, M at ldm: each microkernel against OpenBLAS and against double, and
 * every table's bits against the first's (Ks a multiple of every nr). */
static void check_gemm(int T, int Cs, int Ks, size_t ldv, size_t ldm)
{
	rng_t r = {(uint64_t)(T * 7919 + Cs * 31 + Ks)};
	float *V = tu_rand_floats(&r, (size_t)T * ldv, -1, 1);
	float *Ur = tu_rand_floats(&r, (size_t)Cs * Ks, -1, 1); /* (Cs, Ks) */
	float *Up = aligned_alloc(64, (size_t)Cs * Ks * sizeof(float));
	float *M = malloc((size_t)T * ldm * sizeof(float));
	float *Mb = malloc((size_t)T * Ks * sizeof(float));
	double *ref = malloc((size_t)T * Ks * sizeof(double));
	double *blas = malloc((size_t)T * Ks * sizeof(double));
	float *Mc = malloc((size_t)T * Ks * sizeof(float));
	float *first = malloc((size_t)T * Ks * sizeof(float));
	char what[96];

	assert_true(Up && M && Mb && ref && blas && Mc && first);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, Ks, Cs, 1.0f, V,
		    (int)ldv, Ur, Ks, 0.0f, Mb, Ks);
	for (int t = 0; t < T; t++)
		for (int k = 0; k < Ks; k++) {
			double s = 0;
			for (int c = 0; c < Cs; c++)
				s += (double)V[(size_t)t * ldv + c] * Ur[(size_t)c * Ks + k];
			ref[(size_t)t * Ks + k] = s;
			blas[(size_t)t * Ks + k] = Mb[(size_t)t * Ks + k];
		}
	for (int i = 0; i < nks; i++) {
		const int nr = ks[i]->nr;
		for (int c = 0; c < Cs; c++)
			for (int k = 0; k < Ks; k++)
				Up[((size_t)(k / nr) * Cs + c) * nr + k % nr] = Ur[(size_t)c * Ks + k];
		ks[i]->wino_gemm(T, Cs, Ks, V, ldv, Up, M, ldm);
		for (int t = 0; t < T; t++)
			memcpy(Mc + (size_t)t * Ks, M + (size_t)t * ldm, (size_t)Ks * sizeof *Mc);
		snprintf(what, sizeof what, "%s wino_gemm (%d,%d)@(%d,%d)", ks[i]->name, T,
			 Cs, Cs, Ks);
		tu_assert_close(what, Mc, ref, (size_t)T * Ks, 0, 1e-6, 1e-6);
		tu_assert_close("  vs OpenBLAS", Mc, blas, (size_t)T * Ks, 0, 1e-6, 1e-6);
		if (i == 0)
			memcpy(first, Mc, (size_t)T * Ks * sizeof *Mc);
		else
			assert_memory_equal(Mc, first, (size_t)T * Ks * sizeof *Mc);
	}
	free(V), free(Ur), free(Up), free(M), free(Mb), free(ref), free(blas);
	free(Mc), free(first);
}

static void test_gemm_vs_openblas(void **state)
{
	(void)state;
	for (int T = 1; T <= 29; T++)
		check_gemm(T, 8, 32, 8, 32);
	check_gemm(7, 24, 64, 40, 64);
	check_gemm(17, 264, 32, 300, 50);  /* depth past one pass (256) */
	check_gemm(50, 520, 64, 530, 80);
}

/* The transforms alone on each table, to the bit against the first's:
 * channels past a vector, tiles cut by the image's edges, on every m, the
 * output transform with and without its pool. */
static void test_transforms_same_bits(void **state)
{
	(void)state;
	static const int shapes[][3] = {{9, 11, 3}, {13, 7, 21}, {10, 10, 64}};
	for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
		const int H = shapes[sh][0], W = shapes[sh][1], C = shapes[sh][2];
		const int Cs = (C + 15) / 16 * 16, P = WINO_MAX_A * WINO_MAX_A;
		rng_t r = {(uint64_t)(H * 31 + W * 7 + C)};
		float *img = tu_rand_floats(&r, (size_t)H * W * C, -2, 2);
		float *bias = tu_rand_floats(&r, (size_t)C, -0.5, 0.5);
		float *V = malloc((size_t)P * Cs * sizeof *V);
		float *V0 = malloc((size_t)P * Cs * sizeof *V0);
		float *out = malloc((size_t)H * W * C * sizeof *out);
		float *out0 = malloc((size_t)H * W * C * sizeof *out0);
		float *pool = malloc((size_t)H * W * C * sizeof *pool);
		float *pool0 = malloc((size_t)H * W * C * sizeof *pool0);
		assert_true(V && V0 && out && out0 && pool && pool0);
		for (int m = 2; m <= 6; m += 2)
			for (int i = 0; i < nks; i++) {
				float *v = i ? V : V0, *o = i ? out : out0, *po = i ? pool : pool0;
				memset(v, 0, (size_t)P * Cs * sizeof *v);
				memset(o, 0, (size_t)H * W * C * sizeof *o);
				memset(po, 0, (size_t)H * W * C * sizeof *po);
				for (int y0 = 0; y0 < H; y0 += m)
					for (int x0 = 0; x0 < W; x0 += m) {
						/* Each tile's V read back as its M: the output
						 * transform of known, varied numbers. */
						ks[i]->wino_in(m, img, H, W, C, y0 - 1, x0 - 1, v, (size_t)Cs,
							       (x0 / m) % 2);
						ks[i]->wino_out(m, v, (size_t)Cs, C, bias, o, (size_t)C, H, W, y0, x0, 0);
						ks[i]->wino_out(m, v, (size_t)Cs, C, bias, po, (size_t)C, H, W, y0, x0, 1);
					}
				if (i) {
					assert_memory_equal(V, V0, (size_t)P * Cs * sizeof *V);
					assert_memory_equal(out, out0, (size_t)H * W * C * sizeof *out);
					assert_memory_equal(pool, pool0, (size_t)H * W * C * sizeof *pool);
				}
			}
		free(img), free(bias), free(V), free(V0), free(out), free(out0);
		free(pool), free(pool0);
	}
}

/* The im2col reference, which check_wino_out sets beside Winograd, against
 * double on odd shapes and bands of rows. */
static void check_im2col(int N, int H, int W, int C, int K, size_t col_len)
{
	rng_t r = {(uint64_t)(N * 1000003 + H * 1009 + W * 101 + C * 11 + K)};
	size_t nin = (size_t)N * H * W * C, nout = (size_t)N * H * W * K;
	float *in = tu_rand_floats(&r, nin, -2, 2);
	float *kernel = tu_rand_floats(&r, (size_t)9 * C * K, -0.5, 0.5);
	float *bias = tu_rand_floats(&r, (size_t)K, -0.5, 0.5);
	float *out = malloc(nout * sizeof *out);
	float *col = malloc(col_len * sizeof *col);
	double *ref = malloc(nout * sizeof *ref);

	assert_true(out && col && ref);
	tu_conv3x3_im2col(in, N, H, W, C, kernel, bias, K, out, col, col_len);
	tu_conv3x3_ref(in, N, H, W, C, kernel, bias, K, ref);
	assert_true(tu_assert_close("im2col", out, ref, nout, 0, 1e-5, 0) > 0);
	free(in), free(kernel), free(bias), free(out), free(col), free(ref);
}

static void test_im2col_odd_shapes(void **state)
{
	(void)state;
	check_im2col(1, 1, 1, 1, 1, 9);
	check_im2col(2, 7, 5, 3, 4, 1 << 16);
	check_im2col(1, 13, 11, 17, 9, 1 << 16);
	check_im2col(3, 6, 9, 64, 33, 1 << 20);
	/* Bands of 1 and 2 rows, and a band that does not divide H. */
	check_im2col(2, 9, 7, 5, 6, 7 * 9 * 5);
	check_im2col(2, 9, 7, 5, 6, 2 * 7 * 9 * 5 + 3);
	check_im2col(1, 11, 3, 2, 3, 4 * 3 * 9 * 2);
}

/* The direct kernel (conv1_1's) on each table: rows y0..y1 of one image,
 * against double and, to the bit, against its promised order. */
static void check_direct(int H, int W, int C, int K, int y0, int y1)
{
	rng_t r = {(uint64_t)(H * 131 + W * 17 + C * 5 + K + y0)};
	size_t nout = (size_t)H * W * K;
	float *in = tu_rand_floats(&r, (size_t)H * W * C, -100, 100);
	float *kernel = tu_rand_floats(&r, (size_t)9 * C * K, -0.5, 0.5);
	float *bias = tu_rand_floats(&r, (size_t)K, -0.5, 0.5);
	float *out = malloc(nout * sizeof *out), *first = malloc(nout * sizeof *first);
	double *ref = malloc(nout * sizeof *ref);
	char what[96];

	assert_true(out && first && ref);
	tu_conv3x3_ref(in, 1, H, W, C, kernel, bias, K, ref);
	for (size_t i = 0; i < nout; i++) {
		size_t y = i / ((size_t)W * K);
		if ((int)y < y0 || (int)y >= y1)
			ref[i] = 0; /* rows outside the band stay untouched */
	}
	memset(first, 0, nout * sizeof *first);
	tu_direct3x3_in_order(in, H, W, C, kernel, bias, K, first, y0, y1);
	for (int i = 0; i < nks; i++) {
		memset(out, 0, nout * sizeof *out);
		ks[i]->direct3x3(in, H, W, C, kernel, bias, K, out, y0, y1);
		snprintf(what, sizeof what, "%s direct (%d,%d,%d)->%d rows %d..%d",
			 ks[i]->name, H, W, C, K, y0, y1);
		tu_assert_close(what, out, ref, nout, 0, 1e-6, 1e-6);
		assert_memory_equal(out, first, nout * sizeof *out);
	}
	free(in), free(kernel), free(bias), free(out), free(first), free(ref);
}

static void test_direct_odd_shapes(void **state)
{
	(void)state;
	check_direct(1, 1, 1, 64, 0, 1);
	check_direct(7, 5, 3, 64, 0, 7);
	check_direct(13, 11, 3, 128, 2, 9);
	check_direct(9, 17, 5, 64, 8, 9);
	/* Rows of several pixel blocks and more than one channel block, with
	 * each tap's sum apart (16 channels or more) and without. */
	check_direct(6, 23, 19, 128, 0, 6);
	check_direct(5, 20, KERN_DIRECT_SPLIT_C - 1, 64, 1, 5);
	check_direct(4, 15, 64, 64, 0, 4);
}

/* Each table's max-pool against the plain layer, exactly, on channel counts
 * past a vector and odd sizes (the last row and column dropped). */
static void test_maxpool(void **state)
{
	(void)state;
	static const int shapes[][3] = {{2, 2, 1}, {7, 5, 3}, {14, 9, 19}, {8, 8, 64},
					{5, 11, 40}};
	for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
		int H = shapes[sh][0], W = shapes[sh][1], C = shapes[sh][2];
		size_t nout = (size_t)(H / 2) * (W / 2) * C;
		rng_t r = {(uint64_t)(H * 31 + W * 7 + C)};
		float *in = tu_rand_floats(&r, (size_t)H * W * C, -3, 3);
		float *want = malloc((nout ? nout : 1) * sizeof *want);
		float *out = malloc((nout ? nout : 1) * sizeof *out);
		assert_true(want && out);
		vgg_maxpool2_ref(in, 1, H, W, C, want);
		for (int i = 0; i < nks; i++) {
			memset(out, 0, nout * sizeof *out);
			ks[i]->maxpool2(in, H, W, C, out, 0, H / 2);
			assert_memory_equal(out, want, nout * sizeof *out);
		}
		free(in), free(want), free(out);
	}
}

/* The whole network on synthetic weights and a random image: fast paths
 * against the reference path, fc2 within 1e-4 of max |ref|, as required
 * of the golden test; and the same numbers whatever the thread count. */
static void test_network_fast_vs_reference(void **state)
{
	(void)state;
	weights_t w = {0};
	char err[ERR_LEN];
	int rc = weights_load(tu_weights_path(), &w, err);
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);

	rng_t r = {99};
	const int n = 2;
	float *in = tu_rand_floats(&r, (size_t)n * VGG_IN_FLOATS, -120, 130);
	float *ref32 = malloc((size_t)n * VGG_FEATURES * sizeof(float));
	float *out = malloc((size_t)n * VGG_FEATURES * sizeof(float));
	float *out3 = malloc((size_t)n * VGG_FEATURES * sizeof(float));
	double *ref = malloc((size_t)n * VGG_FEATURES * sizeof(double));
	assert_true(ref32 && out && out3 && ref);

	vgg_opts_t o;
	vgg_t *net = NULL;
	vgg_opts_init(&o, n);
	o.conv = VGG_CONV_DIRECT;
	assert_int_equal(vgg_create_opts(&w, &o, &net, err), 0);
	assert_int_equal(vgg_forward(net, in, n, ref32, err), 0);
	vgg_free(net);
	for (size_t i = 0; i < (size_t)n * VGG_FEATURES; i++)
		ref[i] = ref32[i];

	float *first = malloc((size_t)n * VGG_FEATURES * sizeof(float));
	int ran = 0;
	assert_non_null(first);
	for (int isa = ISA_PORTABLE; isa < ISA_COUNT; isa++) {
		if (!isa_cpu_has(isa)) {
			print_message("%s: not on this CPU, skipped\n", isa_name(isa));
			continue;
		}
		vgg_opts_init(&o, n);
		o.isa = isa;
		o.threads = 1;
		assert_int_equal(vgg_create_opts(&w, &o, &net, err), 0);
		assert_int_equal(vgg_conv_tile(net, 0), 0);
		assert_int_equal(vgg_forward(net, in, n, out, err), 0);
		vgg_free(net);
		tu_assert_close(isa_name(isa), out, ref, (size_t)n * VGG_FEATURES, 0, 1e-4,
				0);
		o.threads = 3;
		assert_int_equal(vgg_create_opts(&w, &o, &net, err), 0);
		assert_int_equal(vgg_forward(net, in, n, out3, err), 0);
		vgg_free(net);
		/* Threads share the work, never a sum: the same bits. */
		assert_memory_equal(out, out3, (size_t)n * VGG_FEATURES * sizeof(float));
		/* Every ISA gives the same bits. */
		if (ran++ == 0) {
			memcpy(first, out, (size_t)n * VGG_FEATURES * sizeof(float));
		} else {
			assert_memory_equal(out, first, (size_t)n * VGG_FEATURES * sizeof(float));
			print_message("  %s: the same bits as portable\n", isa_name(isa));
		}
	}
	weights_free(&w);
	free(in), free(ref32), free(out), free(out3), free(ref), free(first);
}

static void test_vgg_opts_errors(void **state)
{
	(void)state;
	weights_t w = {0};
	vgg_opts_t o;
	vgg_t *net = (vgg_t *)&net;
	char err[ERR_LEN];

	vgg_opts_init(&o, 0);
	assert_int_equal(vgg_create_opts(&w, &o, &net, err), ERR_ARG);
	assert_null(net);
	vgg_opts_init(&o, 1);
	o.conv = 7;
	assert_int_equal(vgg_create_opts(&w, &o, &net, err), ERR_ARG);
	vgg_opts_init(&o, 1);
	o.threads = 300;
	assert_int_equal(vgg_create_opts(&w, &o, &net, err), ERR_ARG);
	assert_non_null(strstr(err, "300 threads"));
	vgg_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matrices_are_exact),
		cmocka_unit_test(test_tables_match),
		cmocka_unit_test(test_im2col_odd_shapes),
		cmocka_unit_test(test_wino_odd_shapes),
		cmocka_unit_test(test_wino_same_bits),
		cmocka_unit_test(test_wino_layer_errors),
		cmocka_unit_test(test_gemm_vs_openblas),
		cmocka_unit_test(test_transforms_same_bits),
		cmocka_unit_test(test_direct_odd_shapes),
		cmocka_unit_test(test_maxpool),
		cmocka_unit_test(test_network_fast_vs_reference),
		cmocka_unit_test(test_vgg_opts_errors),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
