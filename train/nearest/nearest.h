/* nearest.h - nearest's steps, in the order train/nearest.c's main takes
 * them:
 *
 *   queries.c  the queries' vectors: the images run through the network
 *              (embed.h), or the records of another store (--query-db);
 *   search.c   the exact k nearest records of every query: one matrix
 *              product per block of the store, streamed from the LMDB map,
 *              then each candidate that could be among the k nearest
 *              measured again in double (recog.h's distance), so that the
 *              answer is the exact one and its distances are verify's.
 *
 * Letters: Q queries, N records, B records in a block, D the vector's
 * length, K the neighbours asked for.  Functions return 0 or a negative
 * ERR_* code with the reason in err (error.h); they print nothing. */
#ifndef TRAIN_NEAREST_H
#define TRAIN_NEAREST_H

#include <stddef.h>
#include <stdint.h>

#include "store/featdb.h"

#define PROG "nearest"

/* ---- queries.c ----------------------------------------------------------- */

/* The queries: names (the image's path, or the query store's key) and
 * vectors, all owned. */
typedef struct nn_queries {
	char **names;   /* (Q) */
	float *vec;     /* (Q, D) */
	int n, cap, D;
} nn_queries_t;

/* nn_queries_add appends n vectors vec (n, D) named names[i]; the first
 * call sets D.  ERR_NOMEM, or ERR_ARG when D differs from the first's. */
int nn_queries_add(nn_queries_t *q, int n, const char *const *names,
		   const float *vec, int D, char *err);

/* nn_queries_from_store reads every record of the store at path as a
 * query named by its key (key order) into q, with the store's metadata
 * into *meta (the caller's to featdb_meta_free).  A damaged record is
 * counted in *bad and passed over.  ERR_MISSING (no store, an empty one),
 * ERR_NOMEM, or featdb's errors. */
int nn_queries_from_store(const char *path, nn_queries_t *q,
			  featdb_meta_t *meta, size_t *bad, char *err);

/* nn_queries_free releases q and zeroes it. */
void nn_queries_free(nn_queries_t *q);

/* ---- search.c ------------------------------------------------------------ */

/* How to search. */
typedef struct nn_opts {
	int metric;   /* recog.h's RECOG_* */
	int k;        /* neighbours per query, >= 1 */
	int threads;  /* compute threads, >= 1 */
	int block;    /* records per block; 0: about 32 MB of vectors */
} nn_opts_t;

/* One neighbour. */
typedef struct nn_hit {
	double dist;     /* recog_distance_n's, in double */
	uint64_t index;  /* the record's place in key order, for ties */
	int32_t cls;     /* its class (into the search's meta.classes) */
	char *key;       /* owned, NUL-terminated */
} nn_hit_t;

/* What a search found. */
typedef struct nn_result {
	int nq, k;          /* k: the k asked for, or the records searched
			     * when there are fewer (at least 1) */
	nn_hit_t *hits;     /* (Q, k): query q's first count[q], nearest first
			     * (ties: the record first in key order) */
	int *count;         /* (Q): K, or fewer when the store holds fewer */
	featdb_meta_t meta; /* the snapshot searched: its classes name cls */
	uint64_t records;   /* records searched */
	uint64_t bad;       /* damaged records passed over */
	uint64_t exact;     /* candidates measured again in double */
	uint64_t refined;   /* (AMX) block passes whose product needed its
			     * second stage (search.c) */
	int passes;         /* passes over the store (one per 4096 queries) */
} nn_result_t;

/* nn_search finds, for each of the nq queries q (nq, D), the o->k records
 * of db nearest under o->metric, exactly: ranked by recog_distance_n in
 * double, ties to the record first in key order.  The store is read in
 * one snapshot, o->block records at a time, each block's vectors (float32
 * or float16, widened) multiplied by the queries' in float32 (the kernel
 * table's, or on AMX product_amx.c's bfloat16 split); a record is
 * measured again in double only when the product's distance, less a
 * bound on its error, is below the query's current k-th distance, so the
 * result is the exact one.  The store is never held in memory whole, nor
 * room for more neighbours than it holds.  Returns 0, ERR_SHAPE (the store's
 * vectors are not D long), ERR_NOMEM, or featdb's errors; res is the
 * caller's to nn_result_free either way. */
int nn_search(featdb_t *db, const float *q, int nq, int D, const nn_opts_t *o,
	      nn_result_t *res, char *err);

/* nn_result_free releases res and zeroes it. */
void nn_result_free(nn_result_t *res);

/* ---- product_amx.c: search.c's product on Intel AMX ---------------------- */

/* nn_amx_usable: 1 when this CPU has AMX's bfloat16 tiles, the kernel
 * grants the process their state, and D (<= 2^20) suits the bound. */
int nn_amx_usable(int D);

/* nn_amx_gamma: the bound on the error of nn_amx_product's scores after
 * stage (1: q_hi . x_hi alone; 2: all three products) relative to |q| |x|
 * (both norms in [2^-20, 2^60]). */
double nn_amx_gamma(int D, int stage);

/* nn_amx_queries_size: the bfloat16 values nn_amx_pack_queries writes for
 * nq queries (rounded up to 32); nn_amx_group_size: those of 16 queries. */
size_t nn_amx_queries_size(int nq, int D);
size_t nn_amx_group_size(int D);

/* nn_amx_pack_queries: q (nq, D) split into tiles, out (nn_amx_queries_size). */
void nn_amx_pack_queries(const float *q, int nq, int D, uint16_t *out);

/* nn_amx_records_size: the bfloat16 values of nrows records' tiles;
 * nn_amx_pack_record writes record m's, x (D), into a, in the tiles of its
 * group of 16. */
size_t nn_amx_records_size(int nrows, int D);
void nn_amx_pack_record(const float *x, int D, int m, uint16_t *a);

/* nn_amx_product: s (nrows, nqs) ~= x (nrows, D) q^T for the records
 * packed in a (their first row a group's first) and the packed queries qp
 * from the first of the nqs (a multiple of 32); s's rows lds apart.
 * stage 0: the whole product; 1: its first third, q_hi . x_hi, into s;
 * 2: the other two thirds added to stage 1's s (stage 0's bound).  s gets whole tiles: nrows rounded up to 32 rows (those past the
 * records packed, whatever a holds there). */
void nn_amx_product(int nrows, const uint16_t *a, int D, const uint16_t *qp,
		    int nqs, float *s, size_t lds, int stage);

#endif
