/* head.c - the softmax layer and its loss: Keras' initialisation, the
 * forward pass, the cross-entropy, the softmax and the plain gradient (the
 * reference the fused trainer, head_train.c, is tested against).
 *
 * Letters: N samples, D features, K classes. */
#include "head/head.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "head/head_impl.h"

int head_alloc(int D, int K, head_t *h, char *err)
{
	size_t dk, n, bytes;

	memset(h, 0, sizeof *h);
	if (D < 1 || K < 1 || D > HEAD_MAX_DIM || K > HEAD_MAX_DIM)
		return err_set(err, ERR_ARG, "head: %d features x %d classes is out "
			       "of range 1..%d", D, K, HEAD_MAX_DIM);
	if (err_mul_size((size_t)D, (size_t)K, &dk) || dk + K > HEAD_MAX_PARAMS)
		return err_set(err, ERR_TOO_BIG, "head: %d x %d parameters are too "
			       "many", D, K);
	n = dk + (size_t)K;
	if (err_mul_size(n, sizeof(float), &bytes) || !(h->kernel = calloc(1, bytes)))
		return err_set(err, ERR_NOMEM, "head: out of memory for %d x %d", D, K);
	h->D = D;
	h->K = K;
	h->bias = h->kernel + dk;
	return 0;
}

int head_create(int D, int K, uint64_t seed, head_t *h, char *err)
{
	int rc = head_alloc(D, K, h, err);
	if (rc)
		return rc;
	/* glorot_uniform, as the Keras Dense layer's default initialiser. */
	double limit = sqrt(6.0 / ((double)D + K));
	rng_t r = rng_stream(seed, HEAD_STREAM_INIT);
	size_t dk = (size_t)D * K;
	for (size_t i = 0; i < dk; i++) {
		double u = rng_uniform(&r);
		float w = (float)((2.0 * u - 1.0) * limit);
		/* Rounding to float may reach limit itself; Keras' range is
		 * half-open. */
		h->kernel[i] = fabsf(w) < (float)limit ? w : 0.0f;
	}
	return 0;
}

void head_free(head_t *h)
{
	if (!h)
		return;
	free(h->kernel);
	memset(h, 0, sizeof *h);
}

void head_copy(head_t *dst, const head_t *src)
{
	memcpy(dst->kernel, src->kernel,
	       ((size_t)src->D * src->K + src->K) * sizeof(float));
}

void head_forward(const head_t *h, const float *x, int N, float *logits)
{
	/* x (N, D) @ kernel (D, K) + bias (K) -> logits (N, K) */
	int D = h->D, K = h->K;
	for (int n = 0; n < N; n++)
		memcpy(logits + (size_t)n * K, h->bias, (size_t)K * sizeof(float));
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, K, D, 1.0f, x,
		    D, h->kernel, K, 1.0f, logits, K);
}

void head_xent(const float *logits, const int32_t *y, int N, int K,
	       float scale, float *dlogits, double *loss_sum, long *correct)
{
	/* logits (N, K), y (N), dlogits (N, K) */
	for (int n = 0; n < N; n++) {
		const float *l = logits + (size_t)n * K;
		int best = 0;
		for (int k = 1; k < K; k++)
			if (l[k] > l[best])
				best = k;
		/* log-sum-exp around the largest logit: every exponent is <= 0,
		 * so nothing overflows, and the largest term is exactly 1. */
		double mx = l[best], s = 0;
		for (int k = 0; k < K; k++)
			s += exp((double)l[k] - mx);
		/* log(s) - (l_y - max) rather than lse - l_y: near FLT_MAX the
		 * latter loses log(s) to rounding. */
		*loss_sum += log(s) - ((double)l[y[n]] - mx);
		*correct += best == y[n];
		if (dlogits) {
			float *d = dlogits + (size_t)n * K;
			double inv = 1.0 / s;
			for (int k = 0; k < K; k++)
				d[k] = scale * (float)(exp((double)l[k] - mx) * inv);
			d[y[n]] -= scale;
		}
	}
}

void head_softmax(const float *logits, int K, double *p)
{
	/* logits (K), p (K) */
	double mx = logits[0], sum = 0;

	for (int k = 1; k < K; k++)
		mx = logits[k] > mx ? logits[k] : mx;
	for (int k = 0; k < K; k++)
		sum += (p[k] = exp((double)logits[k] - mx));
	for (int k = 0; k < K; k++)
		p[k] /= sum;
}

void head_rank(const double *p, int K, int k, int *order)
{
	for (int j = 0; j < K; j++)
		order[j] = j;
	/* Partial selection sort: k is small. */
	for (int r = 0; r < k && r < K; r++) {
		int best = r;
		for (int j = r + 1; j < K; j++)
			if (p[order[j]] > p[order[best]] ||
			    (p[order[j]] == p[order[best]] && order[j] < order[best]))
				best = j;
		int t = order[r];
		order[r] = order[best];
		order[best] = t;
	}
}

void head_gradient(const head_t *h, const float *x, const int32_t *y, int N,
		   double l2, float *logits, float *g, double *loss)
{
	/* x (N, D), y (N), logits (N, K) scratch, g (D*K + K) */
	int D = h->D, K = h->K;
	size_t dk = (size_t)D * K;
	double ce = 0, sq = 0;
	long correct = 0;

	head_forward(h, x, N, logits);
	head_xent(logits, y, N, K, 1.0f / (float)N, logits, &ce, &correct);
	/* kernel gradient (D, K) = x^T (D, N) @ dlogits (N, K) */
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, K, N, 1.0f, x, D,
		    logits, K, 0.0f, g, K);
	for (int k = 0; k < K; k++) {
		float s = 0;
		for (int n = 0; n < N; n++)
			s += logits[(size_t)n * K + k];
		g[dk + k] = s;
	}
	if (l2 != 0) {
		float l2x2 = (float)(2.0 * l2);
		for (size_t i = 0; i < dk; i++) {
			sq += (double)h->kernel[i] * h->kernel[i];
			g[i] += l2x2 * h->kernel[i];
		}
	}
	*loss = ce / N + l2 * sq;
}
