/* test_head.c - the softmax head: initialisation, the stable cross-entropy,
 * the gradient against finite differences of a double-precision loss, Adam
 * against hand-computed numbers and its fast path against the reference,
 * the fused trainer against plain double-precision steps, determinism over
 * seeds and thread counts, learning separable data, the validation split,
 * and the head file (round trip, the Keras layout attribute by attribute,
 * errors).
 * Letters: N samples, D features, K classes. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "error.h"
#include "head/head.h"
#include "head/head_impl.h"
#include "kernels/isa.h"
#include "testutil.h"

static int32_t *rand_labels(rng_t *r, size_t n, int K)
{
	int32_t *y = malloc((n ? n : 1) * sizeof *y);
	assert_non_null(y);
	for (size_t i = 0; i < n; i++)
		y[i] = (int32_t)(rng_next(r) % (uint64_t)K);
	return y;
}

/* |a - ref| <= atol + rtol * |ref| for every element, ref in float. */
static void assert_close_f(const char *what, const float *a, const float *ref,
			   size_t n, double atol, double rtol)
{
	double *d = malloc((n ? n : 1) * sizeof *d);
	assert_non_null(d);
	for (size_t i = 0; i < n; i++)
		d[i] = ref[i];
	tu_assert_close(what, a, d, n, atol, 0, rtol);
	free(d);
}

/* ---- double-precision references -------------------------------------- */

/* The loss of the head shaped as h whose parameters are p (double, in
 * head_t's layout) on x (N, D), y (N): the mean cross-entropy, each
 * sample's target smoothed and its loss weighed as lo says (NULL: plain),
 * plus l2 * the squares of every kernel, layer by layer with ReLU between,
 * all in double; its gradient into g (nparams) when non-NULL. */
static double loss_ref(const head_t *h, const double *p, const float *x,
		       const int32_t *y, int N, const head_loss_t *lo, double l2,
		       double *g)
{
	int L = h->nlayers, K = h->K;
	double *act[HEAD_MAX_LAYERS], *d = NULL, loss = 0, sq = 0;
	double ls = lo ? lo->smoothing : 0;

	for (int l = 0; l < L; l++) {
		const head_layer_t *Ly = &h->layer[l];
		const double *k = p + (Ly->kernel - h->params), *b = p + (Ly->bias - h->params);
		act[l] = malloc((size_t)N * Ly->out * sizeof *act[l]);
		assert_non_null(act[l]);
		for (int n = 0; n < N; n++)
			for (int o = 0; o < Ly->out; o++) {
				double s = b[o];
				for (int i = 0; i < Ly->in; i++)
					s += (l ? act[l - 1][(size_t)n * Ly->in + i]
						: (double)x[(size_t)n * Ly->in + i]) *
					     k[(size_t)i * Ly->out + o];
				act[l][(size_t)n * Ly->out + o] = l == L - 1 || s > 0 ? s : 0;
			}
	}
	/* The loss, and the logits' gradient in their place. */
	for (int n = 0; n < N; n++) {
		double *l = act[L - 1] + (size_t)n * K, mx = -INFINITY, s = 0;
		double w = lo && lo->class_weight ? lo->class_weight[y[n]] : 1;
		for (int k = 0; k < K; k++)
			mx = l[k] > mx ? l[k] : mx;
		for (int k = 0; k < K; k++)
			s += exp(l[k] - mx);
		for (int k = 0; k < K; k++) {
			double t = (1 - ls) * (k == y[n]) + ls / K;
			loss += w * t * (mx + log(s) - l[k]);
		}
		for (int k = 0; k < K; k++)
			l[k] = w * (exp(l[k] - mx) / s - ((1 - ls) * (k == y[n]) + ls / K)) / N;
	}
	if (g)
		memset(g, 0, h->nparams * sizeof *g);
	d = act[L - 1];
	for (int l = L - 1; g && l >= 0; l--) {
		const head_layer_t *Ly = &h->layer[l];
		const double *k = p + (Ly->kernel - h->params);
		double *gk = g + (Ly->kernel - h->params), *gb = g + (Ly->bias - h->params);
		int Fi = Ly->in, Fo = Ly->out;
		for (int n = 0; n < N; n++)
			for (int o = 0; o < Fo; o++) {
				double dn = d[(size_t)n * Fo + o];
				gb[o] += dn;
				for (int i = 0; i < Fi; i++)
					gk[(size_t)i * Fo + o] += (l ? act[l - 1][(size_t)n * Fi + i]
								    : (double)x[(size_t)n * Fi + i]) * dn;
			}
		if (l == 0)
			break;
		/* Through the kernel and the ReLU, into the previous layer's
		 * outputs (their activations are no longer needed). */
		for (int n = 0; n < N; n++)
			for (int i = 0; i < Fi; i++) {
				double s = 0, *a = &act[l - 1][(size_t)n * Fi + i];
				for (int o = 0; o < Fo; o++)
					s += d[(size_t)n * Fo + o] * k[(size_t)i * Fo + o];
				*a = *a > 0 ? s : 0;
			}
		d = act[l - 1];
	}
	for (int l = 0; l < L; l++) {
		const head_layer_t *Ly = &h->layer[l];
		size_t off = (size_t)(Ly->kernel - h->params);
		for (size_t i = off; i < off + (size_t)Ly->in * Ly->out; i++) {
			sq += p[i] * p[i];
			if (g)
				g[i] += 2 * l2 * p[i];
		}
		free(act[l]);
	}
	return loss / N + l2 * sq;
}

static double *to_double(const float *p, size_t n)
{
	double *d = malloc((n ? n : 1) * sizeof *d);
	assert_non_null(d);
	for (size_t i = 0; i < n; i++)
		d[i] = p[i];
	return d;
}

/* ---- the layer ---------------------------------------------------------- */

static void test_glorot_init(void **state)
{
	(void)state;
	head_t a, b, c;
	int D = 300, K = 37;
	double limit = sqrt(6.0 / (D + K)), sum = 0, sq = 0;
	size_t n = (size_t)D * K;

	assert_int_equal(head_create(D, 0, NULL, K, 7, &a, NULL), 0);
	assert_int_equal(head_create(D, 0, NULL, K, 7, &b, NULL), 0);
	assert_int_equal(head_create(D, 0, NULL, K, 8, &c, NULL), 0);
	assert_int_equal(a.D, D);
	assert_int_equal(a.K, K);
	assert_ptr_equal(a.layer[0].kernel, a.params);
	assert_ptr_equal(a.layer[0].bias, a.params + n);
	assert_int_equal(a.nlayers, 1);
	assert_int_equal(a.nparams, n + K);
	for (size_t i = 0; i < n; i++) {
		assert_true(fabs(a.params[i]) < limit);
		sum += a.params[i];
		sq += (double)a.params[i] * a.params[i];
	}
	/* U(-limit, limit): mean 0, variance limit^2 / 3 (11,100 draws). */
	assert_true(fabs(sum / n) < 0.02 * limit);
	assert_true(fabs(sq / n / (limit * limit / 3) - 1) < 0.05);
	for (int k = 0; k < K; k++)
		assert_true(a.layer[0].bias[k] == 0.0f);
	assert_memory_equal(a.params, b.params, (n + K) * sizeof(float));
	assert_memory_not_equal(a.params, c.params, n * sizeof(float));
	head_free(&a);
	head_free(&b);
	head_free(&c);
	head_free(NULL);
	assert_int_equal(head_create(0, 0, NULL, 3, 1, &a, NULL), ERR_ARG);
	assert_int_equal(head_create(3, 0, NULL, 0, 1, &a, NULL), ERR_ARG);

	/* A hidden layer: layer 0 draws what the softmax layer alone drew,
	 * layer 1 its own numbers within its own limit; the parameters lie
	 * layer after layer, kernel then bias. */
	int H = 50;
	assert_int_equal(head_create(D, 0, NULL, H, 7, &a, NULL), 0);
	assert_int_equal(head_create(D, 1, &H, K, 7, &b, NULL), 0);
	assert_int_equal(b.nlayers, 2);
	assert_int_equal(b.D, D);
	assert_int_equal(b.K, K);
	assert_int_equal(b.nparams, (size_t)D * H + H + (size_t)H * K + K);
	assert_ptr_equal(b.layer[1].kernel, b.layer[0].bias + H);
	assert_ptr_equal(b.layer[1].bias, b.layer[1].kernel + (size_t)H * K);
	assert_int_equal(b.layer[1].in, H);
	assert_int_equal(b.layer[1].out, K);
	assert_memory_equal(a.params, b.params, ((size_t)D * H + H) * sizeof(float));
	double limit1 = sqrt(6.0 / (H + K));
	sum = 0;
	for (size_t i = 0; i < (size_t)H * K; i++) {
		assert_true(fabs(b.layer[1].kernel[i]) < limit1);
		sum += fabs(b.layer[1].kernel[i]);
	}
	/* |U(-limit, limit)| has mean limit / 2. */
	assert_true(fabs(sum / (H * K) / (limit1 / 2) - 1) < 0.05);
	for (int k = 0; k < K; k++)
		assert_true(b.layer[1].bias[k] == 0.0f);
	head_free(&a);
	head_free(&b);
	int too_many[HEAD_MAX_LAYERS] = {4, 4, 4, 4};
	assert_int_equal(head_create(3, HEAD_MAX_LAYERS, too_many, 2, 1, &a, NULL), ERR_ARG);
	int zero = 0;
	assert_int_equal(head_create(3, 1, &zero, 2, 1, &a, NULL), ERR_ARG);
}

/* The logits (N, K) of head h for x (N, D), in double: layer by layer,
 * ReLU between. */
static void forward_ref(const head_t *h, const float *x, int N, double *logits)
{
	double *in = NULL;
	for (int l = 0; l < h->nlayers; l++) {
		const head_layer_t *L = &h->layer[l];
		double *out = l == h->nlayers - 1 ? logits : malloc((size_t)N * L->out * sizeof *out);
		assert_non_null(out);
		for (int n = 0; n < N; n++)
			for (int o = 0; o < L->out; o++) {
				double s = L->bias[o];
				for (int i = 0; i < L->in; i++)
					s += (l ? in[(size_t)n * L->in + i] : (double)x[(size_t)n * L->in + i]) *
					     L->kernel[(size_t)i * L->out + o];
				out[(size_t)n * L->out + o] = l == h->nlayers - 1 || s > 0 ? s : 0;
			}
		free(in);
		in = l == h->nlayers - 1 ? NULL : out;
	}
}

/* Heads of one, two and three layers against the double reference, with
 * biases that are not zero. */
