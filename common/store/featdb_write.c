/* featdb_write.c - featdb_write: committing records (and removing some) and
 * the metadata in one transaction, growing the map when it fills, and
 * renumbering the stored records' classes when people were added to the
 * class list. */
#include "store/featdb.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "dataset/classes.h"
#include "error.h"
#include "net/model.h"
#include "store/featdb_impl.h"
#include "base/le.h"

/* What featdb_write needs from meta, checked once before any transaction. */
static int meta_check(const featdb_t *db, const featdb_meta_t *m, char *err)
{
	if (!featdb_rec_size(m->dtype, m->dim))
		return err_set(err, ERR_ARG, "%s: metadata dim %d / dtype %d is not "
			       "a record shape", db->path, m->dim, m->dtype);
	if (m->nclasses < 0 || (m->nclasses > 0 && !m->classes))
		return err_set(err, ERR_ARG, "%s: bad class list (%d classes)",
			       db->path, m->nclasses);
	if (!memchr(m->model, '\0', sizeof m->model) ||
	    !memchr(m->fingerprint, '\0', sizeof m->fingerprint) ||
	    !memchr(m->preprocess, '\0', sizeof m->preprocess) ||
	    !memchr(m->conv, '\0', sizeof m->conv) ||
	    !memchr(m->conv_sums, '\0', sizeof m->conv_sums) ||
	    !memchr(m->version, '\0', sizeof m->version))
		return err_set(err, ERR_ARG, "%s: a metadata string is not "
			       "NUL-terminated", db->path);
	if (m->model[0] && !(model_of_store(m->model) >= 0))
		return err_set(err, ERR_ARG, "%s: model '%s' is not %s",
			       db->path, m->model, model_store_names());
	for (int i = 0; i < m->nclasses; i++) {
		const char *c = m->classes[i];
		if (!c || !*c || strchr(c, '\n'))
			return err_set(err, ERR_ARG, "%s: class %d is empty or holds a "
				       "newline", db->path, i);
		/* Indices are Keras' (sorted names), and renumbering looks
		 * names up by binary search (classes_map). */
		if (i > 0 && classes_cmp(m->classes[i - 1], c) >= 0)
			return err_set(err, ERR_ARG, "%s: classes are not sorted and "
				       "unique ('%s' then '%s')", db->path,
				       m->classes[i - 1], c);
	}
	return 0;
}

/* Joins the class names with '\n' into *out (malloc'd, *len bytes). */
static int classes_join(const featdb_t *db, const featdb_meta_t *m, char **out,
			size_t *len, char *err)
{
	size_t total = 0, pos = 0;
	char *s;

	for (int i = 0; i < m->nclasses; i++) {
		size_t l = strlen(m->classes[i]) + (i > 0);
		if (total > SIZE_MAX - l - 1)
			return err_set(err, ERR_NOMEM, "%s: class list too long", db->path);
		total += l;
	}
	if (!(s = malloc(total + 1)))
		return err_set(err, ERR_NOMEM, "%s: out of memory", db->path);
	for (int i = 0; i < m->nclasses; i++) {
		size_t l = strlen(m->classes[i]);
		if (i > 0)
			s[pos++] = '\n';
		memcpy(s + pos, m->classes[i], l);
		pos += l;
	}
	s[pos] = '\0';
	*out = s;
	*len = total;
	return 0;
}

/* A failed LMDB call inside the write transaction: MDB_MAP_FULL is reported
 * through *full, for featdb_write to grow the map and start again. */
static int write_fail(const featdb_t *db, int rc, const char *what, int *full,
		      char *err)
{
	if (rc == MDB_MAP_FULL)
		*full = 1;
	return featdb_lmdb_fail(db, rc, what, err);
}

/* Whether the key k (klen bytes) is one of the n keys of this write.  Asked
 * only of a stored record whose class is outside the list, a damaged one:
 * a look through the keys costs nothing the rest of the time. */
static int is_written(const void *k, size_t klen, int n, const char *const *keys)
{
	for (int i = 0; i < n; i++)
		if (strlen(keys[i]) == klen && memcmp(keys[i], k, klen) == 0)
			return 1;
	return 0;
}

