/* test_gemm.c - the fixed-order matrix product (kern.h's gemm) and the fc
 * layers on it (fc.h), on every kernel table this CPU runs (portable C,
 * both of its fmaf on x86-64, AVX2, AVX-512 and its code on AVX2):
 *  - against a double-precision reference on seeded random odd shapes;
 *  - to the bit against a plain loop that sums each element in c order
 *    with fmaf: the order kern.h promises, so every table gives the same
 *    bits;
 *  - to the bit whatever the rows around a row, its place, the column
 *    range and the threads: the property the feature store relies on.
 * Letters: N rows, C the summed dimension, K columns. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/workers.h"
#include "error.h"
#include "kernels/isa.h"
#include "kernels/kern.h"
#include "net/fc.h"
#include "testutil.h"

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

typedef struct problem {
	int N, C, K, relu;
	float *a, *b, *bias;
} problem_t;

static problem_t make(int N, int C, int K, int relu)
{
	rng_t r = {(uint64_t)(N * 31 + C * 7 + K + relu)};
	problem_t p = {N, C, K, relu, NULL, NULL, NULL};
	p.a = tu_rand_floats(&r, (size_t)N * C, -1, 1);
	p.b = tu_rand_floats(&r, (size_t)C * K, -0.1, 0.1);
	p.bias = tu_rand_floats(&r, (size_t)K, -0.5, 0.5);
	return p;
}

static void drop(problem_t *p)
{
	free(p->a), free(p->b), free(p->bias);
}

/* The order kern.h promises, written plainly: c[n][k] over c ascending. */
static void plain(const problem_t *p, int with_bias, float *out)
{
	for (int n = 0; n < p->N; n++)
		for (int k = 0; k < p->K; k++) {
			float s = 0.0f;
			for (int c = 0; c < p->C; c++) {
				float x = p->a[(size_t)n * p->C + c], w = p->b[(size_t)c * p->K + k];
				s = fmaf(x, w, s);
			}
			if (with_bias)
				s = s + p->bias[k];
			if (p->relu)
				s = s > 0.0f ? s : 0.0f;
			out[(size_t)n * p->K + k] = s;
		}
}

static void check_shape(int N, int C, int K, int relu)
{
	problem_t p = make(N, C, K, relu);
	size_t nout = (size_t)N * K;
	float *out = malloc(nout * sizeof *out), *want = malloc(nout * sizeof *want);
	double *ref = malloc(nout * sizeof *ref);
	assert_true(out && want && ref);

	for (int n = 0; n < N; n++)
		for (int k = 0; k < K; k++) {
			double s = p.bias[k];
			for (int c = 0; c < C; c++)
				s += (double)p.a[(size_t)n * C + c] * p.b[(size_t)c * K + k];
			ref[(size_t)n * K + k] = relu && s < 0 ? 0 : s;
		}
	for (int i = 0; i < nks; i++) {
		char what[96];
		snprintf(what, sizeof what, "%s N=%d C=%d K=%d", ks[i]->name, N, C, K);
		ks[i]->gemm(N, C, 0, K, p.a, (size_t)C, p.b, (size_t)K, p.bias, relu, out,
			    (size_t)K);
		tu_assert_close(what, out, ref, nout, 0, 1e-5, 0);
		plain(&p, 1, want);
		assert_memory_equal(out, want, nout * sizeof *out);
	}
	drop(&p);
	free(out), free(want), free(ref);
}

/* Odd sizes cross every tail of the kernels: rows past a multiple of 4,
 * columns past a tile and past a vector, sums past a block of 16. */
static void test_gemm_odd_shapes(void **state)
{
	(void)state;
	check_shape(1, 1, 1, 0);
	check_shape(3, 37, 11, 1);
	check_shape(5, 1031, 67, 0);
	check_shape(2, 4099, 13, 1);
	check_shape(9, 33, 2061, 1);
	check_shape(7, 300, 96, 0);
}