static void test_forward_matches_reference(void **state)
{
	static const int hidden[2] = {19, 6};
	(void)state;
	for (int nh = 0; nh <= 2; nh++) {
		rng_t r = {11};
		int D = 77, K = 13, N = 9;
		head_t h;
		assert_int_equal(head_create(D, nh, hidden, K, 3, &h, NULL), 0);
		assert_int_equal(h.nlayers, nh + 1);
		for (int l = 0; l < h.nlayers; l++)
			for (int o = 0; o < h.layer[l].out; o++)
				h.layer[l].bias[o] = (float)(rng_uniform(&r) - 0.5);
		float *x = tu_rand_floats(&r, (size_t)N * D, -1, 2);
		float *logits = malloc((size_t)N * K * sizeof *logits);
		float *work = malloc(head_work_floats(&h, N) * sizeof *work);
		double *ref = malloc((size_t)N * K * sizeof *ref);
		assert_true(logits && work && ref);
		head_forward(&h, x, N, logits, work);
		forward_ref(&h, x, N, ref);
		tu_assert_close("logits", logits, ref, (size_t)N * K, 1e-5, 0, 1e-5);
		free(x), free(logits), free(work), free(ref);
		head_free(&h);
	}
}

/* head_probabilities against the double reference's softmax: heads of one
 * to three layers, odd shapes, logits spread over hundreds (where a float32
 * head's rounding moves a probability past 1e-6); all the rows at once
 * (past HEAD_PROB_ROWS) and each row alone, bit for bit the same. */
static void test_probabilities_in_double(void **state)
{
	static const int hidden[2] = {19, 6};
	(void)state;
	for (int nh = 0; nh <= 2; nh++) {
		rng_t r = {17};
		int D = 301, K = 13, N = HEAD_PROB_ROWS + 5;
		head_t h;
		assert_int_equal(head_create(D, nh, hidden, K, 5, &h, NULL), 0);
		for (int l = 0; l < h.nlayers; l++) {
			for (int o = 0; o < h.layer[l].out; o++)
				h.layer[l].bias[o] = (float)(rng_uniform(&r) - 0.5);
			for (size_t i = 0; i < (size_t)h.layer[l].in * h.layer[l].out; i++)
				h.layer[l].kernel[i] *= 16;
		}
		/* ReLU outputs: about half the inputs zero, as fc2's. */
		float *x = tu_rand_floats(&r, (size_t)N * D, -3, 3);
		for (size_t i = 0; i < (size_t)N * D; i++)
			x[i] = x[i] > 0 ? x[i] : 0;
		double *ref = malloc((size_t)N * K * sizeof *ref), p[13];
		double *all = malloc((size_t)N * K * sizeof *all);
		double *work = malloc(head_probabilities_doubles(&h) * sizeof *work);
		assert_true(ref && all && work);
		forward_ref(&h, x, N, ref);
		head_probabilities(&h, x, N, work, all);
		double spread = 0;
		for (int n = 0; n < N; n++) {
			const double *z = ref + (size_t)n * K;
			double mx = z[0], mn = z[0], sum = 0;
			for (int k = 1; k < K; k++)
				mx = z[k] > mx ? z[k] : mx, mn = z[k] < mn ? z[k] : mn;
			spread = mx - mn > spread ? mx - mn : spread;
			for (int k = 0; k < K; k++)
				sum += exp(z[k] - mx);
			head_probabilities(&h, x + (size_t)n * D, 1, work, p);
			for (int k = 0; k < K; k++)
				assert_true(fabs(p[k] - exp(z[k] - mx) / sum) <= 1e-14);
			assert_memory_equal(p, all + (size_t)n * K, (size_t)K * sizeof *p);
		}
		print_message("%d hidden: logits spread over %.0f\n", nh, spread);
		assert_true(spread > 100);
		free(x), free(ref), free(all), free(work);
		head_free(&h);
	}
}

static void test_xent_stable(void **state)
{
	(void)state;
	/* Logits far beyond exp's range: log-sum-exp keeps every term finite. */
	const float logits[4][3] = {
		{1e30f, 0, -1e30f},
		{3e38f, 3e38f, -3e38f},
		{-1e4f, -1e4f - 2, -1e4f - 4},
		{1000, 0, 0},
	};
	const int32_t y[4] = {0, 1, 2, 1};
	float dl[12];
	double loss = 0;
	long correct = 0;

	head_xent(&logits[0][0], y, 4, 3, NULL, 1.0f, dl, &loss, &correct);
	assert_true(isfinite(loss));
	/* Row by row: 0, log 2, 4 + log(1 + e^2 + e^4) - ... , 1000. */
	double lse2 = log(1 + exp(-2.0) + exp(-4.0));
	double want = 0 + log(2.0) + (4 + lse2) + 1000;
	assert_true(fabs(loss - want) < 1e-3);
	for (int i = 0; i < 12; i++)
		assert_true(isfinite(dl[i]));
	/* softmax - onehot: row 0 is (1, 0, 0) - (1, 0, 0). */
	assert_true(fabsf(dl[0]) < 1e-6f && fabsf(dl[1]) < 1e-6f);
	assert_true(fabsf(dl[3] - 0.5f) < 1e-6f && fabsf(dl[4] + 0.5f) < 1e-6f);
	assert_true(fabsf(dl[9] - 1.0f) < 1e-6f && fabsf(dl[10] + 1.0f) < 1e-6f &&
		    fabsf(dl[11]) < 1e-6f);
	/* Row 1 ties: the first largest logit (0) is the prediction, so only
	 * row 0 is right. */
	assert_int_equal(correct, 1);

	/* Ordinary logits against the double reference. */
	rng_t r = {5};
	int N = 17, K = 11;
	float *l = tu_rand_floats(&r, (size_t)N * K, -20, 20);
	int32_t *yy = rand_labels(&r, (size_t)N, K);
	float *d = malloc((size_t)N * K * sizeof *d);
	double *dref = malloc((size_t)N * K * sizeof *dref), lref = 0;
	assert_true(d && dref);
	loss = 0;
	correct = 0;
	head_xent(l, yy, N, K, NULL, 0.25f, d, &loss, &correct);
	for (int n = 0; n < N; n++) {
		double mx = -INFINITY, s = 0;
		for (int k = 0; k < K; k++)
			mx = fmax(mx, l[(size_t)n * K + k]);
		for (int k = 0; k < K; k++)
			s += exp(l[(size_t)n * K + k] - mx);
		lref += mx + log(s) - l[(size_t)n * K + yy[n]];
		for (int k = 0; k < K; k++)
			dref[(size_t)n * K + k] = 0.25 * (exp(l[(size_t)n * K + k] - mx) / s -
							  (k == yy[n]));
	}
	assert_true(fabs(loss - lref) <= 1e-9 * fabs(lref));
	tu_assert_close("dlogits", d, dref, (size_t)N * K, 1e-7, 0, 1e-5);
	free(l), free(yy), free(d), free(dref);
}

/* head_gradient and the double reference against central differences of
 * the double loss: one layer, one layer with smoothing and class weights,
 * one hidden layer, two; L2 on every kernel. */
static void test_gradient_finite_differences(void **state)
{
	static const int hidden[2] = {6, 4};
	static const float cw[5] = {0.5f, 2.0f, 1.0f, 0.25f, 3.0f};
	static const struct { int nh; head_loss_t lo; } cases[] = {
		{0, {0, NULL}}, {0, {0.1, cw}}, {1, {0, NULL}}, {2, {0.2, cw}},
	};
	(void)state;
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		rng_t r = {42};
		int D = 9, K = 5, N = 7;
		double l2 = 0.01;
		head_t h;
		assert_int_equal(head_create(D, cases[c].nh, hidden, K, 9, &h, NULL), 0);
		size_t np = h.nparams;
		for (int l = 0; l < h.nlayers; l++)
			for (int o = 0; o < h.layer[l].out; o++)
				h.layer[l].bias[o] = (float)(0.3 * (rng_uniform(&r) - 0.5));
		float *x = tu_rand_floats(&r, (size_t)N * D, 0, 2);
		int32_t *y = rand_labels(&r, (size_t)N, K);
		float *g = malloc(np * sizeof *g);
		float *work = malloc(head_gradient_floats(&h, N) * sizeof *work);
		double *p = to_double(h.params, np), *gref = malloc(np * sizeof *gref);
		double *fd = malloc(np * sizeof *fd), loss;
		const head_loss_t *lo = &cases[c].lo;
		assert_true(g && work && gref && fd);

		head_gradient(&h, x, y, N, lo, l2, work, g, &loss);
		double lref = loss_ref(&h, p, x, y, N, lo, l2, gref);
		assert_true(fabs(loss - lref) < 1e-6 * fabs(lref));
		/* Central differences of the double loss, step 1e-5: truncation
		 * error ~1e-10, rounding ~1e-11 (a ReLU's kink is seldom within
		 * 1e-5 of a unit's sum). */
		for (size_t i = 0; i < np; i++) {
			double keep = p[i], e = 1e-5;
			p[i] = keep + e;
			double up = loss_ref(&h, p, x, y, N, lo, l2, NULL);
			p[i] = keep - e;
			double down = loss_ref(&h, p, x, y, N, lo, l2, NULL);
			p[i] = keep;
			fd[i] = (up - down) / (2 * e);
		}
		/* The double analytic gradient agrees tightly, the float one to
		 * float precision. */
		for (size_t i = 0; i < np; i++)
			if (!(fabs(gref[i] - fd[i]) <= 1e-8 + 1e-6 * fabs(fd[i])))
				fail_msg("case %zu, parameter %zu: analytic %.12g, differences "
					 "%.12g", c, i, gref[i], fd[i]);
		tu_assert_close("gradient", g, fd, np, 1e-6, 0, 1e-4);
		free(x), free(y), free(g), free(work), free(p), free(gref), free(fd);
		head_free(&h);
	}
}

/* ---- Adam --------------------------------------------------------------------- */

