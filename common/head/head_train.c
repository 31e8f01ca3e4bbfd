/* head_train.c - the trainer: epochs of shuffled Adam steps over a set of
 * cached feature vectors, and the evaluation, on a workers of threads.
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
#include "head/head.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "head/head_impl.h"
#include "base/workers.h"

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

struct head_trainer {
	head_t *h;
	head_hparams_t hp;
	adam_t adam;
	rng_t rng;
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

	workers_t *workers;
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
			sq += adam_apply_clear(&t->adam, t->job.alpha,
					       (size_t)a * K, (size_t)R * K, w,
					       g, (float)t->hp.l2);
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
	t->rng = rng_stream(seed, HEAD_STREAM_SHUFFLE);
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
	if ((rc = workers_create(threads, &t->workers, err)))
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
	workers_free(t->workers);
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
	workers_run(t->workers, stripe_task, t, t->S);

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
		workers_run(t->workers, stripe_task, t, t->S);

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
	workers_run(t->workers, eval_task, t, (int)ntasks);
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
