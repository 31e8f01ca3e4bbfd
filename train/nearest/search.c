/* search.c - the exact k nearest records of many queries (nearest.h): the
 * store streamed from the LMDB map a block at a time, each block's vectors
 * multiplied by all the queries' in float32, then each record that could
 * be among a query's k nearest measured again in double.
 *
 * Why the float32 product is enough to be exact: the product sums each q.x
 * through at most D + 2 float32 roundings per term (the kernel's blocks of
 * 256, then the blocks' sums; OpenBLAS' sgemm fewer), so |s~ - s| <=
 * gamma sum |q_i x_i| <= gamma |q| |x| (Cauchy-Schwarz), gamma = (D + 2) u
 * / (1 - (D + 2) u), u = 2^-24, whatever the order or the fused
 * multiply-adds.  So the
 * float32 distance, less that bound carried through the metric, is a lower
 * bound on the exact one; a record whose lower bound is not below the
 * query's current k-th exact distance cannot enter its k nearest (records
 * come in key order, so a later one loses a tie), and every other is
 * measured again in double by recog_distance_n, verify's own distance.
 * Few are: about k ln(N / k) per query, and those within the bound of the
 * k-th.
 *
 * On a CPU with AMX's bfloat16 tiles (and the kernel's leave to use them)
 * the product is product_amx.c's: each vector split into two bfloat16
 * ones, three tile products summed in float32, with its own bound
 * (nn_amx_gamma: gamma_{3 Dp} and the split's 3 u'^2, about 3.2 times the
 * float32 one at D = 4096), a pair with a norm outside [2^-20, 2^60]
 * measured in double whatever its product; the bound, not the product's
 * precision, is what keeps the answer exact, and few more records pass
 * the screen (docs/performance.md).  Elsewhere the product is the
 * network's own (kernels/kern.h's wino_gemm, the Winograd layers'
 * microkernel, on the CPU's widest ISA), the queries packed once into its
 * panels: OpenBLAS picks its kernels by the CPU's model, and Debian's
 * 0.3.21 takes a Xeon it does not know for a Prescott (SSE3;
 * docs/performance.md shows faiss' own OpenBLAS doing the same).  Without
 * AVX2, OpenBLAS' sgemm.
 *
 * Letters: Q queries, N records, B records in a block, D the vector's
 * length (Ds: rounded up to the kernel's lanes), K the neighbours asked
 * for, Qs the queries rounded up to the kernel's panel width. */
#include "nearest.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/workers.h"
#include "error.h"
#include "kernels/isa.h"
#include "kernels/kern.h"
#include "recog/recog.h"

/* Queries per matrix product: the scores of one product, QC x B floats,
 * stay a few tens of MB. */
#define NN_QCHUNK 2048
/* A block's vectors: about this many bytes of float32. */
#define NN_BLOCK_BYTES ((size_t)32 << 20)
/* Records decoded per task; records per product task (their rows of a
 * kernel depth stay in L2 while the query panels go past); queries
 * updated per task (four cache lines of each record's scores, a page of
 * the scores apart from the next record's: fewer tasks, fewer walks). */
#define NN_DECODE_TASK 32
#define NN_PRODUCT_ROWS 256
#define NN_UPDATE_TASK 64
/* Records ahead whose scores the update asks for before it needs them. */
#define NN_PREFETCH 8
/* The slack for the double arithmetic of the screen (below): 1e-12 of its
 * terms, far above their rounding (1e-16), far below any gap that
 * matters. */
#define NN_SLACK 1e-12
/* AMX: the second stage of a block's product runs when the first lets
 * more than one pair in this many through the screen.  A pair measured in
 * double costs D multiply-adds in double, about 2 us at D = 4096 on the
 * Xeon of docs/performance.md; the second stage costs each pair 2 D
 * bfloat16 ones on the tiles, about 25 ns (the profiles of 2026-12-06):
 * 64 is below their ratio, erring towards the second stage. */
