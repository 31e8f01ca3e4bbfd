/* head_adam.c - Adam as tf.keras runs it (head.h): the plain reference in
 * double and the float32 update, scalar or AVX2, that gives the same bits
 * either way. */
#include "head.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HEAD_X86 1
#endif

#include "error.h"
#include "head_private.h"

int adam_init(adam_t *a, size_t n, double lr, double beta1, double beta2,
	      double epsilon, char *err)
{
	memset(a, 0, sizeof *a);
	if (!(lr > 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) ||
	    !(epsilon > 0) || !isfinite(lr) || !isfinite(epsilon))
		return err_set(err, ERR_ARG, "adam: need lr > 0, 0 <= beta1, beta2 < 1 "
			       "and epsilon > 0 (got %g, %g, %g, %g)", lr, beta1,
			       beta2, epsilon);
	a->m = calloc(n ? n : 1, sizeof(float));
	a->v = calloc(n ? n : 1, sizeof(float));
	if (!a->m || !a->v) {
		adam_free(a);
		return err_set(err, ERR_NOMEM, "adam: out of memory for %zu moments", n);
	}
	a->n = n;
	a->lr = (float)lr;
	a->beta1 = (float)beta1;
	a->beta2 = (float)beta2;
	a->epsilon = (float)epsilon;
	return 0;
}

void adam_free(adam_t *a)
{
	if (!a)
		return;
	free(a->m);
	free(a->v);
	memset(a, 0, sizeof *a);
}

float adam_next(adam_t *a)
{
	double t = (double)++a->t;
	return (float)(a->lr * sqrt(1.0 - pow(a->beta2, t)) /
		       (1.0 - pow(a->beta1, t)));
}

double adam_apply_ref(adam_t *a, float alpha, size_t off, size_t n, float *w,
		      const float *g, float l2)
{
	/* w (n), g (n), moments a->m, a->v at off (n) */
	double c1 = 1.0 - (double)a->beta1, c2 = 1.0 - (double)a->beta2, sq = 0;
	float *m = a->m + off, *v = a->v + off;
	for (size_t i = 0; i < n; i++) {
		double gi = g[i];
		if (l2 != 0) {
			sq += (double)w[i] * w[i];
			gi += 2.0 * (double)l2 * w[i];
		}
		double mi = m[i] + (gi - m[i]) * c1;
		double vi = v[i] + (gi * gi - v[i]) * c2;
		m[i] = (float)mi;
		v[i] = (float)vi;
		w[i] = (float)(w[i] - (double)alpha * mi / (sqrt(vi) + a->epsilon));
	}
	return sq;
}

/* The float32 update, one element at a time: the AVX2 loop does the very
 * same operations in the same order (no fused multiply-add), so both give
 * the same bits.  With clear set, g is zeroed as it is consumed (see
 * the trainer's stripe_task, head_train.c). */
static double adam_scalar(float *w, float *m, float *v, float *g, size_t n,
			  float alpha, float c1, float c2, float eps, float l2x2,
			  int clear)
{
	double sq = 0;
	for (size_t i = 0; i < n; i++) {
		float gi = g[i];
		if (l2x2 != 0) {
			sq += (double)w[i] * w[i];
			gi = gi + l2x2 * w[i];
		}
		m[i] = m[i] + (gi - m[i]) * c1;
		v[i] = v[i] + (gi * gi - v[i]) * c2;
		w[i] = w[i] - (alpha * m[i]) / (sqrtf(v[i]) + eps);
		if (clear)
			g[i] = 0.0f;
	}
	return sq;
}

#ifdef HEAD_X86
__attribute__((target("avx2")))
static double adam_avx2(float *w, float *m, float *v, float *g, size_t n,
			float alpha, float c1, float c2, float eps, float l2x2,
			int clear)
{
	__m256 C1 = _mm256_set1_ps(c1), C2 = _mm256_set1_ps(c2);
	__m256 A = _mm256_set1_ps(alpha), E = _mm256_set1_ps(eps);
	__m256 L = _mm256_set1_ps(l2x2);
	__m256d sq = _mm256_setzero_pd();
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 G = _mm256_loadu_ps(g + i), M = _mm256_loadu_ps(m + i);
		__m256 V = _mm256_loadu_ps(v + i), W = _mm256_loadu_ps(w + i);
		if (l2x2 != 0) {
			__m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(W));
			__m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(W, 1));
			sq = _mm256_add_pd(sq, _mm256_mul_pd(lo, lo));
			sq = _mm256_add_pd(sq, _mm256_mul_pd(hi, hi));
			G = _mm256_add_ps(G, _mm256_mul_ps(L, W));
		}
		M = _mm256_add_ps(M, _mm256_mul_ps(_mm256_sub_ps(G, M), C1));
		V = _mm256_add_ps(V, _mm256_mul_ps(
			_mm256_sub_ps(_mm256_mul_ps(G, G), V), C2));
		W = _mm256_sub_ps(W, _mm256_div_ps(_mm256_mul_ps(A, M),
			_mm256_add_ps(_mm256_sqrt_ps(V), E)));
		_mm256_storeu_ps(m + i, M);
		_mm256_storeu_ps(v + i, V);
		_mm256_storeu_ps(w + i, W);
		if (clear)
			_mm256_storeu_ps(g + i, _mm256_setzero_ps());
	}
	double lanes[4];
	_mm256_storeu_pd(lanes, sq);
	return lanes[0] + lanes[1] + lanes[2] + lanes[3] +
	       adam_scalar(w + i, m + i, v + i, g + i, n - i, alpha, c1, c2, eps,
			   l2x2, clear);
}
#endif

/* adam_run: adam_apply, optionally zeroing g as it goes. */
static double adam_run(adam_t *a, float alpha, size_t off, size_t n, float *w,
		       float *g, float l2, int clear)
{
	float c1 = 1.0f - a->beta1, c2 = 1.0f - a->beta2, l2x2 = 2.0f * l2;
#ifdef HEAD_X86
	if (__builtin_cpu_supports("avx2"))
		return adam_avx2(w, a->m + off, a->v + off, g, n, alpha, c1, c2,
				 a->epsilon, l2x2, clear);
#endif
	return adam_scalar(w, a->m + off, a->v + off, g, n, alpha, c1, c2,
			   a->epsilon, l2x2, clear);
}

double adam_apply(adam_t *a, float alpha, size_t off, size_t n, float *w,
		  const float *g, float l2)
{
	/* g is only written when clear is set. */
	return adam_run(a, alpha, off, n, w, (float *)g, l2, 0);
}

double adam_apply_clear(adam_t *a, float alpha, size_t off, size_t n,
			float *w, float *g, float l2)
{
	return adam_run(a, alpha, off, n, w, g, l2, 1);
}
