/* featdb_meta.c - the store's metadata (featdb.h): its keys read into one
 * featdb_meta_t (the format, the model and tap, the weights' fingerprint,
 * the preprocessing, the convolutions' arithmetic, the dimension, dtype
 * and count, the class list, the calibrated thresholds), and what two
 * stores' metadata say about mixing their records.  Writing it is
 * featdb_write.c's. */
#include "store/featdb.h"

#include <limits.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "net/model.h"
#include "store/featdb_impl.h"

void featdb_meta_free(featdb_meta_t *meta)
{
	if (!meta)
		return;
	if (meta->classes)
		for (int i = 0; i < meta->nclasses; i++)
			free(meta->classes[i]);
	free(meta->classes);
	meta->classes = NULL;
	meta->nclasses = 0;
}

void featdb_classes_free(char **names, int n)
{
	if (!names)
		return;
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Splits the stored class list (names joined by '\n'; "" is no class). */
int featdb_classes_parse(const featdb_t *db, const MDB_val *v, char ***out,
			 int *nout, char *err)
{
	const char *s = v->mv_data, *end = s + v->mv_size;
	char **names = NULL;
	size_t n = 0;
	int ret;

	*out = NULL;
	*nout = 0;
	if (v->mv_size == 0)
		return 0;
	n = 1;
	for (const char *p = s; p < end; p++)
		n += *p == '\n';
	if (n > INT_MAX || !(names = calloc(n, sizeof *names))) {
		ret = err_set(err, ERR_NOMEM, "%s: %zu classes: out of memory",
			      db->path, n);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = (size_t)((nl ? nl : end) - s);
		if (len == 0 || memchr(s, '\0', len)) {
			ret = err_set(err, ERR_FORMAT, "%s: class %zu in the stored "
				      "list is empty or holds a NUL", db->path, i);
			goto fail;
		}
		if (!(names[i] = malloc(len + 1))) {
			ret = err_set(err, ERR_NOMEM, "%s: out of memory", db->path);
			goto fail;
		}
		memcpy(names[i], s, len);
		names[i][len] = '\0';
		s += len + 1;
	}
	*out = names;
	*nout = (int)n;
	return 0;
fail:
	featdb_classes_free(names, (int)n);
	return ret;
}

/* Parses a decimal string of at most 20 digits into *out. */
static int parse_u64(const MDB_val *v, uint64_t *out)
{
	const char *s = v->mv_data;
	uint64_t x = 0;

	if (v->mv_size == 0 || v->mv_size > 20)
		return -1;
	for (size_t i = 0; i < v->mv_size; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

static int meta_value(featdb_t *db, MDB_txn *txn, const char *name, MDB_val *v,
		      char *err)
{
	MDB_val k = {strlen(name), (void *)name};
	int rc = mdb_get(txn, db->meta, &k, v);

	if (rc == MDB_NOTFOUND)
		return err_set(err, ERR_FORMAT, "%s: metadata \"%s\" is missing",
			       db->path, name);
	if (rc)
		return featdb_lmdb_fail(db, rc, name, err);
	return 0;
}

/* Copies v into dst (cap bytes) as a C string; -1 when it is too long for
 * dst or holds a NUL. */
static int val_string(const MDB_val *v, char *dst, size_t cap)
{
	if (v->mv_size >= cap || memchr(v->mv_data, '\0', v->mv_size))
		return -1;
	memcpy(dst, v->mv_data, v->mv_size);
	dst[v->mv_size] = '\0';
	return 0;
}

static int meta_string(featdb_t *db, MDB_txn *txn, const char *name, char *dst,
		       size_t cap, char *err)
{
	MDB_val v;
	int ret = meta_value(db, txn, name, &v, err);

	if (ret)
		return ret;
	if (val_string(&v, dst, cap))
		return err_set(err, ERR_FORMAT, "%s: metadata \"%s\" is longer than "
			       "%zu bytes or holds a NUL", db->path, name, cap - 1);
	return 0;
}

/* meta_string, or dflt when name is absent (a key older writers did not
 * write). */
static int meta_string_or(featdb_t *db, MDB_txn *txn, const char *name,
			  const char *dflt, char *dst, size_t cap, char *err)
{
	MDB_val k = {strlen(name), (void *)name}, v;

	if (mdb_get(txn, db->meta, &k, &v) == MDB_NOTFOUND) {
		snprintf(dst, cap, "%s", dflt);
		return 0;
	}
	return meta_string(db, txn, name, dst, cap, err);
}

static int val_equals(const MDB_val *v, const char *s)
{
	return v->mv_size == strlen(s) && memcmp(v->mv_data, s, v->mv_size) == 0;
}

/* s, n bytes, is one of the models a store may hold (net/model.h's). */
static int model_known(const char *s, size_t n)
{
	char name[64];

	if (n >= sizeof name)
		return 0;
	memcpy(name, s, n);
	name[n] = '\0';
	return model_of_store(name) >= 0;
}

/* Reads the "threshold.<metric>" keys (in key order, so by metric) into
 * meta, inside txn; keys past FEATDB_MAX_THRESHOLDS, or whose metric is no
 * name of ours, are a later writer's and passed over. */
static int thresholds_read(featdb_t *db, MDB_txn *txn, featdb_meta_t *meta,
			   char *err)
{
	static const char prefix[] = "threshold.";
	const size_t plen = sizeof prefix - 1;
	MDB_cursor *cur = NULL;
	MDB_val k = {plen, (void *)prefix}, v;
	int rc, ret = 0;

	if ((rc = mdb_cursor_open(txn, db->meta, &cur)) != 0)
		return featdb_lmdb_fail(db, rc, "cursor", err);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && meta->nthresholds < FEATDB_MAX_THRESHOLDS;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		ret = featdb_threshold_parse(db, (const char *)k.mv_data + plen,
					     k.mv_size - plen, v.mv_data, v.mv_size,
					     &meta->thresholds[meta->nthresholds], err);
		if (ret == ERR_ARG) {
			ret = 0;
			continue;
		}
		if (ret)
			goto done;
		meta->nthresholds++;
	}
	if (rc && rc != MDB_NOTFOUND)
		ret = featdb_lmdb_fail(db, rc, "cursor", err);
done:
	mdb_cursor_close(cur);
	return ret;
}

const featdb_threshold_t *featdb_meta_threshold(const featdb_meta_t *meta,
						const char *metric)
{
	for (int i = 0; meta && metric && i < meta->nthresholds; i++)
		if (strcmp(meta->thresholds[i].metric, metric) == 0)
			return &meta->thresholds[i];
	return NULL;
}

int featdb_meta_cpu_bound(const featdb_meta_t *meta)
{
	return strcmp(meta->conv, "direct") == 0 &&
	       strcmp(meta->conv_sums, FEATDB_SUMS_FIXED) != 0;
}

const char *featdb_meta_conv_name(const featdb_meta_t *meta)
{
	return featdb_meta_cpu_bound(meta) ? FEATDB_CONV_OLD_DIRECT : meta->conv;
}

const char *featdb_meta_differ(const featdb_meta_t *a, const featdb_meta_t *b)
{
	int am, at, bm, bt;

	if (strcmp(a->model, b->model) != 0)
		return model_store_parse(a->model, &am, &at) == 0 &&
		       model_store_parse(b->model, &bm, &bt) == 0 && am == bm
			       ? "tap (extract --layer, --pooling)" : "model";
	return strcmp(a->fingerprint, b->fingerprint) ? "weights fingerprint"
	       : strcmp(a->preprocess, b->preprocess) ? "preprocessing"
	       : a->dim != b->dim                     ? "dimension"
	       : strcmp(a->conv, b->conv) ||
		 featdb_meta_cpu_bound(a) != featdb_meta_cpu_bound(b)
						      ? FEATDB_SETTING_CONV
						      : NULL;
}

int featdb_meta_read(featdb_t *db, MDB_txn *txn, featdb_meta_t *meta, char *err)
{
	MDB_val k, v;
	uint64_t x;
	char name[8];
	int dtype, rc, ret;

	memset(meta, 0, sizeof *meta);
	k.mv_size = strlen("format");
	k.mv_data = "format";
	rc = mdb_get(txn, db->meta, &k, &v);
	if (rc) {
		ret = rc == MDB_NOTFOUND ?
			err_set(err, ERR_MISSING, "%s: the store has no metadata "
				"yet (nothing was written)", db->path) :
			featdb_lmdb_fail(db, rc, "format", err);
		goto fail;
	}
	if (!val_equals(&v, FEATDB_FORMAT)) {
		ret = err_set(err, ERR_FORMAT, "%s: store format '%.*s', this program "
			      "reads '" FEATDB_FORMAT "'", db->path,
			      v.mv_size > 64 ? 64 : (int)v.mv_size, (const char *)v.mv_data);
		goto fail;
	}
	if ((ret = meta_value(db, txn, "model", &v, err)) != 0)
		goto fail;
	if (!model_known(v.mv_data, v.mv_size)) {
		ret = err_set(err, ERR_MISMATCH, "%s: the store holds '%.*s' features, "
			      "not %s",
			      db->path, v.mv_size > 64 ? 64 : (int)v.mv_size,
			      (const char *)v.mv_data, model_store_names());
		goto fail;
	}
	memcpy(meta->model, v.mv_data, v.mv_size);
	meta->model[v.mv_size] = '\0';
	if ((ret = meta_string(db, txn, "fingerprint", meta->fingerprint,
			       sizeof meta->fingerprint, err)) != 0 ||
	    (ret = meta_string(db, txn, "preprocess", meta->preprocess,
			       sizeof meta->preprocess, err)) != 0 ||
	    (ret = meta_string(db, txn, "version", meta->version,
			       sizeof meta->version, err)) != 0)
		goto fail;
	/* Stores from before the key were all made on the Winograd path. */
	if ((ret = meta_string_or(db, txn, "conv", FEATDB_CONV_OLD, meta->conv,
				  sizeof meta->conv, err)) != 0 ||
	    (ret = meta_string_or(db, txn, "conv_sums", "", meta->conv_sums,
				  sizeof meta->conv_sums, err)) != 0)
		goto fail;
	if ((ret = meta_value(db, txn, "dim", &v, err)) != 0)
		goto fail;
	if (parse_u64(&v, &x) || x == 0 || x > INT_MAX) {
		ret = err_set(err, ERR_FORMAT, "%s: metadata \"dim\" is not a "
			      "dimension", db->path);
		goto fail;
	}
	meta->dim = (int)x;
	if ((ret = meta_value(db, txn, "dtype", &v, err)) != 0)
		goto fail;
	if (val_string(&v, name, sizeof name) ||
	    (dtype = featdb_dtype_parse(name)) < 0) {
		ret = err_set(err, ERR_FORMAT, "%s: metadata \"dtype\" is not %s or "
			      "%s", db->path, featdb_dtype_name(FEATDB_F32),
			      featdb_dtype_name(FEATDB_F16));
		goto fail;
	}
	meta->dtype = dtype;
	if ((ret = meta_value(db, txn, "count", &v, err)) != 0)
		goto fail;
	if (parse_u64(&v, &meta->count)) {
		ret = err_set(err, ERR_FORMAT, "%s: metadata \"count\" is not a "
			      "number", db->path);
		goto fail;
	}
	if ((ret = meta_value(db, txn, "classes", &v, err)) != 0 ||
	    (ret = featdb_classes_parse(db, &v, &meta->classes, &meta->nclasses,
					err)) != 0 ||
	    (ret = thresholds_read(db, txn, meta, err)) != 0)
		goto fail;
	return 0;
fail:
	featdb_meta_free(meta);
	return ret;
}

int featdb_meta_get(featdb_t *db, featdb_meta_t *meta, char *err)
{
	MDB_txn *txn = NULL;
	int rc, ret;

	if (!db || !meta)
		return err_set(err, ERR_ARG, "featdb_meta_get: NULL argument");
	memset(meta, 0, sizeof *meta);
	if ((rc = featdb_txn_begin(db, MDB_RDONLY, &txn)) != 0)
		return featdb_lmdb_fail(db, rc, "begin", err);
	ret = featdb_meta_read(db, txn, meta, err);
	mdb_txn_abort(txn);
	return ret;
}
