/* store.c - the store, the weights and the threshold checked together
 * (recog.h): a query's vector must be made as the store's were, or its
 * distances mean nothing. */
#include "recog/recog.h"

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "net/model.h"
#include "net/vgg.h"

/* What a store's record says, in the checks' messages: "STORE holds
 * vectors made with preprocessing '...'". */
#define HOLDS "holds vectors"

int recog_store_open(const char *path, featdb_t **db, featdb_meta_t *meta,
		     int *model, char *err)
{
	int rc;

	*db = NULL;
	memset(meta, 0, sizeof *meta);
	if ((rc = featdb_open(path, FEATDB_RDONLY, db, err)))
		return rc;
	if ((rc = featdb_meta_get(*db, meta, err)) == ERR_MISSING)
		rc = err_set(err, ERR_MISSING, "%s: the store is empty (nothing was "
			     "extracted yet); run extract first", path);
	if (rc) {
		featdb_close(*db);
		*db = NULL;
		return rc;
	}
	/* featdb_meta_get refuses a model the registry does not know. */
	*model = model_of_store(meta->model);
	return 0;
}

int recog_store_tap(const featdb_meta_t *meta)
{
	int model, tap;

	return meta && model_store_parse(meta->model, &model, &tap) == 0 ? tap
									 : MODEL_TAP_FC2;
}

int recog_store_conv(const char *path, const featdb_meta_t *meta, int given,
		     int *conv, char *err)
{
	return vgg_conv_choose(given, meta ? meta->conv : NULL, path, HOLDS, conv,
			       err);
}

int recog_check_weights(const char *path, const featdb_meta_t *meta, int model,
			const weights_t *w, const char *wpath, int dim,
			char *err)
{
	int tap = recog_store_tap(meta), rc;

	if (w->model != model)
		return err_set(err, ERR_MISMATCH, "%s holds %s vectors (%s), but %s "
			       "holds %s weights; use the weights extract used",
			       path, meta->model, model_info(model)->title, wpath,
			       model_info(w->model)->title);
	if ((rc = weights_check_tap(w, tap, wpath, err)) ||
	    (rc = weights_check_fingerprint(w, tap, meta->fingerprint, wpath, path,
					    HOLDS, err)) ||
	    (rc = model_check_preprocess(model, meta->preprocess, path, HOLDS,
					 err)))
		return rc;
	if (meta->dim != dim)
		return err_set(err, ERR_SHAPE, "%s holds vectors of %d values; the "
			       "network gives %d", path, meta->dim, dim);
	return 0;
}

int recog_threshold_pick(double given, const featdb_meta_t *meta,
			 const char *path, int metric, recog_threshold_t *t,
			 char *err)
{
	const char *name = recog_metric_name(metric);
	const featdb_threshold_t *c = featdb_meta_threshold(meta, name);

	memset(t, 0, sizeof *t);
	if (given >= 0) {
		t->value = given;
		t->given = 1;
		snprintf(t->from, sizeof t->from, "--threshold");
		return 0;
	}
	if (!c)
		return err_set(err, ERR_MISSING, "no %s threshold to judge by: give "
			       "--threshold X, or calibrate %s%s (verify --calibrate "
			       "--db STORE --metric %s)", name,
			       path ? "the store " : "a store", path ? path : "", name);
	t->value = c->value;
	t->count = c->count;
	t->stale = c->count != meta->count;
	/* far and tar as measured on the calibration's pairs (the far asked
	 * for is an upper bound of the first). */
	snprintf(t->from, sizeof t->from, "calibrated on %s records (far %g and "
		 "tar %.4f on their pairs)", c->records, c->far, c->tar);
	return 0;
}
