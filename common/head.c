/* head.c - the softmax head: initialisation, forward, cross-entropy and its
 * gradient, Adam, the fused multi-threaded trainer, the validation split
 * and the Keras-layout HDF5 file.
 *
 * Letters: N samples, B a batch, D features, K classes, R kernel rows.
 *
 * The trainer's step is fused.  The kernel (D, K) is cut into stripes of
 * HEAD_STRIPE rows, one task each; for its rows a task computes the
 * gradient (a sub-block at a time, so that it stays in cache), applies Adam
 * right away, and multiplies the freshly updated rows by the next batch to
 * get that batch's partial logits.  So each step reads and writes the
 * kernel and its moments once, no gradient array ever reaches memory, and
 * the next forward costs no extra pass.  The plain path the trainer is
 * tested against is head_gradient followed by adam_apply_ref.
 *
 * Every sum is taken in an order that depends on D and the data only
 * (stripes are summed in stripe order), never on which thread ran what, so
 * any number of threads gives bit-identical results. */
#include "head.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HEAD_X86 1
#endif

#include "error.h"
#include "h5child.h"
#include "h5util.h"
#include "pool.h"

/* Kernel rows per task: 16 tasks for D = 4096, enough to balance two to
 * eight threads, few enough that summing the partial logits stays cheap. */
#define HEAD_STRIPE 256
/* Kernel rows per sgemm inside a stripe: the gradient block (128, K) and
 * the kernel rows it updates (148 KB each at K = 290) stay in L2 between
 * the gradient, Adam and the next forward; smaller blocks cost more in
 * per-call overhead than they gain. */
#define HEAD_SUB 128
/* Rows per evaluation task. */
#define HEAD_EVAL_ROWS 64
/* Largest D or K accepted: far above any real head, and D * K stays
 * addressable with int sgemm arguments. */
#define HEAD_MAX_DIM (1 << 20)
#define HEAD_MAX_PARAMS ((size_t)1 << 31)

/* ---- seeded random numbers --------------------------------------------- */

/* splitmix64: tiny, good enough for an initialisation and shuffles, and
 * identical on every machine. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A uniform integer in [0, n), without modulo bias (Lemire's method). */
