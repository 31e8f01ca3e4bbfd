/* min_prob.c - the --min-prob that train-head suggests for predict
 * (train_head.h): the head run over the validation set as predict runs it
 * on an image, and the top-1 probability that keeps --keep of its correct
 * answers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/workers.h"
#include "error.h"
#include "train_head.h"

/* qsort's comparison for the largest first. */
static int cmp_desc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x < y) - (x > y);
}

/* The validation set's answers, a chunk of HEAD_PROB_ROWS rows per task:
 * each row's top-1 probability, and whether it is right. */
typedef struct answers {
	const head_t *h;
	const th_data_t *d;
	const th_split_t *s;
	float *x;       /* (threads, HEAD_PROB_ROWS, D) */
	double *work;   /* (threads, head_probabilities_doubles) */
	double *p;      /* (threads, HEAD_PROB_ROWS, K) */
	int *order;     /* (threads, K) */
	double *top1;   /* (nvalid) */
	char *right;    /* (nvalid) */
} answers_t;

static void answer_chunk(void *arg, int task, int worker)
{
	const answers_t *a = arg;
	const size_t D = (size_t)a->d->D, K = (size_t)a->d->K, i0 = (size_t)task * HEAD_PROB_ROWS;
	const int n = a->s->nvalid - i0 < HEAD_PROB_ROWS ? (int)(a->s->nvalid - i0)
							  : HEAD_PROB_ROWS;
	float *x = a->x + (size_t)worker * HEAD_PROB_ROWS * D;
	double *p = a->p + (size_t)worker * HEAD_PROB_ROWS * K;
	int *order = a->order + (size_t)worker * K;

	for (int r = 0; r < n; r++)
		memcpy(x + r * D, a->d->x + a->s->valid[i0 + (size_t)r] * D, D * sizeof *x);
	head_probabilities(a->h, x, n, a->work + (size_t)worker * head_probabilities_doubles(a->h),
			   p);
	for (int r = 0; r < n; r++) {
		head_rank(p + r * K, (int)K, 1, order);
		a->top1[i0 + (size_t)r] = p[r * K + (size_t)order[0]];
		a->right[i0 + (size_t)r] = (int32_t)order[0] == a->d->y[a->s->valid[i0 + (size_t)r]];
	}
}

/* th_min_prob_suggest runs h over the validation set as predict runs it on
 * an image (probabilities by head_probabilities, rank 1 by head_rank), on
 * threads threads, and finds the p that keeps keep of the correct answers:
 * the probability of the ceil(keep * right)-th most confident of them,
 * rounded down to predict's 6 decimals with at least 1e-7 to spare, so
 * that the p printed keeps every one of them even where predict's vector
 * differs from the stored one in its last bits (another --conv). */
int th_min_prob_suggest(const head_t *h, const th_data_t *d, const th_split_t *s,
			double keep, int threads, th_min_prob_t *t, char *err)
{
	/* top (nvalid): the right answers' probabilities first, then from the
	 * end the wrong ones'. */
	size_t D = (size_t)d->D, K = (size_t)d->K, nv = s->nvalid, T = (size_t)threads;
	answers_t a = {h, d, s, malloc(T * HEAD_PROB_ROWS * D * sizeof(float)),
		       malloc(T * head_probabilities_doubles(h) * sizeof(double)),
		       malloc(T * HEAD_PROB_ROWS * K * sizeof(double)),
		       malloc(T * K * sizeof(int)), malloc((nv ? nv : 1) * sizeof(double)),
		       malloc(nv ? nv : 1)};
	double *top = malloc((nv ? nv : 1) * sizeof *top);
	workers_t *workers = NULL;
	int rc = 0;

	memset(t, 0, sizeof *t);
	if (!a.x || !a.work || !a.p || !a.order || !a.top1 || !a.right || !top) {
		rc = err_set(err, ERR_NOMEM, "out of memory for the validation answers");
		goto out;
	}
	if ((rc = workers_create(threads, &workers, err)))
		goto out;
	workers_run(workers, answer_chunk, &a, (int)((nv + HEAD_PROB_ROWS - 1) / HEAD_PROB_ROWS));
	for (size_t i = 0; i < nv; i++) {
		if (a.right[i])
			top[t->right++] = a.top1[i];
		else
			top[nv - ++t->wrong] = a.top1[i];
	}
	if (t->right == 0)
		goto out;
	qsort(top, t->right, sizeof *top, cmp_desc);
	/* keep * right is 19.000000000000004 for 0.95 * 20: no 20th. */
	size_t want = (size_t)ceil(keep * (double)t->right - 1e-9);
	want = want < 1 ? 1 : want;
	t->p = floor((top[want - 1] - 1e-7) * 1e6) / 1e6;
	t->p = t->p < 0 ? 0 : t->p;
	for (size_t i = 0; i < t->right; i++)
		t->kept += top[i] >= t->p;
	for (size_t i = nv - t->wrong; i < nv; i++)
		t->caught += top[i] < t->p;
out:
	workers_free(workers);
	free(a.x), free(a.work), free(a.p), free(a.order), free(a.top1), free(a.right);
	free(top);
	return rc;
}

/* The share a of b, in per cent, for the report ("-" when b is 0). */
static const char *percent(size_t a, size_t b, char *buf, size_t len)
{
	if (b == 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f%%", 100.0 * (double)a / (double)b);
	return buf;
}

void th_min_prob_print(const th_min_prob_t *t, double keep)
{
	char a[16], b[16];

	if (t->right == 0) {
		fprintf(stderr, PROG ": no validation answer is right: no --min-prob "
			"to suggest\n");
		return;
	}
	fprintf(stderr, PROG ": predict --min-prob %.6f keeps %zu of the %zu correct "
		"validation answers (%s, --keep %g) and turns %zu of the %zu wrong "
		"ones (%s) into unknown\n", t->p, t->kept, t->right,
		percent(t->kept, t->right, a, sizeof a), keep, t->caught, t->wrong,
		percent(t->caught, t->wrong, b, sizeof b));
}