#define NN_AMX_REFINE 64
/* The norms for which the product's error bound holds (product_amx.c: no
 * overflow, subnormals flushed far below the bound); a pair with either
 * norm outside is measured in double, whatever its product. */
#define NN_FIT(n) ((n) >= 0x1p-20 && (n) <= 0x1p60)

typedef struct search {
	const nn_opts_t *o;
	nn_result_t *res;
	int D, Ds, B, K;
	size_t ldx;              /* the rows of x: Ds and a cache line */
	const kern_t *kern;      /* NULL: OpenBLAS */
	int amx;                 /* the product on AMX (product_amx.c) */
	int stage;               /* AMX: the product's stage (nn_amx_product) */
	int nr;                  /* the kernel's panel width (1: OpenBLAS) */
	const float *q;          /* (Q, D) */
	float *u;                /* (Qs / nr, Ds, nr) the queries, in panels */
	uint16_t *qp;            /* AMX: the queries split, in tiles */
	uint16_t *a;             /* AMX: the block's records split, in tiles */
	double *qn;              /* (Q) |q| */
	double gamma;            /* the float32 product's relative error bound */
	uint64_t budget;         /* AMX: the pairs stage 1 may let through */
	uint64_t *pass;          /* AMX: (tasks) the pairs stage 1 lets through */
	/* The block being searched: its records as featdb_blocks gave them,
	 * then decoded. */
	int n;
	uint64_t base;           /* the key-order index of its first record */
	const char *const *keys;
	const size_t *klens;
	const uint8_t *const *vals;
	const size_t *vlens;
	/* (B, Ds) rows ldx apart, the lanes past D zero: a cache line past
	 * Ds, so that the kernel's 14 rows (a power of two apart when D is
	 * 4096) do not fall into one cache set. */
	float *x;
	const float **xp;        /* (B) each record's values: x's row, or the map's */
	double *xn;              /* (B) |x| */
	double *xn2;             /* (B) |x|^2 (1 - NN_SLACK), for euclidean */
	double *xv, *xs2;        /* (B) 1 / (|x| + eps), |x'|^2, for l2 */
	int32_t *cls;            /* (B) */
	uint8_t *ok;             /* (B) decoded and sound */
	uint8_t *fit;            /* (B) |x| in the screen's range (NN_FIT) */
	/* The queries of the product being done: q0 .. q0 + nq - 1 (q0 a
	 * multiple of nr), nqs of them rounded up to nr; a record's scores
	 * lds apart, a cache line more than nqs so that a page's multiple
	 * never puts the records' scores in one cache set. */
	int q0, nq, nqs, lds;
	float *s;                /* (B, lds) their float32 dot products */
	workers_t *pool;
	uint64_t *exact;         /* (threads) records measured again */
	pthread_mutex_t lock;    /* guards rc and err */
	int rc;
	char *err;
} search_t;

static void search_fail(search_t *s, int rc, const char *what)
{
	pthread_mutex_lock(&s->lock);
	if (!s->rc)
		s->rc = err_set(s->err, rc, "%s", what);
	pthread_mutex_unlock(&s->lock);
}

/* ---- a query's k nearest: a max-heap on (distance, index) ---- */

static int hit_after(const nn_hit_t *a, const nn_hit_t *b)
{
	return a->dist > b->dist || (a->dist == b->dist && a->index > b->index);
}