static uint64_t rng_below(uint64_t *s, uint64_t n)
{
	unsigned __int128 m = (unsigned __int128)rng_next(s) * n;
	uint64_t lo = (uint64_t)m;
	if (lo < n) {
		uint64_t floor = -n % n;
		while (lo < floor) {
			m = (unsigned __int128)rng_next(s) * n;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

/* Independent streams of one seed: the initialisation and the shuffles. */
enum { STREAM_INIT = 1, STREAM_SHUFFLE = 2 };

static uint64_t rng_stream(uint64_t seed, int stream)
{
	uint64_t s = seed ^ ((uint64_t)stream * 0xd1b54a32d192ed03ULL);
	rng_next(&s);
	return s;
}

/* ---- the layer ---------------------------------------------------------- */

static int head_alloc(int D, int K, head_t *h, char *err)
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
	uint64_t s = rng_stream(seed, STREAM_INIT);
	size_t dk = (size_t)D * K;
	for (size_t i = 0; i < dk; i++) {
		double u = (double)(rng_next(&s) >> 11) * (1.0 / 9007199254740992.0);
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

/* ---- Adam ------------------------------------------------------------------ */

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
 * stripe_task). */
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

/* ---- the trainer ------------------------------------------------------------ */

struct head_trainer {
	head_t *h;
	head_hparams_t hp;
	adam_t adam;
	uint64_t rng;
	int B, S;             /* batch, kernel stripes */
	size_t *order;        /* (cap) the epoch's sample order */
	size_t cap;
	float *xb[2];         /* (B, D) this batch and the next */
	int32_t *yb;          /* (B) this batch's labels */
	float *logits;        /* (B, K), then its gradient */
	float *gbias;         /* (K) */
	float *part;          /* (S, B, K) partial logits of the next batch */
	double *sq;           /* (S) squared kernel of each stripe */
	float *scratch;       /* (threads, scratch_len) evaluation chunks */
	size_t scratch_len;
	float *gblock;        /* (threads, HEAD_SUB * K) zeros between uses */

	/* The pass the tasks run. */
	struct {
		const head_set_t *set;
		const size_t *next;   /* positions of the next batch's samples */
		int nb, nn;           /* this batch's size (0: no update), next's */
		const float *x;       /* (nb, D) */
		float *xn;            /* (nn, D), gathered by the tasks */
		float alpha;
		double *loss;         /* evaluation: per task */
		long *correct;
	} job;

	pool_t *pool;
};

static size_t set_row(const head_set_t *s, size_t j)
{
	return s->idx ? s->idx[j] : j;
}

/* One stripe of a step: rows r0..r1 of the kernel.
 *   x (nb, D) this batch, dlogits (nb, K), xn (nn, D) the next batch,
 *   g (HEAD_SUB, K) the worker's gradient block, part[s] (nn, K).
 * Gathers columns r0..r1 of the next batch; then per sub-block of R rows:
 * g = x[:, rows]^T @ dlogits, Adam on the rows, and
 * part[s] += xn[:, rows] @ kernel[rows].
 * The gradient block is kept zeroed by the Adam pass that consumes it, so
 * that sgemm can accumulate into it (beta 1): with beta 0 OpenBLAS first
 * zeroes it in a pass of its own, which costs about 8 % of a step. */
static void stripe_task(void *arg, int s, int worker)
{
	head_trainer_t *t = arg;
	const head_t *h = t->h;
	int D = h->D, K = h->K, nb = t->job.nb, nn = t->job.nn;
	int r0 = s * HEAD_STRIPE, r1 = r0 + HEAD_STRIPE < D ? r0 + HEAD_STRIPE : D;
	float *g = t->gblock + (size_t)worker * HEAD_SUB * K;
	float *part = t->part + (size_t)s * t->B * K;
	const head_set_t *set = t->job.set;
	double sq = 0;

	for (int b = 0; b < nn; b++)
		memcpy(t->job.xn + (size_t)b * D + r0,
		       set->x + set_row(set, t->job.next[b]) * set->ld + r0,
		       (size_t)(r1 - r0) * sizeof(float));
	for (int a = r0; a < r1; a += HEAD_SUB) {
		int R = r1 - a < HEAD_SUB ? r1 - a : HEAD_SUB;
		float *w = h->kernel + (size_t)a * K;
		if (nb) {
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, R, K, nb,
				    1.0f, t->job.x + a, D, t->logits, K, 1.0f, g, K);
			sq += adam_run(&t->adam, t->job.alpha, (size_t)a * K,
				       (size_t)R * K, w, g, (float)t->hp.l2, 1);
		}
		if (nn)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nn, K, R,
				    1.0f, t->job.xn + a, D, w, K, a == r0 ? 0.0f : 1.0f,
				    part, K);
	}
	t->sq[s] = sq;
}

/* logits (nb, K) = bias + the stripes' partial logits, in stripe order. */
static void sum_parts(head_trainer_t *t, int nb)
{
	int K = t->h->K;
	size_t n = (size_t)nb * K, stride = (size_t)t->B * K;
	for (int b = 0; b < nb; b++)
		memcpy(t->logits + (size_t)b * K, t->h->bias, (size_t)K * sizeof(float));
	for (int s = 0; s < t->S; s++) {
		const float *p = t->part + (size_t)s * stride;
		for (size_t i = 0; i < n; i++)
			t->logits[i] += p[i];
	}
}

int head_trainer_create(head_t *h, const head_hparams_t *hp, int threads,
			uint64_t seed, head_trainer_t **out, char *err)
{
	head_trainer_t *t = NULL;
	int rc = 0, D = h->D, K = h->K;
	size_t nparams = (size_t)D * K + K;
	size_t bd, bk, eval, total, scratch, gblock;

	*out = NULL;
	if (hp->batch < 1 || hp->batch > 1 << 16)
		return err_set(err, ERR_ARG, "batch size %d out of range 1..65536",
			       hp->batch);
	if (threads < 1 || threads > 64)
		return err_set(err, ERR_ARG, "%d threads, out of range 1..64", threads);
	if (!(hp->l2 >= 0) || !isfinite(hp->l2))
		return err_set(err, ERR_ARG, "l2 must be >= 0 (got %g)", hp->l2);
	if (!(t = calloc(1, sizeof *t)))
		return err_set(err, ERR_NOMEM, "out of memory");
	t->h = h;
	t->hp = *hp;
	t->B = hp->batch;
	t->S = (D + HEAD_STRIPE - 1) / HEAD_STRIPE;
	t->rng = rng_stream(seed, STREAM_SHUFFLE);
	if ((rc = adam_init(&t->adam, nparams, hp->lr, hp->beta1, hp->beta2,
			    hp->epsilon, err)))
		goto fail;
	/* Per thread: an evaluation chunk and its logits. */
	if (err_mul3_size((size_t)t->B, (size_t)D, sizeof(float), &bd) ||
	    err_mul_size((size_t)t->B, (size_t)K, &bk) ||
	    err_mul_size(HEAD_EVAL_ROWS, (size_t)D + K, &eval) ||
	    err_mul3_size(bk, (size_t)t->S, sizeof(float), &total) ||
	    err_mul3_size((size_t)threads, eval, sizeof(float), &scratch) ||
	    err_mul3_size((size_t)threads, HEAD_SUB, (size_t)K, &gblock))
		goto nomem;
	t->scratch_len = eval;
	t->xb[0] = malloc(bd);
	t->xb[1] = malloc(bd);
	t->yb = malloc((size_t)t->B * sizeof *t->yb);
	t->logits = malloc(bk * sizeof(float));
	t->gbias = malloc((size_t)K * sizeof(float));
	t->part = malloc(total);
	t->sq = calloc((size_t)t->S, sizeof *t->sq);
	t->scratch = malloc(scratch);
	t->gblock = calloc(gblock, sizeof(float));
	if (!t->xb[0] || !t->xb[1] || !t->yb || !t->logits || !t->gbias ||
	    !t->part || !t->sq || !t->scratch || !t->gblock)
		goto nomem;
	if ((rc = pool_create(threads, &t->pool, err)))
		goto fail;
	*out = t;
	return 0;
nomem:
	rc = err_set(err, ERR_NOMEM, "out of memory for the trainer (batch %d, "
		     "%d x %d)", t->B, D, K);
fail:
	head_trainer_free(t);
	return rc;
}

void head_trainer_free(head_trainer_t *t)
{
	if (!t)
		return;
	pool_free(t->pool);
	adam_free(&t->adam);
	free(t->order);
	free(t->xb[0]);
	free(t->xb[1]);
	free(t->yb);
	free(t->logits);
	free(t->gbias);
	free(t->part);
	free(t->sq);
	free(t->scratch);
	free(t->gblock);
	free(t);
}

int head_trainer_epoch(head_trainer_t *t, const head_set_t *set,
		       head_metrics_t *m, size_t *order, char *err)
{
	const head_t *h = t->h;
	size_t n = set->n, B = (size_t)t->B, dk = (size_t)h->D * h->K;
	int K = h->K;
	double loss = 0;
	long correct = 0;

	if (n == 0)
		return err_set(err, ERR_ARG, "no training samples");
	if (n > t->cap) {
		size_t bytes, *o;
		if (err_mul_size(n, sizeof *o, &bytes) || !(o = realloc(t->order, bytes)))
			return err_set(err, ERR_NOMEM, "out of memory for %zu samples", n);
		t->order = o;
		t->cap = n;
	}
	/* A fresh Fisher-Yates shuffle of 0..n-1 each epoch. */
	for (size_t i = 0; i < n; i++)
		t->order[i] = i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)rng_below(&t->rng, (uint64_t)i + 1);
		size_t tmp = t->order[i];
		t->order[i] = t->order[j];
		t->order[j] = tmp;
	}
	if (order)
		memcpy(order, t->order, n * sizeof *order);

	/* The first batch's forward alone; each step then computes the next
	 * batch's. */
	t->job.set = set;
	t->job.nb = 0;
	t->job.nn = (int)(n < B ? n : B);
	t->job.next = t->order;
	t->job.xn = t->xb[0];
	pool_run(t->pool, stripe_task, t, t->S);

	size_t steps = (n + B - 1) / B;
	for (size_t i = 0; i < steps; i++) {
		size_t start = i * B;
		int nb = (int)(n - start < B ? n - start : B);
		float *x = t->xb[i & 1];
		double ce = 0, sq = 0;

		for (int b = 0; b < nb; b++)
			t->yb[b] = set->y[set_row(set, t->order[start + b])];
		sum_parts(t, nb);
		head_xent(t->logits, t->yb, nb, K, 1.0f / (float)nb, t->logits, &ce,
			  &correct);

		t->job.nb = nb;
		t->job.x = x;
		t->job.alpha = adam_next(&t->adam);
		if (i + 1 < steps) {
			t->job.nn = (int)(n - start - B < B ? n - start - B : B);
			t->job.next = t->order + start + B;
			t->job.xn = t->xb[(i + 1) & 1];
		} else {
			t->job.nn = 0;
		}
		pool_run(t->pool, stripe_task, t, t->S);

		/* The bias: gradient = column sums of dlogits, no regulariser. */
		for (int k = 0; k < K; k++) {
			float s = 0;
			for (int b = 0; b < nb; b++)
				s += t->logits[(size_t)b * K + k];
			t->gbias[k] = s;
		}
		adam_apply(&t->adam, t->job.alpha, dk, (size_t)K, t->h->bias,
			   t->gbias, 0.0f);
		for (int s = 0; s < t->S; s++)
			sq += t->sq[s];
		/* Keras' batch loss is the mean cross-entropy plus the
		 * regulariser; the epoch shows their mean weighted by batch
		 * size. */
		loss += ce + nb * t->hp.l2 * sq;
	}
	m->loss = loss / (double)n;
	m->accuracy = (double)correct / (double)n;
	return 0;
}

