/* load.c - train-head's features (train_head.h): the store read once into
 * one (N, D) float32 array, with each record's class, key hash and the
 * split extract tagged it with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset/classes.h"
#include "error.h"
#include "train_head.h"

#define MAX_BAD_SHOWN 10

void th_data_free(th_data_t *d)
{
	featdb_meta_free(&d->meta);
	free(d->x);
	free(d->y);
	free(d->unit);
	free(d->split);
	free(d->count);
	memset(d, 0, sizeof *d);
}

/* data_reserve makes room for cap records. */
static int data_reserve(th_data_t *d, size_t cap)
{
	size_t bytes;
	void *p;

	if (err_mul3_size(cap, (size_t)d->D, sizeof(float), &bytes))
		return -1;
	if (!(p = realloc(d->x, bytes)))
		return -1;
	d->x = p;
	if (!(p = realloc(d->y, cap * sizeof *d->y)))
		return -1;
	d->y = p;
	/* cap * D * 4 fitting does not make cap * 8 fit when D is 1. */
	if (err_mul_size(cap, sizeof *d->unit, &bytes) || !(p = realloc(d->unit, bytes)))
		return -1;
	d->unit = p;
	if (!(p = realloc(d->split, cap)))
		return -1;
	d->split = p;
	d->cap = cap;
	return 0;
}

/* load_record, featdb_foreach's callback: one record into d (ctx). */
static int load_record(void *ctx, const char *key, size_t keylen,
		       const featdb_rec_t *rec, const char *why)
{
	th_data_t *d = ctx;
	int kl = keylen > 200 ? 200 : (int)keylen;

	/* A damaged record costs one image, not the run. */
	if (!rec) {
		if (d->nbad++ < MAX_BAD_SHOWN)
			fprintf(stderr, PROG ": skipped record '%.*s': %s\n", kl, key, why);
		return 0;
	}
	if (rec->dim != d->D)
		return err_set(d->err, ERR_SHAPE, "%s: mixed dimensions: record '%.*s' "
			       "has %d features, the store says %d; extract again "
			       "into a new store", d->path, kl, key, rec->dim, d->D);
	if (rec->cls < 0 || rec->cls >= d->K)
		return err_set(d->err, ERR_FORMAT, "%s: record '%.*s' has class %d, "
			       "the store lists %d classes", d->path, kl, key,
			       (int)rec->cls, d->K);
	/* More records than the metadata counted: a writer committed since. */
	if (d->n == d->cap && (d->cap > SIZE_MAX / 3 ||
			       data_reserve(d, d->cap + d->cap / 2 + 1024)))
		return err_set(d->err, ERR_NOMEM, "out of memory after %zu records "
			       "of %d features", d->n, d->D);
	featdb_rec_vector(rec, d->x + d->n * (size_t)d->D);
	d->y[d->n] = rec->cls;
	d->unit[d->n] = th_key_unit(key, keylen);
	d->split[d->n] = rec->split;
	d->count[rec->cls]++;
	d->ntagged_valid += rec->split == FEATDB_VALID;
	d->ntagged_test += rec->split == FEATDB_TEST;
	d->n++;
	return 0;
}

int th_data_load(const char *path, th_data_t *d, char *err)
{
	featdb_t *db = NULL;
	featdb_meta_t again = {0};
	int rc;

	memset(d, 0, sizeof *d);
	d->path = path;
	d->err = err;
	if ((rc = featdb_open(path, FEATDB_RDONLY, &db, err)))
		goto out;
	if ((rc = featdb_meta_get(db, &d->meta, err))) {
		if (rc == ERR_MISSING)
			rc = err_set(err, ERR_MISSING, "%s: the store is empty (nothing "
				     "was extracted yet); run extract first", path);
		goto out;
	}
	if (d->meta.count == 0) {
		rc = err_set(err, ERR_MISSING, "%s: the store is empty (0 records); run "
			     "extract on a folder of images first", path);
		goto out;
	}
	if (d->meta.nclasses < 2) {
		rc = err_set(err, ERR_ARG, "%s: only one class (%s): a softmax head "
			     "needs two or more people", path,
			     d->meta.nclasses ? d->meta.classes[0] : "none");
		goto out;
	}
	d->D = d->meta.dim;
	d->K = d->meta.nclasses;
	if (d->meta.count > SIZE_MAX / 2 || data_reserve(d, (size_t)d->meta.count) ||
	    !(d->count = calloc((size_t)d->K, sizeof *d->count))) {
		rc = err_set(err, ERR_NOMEM, "out of memory for %llu records of %d "
			     "features", (unsigned long long)d->meta.count, d->D);
		goto out;
	}
	if ((rc = featdb_foreach(db, load_record, d, err)))
		goto out;
	/* The metadata and the records are read in two snapshots: if an
	 * extract added people in between, the records' class indices follow
	 * a newer list than ours. */
	if ((rc = featdb_meta_get(db, &again, err)))
		goto out;
	if (!classes_equal(again.classes, again.nclasses, d->meta.classes,
			   d->meta.nclasses)) {
		rc = err_set(err, ERR_MISMATCH, "%s: people were added while the store "
			     "was read (an extract is running?); try again when it is "
			     "done", path);
		goto out;
	}
	if (d->nbad > MAX_BAD_SHOWN)
		fprintf(stderr, PROG ": skipped %zu damaged records in all\n", d->nbad);
	if (d->n == 0)
		rc = err_set(err, ERR_MISSING, "%s: no readable record (%zu damaged)",
			     path, d->nbad);
out:
	featdb_meta_free(&again);
	featdb_close(db);
	return rc;
}

