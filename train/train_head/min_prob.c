/* min_prob.c - the --min-prob that train-head suggests for predict
 * (train_head.h): the head run over the validation set as predict runs it
 * on an image, and the top-1 probability that keeps --keep of its correct
 * answers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "train_head.h"

/* qsort's comparison for the largest first. */
static int cmp_desc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x < y) - (x > y);
}

/* th_min_prob_suggest runs h over the validation set as predict runs it on
 * an image (probabilities by head_probabilities, rank 1 by head_rank) and
 * finds the p that keeps keep of the correct answers: the probability of
 * the ceil(keep * right)-th most confident of them, rounded down to
 * predict's 6 decimals with at least 1e-7 to spare, so that the p printed
 * keeps every one of them even where predict's vector differs from the
 * stored one in its last bits (another --conv). */
int th_min_prob_suggest(const head_t *h, const th_data_t *d, const th_split_t *s,
			double keep, th_min_prob_t *t, char *err)
{
	/* p (K); top (nvalid): the right answers' probabilities first, then
	 * from the end the wrong ones'. */
	size_t D = (size_t)d->D, K = (size_t)d->K, nv = s->nvalid;
	double *work = malloc(head_probabilities_doubles(h) * sizeof *work);
	double *p = malloc(K * sizeof *p), *top = malloc((nv ? nv : 1) * sizeof *top);
	int *order = malloc(K * sizeof *order);
	int rc = 0;

	memset(t, 0, sizeof *t);
	if (!work || !p || !top || !order) {
		rc = err_set(err, ERR_NOMEM, "out of memory for the validation answers");
		goto out;
	}
	for (size_t i = 0; i < nv; i++) {
		size_t row = s->valid[i];
		head_probabilities(h, d->x + row * D, work, p);
		head_rank(p, (int)K, 1, order);
		int best = order[0];
		if ((int32_t)best == d->y[row])
			top[t->right++] = p[best];
		else
			top[nv - ++t->wrong] = p[best];
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
	free(work), free(p), free(top), free(order);
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