/* One evaluation chunk: rows task * HEAD_EVAL_ROWS.. of the set.
 *   x (R, D) and logits (R, K) in the worker's scratch. */
static void eval_task(void *arg, int task, int worker)
{
	head_trainer_t *t = arg;
	const head_t *h = t->h;
	const head_set_t *set = t->job.set;
	int D = h->D, K = h->K;
	size_t j0 = (size_t)task * HEAD_EVAL_ROWS;
	int R = set->n - j0 < HEAD_EVAL_ROWS ? (int)(set->n - j0) : HEAD_EVAL_ROWS;
	float *x = t->scratch + (size_t)worker * t->scratch_len;
	float *logits = x + (size_t)HEAD_EVAL_ROWS * D;
	int32_t y[HEAD_EVAL_ROWS];
	double loss = 0;
	long correct = 0;

	for (int r = 0; r < R; r++) {
		size_t row = set_row(set, j0 + r);
		memcpy(x + (size_t)r * D, set->x + row * set->ld, (size_t)D * sizeof(float));
		y[r] = set->y[row];
	}
	head_forward(h, x, R, logits);
	head_xent(logits, y, R, K, 0.0f, NULL, &loss, &correct);
	t->job.loss[task] = loss;
	t->job.correct[task] = correct;
}

int head_trainer_evaluate(head_trainer_t *t, const head_set_t *set,
			  head_metrics_t *m, char *err)
{
	size_t ntasks = (set->n + HEAD_EVAL_ROWS - 1) / HEAD_EVAL_ROWS;
	size_t dk = (size_t)t->h->D * t->h->K;
	double loss = 0, sq = 0;
	long correct = 0;

	if (set->n == 0)
		return err_set(err, ERR_ARG, "no samples to evaluate");
	if (ntasks > INT_MAX)
		return err_set(err, ERR_TOO_BIG, "%zu samples are too many", set->n);
	t->job.set = set;
	t->job.loss = malloc(ntasks * sizeof *t->job.loss);
	t->job.correct = malloc(ntasks * sizeof *t->job.correct);
	if (!t->job.loss || !t->job.correct) {
		free(t->job.loss);
		free(t->job.correct);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	pool_run(t->pool, eval_task, t, (int)ntasks);
	for (size_t i = 0; i < ntasks; i++) {
		loss += t->job.loss[i];
		correct += t->job.correct[i];
	}
	free(t->job.loss);
	free(t->job.correct);
	t->job.loss = NULL;
	t->job.correct = NULL;
	if (t->hp.l2 != 0)
		for (size_t i = 0; i < dk; i++)
			sq += (double)t->h->kernel[i] * t->h->kernel[i];
	m->loss = loss / (double)set->n + t->hp.l2 * sq;
	m->accuracy = (double)correct / (double)set->n;
	return 0;
}

/* ---- the validation split ---------------------------------------------- */

double head_key_unit(const char *key, size_t len)
{
	uint64_t x = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		x ^= (unsigned char)key[i];
		x *= 0x100000001b3ULL;
	}
	/* FNV-1a moves a change in the last bytes little into the top bits,
	 * which become the fraction: murmur3's finaliser spreads it. */
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

int head_holdout(size_t n, const double *unit, const int32_t *cls, int K,
		 double frac, uint8_t *held, char *err)
{
	size_t *keep = NULL;

	if (K < 1 || !(frac >= 0 && frac < 1))
		return err_set(err, ERR_ARG, "holdout: need K >= 1 and 0 <= fraction "
			       "< 1 (got %d, %g)", K, frac);
	if (!(keep = malloc((size_t)K * sizeof *keep)))
		return err_set(err, ERR_NOMEM, "out of memory");
	for (int k = 0; k < K; k++)
		keep[k] = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		if (cls[i] < 0 || cls[i] >= K) {
			free(keep);
			return err_set(err, ERR_ARG, "holdout: class %d out of range "
				       "0..%d", (int)cls[i], K - 1);
		}
		size_t *k = &keep[cls[i]];
		if (*k == SIZE_MAX || unit[i] > unit[*k])
			*k = i;
	}
	for (size_t i = 0; i < n; i++)
		held[i] = unit[i] < frac && keep[cls[i]] != i;
	free(keep);
	return 0;
}

