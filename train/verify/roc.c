/* roc.c - what a calibration's distances say (verify.h).  A pair is
 * called genuine when its distance is <= the threshold; the thresholds
 * worth trying are the cuts between consecutive distinct distances, each
 * given as a number between the last distance it accepts and the first it
 * rejects (vf_threshold_between), so that it accepts exactly what the
 * figures say it accepts. */
#include <math.h>
#include <stdlib.h>

#include "verify.h"

static int dbl_cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

double vf_threshold_between(double lo, double hi)
{
	double m = lo + (hi - lo) / 2, r = round(m * 1e6) / 1e6;
	return r >= lo && r < hi ? r : m;
}

/* The threshold of the cut between lo (the largest distance accepted,
 * -inf: none) and hi (the smallest rejected, +inf: none). */
static double cut_threshold(double lo, double hi)
{
	if (isinf(lo))
		return hi > 0 ? vf_threshold_between(0, hi) : -1e-6;
	if (isinf(hi))
		return vf_threshold_between(lo, lo + 2e-6 + fabs(lo) * 2e-6);
	return vf_threshold_between(lo, hi);
}

/* Walks the cuts of gen (ng) and imp (ni), sorted: at each, *ga genuine
 * and *ia impostor distances are accepted, lo and hi as cut_threshold's.
 * Returns 0 past the last cut. */
typedef struct cuts {
	const double *gen, *imp;
	size_t ng, ni, ga, ia;
	double lo, hi;
	int started, done;
} cuts_t;

static int cuts_next(cuts_t *c)
{
	if (c->done)
		return 0;
	if (!c->started) {
		c->started = 1;
		c->lo = -INFINITY;
	} else {
		double v = c->hi;
		if (isinf(v)) {
			c->done = 1;
			return 0;
		}
		while (c->ga < c->ng && c->gen[c->ga] == v)
			c->ga++;
		while (c->ia < c->ni && c->imp[c->ia] == v)
			c->ia++;
		c->lo = v;
	}
	double g = c->ga < c->ng ? c->gen[c->ga] : INFINITY;
	double i = c->ia < c->ni ? c->imp[c->ia] : INFINITY;
	c->hi = g < i ? g : i;
	return 1;
}

void vf_roc_compute(double *gen, size_t ng, double *imp, size_t ni, double far,
		    vf_roc_t *roc)
{
	cuts_t c = {.gen = gen, .imp = imp, .ng = ng, .ni = ni};
	double auc = 0, best_gap = INFINITY;
	size_t lo = 0, hi = 0;
	uint64_t allowed = (uint64_t)floor(far * (double)ni + 1e-9);

	qsort(gen, ng, sizeof *gen, dbl_cmp);
	qsort(imp, ni, sizeof *imp, dbl_cmp);
	/* AUC: for each genuine distance, the impostors farther, ties half. */
	for (size_t k = 0; k < ng; k++) {
		while (lo < ni && imp[lo] < gen[k])
			lo++;
		if (hi < lo)
			hi = lo;
		while (hi < ni && imp[hi] <= gen[k])
			hi++;
		auc += (double)(ni - hi) + 0.5 * (double)(hi - lo);
	}
	roc->auc = auc / ((double)ng * (double)ni);
	roc->far_asked = far;
	while (cuts_next(&c)) {
		double fa = (double)c.ia / (double)ni, fr = (double)(ng - c.ga) / (double)ng;
		if (fabs(fa - fr) < best_gap) {
			best_gap = fabs(fa - fr);
			roc->eer = (fa + fr) / 2;
			roc->eer_threshold = cut_threshold(c.lo, c.hi);
		}
		/* The rates only grow, and the first cut accepts nothing: the
		 * last cut within the allowance. */
		if (c.ia <= allowed) {
			roc->threshold = cut_threshold(c.lo, c.hi);
			roc->false_accepts = c.ia;
			roc->true_accepts = c.ga;
		}
	}
	roc->far = (double)roc->false_accepts / (double)ni;
	roc->tar = (double)roc->true_accepts / (double)ng;
}

double vf_best_cut(const double *gen, size_t ng, const double *imp, size_t ni,
		   size_t *right)
{
	cuts_t c = {.gen = gen, .imp = imp, .ng = ng, .ni = ni};
	double t = 0;

	*right = 0;
	for (int first = 1; cuts_next(&c); first = 0) {
		size_t ok = c.ga + (ni - c.ia);
		if (first || ok > *right) {
			*right = ok;
			t = cut_threshold(c.lo, c.hi);
		}
	}
	return t;
}