static void test_adam_hand_computed(void **state)
{
	(void)state;
	adam_t a;
	float w[4] = {0.5f, -0.25f, 1.0f, 0.0f};
	const float g1[4] = {0.1f, -0.2f, 0.0f, 1e-8f}, g2[4] = {0.1f, 0.3f, 0.0f, 0.0f};

	assert_int_equal(adam_init(&a, 4, 1e-3, 0.9, 0.999, 1e-7, NULL), 0);
	/* t = 1: alpha = lr * sqrt(1 - beta2) / (1 - beta1) = 3.16227766e-4;
	 * for g = 0.1: m = 0.01, v = 1e-5, sqrt(v) = 3.16227766e-3, and
	 * w = 0.5 - alpha * 0.01 / (3.16227766e-3 + 1e-7) = 0.49900003162.
	 * g = 0 leaves w alone; g = 1e-8 shows epsilon: sqrt(v) = 3.2e-10
	 * is small beside it, so the step is 3.15e-6, not 1e-3.
	 * The hyperparameters are float32, as Keras' are: 0.999f is
	 * 0.99900001287, which moves alpha in its sixth digit; the numbers
	 * below are the formulas evaluated in double with those values. */
	float alpha = adam_next(&a);
	assert_true(fabs(alpha - 3.1622566166333854e-4) < 1e-11);
	adam_apply(&a, alpha, 0, 4, w, g1, 0);
	const double w1[4] = {0.4990000316007913, -0.24900001579005093, 1.0,
			      -3.152288965773241e-06};
	tu_assert_close("w after step 1", w, w1, 4, 1e-8, 0, 1e-7);
	assert_true(fabs(a.m[0] - 0.01) < 1e-8 && fabs(a.v[1] - 4e-5) < 1e-9);
	/* t = 2: alpha = lr * sqrt(1 - beta2^2) / (1 - beta1^2). */
	alpha = adam_next(&a);
	assert_true(fabs(alpha - 2.3531516490038484e-4) < 1e-11);
	adam_apply(&a, alpha, 0, 4, w, g2, 0);
	const double w2[4] = {0.49800005393791447, -0.24924771546487617, 1.0,
			      -5.263453155638622e-06};
	tu_assert_close("w after step 2", w, w2, 4, 1e-8, 0, 1e-7);
	assert_int_equal(a.t, 2);
	adam_free(&a);

	/* L2: the gradient gets 2 * l2 * w, and the squares of w before the
	 * step come back (0.5^2 + 2^2 = 4.25). */
	float v[2] = {0.5f, -2.0f};
	const float g[2] = {0.0f, 0.1f};
	assert_int_equal(adam_init(&a, 2, 1e-3, 0.9, 0.999, 1e-7, NULL), 0);
	double sq = adam_apply(&a, adam_next(&a), 0, 2, v, g, 0.01f);
	assert_true(fabs(sq - 4.25) < 1e-12);
	const double vref[2] = {0.49900031610866, -2.0009999473190003};
	tu_assert_close("w with l2", v, vref, 2, 1e-7, 0, 1e-7);
	adam_free(&a);
	adam_free(NULL);
	assert_int_equal(adam_init(&a, 2, 0, 0.9, 0.999, 1e-7, NULL), ERR_ARG);
	assert_int_equal(adam_init(&a, 2, 1e-3, 1.0, 0.999, 1e-7, NULL), ERR_ARG);
}

/* The vectorised update against the reference, odd length (a tail), with
 * and without L2, over several steps and an offset. */
static void test_adam_fast_matches_reference(void **state)
{
	(void)state;
	for (int with_l2 = 0; with_l2 < 2; with_l2++) {
		rng_t r = {(uint64_t)(100 + with_l2)};
		size_t n = 1037, off = 13;
		adam_t fast, ref;
		float *w = tu_rand_floats(&r, n, -1, 1), *wr = malloc(n * sizeof *wr);
		assert_non_null(wr);
		memcpy(wr, w, n * sizeof *w);
		assert_int_equal(adam_init(&fast, n + off, 1e-3, 0.9, 0.999, 1e-7, NULL), 0);
		assert_int_equal(adam_init(&ref, n + off, 1e-3, 0.9, 0.999, 1e-7, NULL), 0);
		for (int step = 0; step < 5; step++) {
			float *g = tu_rand_floats(&r, n, -0.1, 0.1);
			float l2 = with_l2 ? 0.05f : 0.0f;
			float a1 = adam_next(&fast), a2 = adam_next(&ref);
			assert_true(a1 == a2);
			double s1 = adam_apply(&fast, a1, off, n, w, g, l2);
			double s2 = adam_apply_ref(&ref, a2, off, n, wr, g, l2);
			assert_true(fabs(s1 - s2) <= 1e-6 * s2);
			free(g);
		}
		assert_close_f("w", w, wr, n, 1e-7, 1e-5);
		assert_close_f("m", fast.m + off, ref.m + off, n, 1e-9, 1e-5);
		assert_close_f("v", fast.v + off, ref.v + off, n, 1e-12, 1e-5);
		free(w), free(wr);
		adam_free(&fast);
		adam_free(&ref);
	}
}

/* The update of one element in float, written out as kern_adam.h
 * says: every ISA's w, m and v must have these bits. */
static void adam_plain(float *w, float *m, float *v, const float *g, size_t n,
		       float alpha, float c1, float c2, float eps, float l2x2)
{
	for (size_t i = 0; i < n; i++) {
		float gi = g[i];
		if (l2x2 != 0)
			gi = gi + l2x2 * w[i];
		m[i] = m[i] + (gi - m[i]) * c1;
		v[i] = v[i] + (gi * gi - v[i]) * c2;
		w[i] = w[i] - (alpha * m[i]) / (sqrtf(v[i]) + eps);
	}
}

/* Every ISA this CPU has (the others are named as skipped): w, m and v
 * with the same bits as the plain float update, and the sum of squares
 * with the same bits as the portable kernel's, over lengths around the
 * 16-element block, with and without L2; g left as it was. */
static void test_adam_isas_same_bits(void **state)
{
	static const size_t lens[] = {1, 15, 16, 17, 33, 597};
	const size_t off = 5;
	(void)state;
	for (int isa = ISA_PORTABLE; isa < ISA_COUNT; isa++) {
		if (!isa_cpu_has(isa)) {
			print_message("adam on %s: skipped (this CPU lacks it)\n",
				      isa_name(isa));
			continue;
		}
		for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
			for (int variant = 0; variant < 2; variant++) {
				size_t n = lens[li];
				int with_l2 = variant;
				float l2 = with_l2 ? 0.05f : 0.0f;
				rng_t r = {(uint64_t)(7 * n + (size_t)variant)};
				adam_t a, p;
				float *w = tu_rand_floats(&r, n, -1, 1);
				float *wp = malloc(n * sizeof *wp), *wq = malloc(n * sizeof *wq);
				float *mq = calloc(n, sizeof *mq), *vq = calloc(n, sizeof *vq);
				assert_true(wp && wq && mq && vq);
				memcpy(wp, w, n * sizeof *w);
				memcpy(wq, w, n * sizeof *w);
				assert_int_equal(adam_init(&a, n + off, 1e-3, 0.9, 0.999, 1e-7, NULL), 0);
				assert_int_equal(adam_init(&p, n + off, 1e-3, 0.9, 0.999, 1e-7, NULL), 0);
				a.isa = isa;
				p.isa = ISA_PORTABLE;
				for (int step = 0; step < 3; step++) {
					float *g = tu_rand_floats(&r, n, -0.1, 0.1);
					float *gp = malloc(n * sizeof *gp);
					double plain_sq = 0;
					assert_non_null(gp);
					memcpy(gp, g, n * sizeof *g);
					for (size_t i = 0; i < n; i++)
						plain_sq += (double)wq[i] * wq[i];
					float alpha = adam_next(&a);
					assert_true(adam_next(&p) == alpha);
					double sq = adam_apply(&a, alpha, off, n, w, g, l2);
					double sqp = adam_apply(&p, alpha, off, n, wp, gp, l2);
					adam_plain(wq, mq, vq, gp, n, alpha, 1.0f - a.beta1,
						   1.0f - a.beta2, a.epsilon, 2.0f * l2);
					assert_memory_equal(w, wq, n * sizeof *w);
					assert_memory_equal(a.m + off, mq, n * sizeof *mq);
					assert_memory_equal(a.v + off, vq, n * sizeof *vq);
					assert_memory_equal(&sq, &sqp, sizeof sq);
					if (with_l2)
						assert_true(fabs(sq - plain_sq) <= 1e-12 * plain_sq);
					else
						assert_true(sq == 0);
					for (size_t i = 0; i < n; i++)
						assert_true(g[i] == gp[i]);
					free(g), free(gp);
				}
				free(w), free(wp), free(wq), free(mq), free(vq);
				adam_free(&a);
				adam_free(&p);
			}
		print_message("adam on %s: ran, the same bits\n", isa_name(isa));
	}
}

/* The fused step of a block of rows (kern_step.h), written out plainly
 * (x and xn transposed, a row per kernel row, ldx apart):
 * g[i][o] = sum over b of x[i][b] dz[b][o] from 0 in batch order, Adam as
 * adam_plain, then part[b][o] = sum of xn[i][b] w[i][o] from 0 in row
 * order; each multiply-add fused (C99's fmaf), as every table's step does
 * them.  Returns the squares of the rows before the update, in row order,
 * when l2x2 != 0. */
static double step_plain(int R, int O, int nb, int nn, const float *x, const float *xn,
			 size_t ldx, const float *dz, float *w, float *m, float *v,
			 float *part, float alpha, float c1, float c2, float eps,
			 float l2x2)
{
	double sq = 0;
	float *g = malloc((size_t)O * sizeof *g);
	assert_non_null(g);
	if (nb && l2x2 != 0)
		for (size_t i = 0; i < (size_t)R * O; i++)
			sq += (double)w[i] * w[i];
	for (int i = 0; nb && i < R; i++) {
		for (int o = 0; o < O; o++) {
			float s = 0;
			for (int b = 0; b < nb; b++)
				s = fmaf(x[i * ldx + b], dz[(size_t)b * O + o], s);
			g[o] = s;
		}
		adam_plain(w + (size_t)i * O, m + (size_t)i * O, v + (size_t)i * O, g,
			   (size_t)O, alpha, c1, c2, eps, l2x2);
	}
	for (int b = 0; b < nn; b++)
		for (int o = 0; o < O; o++) {
			float p = 0;
			for (int i = 0; i < R; i++)
				p = fmaf(xn[i * ldx + b], w[(size_t)i * O + o], p);
			part[(size_t)b * O + o] = p;
		}
	free(g);
	return sq;
}

/* The fused step on rows (R, O) and their moments m, v (R, O) as the
 * trainer runs it: packed into the panels of a->isa's lanes, the step,
 * unpacked back. */
static double step_rows(adam_t *a, float alpha, kern_step_t *st, float *m, float *v,
			float l2)
{
	int lanes = kern_for(a->isa)->lanes, R = st->R, O = st->O;
	size_t np = kern_step_panels(R, O, lanes);
	float *rows = st->w, *wp = malloc(np * sizeof *wp), *mp = malloc(np * sizeof *mp);
	float *vp = malloc(np * sizeof *vp);
	float *g = malloc(kern_step_scratch(R, lanes) * sizeof *g);
	assert_true(wp && mp && vp && g);
	kern_step_pack(R, O, lanes, rows, (size_t)O, wp);
	kern_step_pack(R, O, lanes, m, (size_t)O, mp);
	kern_step_pack(R, O, lanes, v, (size_t)O, vp);
	st->w = wp, st->m = mp, st->v = vp, st->g = g;
	double sq = adam_step_panels(a, alpha, st, l2);
	st->w = rows;
	kern_step_unpack(R, O, lanes, wp, rows, (size_t)O);
	kern_step_unpack(R, O, lanes, mp, m, (size_t)O);
	kern_step_unpack(R, O, lanes, vp, v, (size_t)O);
	/* The padding stays zeros: an update never reaches it. */
	for (int c = 0, nv = (O + lanes - 1) / lanes, j0 = 0; j0 < nv; c++) {
		int kc = kern_step_chunk(nv, c);
		if (j0 + kc == nv)
			for (int r = 0; r < R; r++)
				for (int i = O - j0 * lanes; i < kc * lanes; i++) {
					size_t at = (size_t)j0 * R * lanes + (size_t)r * kc * lanes + i;
					assert_true(wp[at] == 0 && mp[at] == 0 && vp[at] == 0);
				}
		j0 += kc;
	}
	free(wp), free(mp), free(vp), free(g);
	return sq;
}