/* Without a bias nothing is added after the sum (Winograd's products). */
static void test_gemm_no_bias(void **state)
{
	(void)state;
	problem_t p = make(6, 45, 29, 0);
	float out[6 * 29], want[6 * 29];
	for (int i = 0; i < nks; i++) {
		ks[i]->gemm(6, 45, 0, 29, p.a, 45, p.b, 29, NULL, 0, out, 29);
		plain(&p, 0, want);
		assert_memory_equal(out, want, sizeof out);
	}
	drop(&p);
}

/* A row's result, computed among N - 1 other rows at every place, by
 * column ranges cut anywhere, or through strided views, has the bits it has
 * alone. */
static void test_gemm_row_independent(void **state)
{
	(void)state;
	const int N = 9, C = 517, K = 203;
	problem_t p = make(N, C, K, 1);
	float *all = malloc((size_t)N * K * sizeof *all), alone[203], cut[9 * 203];
	float *wide = calloc((size_t)N * (K + 5), sizeof *wide);
	assert_true(all && wide);

	for (int i = 0; i < nks; i++) {
		const kern_t *k = ks[i];
		k->gemm(N, C, 0, K, p.a, C, p.b, K, p.bias, 1, all, K);
		for (int n = 0; n < N; n++) {
			k->gemm(1, C, 0, K, p.a + (size_t)n * C, C, p.b, K, p.bias, 1, alone,
				K);
			assert_memory_equal(alone, all + (size_t)n * K, sizeof alone);
		}
		for (int n0 = 0; n0 < N; n0++) {
			int n1 = n0 + 1 + (n0 * 5) % (N - n0);
			k->gemm(n1 - n0, C, 0, K, p.a + (size_t)n0 * C, C, p.b, K, p.bias, 1,
				cut + (size_t)n0 * K, K);
			assert_memory_equal(cut + (size_t)n0 * K, all + (size_t)n0 * K,
					    (size_t)(n1 - n0) * K * sizeof *cut);
		}
		static const int cuts[] = {0, 1, 8, 13, 24, 61, 62, 150, 203};
		for (size_t c = 0; c + 1 < sizeof cuts / sizeof *cuts; c++)
			k->gemm(N, C, cuts[c], cuts[c + 1], p.a, C, p.b, K, p.bias, 1, cut, K);
		assert_memory_equal(cut, all, (size_t)N * K * sizeof *cut);
		k->gemm(N, C, 0, K, p.a, C, p.b, K, p.bias, 1, wide + 3, K + 5);
		for (int n = 0; n < N; n++)
			assert_memory_equal(wide + 3 + (size_t)n * (K + 5), all + (size_t)n * K,
					    (size_t)K * sizeof *all);
	}
	drop(&p);
	free(all), free(wide);
}

/* fc_forward on 1 to 3 threads, over batches of 3, 3 and 2 images, gives
 * what one product of all 8 rows gives. */
static void test_fc_threads_and_batches(void **state)
{
	(void)state;
	const int N = 8, C = 1500, K = 4096;
	problem_t p = make(N, C, K, 1);
	float *ref = malloc((size_t)N * K * sizeof *ref), *out = malloc((size_t)N * K * sizeof *out);
	char err[ERR_LEN];
	assert_true(ref && out);

	for (int i = 0; i < nks; i++) {
		ks[i]->gemm(N, C, 0, K, p.a, C, p.b, K, p.bias, 1, ref, K);
		for (int threads = 1; threads <= 3; threads++) {
			workers_t *workers = NULL;
			assert_int_equal(workers_create(threads, &workers, err), 0);
			for (int n0 = 0; n0 < N; n0 += 3) {
				int n = N - n0 < 3 ? N - n0 : 3;
				fc_forward(ks[i], p.a + (size_t)n0 * C, n, C, p.b, p.bias, K, 1,
					   out + (size_t)n0 * K, workers);
			}
			workers_free(workers);
			assert_memory_equal(out, ref, (size_t)N * K * sizeof *out);
		}
	}
	drop(&p);
	free(ref), free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gemm_odd_shapes),
		cmocka_unit_test(test_gemm_no_bias),
		cmocka_unit_test(test_gemm_row_independent),
		cmocka_unit_test(test_fc_threads_and_batches),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
