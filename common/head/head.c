/* head.c - the head's Dense layers and its loss: Keras' initialisation,
 * the forward pass, the cross-entropy, the softmax and the plain gradient
 * (the reference the fused trainer, head_train.c, is tested against).
 *
 * Letters: N samples, D features, K classes; a layer maps Fi inputs to Fo
 * outputs (its fan-in and fan-out). */
#include "head/head.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "head/head_impl.h"

int head_alloc(int nlayers, const int *w, head_t *h, char *err)
{
	size_t n = 0, bytes;
	float *p;

	memset(h, 0, sizeof *h);
	if (nlayers < 1 || nlayers > HEAD_MAX_LAYERS)
		return err_set(err, ERR_ARG, "head: %d layers, out of range 1..%d",
			       nlayers, HEAD_MAX_LAYERS);
	for (int l = 0; l <= nlayers; l++)
		if (w[l] < 1 || w[l] > HEAD_MAX_DIM)
			return err_set(err, ERR_ARG, "head: a layer of %d units is out "
				       "of range 1..%d", w[l], HEAD_MAX_DIM);
	for (int l = 0; l < nlayers; l++) {
		size_t io;
		if (err_mul_size((size_t)w[l], (size_t)w[l + 1], &io) ||
		    (n += io + (size_t)w[l + 1]) > HEAD_MAX_PARAMS)
			return err_set(err, ERR_TOO_BIG, "head: the layers of %d x %d "
				       "have too many parameters", w[l], w[l + 1]);
	}
	if (err_mul_size(n, sizeof(float), &bytes) || !(p = calloc(1, bytes)))
		return err_set(err, ERR_NOMEM, "head: out of memory for %zu parameters", n);
	h->params = p;
	h->nparams = n;
	h->nlayers = nlayers;
	h->D = w[0];
	h->K = w[nlayers];
	for (int l = 0; l < nlayers; l++) {
		head_layer_t *L = &h->layer[l];
		L->in = w[l];
		L->out = w[l + 1];
		L->kernel = p;
		L->bias = p + (size_t)L->in * L->out;
		p = L->bias + L->out;
	}
	return 0;
}

/* glorot_uniform, as the Keras Dense layer's default initialiser: U(-limit,
 * limit) with limit = sqrt(6 / (Fi + Fo)), from the stream r. */
static void glorot(head_layer_t *L, rng_t *r)
{
	double limit = sqrt(6.0 / ((double)L->in + L->out));
	size_t n = (size_t)L->in * L->out;
	for (size_t i = 0; i < n; i++) {
		double u = rng_uniform(r);
		float w = (float)((2.0 * u - 1.0) * limit);
		/* Rounding to float may reach limit itself; Keras' range is
		 * half-open. */
		L->kernel[i] = fabsf(w) < (float)limit ? w : 0.0f;
	}
}

int head_create(int D, int nhidden, const int *hidden, int K, uint64_t seed,
		head_t *h, char *err)
{
	int w[HEAD_MAX_LAYERS + 1], rc;

	memset(h, 0, sizeof *h);
	if (nhidden < 0 || nhidden > HEAD_MAX_LAYERS - 1)
		return err_set(err, ERR_ARG, "head: %d hidden layers, at most %d",
			       nhidden, HEAD_MAX_LAYERS - 1);
	w[0] = D;
	for (int l = 0; l < nhidden; l++)
		w[l + 1] = hidden[l];
	w[nhidden + 1] = K;
	if ((rc = head_alloc(nhidden + 1, w, h, err)))
		return rc;
	for (int l = 0; l < h->nlayers; l++) {
		rng_t r = rng_stream(seed, l ? HEAD_STREAM_LAYER + l : HEAD_STREAM_INIT);
		glorot(&h->layer[l], &r);
	}
	return 0;
}

void head_free(head_t *h)
{
	if (!h)
		return;
	free(h->params);
	memset(h, 0, sizeof *h);
}

int head_same_shape(const head_t *a, const head_t *b)
{
	if (a->nlayers != b->nlayers)
		return 0;
	for (int l = 0; l < a->nlayers; l++)
		if (a->layer[l].in != b->layer[l].in || a->layer[l].out != b->layer[l].out)
			return 0;
	return 1;
}

void head_copy(head_t *dst, const head_t *src)
{
	memcpy(dst->params, src->params, src->nparams * sizeof(float));
}

/* The widest hidden layer (0 without one). */
static size_t widest_hidden(const head_t *h)
{
	size_t mx = 0;
	for (int l = 0; l + 1 < h->nlayers; l++)
		mx = (size_t)h->layer[l].out > mx ? (size_t)h->layer[l].out : mx;
	return mx;
}

size_t head_work_floats(const head_t *h, int N)
{
	size_t mx = widest_hidden(h);
	return mx ? 2 * (size_t)N * mx : 1;
}

