/* pairs.c - pairs of records and their distances (verify.h): every
 * genuine pair, or a seeded sample; a seeded sample of impostor pairs.  A
 * sample is drawn uniformly without replacement (each draw a uniform pair,
 * drawn again when it is of the wrong kind or already taken), then sorted,
 * so that the pairs, and every figure made of them, are a function of the
 * records and the seed. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "recog/recog.h"
#include "verify.h"

/* Pair tasks for the workers: this many pairs each. */
#define PAIRS_TASK 1024

void vf_pairs_free(vf_pairs_t *p)
{
	free(p->ij);
	free(p->dist);
	memset(p, 0, sizeof *p);
}

static int pairs_alloc(vf_pairs_t *p, size_t n, char *err)
{
	p->n = 0;
	p->ij = malloc((n ? n : 1) * sizeof *p->ij);
	p->dist = malloc((n ? n : 1) * sizeof *p->dist);
	if (!p->ij || !p->dist)
		return err_set(err, ERR_NOMEM, "out of memory for %zu pairs", n);
	return 0;
}

static void pairs_put(vf_pairs_t *p, uint32_t a, uint32_t b)
{
	p->ij[p->n][0] = a < b ? a : b;
	p->ij[p->n][1] = a < b ? b : a;
	p->n++;
}

static int pair_cmp(const void *x, const void *y)
{
	const uint32_t *a = x, *b = y;
	return a[0] != b[0] ? (a[0] > b[0]) - (a[0] < b[0]) : (a[1] > b[1]) - (a[1] < b[1]);
}

/* The records listed (idx, or all of r's) grouped by class: order (n)
 * the records sorted by class, then by index; start (C + 1) where each
 * class begins in it. */
typedef struct groups {
	uint32_t *order;
	size_t *start;
	size_t n;
	int C;
} groups_t;

static void groups_free(groups_t *g)
{
	free(g->order);
	free(g->start);
}

static int groups_make(const vf_records_t *r, const uint32_t *idx, size_t n,
		       groups_t *g, char *err)
{
	size_t *at;

	g->C = r->meta.nclasses;
	g->n = idx ? n : r->n;
	g->order = malloc((g->n ? g->n : 1) * sizeof *g->order);
	g->start = calloc((size_t)g->C + 2, sizeof *g->start);
	if (!g->order || !g->start)
		return err_set(err, ERR_NOMEM, "out of memory");
	for (size_t k = 0; k < g->n; k++)
		g->start[r->cls[idx ? idx[k] : k] + 1]++;
	for (int c = 0; c < g->C; c++)
		g->start[c + 1] += g->start[c];
	/* A counting sort, stable: indices stay in their order in a class. */
	if (!(at = malloc(((size_t)g->C + 1) * sizeof *at)))
		return err_set(err, ERR_NOMEM, "out of memory");
	memcpy(at, g->start, ((size_t)g->C + 1) * sizeof *at);
	for (size_t k = 0; k < g->n; k++) {
		uint32_t i = idx ? idx[k] : (uint32_t)k;
		g->order[at[r->cls[i]]++] = i;
	}
	free(at);
	return 0;
}

static uint64_t group_size(const groups_t *g, int c)
{
	return g->start[c + 1] - g->start[c];
}

/* Genuine pairs in the groups; impostor pairs are all the others. */
static uint64_t genuine_total(const groups_t *g)
{
	uint64_t t = 0;
	for (int c = 0; c < g->C; c++)
		t += group_size(g, c) * (group_size(g, c) - (group_size(g, c) > 0)) / 2;
	return t;
}

/* ---- a set of pairs already drawn ---- */

typedef struct pairset {
	uint64_t *slot; /* 0: empty; a pair (i < j) is i << 32 | j, never 0 */
	size_t mask;
} pairset_t;

static int pairset_init(pairset_t *s, uint64_t want)
{
	size_t cap = 64;
	while (cap < 2 * want)
		cap *= 2;
	s->mask = cap - 1;
	s->slot = calloc(cap, sizeof *s->slot);
	return s->slot ? 0 : -1;
}

/* Adds (a, b), a < b: 1 when it was new. */
static int pairset_add(pairset_t *s, uint32_t a, uint32_t b)
{
	uint64_t key = (uint64_t)a << 32 | b, h = key * 0x9e3779b97f4a7c15ULL;
	for (size_t i = (size_t)(h >> 20) & s->mask;; i = (i + 1) & s->mask) {
		if (s->slot[i] == key)
			return 0;
		if (s->slot[i] == 0) {
			s->slot[i] = key;
			return 1;
		}
	}
}

/* ---- the pairs ---- */

int vf_pairs_genuine(const vf_records_t *r, const uint32_t *idx, size_t n,
		     vf_pairs_t *p, char *err)
{
	return vf_pairs_genuine_sample(r, idx, n, UINT64_MAX, NULL, p, err);
}

