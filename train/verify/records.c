/* records.c - the records verify --calibrate works on (verify.h): read
 * once, in one snapshot, into one (N, D) float32 array; those extract
 * tagged valid when there are any (the records train-head did not fit),
 * else all. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "recog/recog.h"
#include "verify.h"

void vf_records_free(vf_records_t *r)
{
	featdb_meta_free(&r->meta);
	free(r->x);
	free(r->norm);
	free(r->cls);
	memset(r, 0, sizeof *r);
}

/* What the record callback needs: r, and which of its records are valid. */
typedef struct load {
	vf_records_t *r;
	uint8_t *valid;   /* (cap) */
	char *err;
} load_t;

static int grow(load_t *l)
{
	vf_records_t *r = l->r;
	size_t cap = r->cap ? r->cap * 2 : 1024, bytes;
	void *p;

	if (err_mul3_size(cap, (size_t)r->D, sizeof *r->x, &bytes) ||
	    !(p = realloc(r->x, bytes)))
		return -1;
	r->x = p;
	if (!(p = realloc(r->norm, cap * sizeof *r->norm)))
		return -1;
	r->norm = p;
	if (!(p = realloc(r->cls, cap * sizeof *r->cls)))
		return -1;
	r->cls = p;
	if (!(p = realloc(l->valid, cap)))
		return -1;
	l->valid = p;
	r->cap = cap;
	return 0;
}

static int load_record(void *ctx, const char *key, size_t keylen,
		       const featdb_rec_t *rec, const char *why)
{
	load_t *l = ctx;
	vf_records_t *r = l->r;

	if (!r->D)
		r->D = r->meta.dim;
	/* A damaged record costs one image, not the calibration. */
	if (!rec || rec->dim != r->D || rec->cls < 0 || rec->cls >= r->meta.nclasses) {
		r->bad++;
		return 0;
	}
	if (r->n == r->cap && grow(l))
		return err_set(l->err, ERR_NOMEM, "out of memory after %zu records of "
			       "%d values", r->n, r->D);
	float *x = r->x + r->n * (size_t)r->D;
	featdb_rec_vector(rec, x);
	r->norm[r->n] = recog_norm(x, r->D);
	r->cls[r->n] = rec->cls;
	l->valid[r->n] = rec->split == FEATDB_VALID;
	r->nvalid += rec->split == FEATDB_VALID;
	r->n++;
	return 0;
}

/* Keeps only the records marked in keep, in order. */
static void keep_only(vf_records_t *r, const uint8_t *keep)
{
	size_t m = 0;

	for (size_t i = 0; i < r->n; i++) {
		if (!keep[i])
			continue;
		memmove(r->x + m * r->D, r->x + i * r->D, (size_t)r->D * sizeof *r->x);
		r->norm[m] = r->norm[i];
		r->cls[m] = r->cls[i];
		m++;
	}
	r->n = m;
}

int vf_records_load(featdb_t *db, const char *path, int which, vf_records_t *r,
		    char *err)
{
	load_t l = {.r = r, .err = err};
	uint8_t *seen = NULL;
	int rc;

	memset(r, 0, sizeof *r);
	if ((rc = featdb_scan(db, &r->meta, load_record, &l, err)) == ERR_MISSING)
		rc = err_set(err, ERR_MISSING, "%s: the store is empty (nothing was "
			     "extracted yet); run extract first", path);
	if (rc)
		goto out;
	if (which == VF_RECORDS_VALID && r->nvalid == 0) {
		rc = err_set(err, ERR_MISSING, "%s: no record is tagged valid (a "
			     "valid/ folder, for extract)", path);
		goto out;
	}
	if (which != VF_RECORDS_ALL && r->nvalid > 0) {
		keep_only(r, l.valid);
		r->valid_only = 1;
	}
	if (!(seen = calloc((size_t)r->meta.nclasses + 1, 1))) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < r->n; i++) {
		r->npeople += !seen[r->cls[i]];
		seen[r->cls[i]] = 1;
	}
	if (r->npeople < 2)
		rc = err_set(err, ERR_MISSING, "%s: %s records of %d %s: calibrating "
			     "needs two people or more", path,
			     r->valid_only ? "the valid" : "the", r->npeople,
			     r->npeople == 1 ? "person" : "people");
out:
	free(seen);
	free(l.valid);
	return rc;
}