/* in (N, Fi) @ kernel (Fi, Fo) + bias (Fo) -> out (N, Fo), ReLU when relu. */
static void dense(const head_layer_t *L, const float *in, int N, float *out, int relu)
{
	int Fi = L->in, Fo = L->out;
	for (int n = 0; n < N; n++)
		memcpy(out + (size_t)n * Fo, L->bias, (size_t)Fo * sizeof(float));
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, Fo, Fi, 1.0f, in,
		    Fi, L->kernel, Fo, 1.0f, out, Fo);
	if (relu)
		for (size_t i = 0; i < (size_t)N * Fo; i++)
			out[i] = out[i] > 0 ? out[i] : 0.0f;
}

void head_forward(const head_t *h, const float *x, int N, float *logits,
		  float *work)
{
	/* x (N, D), work: two (N, widest hidden) buffers in turn, logits (N, K) */
	size_t half = (size_t)N * widest_hidden(h);
	const float *in = x;
	for (int l = 0; l < h->nlayers; l++) {
		int last = l == h->nlayers - 1;
		float *out = last ? logits : work + (size_t)(l & 1) * half;
		dense(&h->layer[l], in, N, out, !last);
		in = out;
	}
}

void head_xent(const float *logits, const int32_t *y, int N, int K,
	       const head_loss_t *lo, float scale, float *dlogits,
	       double *loss_sum, long *correct)
{
	/* logits (N, K), y (N), dlogits (N, K) */
	int smooth = lo && lo->smoothing > 0;
	const float *cw = lo ? lo->class_weight : NULL;
	float off = 0.0f, on = 1.0f;

	if (smooth) {
		/* Keras: y * (1 - ls) + ls / K, in float32. */
		float ls = (float)lo->smoothing;
		off = ls / (float)K;
		on = (1.0f - ls) + off;
	}
	for (int n = 0; n < N; n++) {
		const float *l = logits + (size_t)n * K;
		int best = 0;
		for (int k = 1; k < K; k++)
			if (l[k] > l[best])
				best = k;
		/* log-sum-exp around the largest logit: every exponent is <= 0,
		 * so nothing overflows, and the largest term is exactly 1. */
		double mx = l[best], s = 0, ce = 0;
		for (int k = 0; k < K; k++)
			s += exp((double)l[k] - mx);
		double lse = log(s);
		/* log(s) - (l_y - max) rather than lse - l_y: near FLT_MAX the
		 * latter loses log(s) to rounding. */
		if (smooth)
			for (int k = 0; k < K; k++)
				ce += (double)(k == y[n] ? on : off) * (lse - ((double)l[k] - mx));
		else
			ce = lse - ((double)l[y[n]] - mx);
		float w = cw ? cw[y[n]] : 1.0f;
		*loss_sum += (double)w * ce;
		*correct += best == y[n];
		if (dlogits) {
			float *d = dlogits + (size_t)n * K, sc = scale * w;
			double inv = 1.0 / s;
			for (int k = 0; k < K; k++)
				d[k] = sc * (float)(exp((double)l[k] - mx) * inv);
			if (smooth)
				for (int k = 0; k < K; k++)
					d[k] -= sc * (k == y[n] ? on : off);
			else
				d[y[n]] -= sc;
		}
	}
}

/* The widest of the layers' outputs, the logits included. */
static size_t widest_out(const head_t *h)
{
	return widest_hidden(h) > (size_t)h->K ? widest_hidden(h) : (size_t)h->K;
}

size_t head_probabilities_doubles(const head_t *h)
{
	return (size_t)HEAD_PROB_ROWS * ((size_t)h->D + 2 * widest_out(h)) + widest_out(h);
}

/* y (n) += a * x (n), in double, each element's one product and sum; four
 * at a time, as GCC's vectorizer at -O2 takes them. */
static void axpy64(double *restrict y, double a, const double *restrict x, int n)
{
	int o = 0;
	for (; o + 4 <= n; o += 4) {
		y[o] += a * x[o];
		y[o + 1] += a * x[o + 1];
		y[o + 2] += a * x[o + 2];
		y[o + 3] += a * x[o + 3];
	}
	for (; o < n; o++)
		y[o] += a * x[o];
}

/* out (n, Fo) = in (n, Fi) @ kernel + bias in double, each sum in i order
 * (an input that ReLU zeroed adds nothing, and is skipped).  The rows go
 * together through the kernel, a row of it at a time, widened once into
 * kd (Fo) for all of them. */
static void dense64(const head_layer_t *L, const double *in, int n, double *out,
		    double *kd)
{
	const float *k = L->kernel;
	int Fi = L->in, Fo = L->out;

	for (int r = 0; r < n; r++)
		for (int o = 0; o < Fo; o++)
			out[(size_t)r * Fo + o] = L->bias[o];
	for (int i = 0; i < Fi; i++, k += Fo) {
		for (int o = 0; o < Fo; o++)
			kd[o] = k[o];
		for (int r = 0; r < n; r++) {
			const double xi = in[(size_t)r * Fi + i];
			if (xi != 0)
				axpy64(out + (size_t)r * Fo, xi, kd, Fo);
		}
	}
}