int vf_pairs_genuine_sample(const vf_records_t *r, const uint32_t *idx,
			    size_t n, uint64_t want, rng_t *rng, vf_pairs_t *p,
			    char *err)
{
	groups_t g = {0};
	pairset_t set = {0};
	uint64_t *cum = NULL;
	int rc;

	memset(p, 0, sizeof *p);
	if ((rc = groups_make(r, idx, n, &g, err)))
		goto out;
	p->total = genuine_total(&g);
	if (p->total > SIZE_MAX / sizeof *p->ij) {
		rc = err_set(err, ERR_NOMEM, "%llu genuine pairs: too many",
			     (unsigned long long)p->total);
		goto out;
	}
	if (p->total <= want) {
		if ((rc = pairs_alloc(p, (size_t)p->total, err)))
			goto out;
		for (int c = 0; c < g.C; c++)
			for (size_t a = g.start[c]; a < g.start[c + 1]; a++)
				for (size_t b = a + 1; b < g.start[c + 1]; b++)
					pairs_put(p, g.order[a], g.order[b]);
		goto sort;
	}
	/* Each class weighed by its pairs: a uniform pair. */
	if ((rc = pairs_alloc(p, (size_t)want, err)))
		goto out;
	if (!(cum = malloc(((size_t)g.C + 1) * sizeof *cum)) || pairset_init(&set, want)) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	cum[0] = 0;
	for (int c = 0; c < g.C; c++) {
		uint64_t m = group_size(&g, c);
		cum[c + 1] = cum[c] + (m ? m * (m - 1) / 2 : 0);
	}
	while (p->n < want) {
		uint64_t t = rng_below(rng, p->total);
		int lo = 0, hi = g.C; /* the class c with cum[c] <= t < cum[c + 1] */
		while (hi - lo > 1) {
			int mid = (lo + hi) / 2;
			if (cum[mid] <= t)
				lo = mid;
			else
				hi = mid;
		}
		uint64_t m = group_size(&g, lo);
		uint64_t a = rng_below(rng, m), b = rng_below(rng, m - 1);
		b += b >= a;
		uint32_t i = g.order[g.start[lo] + a], j = g.order[g.start[lo] + b];
		if (pairset_add(&set, i < j ? i : j, i < j ? j : i))
			pairs_put(p, i, j);
	}
sort:
	qsort(p->ij, p->n, sizeof *p->ij, pair_cmp);
out:
	free(cum);
	free(set.slot);
	groups_free(&g);
	return rc;
}

int vf_pairs_impostor(const vf_records_t *r, const uint32_t *idx, size_t n,
		      uint64_t want, rng_t *rng, vf_pairs_t *p, char *err)
{
	groups_t g = {0};
	pairset_t set = {0};
	int rc;

	memset(p, 0, sizeof *p);
	if ((rc = groups_make(r, idx, n, &g, err)))
		goto out;
	p->total = (uint64_t)g.n * (g.n - (g.n > 0)) / 2 - genuine_total(&g);
	if (p->total <= want) {
		if ((rc = pairs_alloc(p, (size_t)p->total, err)))
			goto out;
		for (int c = 0; c < g.C; c++)
			for (size_t a = g.start[c]; a < g.start[c + 1]; a++)
				for (size_t b = g.start[c + 1]; b < g.n; b++)
					pairs_put(p, g.order[a], g.order[b]);
		goto sort;
	}
	if ((rc = pairs_alloc(p, (size_t)want, err)))
		goto out;
	if (pairset_init(&set, want)) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	/* Two distinct records, uniformly: each unordered pair as likely. */
	while (p->n < want) {
		uint64_t a = rng_below(rng, g.n), b = rng_below(rng, g.n - 1);
		b += b >= a;
		uint32_t i = g.order[a], j = g.order[b];
		if (r->cls[i] != r->cls[j] &&
		    pairset_add(&set, i < j ? i : j, i < j ? j : i))
			pairs_put(p, i, j);
	}
sort:
	qsort(p->ij, p->n, sizeof *p->ij, pair_cmp);
out:
	free(set.slot);
	groups_free(&g);
	return rc;
}

/* ---- distances ---- */

typedef struct measure {
	const vf_records_t *r;
	int metric;
	vf_pairs_t *p;
} measure_t;

static void measure_task(void *arg, int task, int worker)
{
	measure_t *m = arg;
	const vf_records_t *r = m->r;
	size_t k1 = ((size_t)task + 1) * PAIRS_TASK;

	for (size_t k = (size_t)task * PAIRS_TASK; k < k1 && k < m->p->n; k++) {
		uint32_t i = m->p->ij[k][0], j = m->p->ij[k][1];
		m->p->dist[k] = recog_distance_n(m->metric, r->x + (size_t)i * r->D,
						 r->norm[i], r->x + (size_t)j * r->D,
						 r->norm[j], r->D);
	}
}

void vf_pairs_measure(const vf_records_t *r, int metric, workers_t *pool,
		      vf_pairs_t *p)
{
	measure_t m = {r, metric, p};
	int tasks = (int)((p->n + PAIRS_TASK - 1) / PAIRS_TASK);

	if (pool)
		workers_run(pool, measure_task, &m, tasks);
	else
		for (int t = 0; t < tasks; t++)
			measure_task(&m, t, 0);
}
