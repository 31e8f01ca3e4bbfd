/* queries.c - nearest's queries (nearest.h): vectors and their names,
 * from the network (nearest.c hands embed_run's batches to
 * nn_queries_add) or from the records of another store. */
#include "nearest.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

void nn_queries_free(nn_queries_t *q)
{
	for (int i = 0; q->names && i < q->n; i++)
		free(q->names[i]);
	free(q->names);
	free(q->vec);
	memset(q, 0, sizeof *q);
}

/* Makes room for want queries in all. */
static int reserve(nn_queries_t *q, int want)
{
	size_t bytes;
	void *p;

	if (want <= q->cap)
		return 0;
	int cap = q->cap ? q->cap : 64;
	while (cap < want)
		cap = cap > 0x3fffffff ? want : cap * 2;
	if (err_mul3_size((size_t)cap, (size_t)q->D, sizeof *q->vec, &bytes) ||
	    !(p = realloc(q->vec, bytes)))
		return -1;
	q->vec = p;
	if (!(p = realloc(q->names, (size_t)cap * sizeof *q->names)))
		return -1;
	q->names = p;
	q->cap = cap;
	return 0;
}

int nn_queries_add(nn_queries_t *q, int n, const char *const *names,
		   const float *vec, int D, char *err)
{
	if (q->n == 0 && q->cap == 0)
		q->D = D;
	if (D != q->D)
		return err_set(err, ERR_ARG, "queries of %d and %d values", q->D, D);
	if (n > 0x7fffffff - q->n || reserve(q, q->n + n))
		return err_set(err, ERR_NOMEM, "out of memory for %d queries", q->n + n);
	for (int i = 0; i < n; i++) {
		if (!(q->names[q->n] = strdup(names[i])))
			return err_set(err, ERR_NOMEM, "out of memory");
		memcpy(q->vec + (size_t)q->n * D, vec + (size_t)i * D,
		       (size_t)D * sizeof *vec);
		q->n++;
	}
	return 0;
}

/* What the record callback needs. */
typedef struct from_store {
	nn_queries_t *q;
	const featdb_meta_t *meta;
	size_t *bad;
	float *vec; /* (D) */
	char *err;
} from_store_t;

static int add_record(void *ctx, const char *key, size_t keylen,
		      const featdb_rec_t *rec, const char *why)
{
	from_store_t *f = ctx;
	char *name;
	int rc;

	if (!rec || rec->dim != f->meta->dim) {
		(*f->bad)++;
		return 0;
	}
	if (!f->vec && !(f->vec = malloc((size_t)rec->dim * sizeof *f->vec)))
		return err_set(f->err, ERR_NOMEM, "out of memory");
	if (!(name = strndup(key, keylen)))
		return err_set(f->err, ERR_NOMEM, "out of memory");
	featdb_rec_vector(rec, f->vec);
	rc = nn_queries_add(f->q, 1, (const char *const *)&name, f->vec, rec->dim,
			    f->err);
	free(name);
	return rc;
}

int nn_queries_from_store(const char *path, nn_queries_t *q,
			  featdb_meta_t *meta, size_t *bad, char *err)
{
	featdb_t *db = NULL;
	from_store_t f = {.q = q, .meta = meta, .bad = bad, .err = err};
	int rc;

	memset(meta, 0, sizeof *meta);
	if ((rc = featdb_open(path, FEATDB_RDONLY, &db, err)) == 0 &&
	    (rc = featdb_scan(db, meta, add_record, &f, err)) == ERR_MISSING)
		rc = err_set(err, ERR_MISSING, "%s: the store is empty (nothing was "
			     "extracted yet)", path);
	if (rc == 0 && q->n == 0)
		rc = err_set(err, ERR_MISSING, "%s: no record to ask about", path);
	free(f.vec);
	featdb_close(db);
	return rc;
}