static void heap_sift_down(nn_hit_t *h, int n, int i)
{
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && hit_after(&h[l], &h[m]))
			m = l;
		if (r < n && hit_after(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		nn_hit_t t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void heap_sift_up(nn_hit_t *h, int i)
{
	while (i > 0) {
		int p = (i - 1) / 2;
		if (!hit_after(&h[i], &h[p]))
			return;
		nn_hit_t t = h[i];
		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

/* ---- the three phases of a block, each run by the workers ---- */

/* Decodes records task*NN_DECODE_TASK.. of the block into x, xn, cls, ok;
 * a record that does not decode, or whose class the store does not list,
 * is passed over (ok 0). */
static void decode_task(void *arg, int task, int worker)
{
	search_t *s = arg;
	int j1 = (task + 1) * NN_DECODE_TASK;

	for (int j = task * NN_DECODE_TASK; j < j1 && j < s->n; j++) {
		featdb_rec_t rec;
		float *x = s->x + (size_t)j * s->ldx;
		s->ok[j] = 0;
		if (featdb_rec_decode(s->vals[j], s->vlens[j], &rec, NULL) != 0 ||
		    rec.cls < 0 || rec.cls >= s->res->meta.nclasses)
			continue;
		if (rec.dim != s->D) {
			search_fail(s, ERR_SHAPE, "a record's vector is not as long as "
				    "the store's metadata says (featdb verify)");
			continue;
		}
		/* With AMX nothing reads x's rows but this task and the
		 * measure in double: a float32 record is read where it lies in
		 * the map (x86's floats are the record's little-endian ones)
		 * when its values are aligned, as they are on LMDB's overflow
		 * pages. */
		if (s->amx && rec.dtype == FEATDB_F32 && (uintptr_t)rec.data % sizeof(float) == 0) {
			s->xp[j] = (const float *)rec.data;
		} else {
			featdb_rec_vector(&rec, x);
			s->xp[j] = x;
		}
		if (s->amx)
			nn_amx_pack_record(s->xp[j], s->D, j, s->a);
		double xn = recog_norm(s->xp[j], s->D), xs = xn / (xn + RECOG_L2_EPS);
		s->xn[j] = xn;
		s->xn2[j] = xn * xn * (1 - NN_SLACK);
		s->xv[j] = 1 / (xn + RECOG_L2_EPS);
		s->xs2[j] = xs * xs;
		s->cls[j] = rec.cls;
		s->fit[j] = NN_FIT(xn);
		s->ok[j] = 1;
	}
}

/* s (n, nqs) = x (n, Ds) q^T, q the queries q0..: this task's rows. */
static void product_task(void *arg, int task, int worker)
{
	search_t *s = arg;
	int r0 = task * NN_PRODUCT_ROWS;
	int rows = s->n - r0 < NN_PRODUCT_ROWS ? s->n - r0 : NN_PRODUCT_ROWS;
	const float *x = s->x + (size_t)r0 * s->ldx;
	float *out = s->s + (size_t)r0 * s->lds;

	if (s->amx)
		nn_amx_product(rows, s->a + nn_amx_records_size(r0, s->D), s->D,
			       s->qp + (size_t)s->q0 / 16 * nn_amx_group_size(s->D),
			       s->nqs, out, (size_t)s->lds, s->stage);
	else if (s->kern)
		s->kern->wino_gemm(rows, s->Ds, s->nqs, x, s->ldx,
			      s->u + (size_t)s->q0 * s->Ds, out, (size_t)s->lds);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, s->nq, s->D,
			    1.0f, x, (int)s->ldx, s->q + (size_t)s->q0 * s->D, s->D, 0.0f,
			    out, s->lds);
}

/* Whether query g must measure a record again, its k-th distance being T:
 * the float32 distance less its rounding bound (above), below T, solved
 * for the dot product once per query and k-th distance, so that a record
 * costs a multiply and a compare.  With qn, xn the norms, u the slack for
 * the double arithmetic here (1e-12 of the terms):
 *   cosine        measure when dot > (1 - T - gamma - u) qn xn; a zero
 *                 vector is at 1 exactly: measure when T > 1;
 *   euclidean     when 2 dot > qn^2 (1 - u) + xn^2 (1 - u) - T^2
 *                 - 2 gamma qn xn;
 *   euclidean_l2  (q' = q / (qn + eps), x' likewise) when
 *                 2 dot / ((qn + eps)(xn + eps)) > |q'|^2 + |x'|^2 - T^2
 *                 - 2 gamma |q'| - u  (the bound is 2 gamma |q'| |x'|, and
 *                 |x'| <= 1). */
typedef struct screen {
	double T;    /* the k-th distance; infinity: measure every record */
	double c;    /* cosine: (1 - T - gamma - u) qn; l2: 2 / (qn + eps) */
	double a, b; /* euclidean: qn^2 (1 - u) - T^2, 2 gamma qn;
		      * l2: |q'|^2 - T^2 - 2 gamma |q'| - u */
	int zero;    /* the query is a zero vector */
	int fit;     /* its norm is in the bound's range (NN_FIT) */
} screen_t;

static void screen_set(const search_t *s, double qn, double T, screen_t *sc)
{
	double qs = qn / (qn + RECOG_L2_EPS);

	sc->T = T;
	sc->zero = qn == 0;
	sc->fit = NN_FIT(qn);
	switch (s->o->metric) {
	case RECOG_COSINE:
		sc->c = (1 - T - s->gamma - NN_SLACK) * qn;
		break;
	case RECOG_EUCLIDEAN:
		sc->a = qn * qn * (1 - NN_SLACK) - T * T;
		sc->b = 2 * s->gamma * qn;
		break;
	default:
		sc->c = 2 / (qn + RECOG_L2_EPS);
		sc->a = qs * qs - T * T - 2 * s->gamma * qs - NN_SLACK;
		break;
	}
}

/* Record j, of float32 dot product dot with the query: measure it?  The
 * tests are written so that a product that is not a number says yes. */
static inline __attribute__((always_inline)) int
must_measure(const search_t *s, const screen_t *sc, float dot, int j)
{
	if (isinf(sc->T))
		return 1;
	if (s->o->metric == RECOG_COSINE && (sc->zero || s->xn[j] == 0))
		return sc->T > 1;
	if (!sc->fit || !s->fit[j])
		return 1;
	switch (s->o->metric) {
	case RECOG_COSINE:
		return !(dot <= sc->c * s->xn[j]);
	case RECOG_EUCLIDEAN:
		return !(2.0 * dot <= sc->a + s->xn2[j] - sc->b * s->xn[j]);
	default:
		return !(dot * sc->c * s->xv[j] <= sc->a + s->xs2[j]);
	}
}

/* Keeps record j, at distance d, among query g's k nearest; returns its
 * new k-th distance (infinity while it has fewer). */
static double keep(search_t *s, int g, int j, double d)
{
	const int K = s->K;
	nn_hit_t *h = s->res->hits + (size_t)g * K;
	int *cnt = &s->res->count[g];

	if (*cnt == K && !(d < h[0].dist))
		return h[0].dist;
	char *key = strndup(s->keys[j], s->klens[j]);
	if (!key) {
		search_fail(s, ERR_NOMEM, "out of memory");
		return -INFINITY; /* nothing more gets in */
	}
	nn_hit_t hit = {d, s->base + (uint64_t)j, s->cls[j], key};
	if (*cnt < K) {
		h[*cnt] = hit;
		heap_sift_up(h, (*cnt)++);
	} else {
		free(h[0].key);
		h[0] = hit;
		heap_sift_down(h, K, 0);
	}
	return *cnt == K ? h[0].dist : INFINITY;
}

/* The screens of queries task*NN_UPDATE_TASK.. of the product (update_task
 * and count_task share them out alike), each from its query's k-th
 * distance so far; returns how many. */
static int task_screens(const search_t *s, int task, screen_t *sc)
{
	const int i0 = task * NN_UPDATE_TASK;
	const int ni = s->nq - i0 < NN_UPDATE_TASK ? s->nq - i0 : NN_UPDATE_TASK;

	for (int i = 0; i < ni; i++) {
		int g = s->q0 + i0 + i;
		screen_set(s, s->qn[g], s->res->count[g] == s->K ?
			   s->res->hits[(size_t)g * s->K].dist : INFINITY, &sc[i]);
	}
	return ni;
}

/* Record j + NN_PREFETCH's scores for queries i0..i0+ni-1 asked for: the
 * records' scores are a row apart, and the prefetcher, which follows runs
 * within a page, does not see them coming. */
static inline void scores_prefetch(const search_t *s, int j, int i0, int ni)
{
	if (j + NN_PREFETCH < s->n)
		for (int i = 0; i < ni; i += 16)
			__builtin_prefetch(s->s + (size_t)(j + NN_PREFETCH) * s->lds + i0 + i);
}

/* Queries task*NN_UPDATE_TASK.. of the product: each record of the block
 * that could be among their k nearest, measured in double and kept.  The
 * records go by in order, each one's scores for these queries side by
 * side. */
static void update_task(void *arg, int task, int worker)
{
	search_t *s = arg;
	const int D = s->D, i0 = task * NN_UPDATE_TASK;
	screen_t sc[NN_UPDATE_TASK];
	const int ni = task_screens(s, task, sc);

	for (int j = 0; j < s->n; j++) {
		scores_prefetch(s, j, i0, ni);
		if (!s->ok[j])
			continue;
		const float *dots = s->s + (size_t)j * s->lds + i0;
		for (int i = 0; i < ni; i++) {
			int g = s->q0 + i0 + i;
			if (!must_measure(s, &sc[i], dots[i], j))
				continue;
			double d = recog_distance_n(s->o->metric, s->q + (size_t)g * D,
						    s->qn[g], s->xp[j],
						    s->xn[j], D);
			s->exact[worker]++;
			double T = keep(s, g, j, d);
			if (T != sc[i].T)
				screen_set(s, s->qn[g], T, &sc[i]);
		}
	}
}

/* Queries task*NN_UPDATE_TASK.. of the product: how many records of the
 * block the screen would measure again, counted up to the budget. */
static void count_task(void *arg, int task, int worker)
{
	search_t *s = arg;
	const int i0 = task * NN_UPDATE_TASK;
	screen_t sc[NN_UPDATE_TASK];
	const int ni = task_screens(s, task, sc);
	uint64_t c = 0;

	for (int j = 0; j < s->n && c <= s->budget; j++) {
		scores_prefetch(s, j, i0, ni);
		if (!s->ok[j])
			continue;
		const float *dots = s->s + (size_t)j * s->lds + i0;
		for (int i = 0; i < ni; i++)
			c += must_measure(s, &sc[i], dots[i], j);
	}
	s->pass[task] = c;
}

/* The product of a block and the queries q0.., into s, with s->gamma its
 * bound.  On AMX, in two stages: q_hi . x_hi alone (a third of the work)
 * has a bound of about 2^-7 |q| |x|, which the screen takes as it is when
 * few pairs pass it (on well-separated vectors, hardly more than the
 * tighter bound lets through); when more than the budget would, the other
 * two thirds follow, for the tight bound: a block of near ties costs the
 * count and no more. */
static void block_product(search_t *s)
{
	int tasks = (s->n + NN_PRODUCT_ROWS - 1) / NN_PRODUCT_ROWS;
	int qtasks = (s->nq + NN_UPDATE_TASK - 1) / NN_UPDATE_TASK;
	uint64_t pass = 0;

	if (!s->amx) {
		workers_run(s->pool, product_task, s, tasks);
		return;
	}
	s->stage = 1;
	s->gamma = nn_amx_gamma(s->D, 1);
	workers_run(s->pool, product_task, s, tasks);
	s->budget = (uint64_t)s->n * (uint64_t)s->nq / NN_AMX_REFINE;
	workers_run(s->pool, count_task, s, qtasks);
	for (int t = 0; t < qtasks; t++)
		pass += s->pass[t];
	if (pass <= s->budget)
		return;
	s->stage = 2;
	s->gamma = nn_amx_gamma(s->D, 2);
	workers_run(s->pool, product_task, s, tasks);
	s->res->refined++;
}

/* featdb_blocks' callback: one block searched for every query. */
/* The queries' hits (Q, K), K the k asked for, or the snapshot's records
 * when there are fewer (at least 1): --top-k 100000 asks for every record,
 * not for room for 100000 per query (13 GB for 4096 queries). */
static int hits_alloc(search_t *s, uint64_t records)
{
	nn_result_t *res = s->res;

	s->K = (uint64_t)s->o->k < records ? s->o->k : records ? (int)records : 1;
	res->k = s->K;
	if (!(res->hits = calloc((size_t)res->nq * s->K, sizeof *res->hits)))
		return err_set(s->err, ERR_NOMEM, "out of memory for the %d nearest "
			       "records of %d queries (--top-k)", s->K, res->nq);
	return 0;
}

static int search_block(void *ctx, int n, const char *const *keys,
			const size_t *klens, const uint8_t *const *vals,
			const size_t *vlens)
{
	search_t *s = ctx;
	const featdb_meta_t *meta = &s->res->meta;
	int rc;

	if (meta->dim != s->D)
		return err_set(s->err, ERR_SHAPE, "the store holds vectors of %d "
			       "values; the queries have %d", meta->dim, s->D);
	/* The snapshot's count is known from its first block on. */
	if (!s->res->hits && (rc = hits_alloc(s, meta->count)))
		return rc;
	s->n = n;
	s->keys = keys;
	s->klens = klens;
	s->vals = vals;
	s->vlens = vlens;
	workers_run(s->pool, decode_task, s, (n + NN_DECODE_TASK - 1) / NN_DECODE_TASK);
	if (s->rc)
		return s->rc;
	for (int j = 0; j < n; j++)
		s->res->bad += !s->ok[j];
	for (s->q0 = 0; s->q0 < s->res->nq; s->q0 += NN_QCHUNK) {
		s->nq = s->res->nq - s->q0 < NN_QCHUNK ? s->res->nq - s->q0 : NN_QCHUNK;
		s->nqs = (s->nq + s->nr - 1) / s->nr * s->nr;
		s->lds = s->nqs + 16;
		block_product(s);
		workers_run(s->pool, update_task, s,
			    (s->nq + NN_UPDATE_TASK - 1) / NN_UPDATE_TASK);
		if (s->rc)
			return s->rc;
	}
	s->base += (uint64_t)n;
	return 0;
}

static int hit_cmp(const void *a, const void *b)
{
	return hit_after(a, b) ? 1 : hit_after(b, a) ? -1 : 0;
}

void nn_result_free(nn_result_t *res)
{
	for (size_t i = 0; res->hits && i < (size_t)res->nq * res->k; i++)
		free(res->hits[i].key);
	free(res->hits);
	free(res->count);
	featdb_meta_free(&res->meta);
	memset(res, 0, sizeof *res);
}

int nn_search(featdb_t *db, const float *q, int nq, int D, const nn_opts_t *o,
	      nn_result_t *res, char *err)
{
	search_t s = {.o = o, .res = res, .D = D, .q = q, .err = err};
	size_t B;
	int rc;

	memset(res, 0, sizeof *res);
	if (nq < 1 || D < 1 || o->k < 1 || o->threads < 1 || o->block < 0)
		return err_set(err, ERR_ARG, "nn_search: bad arguments");
	B = o->block ? (size_t)o->block : NN_BLOCK_BYTES / ((size_t)D * sizeof(float));
	B = B < 16 ? 16 : B > 65536 ? 65536 : B;
	s.B = (int)B;
	/* The portable table's products are fmaf's, a call per term on an
	 * x86-64 CPU without FMA: OpenBLAS is faster there. */
	s.kern = isa_best() == ISA_PORTABLE ? NULL : kern_for(ISA_AUTO);
	/* AMX on top of the AVX-512 kernels, unless VGGFEAT_AMX=0 (tests
	 * and benchmarks of the float32 product on such a CPU). */
	const char *amx = getenv("VGGFEAT_AMX");
	s.amx = isa_best() == ISA_AVX512 && !(amx && strcmp(amx, "0") == 0) &&
		nn_amx_usable(D);
	s.nr = s.amx ? 32 : s.kern ? s.kern->nr : 1;
	s.Ds = s.kern ? (D + s.kern->lanes - 1) / s.kern->lanes * s.kern->lanes : D;
	s.ldx = (size_t)s.Ds + 16;
	int qs = (nq + s.nr - 1) / s.nr * s.nr, qcs = nq < NN_QCHUNK ? qs : NN_QCHUNK;
	if (!s.amx) {
		/* (D + 2) u: the roundings of a term's way through the product
		 * (see above). */
		double Du = (D + 2) * 0x1p-24;
		s.gamma = Du / (1 - Du);
	}
	res->nq = nq;
	res->count = calloc((size_t)nq, sizeof *res->count);
	s.qn = malloc((size_t)nq * sizeof *s.qn);
	/* The lanes past D stay zero: a product over Ds is one over D. */
	s.x = calloc(B * s.ldx, sizeof *s.x);
	s.u = s.kern && !s.amx ? calloc((size_t)qs * s.Ds, sizeof *s.u) : NULL;
	s.qp = s.amx ? malloc(nn_amx_queries_size(nq, D) * sizeof *s.qp) : NULL;
	s.a = s.amx ? calloc(nn_amx_records_size((int)B, D), sizeof *s.a) : NULL;
	s.pass = calloc(NN_QCHUNK / NN_UPDATE_TASK, sizeof *s.pass);
	s.xp = malloc(B * sizeof *s.xp);
	s.xn = malloc(B * sizeof *s.xn);
	s.xn2 = malloc(B * sizeof *s.xn2);
	s.xv = malloc(B * sizeof *s.xv);
	s.xs2 = malloc(B * sizeof *s.xs2);
	s.cls = malloc(B * sizeof *s.cls);
	s.ok = malloc(B);
	s.fit = malloc(B);
	/* AMX writes whole tiles: 32 rows past a block's last. */
	s.s = malloc(((size_t)qcs + 16) * (B + 32) * sizeof *s.s);
	s.exact = calloc((size_t)o->threads, sizeof *s.exact);
	pthread_mutex_init(&s.lock, NULL);
	if (!res->count || !s.qn || !s.x || !s.xp || !s.xn || !s.xn2 || !s.xv ||
	    !s.xs2 || !s.cls || !s.ok || !s.fit || !s.s || !s.exact ||
	    (s.kern && !s.amx && !s.u) || !s.pass || (s.amx && (!s.qp || !s.a))) {
		rc = err_set(err, ERR_NOMEM, "out of memory for %d queries and blocks "
			     "of %zu records of %d values", nq, B, D);
		goto out;
	}
	for (int i = 0; i < nq; i++) {
		s.qn[i] = recog_norm(q + (size_t)i * D, D);
		/* Panels of nr queries: value c of query i at its panel's row c. */
		for (int c = 0; s.kern && !s.amx && c < D; c++)
			s.u[((size_t)(i / s.nr * s.nr) * s.Ds) + (size_t)c * s.nr + i % s.nr] =
				q[(size_t)i * D + c];
	}
	if (s.amx)
		nn_amx_pack_queries(q, nq, D, s.qp);
	if ((rc = workers_create(o->threads, &s.pool, err)) ||
	    (rc = featdb_blocks(db, &res->meta, s.B, search_block, &s, err)) ||
	    (!res->hits && (rc = hits_alloc(&s, 0))))
		goto out;
	if (res->meta.dim != D) {
		rc = err_set(err, ERR_SHAPE, "the store holds vectors of %d values; the "
			     "queries have %d", res->meta.dim, D);
		goto out;
	}
	res->records = s.base;
	for (int t = 0; t < o->threads; t++)
		res->exact += s.exact[t];
	for (int i = 0; i < nq; i++)
		qsort(res->hits + (size_t)i * s.K, (size_t)res->count[i],
		      sizeof *res->hits, hit_cmp);
out:
	workers_free(s.pool);
	pthread_mutex_destroy(&s.lock);
	free(s.qn);
	free(s.x);
	free(s.u);
	free(s.xp);
	free(s.xn);
	free(s.xn2);
	free(s.xv);
	free(s.xs2);
	free(s.cls);
	free(s.ok);
	free(s.fit);
	free(s.qp);
	free(s.a);
	free(s.pass);
	free(s.s);
	free(s.exact);
	return rc;
}
