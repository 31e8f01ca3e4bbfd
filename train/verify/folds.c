/* folds.c - a 10-fold accuracy in the style of LFW's View 2 protocol
 * (verify.h): the people split into ten folds, so that no person is in
 * two; in each, as many genuine as impostor pairs, drawn within the fold's
 * people; each fold judged at the threshold that classifies the other
 * nine folds' pairs best.  LFW's own folds are 300 + 300 pairs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "verify.h"

static int dbl_cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

static void shuffle(int *v, int n, rng_t *rng)
{
	for (int i = n - 1; i > 0; i--) {
		int j = (int)rng_below(rng, (uint64_t)i + 1), t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
}

/* Deals the people into folds: fold[c] (C) for each class, -1 for a class
 * without records; those with two records or more first, shuffled, then
 * the others, shuffled, round the folds, so that every fold has people
 * with genuine pairs.  Returns 0, or -1 when there are too few of them
 * (f->why says so). */
static int deal(const vf_records_t *r, uint64_t seed, int *fold, vf_folds_t *f)
{
	int C = r->meta.nclasses, nmulti = 0, nsingle = 0, next = 0;
	size_t *count = calloc((size_t)C, sizeof *count);
	int *multi = malloc((size_t)C * sizeof *multi), *single = malloc((size_t)C * sizeof *single);
	rng_t rng = rng_stream(seed, 1);
	int rc = -1;

	if (!count || !multi || !single) {
		snprintf(f->why, sizeof f->why, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < r->n; i++)
		count[r->cls[i]]++;
	for (int c = 0; c < C; c++) {
		fold[c] = -1;
		if (count[c] >= 2)
			multi[nmulti++] = c;
		else if (count[c] == 1)
			single[nsingle++] = c;
	}
	if (nmulti < VF_FOLDS || nmulti + nsingle < 2 * VF_FOLDS) {
		snprintf(f->why, sizeof f->why, "needs %d people with two records or "
			 "more and %d people in all; there are %d and %d", VF_FOLDS,
			 2 * VF_FOLDS, nmulti, nmulti + nsingle);
		goto out;
	}
	shuffle(multi, nmulti, &rng);
	shuffle(single, nsingle, &rng);
	for (int k = 0; k < nmulti; k++)
		fold[multi[k]] = next++ % VF_FOLDS;
	for (int k = 0; k < nsingle; k++)
		fold[single[k]] = next++ % VF_FOLDS;
	rc = 0;
out:
	free(count);
	free(multi);
	free(single);
	return rc;
}

int vf_folds_run(const vf_records_t *r, int metric, uint64_t seed,
		 workers_t *pool, vf_folds_t *f, char *err)
{
	int *fold = malloc(((size_t)r->meta.nclasses + 1) * sizeof *fold);
	uint32_t *idx = malloc((r->n ? r->n : 1) * sizeof *idx);
	vf_pairs_t gen[VF_FOLDS] = {{0}}, imp[VF_FOLDS] = {{0}};
	double *tg = NULL, *ti = NULL;
	int rc = 0;

	memset(f, 0, sizeof *f);
	if (!fold || !idx) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (deal(r, seed, fold, f))
		goto out;
	size_t tg_n = 0, ti_n = 0;
	for (int k = 0; k < VF_FOLDS; k++) {
		size_t n = 0;
		rng_t rng = rng_stream(seed, 2 + k);
		for (size_t i = 0; i < r->n; i++)
			if (fold[r->cls[i]] == k)
				idx[n++] = (uint32_t)i;
		for (int c = 0; c < r->meta.nclasses; c++)
			f->people[k] += fold[c] == k;
		/* Count first, then draw as many of each kind. */
		if ((rc = vf_pairs_genuine_sample(r, idx, n, 0, &rng, &gen[k], err)) ||
		    (rc = vf_pairs_impostor(r, idx, n, 0, &rng, &imp[k], err)))
			goto out;
		uint64_t want = VF_FOLD_PAIRS;
		want = gen[k].total < want ? gen[k].total : want;
		want = imp[k].total < want ? imp[k].total : want;
		vf_pairs_free(&gen[k]);
		vf_pairs_free(&imp[k]);
		if ((rc = vf_pairs_genuine_sample(r, idx, n, want, &rng, &gen[k], err)) ||
		    (rc = vf_pairs_impostor(r, idx, n, want, &rng, &imp[k], err)))
			goto out;
		vf_pairs_measure(r, metric, pool, &gen[k]);
		vf_pairs_measure(r, metric, pool, &imp[k]);
		qsort(gen[k].dist, gen[k].n, sizeof(double), dbl_cmp);
		qsort(imp[k].dist, imp[k].n, sizeof(double), dbl_cmp);
		f->pairs[k] = (size_t)want;
		tg_n += gen[k].n;
		ti_n += imp[k].n;
	}
	tg = malloc((tg_n ? tg_n : 1) * sizeof *tg);
	ti = malloc((ti_n ? ti_n : 1) * sizeof *ti);
	if (!tg || !ti) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int k = 0; k < VF_FOLDS; k++) {
		size_t ng = 0, ni = 0, right, ok = 0;
		for (int o = 0; o < VF_FOLDS; o++) {
			if (o == k)
				continue;
			memcpy(tg + ng, gen[o].dist, gen[o].n * sizeof *tg);
			memcpy(ti + ni, imp[o].dist, imp[o].n * sizeof *ti);
			ng += gen[o].n;
			ni += imp[o].n;
		}
		qsort(tg, ng, sizeof *tg, dbl_cmp);
		qsort(ti, ni, sizeof *ti, dbl_cmp);
		double t = vf_best_cut(tg, ng, ti, ni, &right);
		for (size_t i = 0; i < gen[k].n; i++)
			ok += gen[k].dist[i] <= t;
		for (size_t i = 0; i < imp[k].n; i++)
			ok += imp[k].dist[i] > t;
		f->threshold[k] = t;
		f->acc[k] = (double)ok / (double)(gen[k].n + imp[k].n);
		f->mean += f->acc[k];
	}
	f->mean /= VF_FOLDS;
	for (int k = 0; k < VF_FOLDS; k++)
		f->std += (f->acc[k] - f->mean) * (f->acc[k] - f->mean) / VF_FOLDS;
	f->std = sqrt(f->std);
	f->ran = 1;
out:
	for (int k = 0; k < VF_FOLDS; k++) {
		vf_pairs_free(&gen[k]);
		vf_pairs_free(&imp[k]);
	}
	free(fold);
	free(idx);
	free(tg);
	free(ti);
	return rc;
}