/* Rewrites the class of every stored record from the stored list's numbering
 * to meta's, inside txn, but for the records of the n keys this write puts
 * or removes. */
static int renumber(featdb_t *db, MDB_txn *txn, const featdb_meta_t *meta,
		    int n, const char *const *keys, int *full, char *err)
{
	MDB_val k = {sizeof "classes" - 1, "classes"}, v;
	MDB_cursor *cur = NULL;
	char **old = NULL;
	int *map = NULL;
	uint8_t *buf = NULL, *kbuf = NULL;
	size_t cap = 0, kcap = 0;
	int nold = 0, identity = 1, rc, ret;
	char why[ERR_LEN];

	rc = mdb_get(txn, db->meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return write_fail(db, rc, "classes", full, err);
	if ((ret = featdb_classes_parse(db, &v, &old, &nold, err)) != 0)
		return ret;
	if (!(map = malloc((nold ? (size_t)nold : 1) * sizeof *map))) {
		ret = err_set(err, ERR_NOMEM, "%s: out of memory", db->path);
		goto done;
	}
	if (classes_map(old, nold, meta->classes, meta->nclasses, map, why)) {
		ret = err_set(err, ERR_ARG, "%s: a stored class is missing from "
			      "the new class list (%s)", db->path, why);
		goto done;
	}
	for (int i = 0; i < nold; i++)
		identity &= map[i] == i;
	/* People added after the stored ones move no one, but the records of
	 * a class past the stored list must still be looked for. */
	if (identity && nold == meta->nclasses)
		goto done;
	if ((rc = mdb_cursor_open(txn, db->features, &cur)) != 0) {
		ret = write_fail(db, rc, "cursor", full, err);
		goto done;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		featdb_rec_t rec;
		MDB_val nv;
		int qlen = k.mv_size > FEATDB_KEY_QUOTE ? FEATDB_KEY_QUOTE : (int)k.mv_size;
		/* A record that does not decode is left as it is: no field of
		 * it is trusted, and its bytes untouched keep it failing (a
		 * rewritten CRC would pass it for sound).  extract replaces it
		 * when its image is in the folder, maybe in a later commit of
		 * the same run. */
		if (featdb_rec_decode(v.mv_data, v.mv_size, &rec, NULL) != 0)
			continue;
		/* A record that decodes with a class outside the list would
		 * pass for a person of the new list, renumbered or left as it
		 * is: stopping keeps the store as it was.  One this write
		 * replaces or removes is gone at its commit. */
		if (rec.cls < 0 || rec.cls >= nold) {
			if (is_written(k.mv_data, k.mv_size, n, keys))
				continue;
			ret = err_set(err, ERR_FORMAT, "%s: record '%.*s' has class %d, "
				      "outside the %d people the store lists: with "
				      "the new people it would pass for one of them "
				      "(featdb verify lists it as damaged)", db->path,
				      qlen, (const char *)k.mv_data, (int)rec.cls, nold);
			goto done;
		}
		if (map[rec.cls] == rec.cls)
			continue;
		/* The value in the map is read-only: edit a copy. */
		if (v.mv_size > cap) {
			free(buf);
			if (!(buf = malloc(v.mv_size))) {
				ret = err_set(err, ERR_NOMEM, "%s: out of memory", db->path);
				goto done;
			}
			cap = v.mv_size;
		}
		memcpy(buf, v.mv_data, v.mv_size);
		le_put32(buf + 12, (uint32_t)map[rec.cls]);
		le_put32(buf + 16, featdb_rec_crc(buf, v.mv_size));
		nv.mv_size = v.mv_size;
		nv.mv_data = buf;
		/* Not mdb_cursor_put(MDB_CURRENT): with LMDB 0.9.24 it loses
		 * records whose values sit on overflow pages (4096-d vectors do;
		 * test_class_renumber shows it).  A plain put under a copy of the
		 * key, then re-seeking the cursor to it, is safe. */
		if (k.mv_size > kcap) {
			free(kbuf);
			if (!(kbuf = malloc(k.mv_size))) {
				ret = err_set(err, ERR_NOMEM, "%s: out of memory", db->path);
				goto done;
			}
			kcap = k.mv_size;
		}
		memcpy(kbuf, k.mv_data, k.mv_size);
		k.mv_data = kbuf;
		if ((rc = mdb_put(txn, db->features, &k, &nv, 0)) != 0 ||
		    (rc = mdb_cursor_get(cur, &k, &v, MDB_SET)) != 0) {
			ret = write_fail(db, rc, "renumber", full, err);
			goto done;
		}
	}
	ret = rc == MDB_NOTFOUND ? 0 : write_fail(db, rc, "cursor", full, err);
done:
	mdb_cursor_close(cur);
	free(buf);
	free(kbuf);
	free(map);
	featdb_classes_free(old, nold);
	return ret;
}

static int put_string(featdb_t *db, MDB_txn *txn, const char *name,
		      const char *value, size_t len, int *full, char *err)
{
	MDB_val k = {strlen(name), (void *)name}, v = {len, (void *)value};
	int rc = mdb_put(txn, db->meta, &k, &v, 0);

	return rc ? write_fail(db, rc, name, full, err) : 0;
}

/* LMDB 0.9 reports a short write at commit as EIO, and a full disk gives
 * exactly that: the write takes the last free blocks and stops.  A file
 * system with no block left afterwards names the real cause. */
static int commit_fail(const featdb_t *db, int rc, int *full, char *err)
{
	struct statvfs vfs;

	if (rc == EIO && statvfs(db->path, &vfs) == 0 && vfs.f_bavail == 0)
		return err_set(err, ERR_IO, "%s: commit: %s (the disk is full: LMDB's "
			       "write came up short, %s; what was committed before "
			       "stays)", db->path, strerror(ENOSPC), mdb_strerror(rc));
	return write_fail(db, rc, "commit", full, err);
}

/* One attempt at featdb_write's transaction; classes is meta's joined list. */
static int write_txn(featdb_t *db, const featdb_meta_t *meta, const char *classes,
		     size_t classes_len, int n, const char *const *keys,
		     const uint8_t *const *vals, const size_t *lens,
		     uint64_t *count, int *full, char *err)
{
	/* Writers from before VGG-Face leave the model empty: theirs is VGG16. */
	const char *model =
		meta->model[0] ? meta->model : model_info(MODEL_VGG16)->store_model;
	const char *conv = meta->conv[0] ? meta->conv : FEATDB_CONV_OLD;
	const char *dtype = featdb_dtype_name(meta->dtype);
	MDB_txn *txn = NULL;
	MDB_stat ms;
	char num[32];
	int rc, ret;

	if ((rc = featdb_txn_begin(db, 0, &txn)) != 0)
		return write_fail(db, rc, "begin", full, err);
	if ((ret = renumber(db, txn, meta, n, keys, full, err)) != 0)
		goto fail;
	for (int i = 0; i < n; i++) {
		MDB_val k = {strlen(keys[i]), (void *)keys[i]};
		MDB_val v = {vals[i] ? lens[i] : 0, (void *)vals[i]};
		if (!vals[i]) {
			rc = mdb_del(txn, db->features, &k, NULL);
			if (rc == MDB_NOTFOUND)
				rc = 0;
		} else {
			rc = mdb_put(txn, db->features, &k, &v, 0);
		}
		if (rc != 0) {
			ret = write_fail(db, rc, vals[i] ? "put" : "del", full, err);
			goto fail;
		}
	}
	if ((rc = mdb_stat(txn, db->features, &ms)) != 0) {
		ret = write_fail(db, rc, "stat", full, err);
		goto fail;
	}
	*count = ms.ms_entries;
	snprintf(num, sizeof num, "%d", meta->dim);
	if ((ret = put_string(db, txn, "format", FEATDB_FORMAT,
			      strlen(FEATDB_FORMAT), full, err)) != 0 ||
	    (ret = put_string(db, txn, "model", model, strlen(model), full,
			      err)) != 0 ||
	    (ret = put_string(db, txn, "fingerprint", meta->fingerprint,
			      strlen(meta->fingerprint), full, err)) != 0 ||
	    (ret = put_string(db, txn, "preprocess", meta->preprocess,
			      strlen(meta->preprocess), full, err)) != 0 ||
	    (ret = put_string(db, txn, "conv", conv, strlen(conv), full,
			      err)) != 0 ||
	    (meta->conv_sums[0] &&
	     (ret = put_string(db, txn, "conv_sums", meta->conv_sums,
			       strlen(meta->conv_sums), full, err)) != 0) ||
	    (ret = put_string(db, txn, "version", meta->version,
			      strlen(meta->version), full, err)) != 0 ||
	    (ret = put_string(db, txn, "dim", num, strlen(num), full, err)) != 0 ||
	    (ret = put_string(db, txn, "dtype", dtype, strlen(dtype), full,
			      err)) != 0 ||
	    (ret = put_string(db, txn, "classes", classes, classes_len, full,
			      err)) != 0)
		goto fail;
	snprintf(num, sizeof num, "%llu", (unsigned long long)*count);
	if ((ret = put_string(db, txn, "count", num, strlen(num), full, err)) != 0 ||
	    (ret = featdb_file_extend(db, err)) != 0)
		goto fail;
	/* Commit frees the transaction whether or not it succeeds. */
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc) {
		ret = commit_fail(db, rc, full, err);
		goto fail;
	}
	return 0;
fail:
	mdb_txn_abort(txn);
	return ret;
}