/* ---- the head file ------------------------------------------------------ */

/* Keras splits a list attribute larger than this into name0, name1, ... */
#define H5_ATTR_LIMIT 64512

/* A fixed-length, NUL-padded string type of size bytes, as h5py makes for
 * numpy bytes. */
static hid_t str_type(size_t size, int utf8)
{
	hid_t t = H5Tcopy(H5T_C_S1);
	if (t < 0)
		return t;
	if (H5Tset_size(t, size ? size : 1) < 0 ||
	    H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 ||
	    H5Tset_cset(t, utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII) < 0) {
		H5Tclose(t);
		return H5I_INVALID_HID;
	}
	return t;
}

/* attr_write writes v[0..n) as attribute name of obj: a scalar string when
 * scalar is set, else a list (split into name0, name1, ... when it exceeds
 * HDF5's object header, as Keras does). */
static int attr_write(hid_t obj, const char *name, const char *const *v,
		      size_t n, int scalar, int utf8)
{
	size_t size = 1, per, chunks;
	hid_t type = H5I_INVALID_HID;
	int rc = -1;
	char *buf = NULL;

	for (size_t i = 0; i < n; i++)
		if (strlen(v[i]) > size)
			size = strlen(v[i]);
	if (size > H5_ATTR_LIMIT || (type = str_type(size, utf8)) < 0)
		goto out;
	per = H5_ATTR_LIMIT / size;
	chunks = n > per ? (n + per - 1) / per : 1;
	if (!(buf = calloc(n ? n : 1, size)))
		goto out;
	for (size_t i = 0; i < n; i++)
		memcpy(buf + i * size, v[i], strlen(v[i]));
	/* Chunks as numpy.array_split makes them: sizes differ by at most 1. */
	for (size_t c = 0, i0 = 0; c < chunks; c++) {
		size_t cn = n / chunks + (c < n % chunks);
		hsize_t dim = cn;
		char aname[256];
		hid_t sp, a;
		if (chunks > 1)
			snprintf(aname, sizeof aname, "%s%zu", name, c);
		else
			snprintf(aname, sizeof aname, "%s", name);
		sp = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
		if (sp < 0)
			goto out;
		a = H5Acreate2(obj, aname, type, sp, H5P_DEFAULT, H5P_DEFAULT);
		H5Sclose(sp);
		if (a < 0)
			goto out;
		herr_t w = H5Awrite(a, type, buf + i0 * size);
		H5Aclose(a);
		if (w < 0)
			goto out;
		i0 += cn;
	}
	rc = 0;
out:
	free(buf);
	if (type >= 0)
		H5Tclose(type);
	return rc;
}