/* The panels: chunks that cut nv vectors into at most KERN_STEP_KC each,
 * the narrower first; packing then unpacking gives the rows back, with
 * zeros for padding, for every lane count and around the chunks. */
static void test_step_panels(void **state)
{
	static const int lanes[] = {4, 8, 16}, Os[] = {1, 15, 16, 17, 48, 49, 100, 290};
	(void)state;
	for (int nv = 1; nv <= 40; nv++) {
		int sum = 0, prev = 0;
		for (int c = 0; sum < nv; c++) {
			int kc = kern_step_chunk(nv, c);
			assert_true(kc >= 1 && kc <= KERN_STEP_KC && kc >= prev);
			prev = kc;
			sum += kc;
		}
		assert_int_equal(sum, nv);
	}
	for (size_t li = 0; li < sizeof lanes / sizeof *lanes; li++)
		for (size_t oi = 0; oi < sizeof Os / sizeof *Os; oi++)
			for (int R = 1; R <= 9; R += 4) {
				int L = lanes[li], O = Os[oi];
				size_t np = kern_step_panels(R, O, L), ld = (size_t)O + 3;
				rng_t r = {(uint64_t)(100 * L + O + R)};
				float *rows = tu_rand_floats(&r, (size_t)R * ld, -1, 1);
				float *back = calloc((size_t)R * ld, sizeof *back);
				float *p = malloc(np * sizeof *p);
				size_t nonzero = 0;
				assert_true(back && p);
				assert_int_equal(np, (size_t)R * ((O + L - 1) / L) * L);
				for (size_t i = 0; i < np; i++)
					p[i] = NAN;
				kern_step_pack(R, O, L, rows, ld, p);
				for (size_t i = 0; i < np; i++) {
					assert_false(isnan(p[i]));
					nonzero += p[i] != 0;
				}
				assert_int_equal(nonzero, (size_t)R * O);
				kern_step_unpack(R, O, L, p, back, ld);
				for (int i = 0; i < R; i++)
					assert_memory_equal(back + (size_t)i * ld, rows + (size_t)i * ld,
							    (size_t)O * sizeof *back);
				free(rows), free(back), free(p);
			}
}

/* The trainer's fused step on every ISA this CPU has: w, m, v, the next
 * batch's partial outputs and the squares with the bits of the plain
 * step (fused multiply-adds on every table, portable's by fmaf), over
 * blocks of rows around the 4-row block and widths
 * around the vectors, with and without an update, with and without L2. */
static void test_step_isas_same_bits(void **state)
{
	static const int Rs[] = {4, 7, 13, 19}, Os[] = {1, 5, 16, 17, 37, 100, 290};
	static const int nbs[] = {0, 1, 5}, nns[] = {0, 3, 9};
	(void)state;
	for (int isa = ISA_PORTABLE; isa < ISA_COUNT; isa++) {
		if (!isa_cpu_has(isa)) {
			print_message("the fused step on %s: skipped (this CPU lacks it)\n",
				      isa_name(isa));
			continue;
		}
		int cases = 0;
		for (size_t ri = 0; ri < sizeof Rs / sizeof *Rs; ri++)
		for (size_t oi = 0; oi < sizeof Os / sizeof *Os; oi++)
		for (size_t bi = 0; bi < sizeof nbs / sizeof *nbs; bi++)
		for (size_t ni = 0; ni < sizeof nns / sizeof *nns; ni++)
		for (int with_l2 = 0; with_l2 < 2; with_l2++, cases++) {
			int R = Rs[ri], O = Os[oi], nb = nbs[bi], nn = nns[ni];
			/* x and xn transposed: R rows of the samples, 11 apart. */
			size_t ldx = 11, off = 2, np = (size_t)R * O;
			float l2 = with_l2 ? 0.05f : 0.0f;
			rng_t r = {(uint64_t)(1000 * R + 10 * O + nb + 3 * nn + with_l2)};
			float *x = tu_rand_floats(&r, (size_t)R * ldx, 0, 2);
			float *xn = tu_rand_floats(&r, (size_t)R * ldx, 0, 2);
			float *dz = tu_rand_floats(&r, (size_t)5 * O, -0.1, 0.1);
			float *w = tu_rand_floats(&r, np, -1, 1);
			float *part = tu_rand_floats(&r, (size_t)9 * O, -1, 1);
			float *wq = malloc(np * sizeof *wq), *pq = malloc((size_t)9 * O * sizeof *pq);
			adam_t a;
			assert_true(wq && pq);
			memcpy(wq, w, np * sizeof *w);
			memcpy(pq, part, (size_t)9 * O * sizeof *part);
			assert_int_equal(adam_init(&a, np + off, 1e-3, 0.9, 0.999, 1e-7, NULL), 0);
			a.isa = isa;
			/* Moments that are not zeros. */
			for (size_t i = 0; i < np + off; i++) {
				a.m[i] = (float)(0.01 * (rng_uniform(&r) - 0.5));
				a.v[i] = (float)(1e-4 * rng_uniform(&r));
			}
			float *mq = malloc(np * sizeof *mq), *vq = malloc(np * sizeof *vq);
			assert_true(mq && vq);
			memcpy(mq, a.m + off, np * sizeof *mq);
			memcpy(vq, a.v + off, np * sizeof *vq);
			float alpha = adam_next(&a);
			kern_step_t st = {.O = O, .R = R, .nb = nb, .nn = nn, .x = x, .xn = xn,
					  .ldx = ldx, .dz = dz, .w = w, .part = part};
			double sq = step_rows(&a, alpha, &st, a.m + off, a.v + off, l2);
			double sqq = step_plain(R, O, nb, nn, x, xn, ldx, dz, wq, mq, vq, pq,
						alpha, 1.0f - a.beta1, 1.0f - a.beta2, a.epsilon,
						2.0f * l2);
			if (memcmp(w, wq, np * sizeof *w) || memcmp(a.m + off, mq, np * sizeof *mq) ||
			    memcmp(a.v + off, vq, np * sizeof *vq) ||
			    memcmp(part, pq, (size_t)nn * O * sizeof *part) ||
			    memcmp(&sq, &sqq, sizeof sq))
				fail_msg("the fused step on %s, R %d, O %d, nb %d, nn %d, l2 %g: "
					 "other bits than the plain step's", isa_name(isa), R, O, nb,
					 nn, l2);
			if (!nb)
				assert_memory_equal(w, wq, np * sizeof *w);
			free(x), free(xn), free(dz), free(w), free(part), free(wq), free(pq);
			free(mq), free(vq);
			adam_free(&a);
		}
		print_message("the fused step on %s: %d cases, the plain step's bits\n",
			      isa_name(isa), cases);
	}
}

/* The fused step with dz and part in rows ldz apart (the trainer's
 * 64-byte rows): the bits of the same step on packed rows, the padding
 * neither read into the sums nor written, on every ISA this CPU has. */
static void test_step_row_stride(void **state)
{
	static const int Os[] = {17, 290};
	/* Two tiles of 8 rows and 3 rows after them (4 tiles and 3 rows on
	 * AVX2); the next batch a tile of 8 samples and 3 after it. */
	const int R = 19, nb = 5, nn = 11;
	const size_t ldx = 13;
	(void)state;
	for (int isa = ISA_PORTABLE; isa < ISA_COUNT; isa++) {
		if (!isa_cpu_has(isa))
			continue;
		for (size_t oi = 0; oi < sizeof Os / sizeof *Os; oi++) {
			int O = Os[oi];
			size_t ld = ((size_t)O + 15) & ~(size_t)15, np = (size_t)R * O;
			rng_t r = {(uint64_t)(31 * O + isa)};
			float *x = tu_rand_floats(&r, (size_t)R * ldx, 0, 2);
			float *xn = tu_rand_floats(&r, (size_t)R * ldx, 0, 2);
			float *dz = tu_rand_floats(&r, (size_t)nb * O, -0.1, 0.1);
			float *w = tu_rand_floats(&r, np, -1, 1);
			float *part = calloc((size_t)nn * O, sizeof *part);
			float *wq = malloc(np * sizeof *wq), *dzq = malloc((size_t)nb * ld * sizeof *dzq);
			float *pq = malloc((size_t)nn * ld * sizeof *pq);
			adam_t a, q;
			assert_true(part && wq && dzq && pq);
			memcpy(wq, w, np * sizeof *w);
			/* The padding a NaN, which any sum it entered would show. */
			for (size_t i = 0; i < (size_t)nb * ld; i++)
				dzq[i] = i % ld < (size_t)O ? dz[i / ld * O + i % ld] : NAN;
			for (size_t i = 0; i < (size_t)nn * ld; i++)
				pq[i] = NAN;
			assert_int_equal(adam_init(&a, np, 1e-3, 0.9, 0.999, 1e-7, NULL), 0);
			assert_int_equal(adam_init(&q, np, 1e-3, 0.9, 0.999, 1e-7, NULL), 0);
			a.isa = q.isa = isa;
			float alpha = adam_next(&a);
			assert_true(adam_next(&q) == alpha);
			kern_step_t st = {.O = O, .R = R, .nb = nb, .nn = nn, .x = x, .xn = xn,
					  .ldx = ldx, .dz = dz, .w = w, .part = part};
			kern_step_t sp = {.O = O, .R = R, .nb = nb, .nn = nn, .x = x, .xn = xn,
					  .ldx = ldx, .dz = dzq, .w = wq, .part = pq, .ldz = ld};
			step_rows(&a, alpha, &st, a.m, a.v, 0.0f);
			step_rows(&q, alpha, &sp, q.m, q.v, 0.0f);
			assert_memory_equal(w, wq, np * sizeof *w);
			assert_memory_equal(a.m, q.m, np * sizeof *a.m);
			assert_memory_equal(a.v, q.v, np * sizeof *a.v);
			for (int b = 0; b < nn; b++) {
				assert_memory_equal(part + (size_t)b * O, pq + (size_t)b * ld,
						    (size_t)O * sizeof *part);
				for (size_t o = (size_t)O; o < ld; o++)
					assert_true(isnan(pq[(size_t)b * ld + o]));
			}
			free(x), free(xn), free(dz), free(w), free(part), free(wq), free(dzq);
			free(pq);
			adam_free(&a);
			adam_free(&q);
		}
		print_message("the fused step on %s: rows ldz apart, the same bits\n",
			      isa_name(isa));
	}
}

/* ---- the trainer ----------------------------------------------------------- */