int featdb_map_grow(featdb_t *db, char *err)
{
	MDB_envinfo info;
	int rc;

	if ((rc = mdb_env_info(db->env, &info)) != 0)
		return featdb_lmdb_fail(db, rc, "env info", err);
	if (info.me_mapsize > SIZE_MAX / 2)
		return err_set(err, ERR_NOMEM, "%s: the map cannot grow past %zu bytes",
			       db->path, info.me_mapsize);
	rc = mdb_env_set_mapsize(db->env, info.me_mapsize * 2);
	if (rc)
		return err_set(err, featdb_lmdb_code(rc, 0), "%s: cannot grow the "
			       "map to %zu bytes: %s", db->path,
			       info.me_mapsize * 2, mdb_strerror(rc));
	return 0;
}

int featdb_write(featdb_t *db, featdb_meta_t *meta, int n, const char *const *keys,
		 const uint8_t *const *vals, const size_t *lens, char *err)
{
	char *classes = NULL;
	size_t classes_len = 0;
	uint64_t count = 0;
	int full, ret;
	char why[ERR_LEN];

	if (!db || !meta || n < 0 || (n > 0 && (!keys || !vals || !lens)))
		return err_set(err, ERR_ARG, "featdb_write: bad arguments");
	if (db->rdonly)
		return err_set(err, ERR_ARG, "%s: the store was opened read-only",
			       db->path);
	if ((ret = meta_check(db, meta, err)) != 0)
		return ret;
	/* Check every record before the transaction, so that a bad argument
	 * is reported as such and never half-written. */
	for (int i = 0; i < n; i++) {
		MDB_val k;
		featdb_rec_t rec;
		if ((ret = featdb_key_check(db, keys[i], &k, err)) != 0)
			return ret;
		if (!vals[i])
			continue;
		if (featdb_rec_decode(vals[i], lens[i], &rec, why) != 0)
			return err_set(err, ERR_ARG, "%s: record '%.*s': %s", db->path,
				       FEATDB_KEY_QUOTE, keys[i], why);
		if (rec.dim != meta->dim || rec.dtype != meta->dtype ||
		    rec.cls < 0 || rec.cls >= meta->nclasses)
			return err_set(err, ERR_ARG, "%s: record '%.*s' has dim %d, "
				       "dtype %d, class %d; the store takes dim %d, "
				       "dtype %d, classes 0..%d", db->path,
				       FEATDB_KEY_QUOTE, keys[i], rec.dim, rec.dtype,
				       (int)rec.cls, meta->dim, meta->dtype,
				       meta->nclasses - 1);
	}
	if ((ret = classes_join(db, meta, &classes, &classes_len, err)) != 0)
		return ret;
	for (;;) {
		full = 0;
		ret = write_txn(db, meta, classes, classes_len, n, keys, vals, lens,
				&count, &full, err);
		if (!full)
			break;
		/* The transaction was aborted, so no transaction of ours is
		 * active: the map may be grown now, then all of it redone. */
		if ((ret = featdb_map_grow(db, err)) != 0)
			break;
	}
	if (ret == 0)
		meta->count = count;
	free(classes);
	return ret;
}
