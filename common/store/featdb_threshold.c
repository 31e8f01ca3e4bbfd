/* featdb_threshold.c - the calibrated thresholds of featdb.h: the text of
 * a "threshold.<metric>" metadata value, read and written.  The value is
 * data beside the vectors: writing one touches no record and no other
 * metadata. */
#include "store/featdb.h"

#include <errno.h>
#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store/featdb_impl.h"

/* The longest value featdb_threshold_put writes, NUL included. */
#define VALUE_MAX 192

/* A metric's name: [a-z0-9_]+, shorter than FEATDB_METRIC_MAX. */
static int metric_ok(const char *s, size_t n)
{
	if (n == 0 || n >= FEATDB_METRIC_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_'))
			return 0;
	return 1;
}

/* Writes v in the fewest significant digits that read back as v. */
static void put_real(char *buf, size_t len, double v)
{
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, len, "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/* Parses the n bytes at s as a finite decimal number. */
static int get_real(const char *s, size_t n, double *out)
{
	char buf[64], *end;

	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	*out = strtod(buf, &end);
	return *end || errno == ERANGE || !isfinite(*out) ? -1 : 0;
}

static int get_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t x = 0;

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

int featdb_threshold_parse(const featdb_t *db, const char *metric, size_t mlen,
			   const char *v, size_t vlen, featdb_threshold_t *t,
			   char *err)
{
	const char *end = v + vlen, *p = v;
	const char *sp;

	memset(t, 0, sizeof *t);
	if (!metric_ok(metric, mlen))
		return err_set(err, ERR_ARG, "not a metric's name");
	memcpy(t->metric, metric, mlen);
	t->far = t->tar = NAN;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (get_real(p, (size_t)((sp ? sp : end) - p), &t->value))
		goto bad;
	for (p = sp ? sp + 1 : end; p < end; p = sp ? sp + 1 : end) {
		sp = memchr(p, ' ', (size_t)(end - p));
		const char *q = sp ? sp : end;
		const char *eq = memchr(p, '=', (size_t)(q - p));
		if (!eq)
			goto bad;
		size_t nlen = (size_t)(eq - p), vl = (size_t)(q - eq - 1);
		int fail = 0;
		if (nlen == 3 && !memcmp(p, "far", 3))
			fail = get_real(eq + 1, vl, &t->far);
		else if (nlen == 3 && !memcmp(p, "tar", 3))
			fail = get_real(eq + 1, vl, &t->tar);
		else if (nlen == 5 && !memcmp(p, "count", 5))
			fail = get_u64(eq + 1, vl, &t->count);
		else if (nlen == 7 && !memcmp(p, "records", 7)) {
			fail = vl >= sizeof t->records;
			if (!fail) {
				memcpy(t->records, eq + 1, vl);
				t->records[vl] = '\0';
			}
		}
		/* Any other name is a later writer's: not ours to judge. */
		if (fail)
			goto bad;
	}
	return 0;
bad:
	return err_set(err, ERR_FORMAT, "%s: metadata \"threshold.%.*s\" is not a "
		       "threshold", db->path, (int)mlen, metric);
}

int featdb_threshold_put(featdb_t *db, const featdb_threshold_t *t, char *err)
{
	char key[sizeof "threshold." + FEATDB_METRIC_MAX], val[VALUE_MAX];
	char num[3][32];
	MDB_txn *txn = NULL;
	MDB_val k, v;
	int rc, ret;

	if (!db || !t)
		return err_set(err, ERR_ARG, "featdb_threshold_put: NULL argument");
	if (db->rdonly)
		return err_set(err, ERR_ARG, "%s: the store was opened read-only",
			       db->path);
	if (!memchr(t->metric, '\0', sizeof t->metric) ||
	    !metric_ok(t->metric, strlen(t->metric)))
		return err_set(err, ERR_ARG, "%s: a threshold's metric must be "
			       "[a-z0-9_]+, shorter than %d bytes", db->path,
			       FEATDB_METRIC_MAX);
	if (strcmp(t->records, "valid") != 0 && strcmp(t->records, "all") != 0)
		return err_set(err, ERR_ARG, "%s: a threshold's records are 'valid' "
			       "or 'all'", db->path);
	if (!isfinite(t->value) || !isfinite(t->far) || !isfinite(t->tar))
		return err_set(err, ERR_ARG, "%s: a threshold, its far and its tar "
			       "must be finite", db->path);
	snprintf(key, sizeof key, "threshold.%s", t->metric);
	put_real(num[0], sizeof num[0], t->value);
	put_real(num[1], sizeof num[1], t->far);
	put_real(num[2], sizeof num[2], t->tar);
	snprintf(val, sizeof val, "%s far=%s tar=%s records=%s count=%llu", num[0],
		 num[1], num[2], t->records, (unsigned long long)t->count);
	for (;;) {
		if ((rc = featdb_txn_begin(db, 0, &txn)) != 0)
			return featdb_lmdb_fail(db, rc, "begin", err);
		/* A threshold belongs to a store's vectors: never the first
		 * thing written. */
		k.mv_size = strlen("format");
		k.mv_data = "format";
		rc = mdb_get(txn, db->meta, &k, &v);
		if (rc == MDB_NOTFOUND) {
			ret = err_set(err, ERR_MISSING, "%s: the store has no metadata "
				      "yet (nothing was written)", db->path);
			goto fail;
		}
		k.mv_size = strlen(key);
		k.mv_data = key;
		v.mv_size = strlen(val);
		v.mv_data = val;
		if (rc == 0 && (rc = mdb_put(txn, db->meta, &k, &v, 0)) == 0 &&
		    (ret = featdb_file_extend(db, err)) != 0)
			goto fail;
		if (rc == 0) {
			rc = mdb_txn_commit(txn);
			txn = NULL;
		}
		if (rc != MDB_MAP_FULL)
			break;
		/* Aborted: no transaction of ours is active, the map may grow. */
		mdb_txn_abort(txn);
		txn = NULL;
		if ((ret = featdb_map_grow(db, err)) != 0)
			return ret;
	}
	if (rc) {
		ret = featdb_lmdb_fail(db, rc, "threshold", err);
		goto fail;
	}
	return 0;
fail:
	mdb_txn_abort(txn);
	return ret;
}