/* One plain step in double: gradient of the batch (lo's smoothing and
 * class weights), then adam_apply_ref at learning rate lr on each kernel
 * (with l2) and bias.  Returns the batch loss (regulariser included). */
static double ref_step(head_t *h, adam_t *a, const float *x, const int32_t *y,
		       int nb, const head_loss_t *lo, double l2, float lr)
{
	size_t np = h->nparams;
	double *p = to_double(h->params, np), *g = malloc(np * sizeof *g);
	float *gf = malloc(np * sizeof *gf);
	assert_true(g && gf);
	double loss = loss_ref(h, p, x, y, nb, lo, 0, g), sq = 0;
	for (size_t i = 0; i < np; i++)
		gf[i] = (float)g[i];
	a->lr = lr;
	float alpha = adam_next(a);
	for (int l = 0; l < h->nlayers; l++) {
		const head_layer_t *L = &h->layer[l];
		size_t ko = (size_t)(L->kernel - h->params), bo = (size_t)(L->bias - h->params);
		sq += adam_apply_ref(a, alpha, ko, (size_t)L->in * L->out, L->kernel,
				     gf + ko, (float)l2);
		adam_apply_ref(a, alpha, bo, (size_t)L->out, L->bias, gf + bo, 0);
	}
	free(p), free(g), free(gf);
	return loss + l2 * sq;
}

typedef struct problem {
	int D, K;
	size_t n;
	float *x;     /* (n, D) */
	int32_t *y;   /* (n) */
	size_t *idx;  /* (n) a permutation, so the set is not the array */
} problem_t;

static problem_t problem_make(uint64_t seed, int D, int K, size_t n)
{
	rng_t r = {seed};
	problem_t p = {D, K, n, tu_rand_floats(&r, n * D, 0, 1.5), rand_labels(&r, n, K),
		       malloc(n * sizeof(size_t))};
	assert_non_null(p.idx);
	for (size_t i = 0; i < n; i++)
		p.idx[i] = (i * 7 + 3) % n;
	return p;
}

static void problem_free(problem_t *p)
{
	free(p->x), free(p->y), free(p->idx);
}

/* The fused, threaded trainer against plain double steps over the same
 * order: three stripes (the last one partial), a partial last batch; the
 * softmax layer alone, then with a hidden layer, label smoothing, class
 * weights and CosineDecay, then with two hidden layers. */
static void test_trainer_matches_reference(void **state)
{
	static const int hidden[2] = {16, 7};
	static const float cw[5] = {1.5f, 0.5f, 1.0f, 2.0f, 0.75f};
	static const struct {
		int nh;
		double smoothing;
		const float *cw;
		long cosine;
	} cases[] = {{0, 0, NULL, 0}, {1, 0.1, cw, 9}, {2, 0, NULL, 0}};
	(void)state;
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		int D = 2 * 256 + 37, K = 5, epochs = 2;
		size_t n = 53;
		problem_t p = problem_make(21, D, K, n);
		assert_int_equal(n % 7 != 0 && p.idx[0] != 0, 1);
		head_hparams_t hp = {1e-3, 0.9, 0.999, 1e-7, 0.01, 8, 0, cases[c].cosine,
				     {cases[c].smoothing, cases[c].cw}};
		head_set_t set = {p.x, (size_t)D, p.y, p.idx, n};
		head_t h, ref;
		adam_t a;
		head_trainer_t *t;
		size_t *order = malloc(n * sizeof *order);
		float *xb = malloc((size_t)hp.batch * D * sizeof *xb);
		int32_t yb[8];
		assert_true(order && xb);

		assert_int_equal(head_create(D, cases[c].nh, hidden, K, 1, &h, NULL), 0);
		assert_int_equal(head_create(D, cases[c].nh, hidden, K, 1, &ref, NULL), 0);
		assert_int_equal(adam_init(&a, ref.nparams, hp.lr, hp.beta1, hp.beta2,
					   hp.epsilon, NULL), 0);
		assert_int_equal(head_trainer_create(&h, &hp, 3, 5, &t, NULL), 0);
		for (int e = 0, step = 0; e < epochs; e++) {
			head_metrics_t m;
			double loss = 0;
			assert_int_equal(head_trainer_epoch(t, &set, &m, order, NULL), 0);
			for (size_t s = 0; s < n; s += (size_t)hp.batch, step++) {
				int nb = n - s < (size_t)hp.batch ? (int)(n - s) : hp.batch;
				for (int b = 0; b < nb; b++) {
					size_t row = p.idx[order[s + b]];
					memcpy(xb + (size_t)b * D, p.x + row * D, (size_t)D * sizeof *xb);
					yb[b] = p.y[row];
				}
				/* CosineDecay at this step, in double. */
				double lr = hp.lr;
				if (hp.cosine_steps)
					lr *= 0.5 * (1 + cos(M_PI * (step < hp.cosine_steps ? step
							: hp.cosine_steps) / hp.cosine_steps));
				loss += nb * ref_step(&ref, &a, xb, yb, nb, &hp.loss, hp.l2,
						      (float)lr);
			}
			if (!(fabs(m.loss - loss / n) < 1e-5 * (loss / n)))
				fail_msg("case %zu epoch %d: loss %.9g, reference %.9g", c, e,
					 m.loss, loss / n);
		}
		/* Adam's step is about lr * sign(m), so a gradient that float and
		 * double round differently moves a weight by a fraction of lr;
		 * after 14 steps the worst weight differs by 1.5e-6, lr is 1e-3. */
		assert_close_f("parameters", h.params, ref.params, h.nparams, 1e-5, 1e-5);
		head_metrics_t mv;
		assert_int_equal(head_trainer_evaluate(t, &set, &mv, NULL), 0);
		double *pd = to_double(h.params, h.nparams);
		float *xs = malloc(n * D * sizeof *xs);
		int32_t *ys = malloc(n * sizeof *ys);
		assert_true(xs && ys);
		for (size_t i = 0; i < n; i++) {
			memcpy(xs + i * D, p.x + p.idx[i] * D, (size_t)D * sizeof *xs);
			ys[i] = p.y[p.idx[i]];
		}
		/* Keras' val_loss: smoothed as compiled, no class weight. */
		head_loss_t vlo = {hp.loss.smoothing, NULL};
		double lref = loss_ref(&h, pd, xs, ys, (int)n, &vlo, hp.l2, NULL);
		assert_true(fabs(mv.loss - lref) < 1e-5 * lref);
		head_trainer_free(t);
		adam_free(&a);
		head_free(&h);
		head_free(&ref);
		free(order), free(xb), free(pd), free(xs), free(ys);
		problem_free(&p);
	}
	head_trainer_free(NULL);
}

/* Trains a fresh head (nh hidden layers of widths hidden); returns it with
 * the metrics of each epoch. */
static void train(const problem_t *p, const head_hparams_t *hp, int nh,
		  const int *hidden, int threads, uint64_t seed, int epochs,
		  head_t *h, head_metrics_t *m)
{
	head_set_t set = {p->x, (size_t)p->D, p->y, p->idx, p->n};
	head_trainer_t *t;
	assert_int_equal(head_create(p->D, nh, hidden, p->K, seed, h, NULL), 0);
	assert_int_equal(head_trainer_create(h, hp, threads, seed, &t, NULL), 0);
	for (int e = 0; e < epochs; e++)
		assert_int_equal(head_trainer_epoch(t, &set, &m[e], NULL, NULL), 0);
	head_trainer_free(t);
}

/* Bit for bit the same on 1, 2 and 5 threads, for the softmax layer alone
 * and for a hidden layer with dropout (its masks drawn by position). */
static void test_deterministic_over_threads_and_seeds(void **state)
{
	static const int hidden[1] = {24};
	(void)state;
	for (int nh = 0; nh <= 1; nh++) {
		problem_t p = problem_make(8, 1000, 7, 101);
		head_hparams_t hp = {1e-3, 0.9, 0.999, 1e-7, 0.001, 16, nh ? 0.3 : 0, 0,
				     {0, NULL}};
		head_t h1, h2, h3, h4;
		head_metrics_t m1[3], m2[3], m3[3], m4[3];

		train(&p, &hp, nh, hidden, 1, 3, 3, &h1, m1);
		train(&p, &hp, nh, hidden, 2, 3, 3, &h2, m2);
		train(&p, &hp, nh, hidden, 5, 3, 3, &h3, m3);
		train(&p, &hp, nh, hidden, 2, 4, 3, &h4, m4);
		size_t np = h1.nparams;
		/* Bit for bit: the sums do not depend on who computed what. */
		assert_memory_equal(h1.params, h2.params, np * sizeof(float));
		assert_memory_equal(h1.params, h3.params, np * sizeof(float));
		assert_memory_equal(m1, m2, sizeof m1);
		assert_memory_equal(m1, m3, sizeof m1);
		assert_memory_not_equal(h1.params, h4.params, np * sizeof(float));
		head_free(&h1), head_free(&h2), head_free(&h3), head_free(&h4);
		problem_free(&p);
	}
}

static void test_learns_separable_data(void **state)
{
	(void)state;
	/* Each class lights its own block of features, over noise. */
	int D = 40, K = 4;
	size_t n = 240;
	rng_t r = {77};
	problem_t p = {D, K, n, tu_rand_floats(&r, n * D, 0, 0.5), rand_labels(&r, n, K),
		       malloc(n * sizeof(size_t))};
	assert_non_null(p.idx);
	for (size_t i = 0; i < n; i++) {
		p.idx[i] = i;
		for (int d = 0; d < D / K; d++)
			p.x[i * D + (size_t)p.y[i] * (D / K) + d] += 1.0f;
	}
	head_hparams_t hp = {1e-2, 0.9, 0.999, 1e-7, 0, 32, 0, 0, {0, NULL}};
	head_metrics_t m[20];
	head_t h;
	train(&p, &hp, 0, NULL, 2, 1, 20, &h, m);
	assert_true(m[19].accuracy >= 0.99);
	assert_true(m[19].loss < 0.2 && m[19].loss < m[0].loss);
	head_free(&h);
	problem_free(&p);
}

/* Dropout's scale: in training, a unit is kept with probability 1 - rate
 * and scaled by 1 / (1 - rate), so that the mean activation is the one
 * inference sees (where nothing is dropped); the masks are a function of
 * (seed, step, site, row, unit) alone, whatever slice of units is asked
 * for. */