/* head_probabilities on n <= HEAD_PROB_ROWS rows. */
static void probabilities_block(const head_t *h, const float *x, int n, double *work,
				double *p)
{
	/* work: x widened (n, D), then two buffers of the widest layer's
	 * outputs (n, widest) in turn, then a kernel row widened (widest) */
	double *in = work, *buf = work + (size_t)HEAD_PROB_ROWS * h->D;
	const size_t half = (size_t)HEAD_PROB_ROWS * widest_out(h);
	double *kd = buf + 2 * half;
	int K = h->K;

	for (size_t i = 0; i < (size_t)n * h->D; i++)
		in[i] = x[i];
	for (int l = 0; l < h->nlayers; l++) {
		double *out = buf + (size_t)(l & 1) * half;
		if (l)
			for (size_t i = 0; i < (size_t)n * h->layer[l].in; i++)
				in[i] = in[i] > 0 ? in[i] : 0;
		dense64(&h->layer[l], in, n, out, kd);
		in = out;
	}
	/* Each row's softmax of its logits (K). */
	for (int r = 0; r < n; r++) {
		const double *z = in + (size_t)r * K;
		double *pr = p + (size_t)r * K, mx = z[0], sum = 0;
		for (int k = 1; k < K; k++)
			mx = z[k] > mx ? z[k] : mx;
		for (int k = 0; k < K; k++)
			sum += (pr[k] = exp(z[k] - mx));
		for (int k = 0; k < K; k++)
			pr[k] /= sum;
	}
}

void head_probabilities(const head_t *h, const float *x, int N, double *work, double *p)
{
	for (int r = 0; r < N; r += HEAD_PROB_ROWS)
		probabilities_block(h, x + (size_t)r * h->D,
				    N - r < HEAD_PROB_ROWS ? N - r : HEAD_PROB_ROWS, work,
				    p + (size_t)r * h->K);
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

size_t head_gradient_floats(const head_t *h, int N)
{
	size_t n = 2 * (size_t)N * widest_hidden(h);
	for (int l = 0; l < h->nlayers; l++)
		n += (size_t)N * h->layer[l].out;
	return n;
}

void head_gradient(const head_t *h, const float *x, const int32_t *y, int N,
		   const head_loss_t *lo, double l2, float *work, float *g,
		   double *loss)
{
	/* x (N, D), y (N), g (nparams); work: each layer's outputs act[l]
	 * (N, Fo), then two (N, widest hidden) buffers for the gradients of
	 * the hidden layers' outputs */
	int L = h->nlayers;
	float *act[HEAD_MAX_LAYERS], *dbuf[2];
	double ce = 0, sq = 0;
	long correct = 0;

	act[0] = work;
	for (int l = 1; l < L; l++)
		act[l] = act[l - 1] + (size_t)N * h->layer[l - 1].out;
	dbuf[0] = act[L - 1] + (size_t)N * h->K;
	dbuf[1] = dbuf[0] + (size_t)N * widest_hidden(h);
	for (int l = 0; l < L; l++)
		dense(&h->layer[l], l ? act[l - 1] : x, N, act[l], l < L - 1);
	/* The logits become their gradient. */
	head_xent(act[L - 1], y, N, h->K, lo, 1.0f / (float)N, act[L - 1], &ce, &correct);
	float *dz = act[L - 1];
	for (int l = L - 1; l >= 0; l--) {
		const head_layer_t *Ly = &h->layer[l];
		const float *in = l ? act[l - 1] : x;
		int Fi = Ly->in, Fo = Ly->out;
		float *gk = g + (Ly->kernel - h->params), *gb = g + (Ly->bias - h->params);
		/* kernel gradient (Fi, Fo) = in^T (Fi, N) @ dz (N, Fo) */
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Fi, Fo, N, 1.0f, in, Fi,
			    dz, Fo, 0.0f, gk, Fo);
		for (int o = 0; o < Fo; o++) {
			float s = 0;
			for (int n = 0; n < N; n++)
				s += dz[(size_t)n * Fo + o];
			gb[o] = s;
		}
		if (l2 != 0) {
			float l2x2 = (float)(2.0 * l2);
			for (size_t i = 0; i < (size_t)Fi * Fo; i++) {
				sq += (double)Ly->kernel[i] * Ly->kernel[i];
				gk[i] += l2x2 * Ly->kernel[i];
			}
		}
		if (l == 0)
			break;
		/* The previous layer's: dz (N, Fo) @ kernel^T (Fo, Fi), through
		 * its ReLU. */
		float *dp = dbuf[l & 1];
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, Fi, Fo, 1.0f, dz, Fo,
			    Ly->kernel, Fo, 0.0f, dp, Fi);
		for (size_t i = 0; i < (size_t)N * Fi; i++)
			dp[i] = in[i] > 0 ? dp[i] : 0.0f;
		dz = dp;
	}
	*loss = ce / N + l2 * sq;
}