static int attr_str(hid_t obj, const char *name, const char *s)
{
	return attr_write(obj, name, &s, 1, 1, 1);
}

static int dset_write(hid_t g, hid_t lcpl, const char *name, int rank,
		      const hsize_t *dims, const float *data)
{
	hid_t sp = H5Screate_simple(rank, dims, NULL), d = H5I_INVALID_HID;
	int rc = -1;

	if (sp < 0)
		return -1;
	d = H5Dcreate2(g, name, H5T_IEEE_F32LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
	if (d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
			       data) >= 0)
		rc = 0;
	if (d >= 0 && H5Dclose(d) < 0)
		rc = -1;
	H5Sclose(sp);
	return rc;
}

/* Flushes a folder's entries (a rename in it) to the disk. */
static void sync_dir(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir] = '\0';
	int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* build_image lays the head file out in memory (HDF5's core driver, no
 * backing store) and returns its bytes: HDF5 then never writes to disk,
 * where a failed write leaves HDF5 1.10 with a file it cannot close. */
static int build_image(const head_t *h, const head_meta_t *meta, void **out,
		       size_t *len, char *err)
{
	hid_t fapl = H5I_INVALID_HID, f = H5I_INVALID_HID, g = H5I_INVALID_HID;
	hid_t lcpl = H5I_INVALID_HID;
	const char *layer = HEAD_LAYER;
	const char *wnames[2] = {HEAD_LAYER "/kernel:0", HEAD_LAYER "/bias:0"};
	hsize_t kdims[2] = {(hsize_t)h->D, (hsize_t)h->K}, bdims[1] = {(hsize_t)h->K};
	char why[256];
	void *buf = NULL;
	ssize_t n;
	int rc = 0;

	if ((fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0 ||
	    H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0 ||
	    (f = H5Fcreate("head.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0)
		goto h5fail;
	if (attr_write(f, "layer_names", &layer, 1, 0, 0) ||
	    attr_write(f, "backend", (const char *[]){"tensorflow"}, 1, 1, 0) ||
	    attr_write(f, "keras_version", (const char *[]){HEAD_KERAS_VERSION}, 1,
		       1, 0) ||
	    attr_str(f, "vggfeat_format", HEAD_FORMAT) ||
	    attr_write(f, "vggfeat_classes", (const char *const *)meta->classes,
		       (size_t)meta->nclasses, 0, 1) ||
	    attr_str(f, "vggfeat_model", meta->model) ||
	    attr_str(f, "vggfeat_fingerprint", meta->fingerprint) ||
	    attr_str(f, "vggfeat_preprocess", meta->preprocess) ||
	    attr_str(f, "vggfeat_version", meta->version))
		goto h5fail;
	if ((g = H5Gcreate2(f, HEAD_LAYER, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
	    attr_write(g, "weight_names", wnames, 2, 0, 0))
		goto h5fail;
	/* The weight names are paths inside the layer's group, as h5py
	 * creates them: dense_1/dense_1/kernel:0. */
	if ((lcpl = H5Pcreate(H5P_LINK_CREATE)) < 0 ||
	    H5Pset_create_intermediate_group(lcpl, 1) < 0 ||
	    dset_write(g, lcpl, wnames[0], 2, kdims, h->kernel) ||
	    dset_write(g, lcpl, wnames[1], 1, bdims, h->bias) ||
	    H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 ||
	    (n = H5Fget_file_image(f, NULL, 0)) <= 0)
		goto h5fail;
	if (!(buf = malloc((size_t)n))) {
		rc = err_set(err, ERR_NOMEM, "out of memory for a %zd-byte head file", n);
		goto out;
	}
	if (H5Fget_file_image(f, buf, (size_t)n) != n)
		goto h5fail;
	*out = buf;
	*len = (size_t)n;
	buf = NULL;
	goto out;
h5fail:
	rc = err_set(err, ERR_NOMEM, "building the head file failed: %s",
		     h5util_reason(why, sizeof why));
out:
	free(buf);
	if (lcpl >= 0)
		H5Pclose(lcpl);
	if (g >= 0)
		H5Gclose(g);
	if (f >= 0)
		H5Fclose(f);
	if (fapl >= 0)
		H5Pclose(fapl);
	return rc;
}

int head_save(const char *path, const head_t *h, const head_meta_t *meta,
	      char *err)
{
	char tmp[4096];
	H5E_auto2_t old_func = NULL;
	void *old_data = NULL, *image = NULL;
	size_t len = 0;
	int rc, fd = -1, made = 0;

	if (!path || !*path || !h || !h->kernel || !meta)
		return err_set(err, ERR_ARG, "head_save: missing argument");
	if (meta->nclasses != h->K || !meta->classes)
		return err_set(err, ERR_ARG, "head_save: %d class names for %d classes",
			       meta->nclasses, h->K);
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >=
	    sizeof tmp)
		return err_set(err, ERR_ARG, "%s: path too long", path);
	H5Eget_auto2(H5E_DEFAULT, &old_func, &old_data);
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	rc = build_image(h, meta, &image, &len, err);
	H5Eclear2(H5E_DEFAULT);
	H5Eset_auto2(H5E_DEFAULT, old_func, old_data);
	if (rc)
		return rc;

	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0) {
		rc = err_set(err, ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
		goto fail;
	}
	made = 1;
	for (size_t done = 0; done < len;) {
		ssize_t w = write(fd, (const char *)image + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = err_set(err, ERR_IO, "%s: %s", tmp,
				     w < 0 ? strerror(errno) : "short write");
			goto fail;
		}
		done += (size_t)w;
	}
	/* Data on disk before the rename, or a crash could leave path naming
	 * an empty file. */
	if (fsync(fd) != 0) {
		rc = err_set(err, ERR_IO, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	/* close's failure is a write that did not happen (NFS, quotas); the
	 * descriptor is gone either way. */
	rc = close(fd);
	fd = -1;
	if (rc != 0) {
		rc = err_set(err, ERR_IO, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (rename(tmp, path) != 0) {
		rc = err_set(err, ERR_IO, "%s: cannot replace: %s", path, strerror(errno));
		goto fail;
	}
	sync_dir(path);
	free(image);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (made)
		unlink(tmp);
	free(image);
	return rc;
}

/* attr_text reads the optional scalar string name into buf (len bytes);
 * absent leaves buf empty. */
static int attr_text(hid_t obj, const char *name, char *buf, size_t len,
		     const char *path, char *err)
{
	h5util_strlist_t l = {0};
	int found, rc;

	buf[0] = '\0';
	if ((rc = h5util_attr_strings(obj, name, &l, &found, path, err)))
		goto out;
	if (found && l.n != 1)
		rc = err_set(err, ERR_FORMAT, "%s: attribute %s holds %zu strings, "
			     "expected one", path, name, l.n);
	else if (found && strlen(l.v[0]) >= len)
		rc = err_set(err, ERR_FORMAT, "%s: attribute %s is longer than %zu "
			     "bytes", path, name, len - 1);
	else if (found)
		memcpy(buf, l.v[0], strlen(l.v[0]) + 1);
out:
	h5util_strlist_free(&l);
	return rc;
}

/* Opens dataset name of g and checks it is a float array of rank dims. */
static int dset_open(hid_t g, const char *name, int rank, hsize_t *dims,
		     hid_t *out, const char *path, char *err)
{
	hid_t d, sp = H5I_INVALID_HID, ty = H5I_INVALID_HID;
	char why[256];
	int r = -1, rc = 0;

	if ((d = H5Dopen2(g, name, H5P_DEFAULT)) < 0)
		return err_set(err, ERR_FORMAT, "%s: dataset %s unreadable (%s)", path,
			       name, h5util_reason(why, sizeof why));
	if ((sp = H5Dget_space(d)) < 0 || (ty = H5Dget_type(d)) < 0 ||
	    (r = H5Sget_simple_extent_ndims(sp)) < 0) {
		rc = err_set(err, ERR_FORMAT, "%s: dataset %s unreadable (%s)", path,
			     name, h5util_reason(why, sizeof why));
	} else if (H5Tget_class(ty) != H5T_FLOAT) {
		rc = err_set(err, ERR_FORMAT, "%s: dataset %s is not floating point",
			     path, name);
	} else if (r != rank) {
		rc = err_set(err, ERR_SHAPE, "%s: dataset %s has %d dimensions, a "
			     "Dense %s has %d", path, name, r,
			     rank == 2 ? "kernel" : "bias", rank);
	} else if (H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
		rc = err_set(err, ERR_FORMAT, "%s: dataset %s unreadable (%s)", path,
			     name, h5util_reason(why, sizeof why));
	}
	if (ty >= 0)
		H5Tclose(ty);
	if (sp >= 0)
		H5Sclose(sp);
	if (rc)
		H5Dclose(d);
	else
		*out = d;
	return rc;
}

/* Finds the first layer with weights (Keras' layer_names, then each
 * layer's weight_names) and opens its kernel and bias. */
static int open_dense(hid_t f, const char *path, hid_t *kd, hid_t *bd,
		      hsize_t *kdims, hsize_t *bdims, char *err)
{
	h5util_strlist_t layers = {0}, names = {0};
	hid_t root = H5I_INVALID_HID, g = H5I_INVALID_HID;
	char why[256];
	int found, rc;

	if ((rc = h5util_attr_strings(f, "layer_names", &layers, &found, path, err)))
		goto out;
	if (found) {
		root = H5Gopen2(f, "/", H5P_DEFAULT);
	} else {
		/* A model.save file keeps the weights under model_weights. */
		htri_t mw = H5Lexists(f, "model_weights", H5P_DEFAULT);
		if (mw > 0 && (root = H5Gopen2(f, "model_weights", H5P_DEFAULT)) >= 0 &&
		    (rc = h5util_attr_strings(root, "layer_names", &layers, &found, path, err)))
			goto out;
	}
	if (!found || root < 0) {
		rc = err_set(err, ERR_FORMAT, "%s: no layer_names attribute: not a Keras "
			     "weights file", path);
		goto out;
	}
	for (size_t i = 0; i < layers.n; i++) {
		if ((g = H5Gopen2(root, layers.v[i], H5P_DEFAULT)) < 0) {
			rc = err_set(err, ERR_FORMAT, "%s: layer %s is listed but missing "
				     "(%s)", path, layers.v[i], h5util_reason(why, sizeof why));
			goto out;
		}
		if ((rc = h5util_attr_strings(g, "weight_names", &names, &found, path, err)))
			goto out;
		if (names.n == 0) {
			H5Gclose(g);
			g = H5I_INVALID_HID;
			continue;
		}
		if (names.n != 2) {
			rc = err_set(err, ERR_SHAPE, "%s: layer %s has %zu weights; a "
				     "Dense head has a kernel and a bias", path,
				     layers.v[i], names.n);
			goto out;
		}
		if ((rc = dset_open(g, names.v[0], 2, kdims, kd, path, err)))
			goto out;
		if ((rc = dset_open(g, names.v[1], 1, bdims, bd, path, err))) {
			H5Dclose(*kd);
			goto out;
		}
		goto out;
	}
	rc = err_set(err, ERR_MISSING, "%s: no layer with weights", path);
out:
	h5util_strlist_free(&names);
	h5util_strlist_free(&layers);
	if (g >= 0)
		H5Gclose(g);
	if (root >= 0)
		H5Gclose(root);
	return rc;
}

int head_read(const char *path, head_t *h, head_meta_t *meta, char *err)
{
	hid_t f = H5I_INVALID_HID, kd = H5I_INVALID_HID, bd = H5I_INVALID_HID;
	hsize_t kdims[2], bdims[1];
	H5E_auto2_t old_func = NULL;
	void *old_data = NULL;
	h5util_strlist_t classes = {0};
	char why[256], format[64];
	struct stat st;
	int rc = 0, found;
	htri_t is;

	if (h)
		memset(h, 0, sizeof *h);
	if (meta)
		memset(meta, 0, sizeof *meta);
	if (!path || !h || !meta)
		return err_set(err, ERR_ARG, "head_load: missing argument");
	if (stat(path, &st) != 0)
		return err_set(err, errno == ENOENT ? ERR_MISSING : ERR_IO, "%s: %s",
			       path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(err, ERR_IO, "%s: not a regular file", path);
	H5Eget_auto2(H5E_DEFAULT, &old_func, &old_data);
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

	if ((is = H5Fis_hdf5(path)) <= 0) {
		rc = err_set(err, ERR_FORMAT, "%s: not an HDF5 file", path);
		goto fail;
	}
	if ((f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
		rc = err_set(err, ERR_FORMAT, "%s: damaged HDF5 file (%s)", path,
			     h5util_reason(why, sizeof why));
		goto fail;
	}
	if ((rc = attr_text(f, "vggfeat_format", format, sizeof format, path, err)))
		goto fail;
	if (*format && strcmp(format, HEAD_FORMAT) != 0) {
		rc = err_set(err, ERR_UNSUPPORTED, "%s: head format '%s', this program "
			     "reads '%s'", path, format, HEAD_FORMAT);
		goto fail;
	}
	if ((rc = open_dense(f, path, &kd, &bd, kdims, bdims, err)))
		goto fail;
	if (kdims[0] < 1 || kdims[1] < 1 || kdims[0] > HEAD_MAX_DIM ||
	    kdims[1] > HEAD_MAX_DIM || bdims[0] != kdims[1]) {
		rc = err_set(err, ERR_SHAPE, "%s: kernel (%llu, %llu) and bias (%llu) "
			     "do not make a Dense layer", path,
			     (unsigned long long)kdims[0], (unsigned long long)kdims[1],
			     (unsigned long long)bdims[0]);
		goto fail;
	}
	if ((rc = head_alloc((int)kdims[0], (int)kdims[1], h, err)))
		goto fail;
	if (H5Dread(kd, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, h->kernel) < 0 ||
	    H5Dread(bd, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, h->bias) < 0) {
		rc = err_set(err, ERR_FORMAT, "%s: weights unreadable (%s)", path,
			     h5util_reason(why, sizeof why));
		goto fail;
	}
	if ((rc = h5util_attr_strings(f, "vggfeat_classes", &classes, &found, path, err)))
		goto fail;
	if (found && classes.n != (size_t)h->K) {
		rc = err_set(err, ERR_SHAPE, "%s: %zu class names for %d classes", path,
			     classes.n, h->K);
		goto fail;
	}
	if ((rc = attr_text(f, "vggfeat_model", meta->model, sizeof meta->model,
			    path, err)) ||
	    (rc = attr_text(f, "vggfeat_fingerprint", meta->fingerprint,
			    sizeof meta->fingerprint, path, err)) ||
	    (rc = attr_text(f, "vggfeat_preprocess", meta->preprocess,
			    sizeof meta->preprocess, path, err)) ||
	    (rc = attr_text(f, "vggfeat_version", meta->version,
			    sizeof meta->version, path, err)))
		goto fail;
	if (found) {
		meta->classes = classes.v;
		meta->nclasses = (int)classes.n;
		memset(&classes, 0, sizeof classes);
	}
fail:
	h5util_strlist_free(&classes);
	if (kd >= 0)
		H5Dclose(kd);
	if (bd >= 0)
		H5Dclose(bd);
	if (f >= 0 && H5Fclose(f) < 0 && rc == 0)
		rc = err_set(err, ERR_FORMAT, "%s: closing failed (%s)", path,
			     h5util_reason(why, sizeof why));
	if (rc) {
		head_free(h);
		head_meta_free(meta);
	}
	H5Eclear2(H5E_DEFAULT);
	H5Eset_auto2(H5E_DEFAULT, old_func, old_data);
	return rc;
}

/* head_load's child reads the file and sends the head down the pipe:
 *   int32 D, K, nclasses; the meta strings (their fixed sizes);
 *   per class name: uint32 length, the bytes; the D*K + K floats.
 * Native byte order: both ends are the same program on the same machine. */
typedef struct head_job {
	const char *path;
	head_t *h;
	head_meta_t *meta;
} head_job_t;

typedef struct head_wire {
	int32_t D, K, nclasses;
	char model[64], fingerprint[64], preprocess[256], version[64];
} head_wire_t;

static int send_head(void *arg, int fd, char *err)
{
	const head_job_t *j = arg;
	head_t h;
	head_meta_t m;
	int rc = head_read(j->path, &h, &m, err);
	if (rc)
		return rc;
	head_wire_t w = {h.D, h.K, m.nclasses, "", "", "", ""};
	memcpy(w.model, m.model, sizeof w.model);
	memcpy(w.fingerprint, m.fingerprint, sizeof w.fingerprint);
	memcpy(w.preprocess, m.preprocess, sizeof w.preprocess);
	memcpy(w.version, m.version, sizeof w.version);
	int bad = h5child_write(fd, &w, sizeof w);
	for (int i = 0; i < m.nclasses && !bad; i++) {
		uint32_t len = (uint32_t)strlen(m.classes[i]);
		bad = h5child_write(fd, &len, sizeof len) ||
		      h5child_write(fd, m.classes[i], len);
	}
	if (!bad)
		bad = h5child_write(fd, h.kernel,
				    ((size_t)h.D * h.K + (size_t)h.K) * sizeof(float));
	head_free(&h);
	head_meta_free(&m);
	return bad ? err_set(err, ERR_IO, "%s: sending the head failed", j->path) : 0;
}

static int receive_head(void *arg, int fd, char *err)
{
	const head_job_t *j = arg;
	head_wire_t w;
	int rc;

	if (h5child_read(fd, &w, sizeof w))
		return err_set(err, ERR_FORMAT, "%s: no head came back", j->path);
	if (w.D < 1 || w.K < 1 || w.D > HEAD_MAX_DIM || w.K > HEAD_MAX_DIM ||
	    (w.nclasses != 0 && w.nclasses != w.K))
		return err_set(err, ERR_FORMAT, "%s: a malformed head came back", j->path);
	if ((rc = head_alloc(w.D, w.K, j->h, err)))
		return rc;
	memcpy(j->meta->model, w.model, sizeof w.model);
	memcpy(j->meta->fingerprint, w.fingerprint, sizeof w.fingerprint);
	memcpy(j->meta->preprocess, w.preprocess, sizeof w.preprocess);
	memcpy(j->meta->version, w.version, sizeof w.version);
	j->meta->model[sizeof w.model - 1] = j->meta->fingerprint[sizeof w.fingerprint - 1] = 0;
	j->meta->preprocess[sizeof w.preprocess - 1] = j->meta->version[sizeof w.version - 1] = 0;
	if (w.nclasses && !(j->meta->classes = calloc((size_t)w.nclasses, sizeof(char *))))
		return err_set(err, ERR_NOMEM, "%s: out of memory", j->path);
	for (int i = 0; i < w.nclasses; i++, j->meta->nclasses++) {
		uint32_t len;
		if (h5child_read(fd, &len, sizeof len) || len > (1u << 20) ||
		    !(j->meta->classes[i] = calloc(len + 1, 1)) ||
		    h5child_read(fd, j->meta->classes[i], len))
			return err_set(err, ERR_FORMAT, "%s: a malformed head came back",
				       j->path);
	}
	if (h5child_read(fd, j->h->kernel, ((size_t)w.D * w.K + (size_t)w.K) * sizeof(float)))
		return err_set(err, ERR_FORMAT, "%s: the head came back cut short", j->path);
	return 0;
}

int head_load(const char *path, head_t *h, head_meta_t *meta, char *err)
{
	head_job_t j = {path, h, meta};
	int rc;

	if (h)
		memset(h, 0, sizeof *h);
	if (meta)
		memset(meta, 0, sizeof *meta);
	if (!path || !h || !meta)
		return err_set(err, ERR_ARG, "head_load: missing argument");
	if ((rc = h5child_run(path, send_head, receive_head, &j, err))) {
		head_free(h);
		head_meta_free(meta);
	}
	return rc;
}

void head_meta_free(head_meta_t *meta)
{
	if (!meta)
		return;
	for (int i = 0; i < meta->nclasses; i++)
		free(meta->classes[i]);
	free(meta->classes);
	memset(meta, 0, sizeof *meta);
}