static void test_dropout_scale(void **state)
{
	static const double rates[] = {0.1, 0.5, 0.8};
	enum { ROWS = 64, UNITS = 4096 };
	rng_t r = {5};
	float *x = tu_rand_floats(&r, UNITS, 0, 3);
	float *out = malloc(UNITS * sizeof *out), *part = malloc(UNITS * sizeof *part);
	(void)state;
	assert_true(out && part);
	double xmean = 0;
	for (int j = 0; j < UNITS; j++)
		xmean += x[j] / UNITS;
	for (size_t i = 0; i < sizeof rates / sizeof *rates; i++) {
		double rate = rates[i], mean = 0;
		float scale = (float)(1.0 / (1.0 - rate));
		size_t kept = 0, total = 0;
		for (int row = 0; row < ROWS; row++) {
			head_dropout(99, 7, 1, row, rate, x, out, 0, UNITS);
			for (int j = 0; j < UNITS; j++) {
				assert_true(out[j] == 0.0f || out[j] == x[j] * scale);
				kept += out[j] != 0.0f;
				mean += out[j];
			}
			total += UNITS;
			/* Any slice of the units: the same draws. */
			memset(part, 0, UNITS * sizeof *part);
			head_dropout(99, 7, 1, row, rate, x + 1000, part + 1000, 1000, 777);
			assert_memory_equal(part + 1000, out + 1000, 777 * sizeof *part);
		}
		mean /= (double)total;
		double keep = (double)kept / (double)total;
		/* 262,144 draws: the kept share within 5 standard deviations. */
		double sd = sqrt(rate * (1 - rate) / (double)total);
		print_message("dropout %.1f: kept %.4f (want %.4f), mean activation in "
			      "training %.4f, in inference %.4f (ratio %.4f)\n", rate, keep,
			      1 - rate, mean, xmean, mean / xmean);
		assert_true(fabs(keep - (1 - rate)) < 5 * sd);
		assert_true(fabs(mean / xmean - 1) < 0.03);
		/* Another step, site or seed: other masks. */
		head_dropout(99, 8, 1, 0, rate, x, part, 0, UNITS);
		head_dropout(99, 7, 1, 0, rate, x, out, 0, UNITS);
		assert_memory_not_equal(part, out, UNITS * sizeof *out);
		head_dropout(99, 7, 2, 0, rate, x, part, 0, UNITS);
		assert_memory_not_equal(part, out, UNITS * sizeof *out);
		head_dropout(98, 7, 1, 0, rate, x, part, 0, UNITS);
		assert_memory_not_equal(part, out, UNITS * sizeof *out);
	}
	free(x), free(out), free(part);
}

/* Dropout is training's alone: a head trained with it evaluates as the
 * plain forward pass, and its training loss differs from the loss of the
 * same steps without dropout. */
static void test_dropout_training_only(void **state)
{
	static const int hidden[1] = {32};
	(void)state;
	problem_t p = problem_make(12, 300, 5, 90);
	head_hparams_t hp = {1e-3, 0.9, 0.999, 1e-7, 0, 16, 0.5, 0, {0, NULL}};
	head_set_t set = {p.x, (size_t)p.D, p.y, p.idx, p.n};
	head_trainer_t *t;
	head_metrics_t m, mv, plain[1];
	head_t h, q;

	assert_int_equal(head_create(p.D, 1, hidden, p.K, 3, &h, NULL), 0);
	assert_int_equal(head_trainer_create(&h, &hp, 2, 3, &t, NULL), 0);
	assert_int_equal(head_trainer_epoch(t, &set, &m, NULL, NULL), 0);
	assert_int_equal(head_trainer_evaluate(t, &set, &mv, NULL), 0);
	double *pd = to_double(h.params, h.nparams);
	float *xs = malloc((size_t)p.n * p.D * sizeof *xs);
	int32_t *ys = malloc(p.n * sizeof *ys);
	assert_true(xs && ys);
	for (size_t i = 0; i < p.n; i++) {
		memcpy(xs + i * p.D, p.x + p.idx[i] * p.D, (size_t)p.D * sizeof *xs);
		ys[i] = p.y[p.idx[i]];
	}
	double lref = loss_ref(&h, pd, xs, ys, (int)p.n, NULL, 0, NULL);
	assert_true(fabs(mv.loss - lref) < 1e-5 * lref);
	hp.dropout = 0;
	train(&p, &hp, 1, hidden, 2, 3, 1, &q, plain);
	assert_true(m.loss != plain[0].loss);
	head_trainer_free(t);
	head_free(&h), head_free(&q);
	free(pd), free(xs), free(ys);
	problem_free(&p);
}

/* The learning rate: Keras' CosineDecay over the steps given, then its
 * floor (0); a constant rate that ReduceLROnPlateau may set, which a
 * schedule refuses. */
static void test_trainer_lr(void **state)
{
	(void)state;
	problem_t p = problem_make(3, 20, 3, 40);
	head_set_t set = {p.x, (size_t)p.D, p.y, p.idx, p.n};
	head_hparams_t hp = {1e-2, 0.9, 0.999, 1e-7, 0, 8, 0, 7, {0, NULL}};
	head_trainer_t *t;
	head_metrics_t m;
	head_t h;
	char err[ERR_LEN];

	assert_int_equal(head_create(p.D, 0, NULL, p.K, 1, &h, NULL), 0);
	assert_int_equal(head_trainer_create(&h, &hp, 1, 1, &t, NULL), 0);
	assert_true(head_trainer_lr(t) == 1e-2f);
	/* 5 steps an epoch: the next step is step 5, then 10 (past 7). */
	assert_int_equal(head_trainer_epoch(t, &set, &m, NULL, NULL), 0);
	double want = 1e-2 * 0.5 * (1 + cos(M_PI * 5 / 7));
	/* float32 arithmetic, as TensorFlow's. */
	assert_true(fabs(head_trainer_lr(t) - want) < 1e-6 * want);
	assert_int_equal(head_trainer_epoch(t, &set, &m, NULL, NULL), 0);
	assert_true(head_trainer_lr(t) == 0.0f);
	assert_int_equal(head_trainer_set_lr(t, 1e-3f, err), ERR_ARG);
	assert_non_null(strstr(err, "schedule"));
	head_trainer_free(t);
	hp.cosine_steps = 0;
	assert_int_equal(head_trainer_create(&h, &hp, 1, 1, &t, NULL), 0);
	assert_int_equal(head_trainer_set_lr(t, 5e-3f, err), 0);
	assert_true(head_trainer_lr(t) == 5e-3f);
	assert_int_equal(head_trainer_set_lr(t, 0.0f, err), ERR_ARG);
	head_trainer_free(t);
	head_free(&h);
	problem_free(&p);
}

static void test_trainer_arguments(void **state)
{
	(void)state;
	head_t h;
	head_trainer_t *t = NULL;
	head_hparams_t hp = HEAD_HPARAMS_DEFAULT;
	head_set_t empty = {NULL, 4, NULL, NULL, 0};
	head_metrics_t m;
	char err[ERR_LEN];

	assert_int_equal(head_create(4, 0, NULL, 2, 1, &h, NULL), 0);
	hp.batch = 0;
	assert_int_equal(head_trainer_create(&h, &hp, 1, 0, &t, err), ERR_ARG);
	assert_null(t);
	hp.batch = 32;
	assert_int_equal(head_trainer_create(&h, &hp, 0, 0, &t, err), ERR_ARG);
	hp.lr = -1;
	assert_int_equal(head_trainer_create(&h, &hp, 1, 0, &t, err), ERR_ARG);
	hp.lr = 1e-4;
	hp.dropout = 1;
	assert_int_equal(head_trainer_create(&h, &hp, 1, 0, &t, err), ERR_ARG);
	hp.dropout = -0.1;
	assert_int_equal(head_trainer_create(&h, &hp, 1, 0, &t, err), ERR_ARG);
	hp.dropout = 0;
	hp.loss.smoothing = 1.5;
	assert_int_equal(head_trainer_create(&h, &hp, 1, 0, &t, err), ERR_ARG);
	hp.loss.smoothing = 0;
	float bad_weights[2] = {1, -1};
	hp.loss.class_weight = bad_weights;
	assert_int_equal(head_trainer_create(&h, &hp, 1, 0, &t, err), ERR_ARG);
	hp.loss.class_weight = NULL;
	hp.cosine_steps = -1;
	assert_int_equal(head_trainer_create(&h, &hp, 1, 0, &t, err), ERR_ARG);
	hp.cosine_steps = 0;
	assert_null(t);
	assert_int_equal(head_trainer_create(&h, &hp, 2, 0, &t, err), 0);
	assert_int_equal(head_trainer_epoch(t, &empty, &m, NULL, err), ERR_ARG);
	assert_int_equal(head_trainer_evaluate(t, &empty, &m, err), ERR_ARG);
	head_trainer_free(t);
	head_free(&h);
}

/* ---- the head file --------------------------------------------------------- */

/* One temporary folder for the whole run, removed at the end. */
static const char *tmpdir;

static const char *tmp_path(const char *name)
{
	static char path[16][512];
	static int i;
	char *p = path[i++ % 16];
	snprintf(p, 512, "%s/%s", tmpdir, name);
	return p;
}

static head_meta_t sample_meta(int K)
{
	head_meta_t m = {.nclasses = K, .classes = calloc((size_t)K, sizeof(char *))};
	assert_non_null(m.classes);
	for (int k = 0; k < K; k++) {
		char name[64];
		snprintf(name, sizeof name, k == 1 ? "Zoë_%d" : "person_%d", k);
		m.classes[k] = strdup(name);
		assert_non_null(m.classes[k]);
	}
	snprintf(m.model, sizeof m.model, "vgg16-fc2");
	snprintf(m.fingerprint, sizeof m.fingerprint, "0123456789abcdef");
	snprintf(m.preprocess, sizeof m.preprocess, "keras-load_img-224-nearest");
	snprintf(m.conv, sizeof m.conv, "direct");
	snprintf(m.version, sizeof m.version, "test_head");
	return m;
}

/* Reads a string attribute the way h5py hands Keras numpy bytes: checks
 * it is fixed-length and NUL-padded, returns the n strings' bytes. */
static void check_str_attr(hid_t obj, const char *name, int scalar,
			   const char *const *want, int n)
{
	hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
	assert_true(a >= 0);
	hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
	assert_int_equal(H5Tget_class(t), H5T_STRING);
	assert_int_equal(H5Tis_variable_str(t), 0);
	assert_int_equal(H5Tget_strpad(t), H5T_STR_NULLPAD);
	if (scalar) {
		assert_int_equal(H5Sget_simple_extent_type(sp), H5S_SCALAR);
	} else {
		hsize_t dim;
		assert_int_equal(H5Sget_simple_extent_ndims(sp), 1);
		H5Sget_simple_extent_dims(sp, &dim, NULL);
		assert_int_equal(dim, n);
	}
	size_t size = H5Tget_size(t), longest = 0;
	for (int i = 0; i < n; i++)
		longest = strlen(want[i]) > longest ? strlen(want[i]) : longest;
	/* numpy sizes a bytes array to its longest item. */
	assert_int_equal(size, longest);
	char *buf = calloc(n > 0 ? (size_t)n : 1, size);
	assert_non_null(buf);
	assert_true(H5Aread(a, t, buf) >= 0);
	for (int i = 0; i < n; i++) {
		assert_int_equal(strnlen(buf + i * size, size), strlen(want[i]));
		assert_memory_equal(buf + i * size, want[i], strlen(want[i]));
	}
	free(buf);
	H5Sclose(sp);
	H5Tclose(t);
	H5Aclose(a);
}

static void check_dataset(hid_t f, const char *path, int rank, const hsize_t *dims,
			  const float *want)
{
	hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
	assert_true(d >= 0);
	hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
	hsize_t got[2];
	assert_true(H5Tequal(t, H5T_IEEE_F32LE) > 0);
	assert_int_equal(H5Sget_simple_extent_ndims(sp), rank);
	H5Sget_simple_extent_dims(sp, got, NULL);
	size_t n = 1;
	for (int i = 0; i < rank; i++) {
		assert_int_equal(got[i], dims[i]);
		n *= dims[i];
	}
	float *buf = malloc(n * sizeof *buf);
	assert_non_null(buf);
	assert_true(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
	assert_memory_equal(buf, want, n * sizeof *buf);
	free(buf);
	H5Sclose(sp);
	H5Tclose(t);
	H5Dclose(d);
}

static void test_save_load_keras_layout(void **state)
{
	(void)state;
	int D = 33, K = 4;
	head_t h, back;
	head_meta_t m = sample_meta(K), mb;
	const char *path = tmp_path("head.h5");
	char err[ERR_LEN];

	assert_int_equal(head_create(D, 0, NULL, K, 2, &h, NULL), 0);
	for (int k = 0; k < K; k++)
		h.layer[0].bias[k] = 0.125f * (float)k;
	assert_int_equal(head_save(path, &h, &m, err), 0);

	/* The Keras save_weights layout, attribute by attribute. */
	hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(f >= 0);
	check_str_attr(f, "layer_names", 0, (const char *[]){"dense_1"}, 1);
	check_str_attr(f, "backend", 1, (const char *[]){"tensorflow"}, 1);
	check_str_attr(f, "keras_version", 1, (const char *[]){HEAD_KERAS_VERSION}, 1);
	hid_t g = H5Gopen2(f, "dense_1", H5P_DEFAULT);
	assert_true(g >= 0);
	check_str_attr(g, "weight_names", 0,
		       (const char *[]){"dense_1/kernel:0", "dense_1/bias:0"}, 2);
	H5Gclose(g);
	check_dataset(f, "/dense_1/dense_1/kernel:0", 2, (hsize_t[]){33, 4}, h.layer[0].kernel);
	check_dataset(f, "/dense_1/dense_1/bias:0", 1, (hsize_t[]){4}, h.layer[0].bias);
	check_str_attr(f, "vggfeat_format", 1, (const char *[]){HEAD_FORMAT_1}, 1);
	check_str_attr(f, "vggfeat_classes", 0, (const char *const *)m.classes, K);
	check_str_attr(f, "vggfeat_model", 1, (const char *[]){"vgg16-fc2"}, 1);
	check_str_attr(f, "vggfeat_fingerprint", 1, (const char *[]){"0123456789abcdef"}, 1);
	check_str_attr(f, "vggfeat_preprocess", 1,
		       (const char *[]){"keras-load_img-224-nearest"}, 1);
	check_str_attr(f, "vggfeat_conv", 1, (const char *[]){"direct"}, 1);
	check_str_attr(f, "vggfeat_version", 1, (const char *[]){"test_head"}, 1);
	H5Fclose(f);

	assert_int_equal(head_load(path, &back, &mb, err), 0);
	assert_int_equal(back.D, D);
	assert_int_equal(back.K, K);
	assert_int_equal(back.nlayers, 1);
	assert_memory_equal(back.params, h.params, ((size_t)D * K + K) * sizeof(float));
	assert_int_equal(mb.nclasses, K);
	for (int k = 0; k < K; k++)
		assert_string_equal(mb.classes[k], m.classes[k]);
	assert_string_equal(mb.model, m.model);
	assert_string_equal(mb.fingerprint, m.fingerprint);
	assert_string_equal(mb.preprocess, m.preprocess);
	assert_string_equal(mb.conv, "direct");
	assert_string_equal(mb.version, m.version);
	/* No temporary file is left beside it. */
	char tmp[600];
	assert_int_equal(fsutil_tmp_path(path, tmp, sizeof tmp), 0);
	assert_int_not_equal(access(tmp, F_OK), 0);
	head_free(&back);
	head_meta_free(&mb);
	head_meta_free(NULL);
	head_meta_free(&m);
	head_free(&h);
}

/* The convolution path of the head's features: a meta without one is
 * written as winograd, and a file from before the attribute (deleted here)
 * reads as winograd, the only path extract then had by default. */
static void test_conv_attribute(void **state)
{
	(void)state;
	head_t h, back;
	head_meta_t m = sample_meta(2), mb;
	const char *path = tmp_path("conv.h5");
	char err[ERR_LEN];

	assert_int_equal(head_create(5, 0, NULL, 2, 2, &h, NULL), 0);
	m.conv[0] = '\0';
	assert_int_equal(head_save(path, &h, &m, err), 0);
	hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	assert_true(f >= 0);
	check_str_attr(f, "vggfeat_conv", 1, (const char *[]){"winograd"}, 1);
	H5Fclose(f);

	snprintf(m.conv, sizeof m.conv, "direct");
	assert_int_equal(head_save(path, &h, &m, err), 0);
	assert_int_equal(head_load(path, &back, &mb, err), 0);
	assert_string_equal(mb.conv, "direct");
	head_free(&back);
	head_meta_free(&mb);
	f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	assert_true(f >= 0);
	assert_true(H5Adelete(f, "vggfeat_conv") >= 0);
	H5Fclose(f);
	assert_int_equal(head_load(path, &back, &mb, err), 0);
	assert_string_equal(mb.conv, "winograd");
	assert_string_equal(mb.preprocess, m.preprocess);
	head_free(&back);
	head_meta_free(&mb);
	head_meta_free(&m);
	head_free(&h);
}

/* A head with a hidden layer: Keras' save_weights layout of the two Dense
 * layers dense_1 and dense_2, format 2, and back, layer by layer. */
static void test_save_load_hidden_layers(void **state)
{
	(void)state;
	int D = 33, H = 10, K = 4;
	head_t h, back;
	head_meta_t m = sample_meta(K), mb;
	const char *path = tmp_path("hidden.h5");
	char err[ERR_LEN];

	assert_int_equal(head_create(D, 1, &H, K, 2, &h, NULL), 0);
	for (int k = 0; k < H; k++)
		h.layer[0].bias[k] = 0.25f * (float)k;
	for (int k = 0; k < K; k++)
		h.layer[1].bias[k] = -0.5f * (float)k;
	assert_int_equal(head_save(path, &h, &m, err), 0);
	hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(f >= 0);
	check_str_attr(f, "layer_names", 0, (const char *[]){"dense_1", "dense_2"}, 2);
	check_str_attr(f, "vggfeat_format", 1, (const char *[]){HEAD_FORMAT}, 1);
	hid_t g = H5Gopen2(f, "dense_2", H5P_DEFAULT);
	assert_true(g >= 0);
	check_str_attr(g, "weight_names", 0,
		       (const char *[]){"dense_2/kernel:0", "dense_2/bias:0"}, 2);
	H5Gclose(g);
	check_dataset(f, "/dense_1/dense_1/kernel:0", 2, (hsize_t[]){33, 10}, h.layer[0].kernel);
	check_dataset(f, "/dense_1/dense_1/bias:0", 1, (hsize_t[]){10}, h.layer[0].bias);
	check_dataset(f, "/dense_2/dense_2/kernel:0", 2, (hsize_t[]){10, 4}, h.layer[1].kernel);
	check_dataset(f, "/dense_2/dense_2/bias:0", 1, (hsize_t[]){4}, h.layer[1].bias);
	H5Fclose(f);
	if (head_load(path, &back, &mb, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(back.nlayers, 2);
	assert_true(head_same_shape(&back, &h));
	assert_int_equal(back.D, D);
	assert_int_equal(back.K, K);
	assert_memory_equal(back.params, h.params, h.nparams * sizeof(float));
	assert_int_equal(mb.nclasses, K);
	head_free(&back);
	head_meta_free(&mb);

	/* The second layer's kernel not taking the first one's outputs. */
	const char *bad = tmp_path("chain.h5");
	assert_int_equal(head_save(bad, &h, &m, err), 0);
	f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
	assert_true(H5Ldelete(f, "/dense_2/dense_2/kernel:0", H5P_DEFAULT) >= 0);
	hid_t sp = H5Screate_simple(2, (hsize_t[]){9, 4}, NULL);
	hid_t d = H5Dcreate2(f, "/dense_2/dense_2/kernel:0", H5T_IEEE_F32LE, sp,
			     H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, h.layer[1].kernel);
	H5Dclose(d), H5Sclose(sp);
	H5Fclose(f);
	assert_int_equal(head_load(bad, &back, &mb, err), ERR_SHAPE);
	assert_non_null(strstr(err, "after the one before"));
	assert_null(back.params);

	/* A format this program does not know. */
	assert_int_equal(head_save(bad, &h, &m, err), 0);
	f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
	assert_true(H5Adelete(f, "vggfeat_format") >= 0);
	hid_t t = H5Tcopy(H5T_C_S1);
	H5Tset_size(t, 14);
	sp = H5Screate(H5S_SCALAR);
	hid_t a = H5Acreate2(f, "vggfeat_format", t, sp, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(a, t, "vggfeat-head 9");
	H5Aclose(a), H5Sclose(sp), H5Tclose(t);
	H5Fclose(f);
	assert_int_equal(head_load(bad, &back, &mb, err), ERR_UNSUPPORTED);
	assert_non_null(strstr(err, "vggfeat-head 9"));
	head_meta_free(&m);
	head_free(&h);
}

/* Thousands of people: the names outgrow an HDF5 attribute and are split
 * into vggfeat_classes0, 1, ... as Keras splits layer_names. */
static void test_save_load_many_classes(void **state)
{
	(void)state;
	int D = 3, K = 6000;
	head_t h, back;
	head_meta_t m = sample_meta(K), mb;
	const char *path = tmp_path("many.h5");
	char err[ERR_LEN];

	assert_int_equal(head_create(D, 0, NULL, K, 2, &h, NULL), 0);
	assert_int_equal(head_save(path, &h, &m, err), 0);
	hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(f >= 0);
	assert_true(H5Aexists(f, "vggfeat_classes0") > 0);
	assert_true(H5Aexists(f, "vggfeat_classes1") > 0);
	assert_true(H5Aexists(f, "vggfeat_classes") == 0);
	H5Fclose(f);
	assert_int_equal(head_load(path, &back, &mb, err), 0);
	assert_int_equal(mb.nclasses, K);
	for (int k = 0; k < K; k++)
		assert_string_equal(mb.classes[k], m.classes[k]);
	head_free(&back), head_free(&h);
	head_meta_free(&mb), head_meta_free(&m);
}

/* A file as newer h5py writes Keras' lists (variable-length strings),
 * without our attributes: it loads, with no class names. */
static void test_load_plain_keras_file(void **state)
{
	(void)state;
	const char *path = tmp_path("keras.h5");
	hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	hid_t vs = H5Tcopy(H5T_C_S1);
	H5Tset_size(vs, H5T_VARIABLE);
	hsize_t two = 2;
	const char *layers[2] = {"flatten", "dense_7"};
	const char *wn[2] = {"dense_7/kernel:0", "dense_7/bias:0"};
	float k[6] = {1, 2, 3, 4, 5, 6}, b[2] = {7, 8};
	hid_t sp = H5Screate_simple(1, &two, NULL);
	hid_t a = H5Acreate2(f, "layer_names", vs, sp, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(a, vs, layers);
	H5Aclose(a);
	hid_t g0 = H5Gcreate2(f, "flatten", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	hid_t sp0 = H5Screate_simple(1, (hsize_t[]){0}, NULL);
	a = H5Acreate2(g0, "weight_names", vs, sp0, H5P_DEFAULT, H5P_DEFAULT);
	H5Aclose(a);
	H5Gclose(g0);
	H5Sclose(sp0);
	hid_t g = H5Gcreate2(f, "dense_7", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	a = H5Acreate2(g, "weight_names", vs, sp, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(a, vs, wn);
	H5Aclose(a);
	hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
	H5Pset_create_intermediate_group(lcpl, 1);
	hid_t ks = H5Screate_simple(2, (hsize_t[]){3, 2}, NULL), bs = H5Screate_simple(1, &two, NULL);
	hid_t d = H5Dcreate2(g, wn[0], H5T_IEEE_F64LE, ks, lcpl, H5P_DEFAULT, H5P_DEFAULT);
	double kd[6] = {1, 2, 3, 4, 5, 6};
	H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, kd);
	H5Dclose(d);
	d = H5Dcreate2(g, wn[1], H5T_IEEE_F32LE, bs, lcpl, H5P_DEFAULT, H5P_DEFAULT);
	H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, b);
	H5Dclose(d);
	H5Sclose(ks), H5Sclose(bs), H5Sclose(sp), H5Pclose(lcpl), H5Tclose(vs);
	H5Gclose(g);
	H5Fclose(f);

	head_t h;
	head_meta_t m;
	char err[ERR_LEN];
	assert_int_equal(head_load(path, &h, &m, err), 0);
	assert_int_equal(h.D, 3);
	assert_int_equal(h.K, 2);
	assert_memory_equal(h.layer[0].kernel, k, sizeof k);
	assert_memory_equal(h.layer[0].bias, b, sizeof b);
	assert_null(m.classes);
	assert_string_equal(m.fingerprint, "");
	head_free(&h);
	head_meta_free(&m);
}

static void test_load_errors(void **state)
{
	(void)state;
	head_t h;
	head_meta_t m;
	char err[ERR_LEN];
	const char *dir = tmpdir;
	char path[512];

	snprintf(path, sizeof path, "%s/none.h5", dir);
	assert_int_equal(head_load(path, &h, &m, err), ERR_MISSING);
	assert_non_null(strstr(err, "none.h5"));
	assert_null(h.params);

	snprintf(path, sizeof path, "%s/text.h5", dir);
	assert_int_equal(tu_write_file(path, "not hdf5\n", 9), 0);
	assert_int_equal(head_load(path, &h, &m, err), ERR_FORMAT);
	assert_non_null(strstr(err, "not an HDF5 file"));

	/* HDF5 but not Keras weights. */
	snprintf(path, sizeof path, "%s/empty.h5", dir);
	H5Fclose(H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
	assert_int_equal(head_load(path, &h, &m, err), ERR_FORMAT);
	assert_non_null(strstr(err, "layer_names"));

	/* VGG16's weights named as a head: the walk stops past 4 layers, so
	 * the message said "5 layers with weights" of a file of 16; it now
	 * names the first two, which say what the file is. */
	snprintf(path, sizeof path, "%s/vgg16.h5", dir);
	hid_t vf = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	static const char vgg[16][16] = {
		"block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2",
		"block3_conv1", "block3_conv2", "block3_conv3", "block4_conv1",
		"block4_conv2", "block4_conv3", "block5_conv1", "block5_conv2",
		"block5_conv3", "fc1", "fc2", "predictions"};
	hid_t st = H5Tcopy(H5T_C_S1);
	H5Tset_size(st, 16);
	hid_t vsp = H5Screate_simple(1, (hsize_t[]){16}, NULL);
	hid_t va = H5Acreate2(vf, "layer_names", st, vsp, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(va, st, vgg);
	H5Aclose(va), H5Sclose(vsp);
	for (int l = 0; l < 16; l++) {
		char wn[2][32];
		memset(wn, 0, sizeof wn);
		snprintf(wn[0], 32, "%.15s_W_1:0", vgg[l]);
		snprintf(wn[1], 32, "%.15s_b_1:0", vgg[l]);
		hid_t g = H5Gcreate2(vf, vgg[l], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
		hid_t wt = H5Tcopy(H5T_C_S1);
		H5Tset_size(wt, 32);
		hid_t wsp = H5Screate_simple(1, (hsize_t[]){2}, NULL);
		hid_t wa = H5Acreate2(g, "weight_names", wt, wsp, H5P_DEFAULT, H5P_DEFAULT);
		H5Awrite(wa, wt, wn);
		H5Aclose(wa), H5Sclose(wsp), H5Tclose(wt), H5Gclose(g);
	}
	H5Tclose(st);
	H5Fclose(vf);
	assert_int_equal(head_load(path, &h, &m, err), ERR_SHAPE);
	if (!strstr(err, "vgg16.h5: more than 4 layers with weights, beginning "
			 "block1_conv1, block1_conv2: not a head, which has at most 4"))
		fail_msg("%s", err);

	/* A head whose class list does not match its kernel. */
	head_t ok;
	head_meta_t m3 = sample_meta(3);
	assert_int_equal(head_create(5, 0, NULL, 3, 1, &ok, NULL), 0);
	snprintf(path, sizeof path, "%s/ok.h5", dir);
	assert_int_equal(head_save(path, &ok, &m3, err), 0);
	hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	assert_true(H5Adelete(f, "vggfeat_classes") >= 0);
	hid_t t = H5Tcopy(H5T_C_S1);
	H5Tset_size(t, 2);
	hid_t sp = H5Screate_simple(1, (hsize_t[]){2}, NULL);
	hid_t a = H5Acreate2(f, "vggfeat_classes", t, sp, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(a, t, "a\0b\0");
	H5Aclose(a), H5Sclose(sp), H5Tclose(t);
	H5Fclose(f);
	assert_int_equal(head_load(path, &h, &m, err), ERR_SHAPE);
	assert_non_null(strstr(err, "2 class names for 3 classes"));
	assert_null(h.params);
	assert_null(m.classes);

	/* A kernel that is not 2-d. */
	snprintf(path, sizeof path, "%s/rank.h5", dir);
	assert_int_equal(head_save(path, &ok, &m3, err), 0);
	f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	assert_true(H5Ldelete(f, "/dense_1/dense_1/kernel:0", H5P_DEFAULT) >= 0);
	sp = H5Screate_simple(1, (hsize_t[]){15}, NULL);
	hid_t d = H5Dcreate2(f, "/dense_1/dense_1/kernel:0", H5T_IEEE_F32LE, sp,
			     H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ok.params);
	H5Dclose(d), H5Sclose(sp);
	H5Fclose(f);
	assert_int_equal(head_load(path, &h, &m, err), ERR_SHAPE);
	assert_non_null(strstr(err, "1 dimensions"));

	/* Saving into a folder that does not exist fails cleanly. */
	snprintf(path, sizeof path, "%s/no/such/dir/head.h5", dir);
	assert_int_equal(head_save(path, &ok, &m3, err), ERR_IO);
	assert_non_null(strstr(err, "No such file or directory"));
	head_meta_t m2 = sample_meta(2);
	snprintf(path, sizeof path, "%s/bad.h5", dir);
	assert_int_equal(head_save(path, &ok, &m2, err), ERR_ARG);
	head_meta_free(&m2);
	head_meta_free(&m3);
	head_free(&ok);
}

static int setup_tmp(void **state)
{
	(void)state;
	tmpdir = tu_tmpdir();
	return 0;
}

static int teardown_tmp(void **state)
{
	(void)state;
	tu_rm_rf(tmpdir);
	return 0;
}

/* head_rank against a plain stable sort by descending p: the first k
 * indices agree, ties in index order (the values hold many ties). */
static void test_rank(void **state)
{
	enum { K = 37 };
	double p[K];
	int order[K], want[K];
	rng_t r = {31};

	(void)state;
	for (int trial = 0; trial < 200; trial++) {
		for (int j = 0; j < K; j++) {
			p[j] = (double)rng_below(&r, 6) / 8.0;
			want[j] = j;
		}
		/* insertion sort: stable, so equal values keep index order */
		for (int i = 1; i < K; i++)
			for (int j = i; j > 0 && p[want[j]] > p[want[j - 1]]; j--) {
				int t = want[j];
				want[j] = want[j - 1];
				want[j - 1] = t;
			}
		int k = 1 + (int)rng_below(&r, K + 2); /* k may exceed K */
		head_rank(p, K, k, order);
		assert_memory_equal(order, want, (size_t)(k < K ? k : K) * sizeof *order);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_glorot_init),
		cmocka_unit_test(test_forward_matches_reference),
		cmocka_unit_test(test_probabilities_in_double),
		cmocka_unit_test(test_xent_stable),
		cmocka_unit_test(test_rank),
		cmocka_unit_test(test_adam_isas_same_bits),
		cmocka_unit_test(test_step_panels),
		cmocka_unit_test(test_step_isas_same_bits),
		cmocka_unit_test(test_step_row_stride),
		cmocka_unit_test(test_gradient_finite_differences),
		cmocka_unit_test(test_adam_hand_computed),
		cmocka_unit_test(test_adam_fast_matches_reference),
		cmocka_unit_test(test_trainer_matches_reference),
		cmocka_unit_test(test_deterministic_over_threads_and_seeds),
		cmocka_unit_test(test_learns_separable_data),
		cmocka_unit_test(test_dropout_scale),
		cmocka_unit_test(test_dropout_training_only),
		cmocka_unit_test(test_trainer_lr),
		cmocka_unit_test(test_trainer_arguments),
		cmocka_unit_test(test_save_load_keras_layout),
		cmocka_unit_test(test_conv_attribute),
		cmocka_unit_test(test_save_load_hidden_layers),
		cmocka_unit_test(test_save_load_many_classes),
		cmocka_unit_test(test_load_plain_keras_file),
		cmocka_unit_test(test_load_errors),
	};
	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
