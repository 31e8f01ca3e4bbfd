/* featdb.c - the feature store of featdb.h: opening the LMDB environment
 * (after featdb_pages.c has checked its pages), reading records, and the
 * LMDB plumbing the module's other files share (featdb_impl.h).  The
 * metadata is featdb_meta.c's, writing featdb_write.c's, the record bytes
 * featdb_rec.c's. */
#include "store/featdb.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "error.h"
#include "store/featdb_impl.h"

/* A new store's map is small so that growing it (doubling on MDB_MAP_FULL)
 * is the everyday path, exercised by every real extraction, not a corner. */
#define FEATDB_MAP_INIT ((size_t)64 << 20)
/* Names of the two databases; maxdbs leaves room for two more. */
#define FEATDB_DB_FEATURES "features"
#define FEATDB_DB_META "meta"
#define FEATDB_MAXDBS 4
/* The size of LMDB's lock.mdb with its default 126 readers (on 64-bit). */
#define FEATDB_LOCK_BYTES ((off_t)8192)

/* ---- the LMDB plumbing the module shares (featdb_impl.h) ---- */

/* Maps an LMDB or errno code to ours; at_open says the environment is just
 * being opened, where a panic means the file was never a sound store. */
int featdb_lmdb_code(int rc, int at_open)
{
	switch (rc) {
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INCOMPATIBLE:
	case MDB_BAD_VALSIZE:
		return ERR_FORMAT;
	case MDB_PANIC:
		return at_open ? ERR_FORMAT : ERR_IO;
	case ENOMEM:
		return ERR_NOMEM;
	case ENOENT:
		return ERR_MISSING;
	default:
		return ERR_IO;
	}
}

int featdb_lmdb_fail(const featdb_t *db, int rc, const char *what, char *err)
{
	return err_set(err, featdb_lmdb_code(rc, 0), "%s: %s: %s", db->path, what,
		       mdb_strerror(rc));
}

/* mdb_txn_begin, adopting a larger map when a writer in another process
 * grew it past ours (MDB_MAP_RESIZED).  Callers hold no other transaction,
 * which mdb_env_set_mapsize requires.  Returns an LMDB code. */
int featdb_txn_begin(featdb_t *db, unsigned flags, MDB_txn **txn)
{
	int rc;

	*txn = NULL;
	while ((rc = mdb_txn_begin(db->env, NULL, flags, txn)) == MDB_MAP_RESIZED) {
		rc = mdb_env_set_mapsize(db->env, 0);
		if (rc)
			break;
	}
	if (rc)
		*txn = NULL;
	return rc;
}

/* LMDB does not write the pages a transaction allocated and freed again
 * ("loose" pages), so data.mdb may end before the last page its meta names.
 * Keeping the file at least as long as the map (sparse, as LMDB's own
 * MDB_WRITEMAP does) makes "shorter than its last page" mean truncated,
 * which featdb_open checks.  Called inside a write transaction: the write
 * lock keeps other writers from extending the file meanwhile. */
int featdb_file_extend(featdb_t *db, char *err)
{
	MDB_envinfo info;
	struct stat st;
	int fd, rc;

	if ((rc = mdb_env_info(db->env, &info)) != 0 ||
	    (rc = mdb_env_get_fd(db->env, &fd)) != 0)
		return featdb_lmdb_fail(db, rc, "env info", err);
	if (fstat(fd, &st) != 0)
		return err_set(err, ERR_IO, "%s/data.mdb: %s", db->path, strerror(errno));
	if ((uint64_t)st.st_size >= (uint64_t)info.me_mapsize)
		return 0;
	if (info.me_mapsize > (size_t)INT64_MAX ||
	    ftruncate(fd, (off_t)info.me_mapsize) != 0)
		return err_set(err, ERR_IO, "%s/data.mdb: cannot extend to %zu bytes: %s",
			       db->path, info.me_mapsize, strerror(errno));
	return 0;
}

/* ---- opening ---- */

/* Whether the environment's main database is empty (no named database). */
static int main_empty(MDB_txn *txn)
{
	MDB_dbi main_dbi;
	MDB_stat ms;

	return mdb_dbi_open(txn, NULL, 0, &main_dbi) == 0 &&
	       mdb_stat(txn, main_dbi, &ms) == 0 && ms.ms_entries == 0;
}

/* Opens both databases, creating them in a fresh (empty) environment when
 * the open may create the store; an environment holding anything else is
 * not ours. */
static int open_dbis(featdb_t *db, int create, char *err)
{
	static const char *const names[2] = {FEATDB_DB_FEATURES, FEATDB_DB_META};
	MDB_dbi *dbis[2] = {&db->features, &db->meta};
	MDB_txn *txn = NULL;
	unsigned flags = 0;
	int rc, ret;

	rc = featdb_txn_begin(db, db->rdonly ? MDB_RDONLY : 0, &txn);
	if (rc) {
		ret = err_set(err, featdb_lmdb_code(rc, 1), "%s: begin: %s", db->path,
			      mdb_strerror(rc));
		goto fail;
	}
	if (create) {
		MDB_dbi main_dbi;
		MDB_stat ms;
		if ((rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) != 0 ||
		    (rc = mdb_stat(txn, main_dbi, &ms)) != 0) {
			ret = err_set(err, featdb_lmdb_code(rc, 1), "%s: %s", db->path,
				      mdb_strerror(rc));
			goto fail;
		}
		if (ms.ms_entries == 0)
			flags = MDB_CREATE;
	}
	for (int i = 0; i < 2; i++) {
		rc = mdb_dbi_open(txn, names[i], flags, dbis[i]);
		if (rc == MDB_NOTFOUND && !create && main_empty(txn)) {
			/* What extract's first transaction, cut short (a crash, a
			 * full disk) or still to come, leaves. */
			ret = err_set(err, ERR_MISSING, "%s: an empty store (nothing "
				      "was written yet)", db->path);
			goto fail;
		}
		if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
			ret = err_set(err, ERR_FORMAT, "%s: an LMDB environment but not "
				      "a feature store (no \"%s\" database)",
				      db->path, names[i]);
			goto fail;
		}
		if (rc) {
			ret = err_set(err, featdb_lmdb_code(rc, 1),
				      "%s: database \"%s\": %s", db->path, names[i],
				      mdb_strerror(rc));
			goto fail;
		}
	}
	if (flags && (ret = featdb_file_extend(db, err)) != 0)
		goto fail;
	/* Committing (even a read transaction) keeps the handles for later
	 * transactions; aborting would close them. */
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc) {
		ret = err_set(err, featdb_lmdb_code(rc, 1), "%s: commit: %s", db->path,
			      mdb_strerror(rc));
		goto fail;
	}
	return 0;
fail:
	mdb_txn_abort(txn);
	return ret;
}

/* LMDB writes lock.mdb through a shared mapping, and on a full disk the
 * first store to a page with no block behind it is a SIGBUS, not an error
 * (a new store on a full disk crashed extract).  Reserving the blocks of a
 * new lock file first turns that into ENOSPC here.  KEEP_SIZE: the size is
 * LMDB's to choose.  A lock file already in use is left alone, so that
 * readers still open a store on a full disk.  Only the lack of space is an
 * error: for anything else (no write access, no fallocate) LMDB has its say. */
static int lock_reserve(const char *path, char *err)
{
	char *lock = NULL;
	struct stat st;
	int fd, rc = 0;

	if (asprintf(&lock, "%s/lock.mdb", path) < 0)
		return err_set(err, ERR_NOMEM, "%s: out of memory", path);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd >= 0) {
		if (fstat(fd, &st) == 0 && st.st_size < FEATDB_LOCK_BYTES &&
		    fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, FEATDB_LOCK_BYTES) != 0 &&
		    (errno == ENOSPC || errno == EDQUOT))
			rc = err_set(err, ERR_IO, "%s: %s", lock, strerror(errno));
		close(fd);
	}
	free(lock);
	return rc;
}

int featdb_is_store_file(const char *name)
{
	static const char *const ours[] = {"data.mdb", "lock.mdb", "extract.lock"};

	for (size_t i = 0; i < sizeof ours / sizeof *ours; i++)
		if (strcmp(name, ours[i]) == 0)
			return 1;
	return 0;
}

/* dangling: the error for path, which mkdir found there (EEXIST) and stat
 * not: a symbolic link to a folder that does not exist, which is not made
 * (the link may name a disk not mounted). */
static int dangling(const char *path, char *err)
{
	char to[4096];
	int e = errno;
	ssize_t n = e == ENOENT ? readlink(path, to, sizeof to - 1) : -1;

	if (n < 0)
		return fsutil_path_error(path, e, ERR_IO, err);
	to[n] = '\0';
	return err_set(err, ERR_MISSING, "%s is a symbolic link to %s, a folder that "
		       "does not exist: make that folder, or name another store", path,
		       to);
}

/* A store is made in a new or empty folder, or one holding only a store's
 * own files (an earlier run's lock files): never in a folder of images or
 * of anything else the user keeps, which --db given for --in would be. */
static int only_store_files(const char *path, char *err)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int ret = 0;

	if (!d)
		return fsutil_path_error(path, errno, ERR_IO, err);
	while (ret == 0 && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    !featdb_is_store_file(e->d_name))
			ret = err_set(err, ERR_FORMAT, "%s is a folder that is not a "
				      "feature store (it holds '%s'); a new store is made "
				      "in a new or empty folder", path, e->d_name);
	}
	closedir(d);
	return ret;
}

int featdb_lock_writer(const char *path, int *fd, char *err)
{
	char lock[4096];

	if ((size_t)snprintf(lock, sizeof lock, "%s/extract.lock", path) >= sizeof lock)
		return err_set(err, ERR_IO, "%s: path too long", path);
	*fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (*fd < 0)
		return err_set(err, ERR_IO, "%s: %s", lock, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(*fd);
		*fd = -1;
		if (e == EWOULDBLOCK)
			return err_set(err, ERR_IO, "%s: another program (extract, "
				       "featdb merge or featdb remove) is writing to "
				       "this store; wait for it to finish", path);
		return err_set(err, ERR_IO, "%s: %s", lock, strerror(e));
	}
	return 0;
}

/* restart_unborn empties data (featdb_pages_unborn's), for LMDB to start
 * again on an empty file: nothing is lost.  Under the writers' lock, so as
 * not to cut a store another writer is making this instant (the lock is
 * the caller's to take next, as for any store).  1 when emptied, 0 when
 * another writer made it a store meanwhile, or the error. */
static int restart_unborn(const char *path, const char *data, char *err)
{
	struct stat st;
	int fd, ret;

	if ((ret = featdb_lock_writer(path, &fd, err)) != 0)
		return ret;
	ret = stat(data, &st) == 0 && featdb_pages_unborn(data, (uint64_t)st.st_size);
	if (ret && truncate(data, 0) != 0)
		ret = err_set(err, ERR_IO, "%s: %s", data, strerror(errno));
	close(fd);
	return ret;
}

int featdb_open(const char *path, int flags, featdb_t **out, char *err)
{
	featdb_t *db = NULL;
	char *data = NULL;
	struct stat st;
	size_t plen;
	int fresh = 0, create, rc, ret;

	if (out)
		*out = NULL;
	if (!path || !*path || !out ||
	    (flags != FEATDB_RDONLY && flags != FEATDB_CREATE && flags != FEATDB_WRITE))
		return err_set(err, ERR_ARG, "featdb_open: bad arguments");
	plen = strlen(path);
	db = calloc(1, sizeof *db);
	if (!db || plen > SIZE_MAX - sizeof "/data.mdb" ||
	    !(db->path = strdup(path)) || !(data = malloc(plen + sizeof "/data.mdb"))) {
		ret = err_set(err, ERR_NOMEM, "%s: out of memory", path);
		goto fail;
	}
	memcpy(data, path, plen);
	memcpy(data + plen, "/data.mdb", sizeof "/data.mdb");
	db->rdonly = flags == FEATDB_RDONLY;
	create = flags == FEATDB_CREATE;

	if (stat(path, &st) != 0) {
		int e = errno;
		if (e != ENOENT || !create) {
			ret = e == ENOENT ? err_set(err, ERR_MISSING, "%s: no such feature "
						    "store", path)
					  : fsutil_path_error(path, e, ERR_IO, err);
			goto fail;
		}
		/* 0777 lets the umask decide, as for any new directory. */
		if (mkdir(path, 0777) != 0 && (e = errno) != EEXIST) {
			ret = err_set(err, e == ENOENT ? ERR_MISSING : ERR_IO,
				      "%s: cannot create the store: %s", path, strerror(e));
			goto fail;
		}
		if (stat(path, &st) != 0) {
			ret = dangling(path, err);
			goto fail;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		ret = err_set(err, ERR_FORMAT, "%s: not a directory (a feature store "
			      "is a directory)", path);
		goto fail;
	}
	/* Look before LMDB does: a read-only open of a directory that holds no
	 * store must not leave a lock.mdb behind, and LMDB takes an empty data
	 * file for a new environment, which read-only cannot initialise. */
	if (stat(data, &st) != 0) {
		if (errno != ENOENT) {
			ret = err_set(err, ERR_IO, "%s: %s", data, strerror(errno));
			goto fail;
		}
		if (!create) {
			ret = err_set(err, ERR_MISSING, "%s: no data.mdb, not a feature "
				      "store", path);
			goto fail;
		}
		fresh = 1;
	} else if (st.st_size == 0) {
		if (!create) {
			ret = err_set(err, ERR_FORMAT, "%s is empty, not a feature store", data);
			goto fail;
		}
		fresh = 1;
	} else if (featdb_pages_unborn(data, (uint64_t)st.st_size)) {
		if (!create) {
			ret = err_set(err, ERR_FORMAT, "%s holds no record: the extract "
				      "that made it stopped before its first commit (run "
				      "it again)", data);
			goto fail;
		}
		if ((ret = restart_unborn(path, data, err)) < 0)
			goto fail;
		fresh = ret;
	}
	if (fresh && (ret = only_store_files(path, err)) != 0)
		goto fail;

	if (!fresh && (ret = featdb_pages_precheck(db, data, err)) != 0)
		goto fail;
	if ((ret = lock_reserve(path, err)) != 0)
		goto fail;
	if ((rc = mdb_env_create(&db->env)) != 0) {
		ret = err_set(err, featdb_lmdb_code(rc, 1), "%s: %s", path,
			      mdb_strerror(rc));
		goto fail;
	}
	/* An existing store keeps the map size recorded in it (LMDB's default
	 * when none is set); only a new one starts small. */
	if ((rc = mdb_env_set_maxdbs(db->env, FEATDB_MAXDBS)) != 0 ||
	    (fresh && (rc = mdb_env_set_mapsize(db->env, FEATDB_MAP_INIT)) != 0)) {
		ret = err_set(err, featdb_lmdb_code(rc, 1), "%s: %s", path,
			      mdb_strerror(rc));
		goto fail;
	}
	rc = mdb_env_open(db->env, path, db->rdonly ? MDB_RDONLY : 0, 0666);
	if (rc) {
		if ((rc == EACCES || rc == EPERM) && !db->rdonly && !fresh &&
		    access(data, W_OK) != 0)
			ret = err_set(err, ERR_IO, "%s: %s: cannot write data.mdb, "
				      "the store's records", path, mdb_strerror(rc));
		else if (rc == EACCES || rc == EPERM)
			ret = err_set(err, ERR_IO, "%s: %s (any open, even read-only, "
				      "needs write access to the store's lock.mdb, or "
				      "to its folder to create it)", path,
				      mdb_strerror(rc));
		else if (rc == ENOSPC || rc == EDQUOT || rc == EROFS || rc == EIO)
			ret = err_set(err, ERR_IO, "%s: cannot write the store: %s",
				      path, mdb_strerror(rc));
		else
			ret = err_set(err, featdb_lmdb_code(rc, 1), "%s: not a "
				      "usable LMDB environment: %s", path,
				      mdb_strerror(rc));
		goto fail;
	}
	if ((ret = featdb_pages_check(db, err)) != 0 || (ret = open_dbis(db, create, err)) != 0)
		goto fail;
	free(data);
	*out = db;
	return 0;
fail:
	free(data);
	featdb_close(db);
	return ret;
}

void featdb_close(featdb_t *db)
{
	if (!db)
		return;
	/* mdb_env_close also discards an environment whose open failed. */
	if (db->env)
		mdb_env_close(db->env);
	free(db->path);
	free(db);
}

/* ---- reading ---- */

int featdb_max_key(featdb_t *db)
{
	return mdb_env_get_maxkeysize(db->env);
}

int featdb_key_check(featdb_t *db, const char *key, MDB_val *k, char *err)
{
	size_t len;
	int max;

	if (!key)
		return err_set(err, ERR_ARG, "%s: NULL key", db->path);
	len = strlen(key);
	max = mdb_env_get_maxkeysize(db->env);
	if (len == 0 || len > (size_t)max)
		return err_set(err, ERR_ARG, "%s: key '%.*s%s' is %zu bytes, keys "
			       "must have 1 to %d", db->path, FEATDB_KEY_QUOTE, key,
			       len > FEATDB_KEY_QUOTE ? "..." : "", len, max);
	k->mv_size = len;
	k->mv_data = (void *)key;
	return 0;
}

int featdb_has(featdb_t *db, const char *key, char *err)
{
	MDB_txn *txn = NULL;
	MDB_val k, v;
	int rc, ret;

	if (!db)
		return err_set(err, ERR_ARG, "featdb_has: NULL store");
	if ((ret = featdb_key_check(db, key, &k, err)) != 0)
		return ret;
	if ((rc = featdb_txn_begin(db, MDB_RDONLY, &txn)) != 0)
		return featdb_lmdb_fail(db, rc, "begin", err);
	rc = mdb_get(txn, db->features, &k, &v);
	if (rc == 0)
		ret = 1;
	else if (rc == MDB_NOTFOUND)
		ret = 0;
	else
		ret = featdb_lmdb_fail(db, rc, "get", err);
	mdb_txn_abort(txn);
	return ret;
}

int featdb_get(featdb_t *db, const char *key, uint8_t **val, size_t *len,
	       char *err)
{
	MDB_txn *txn = NULL;
	MDB_val k, v;
	int rc, ret;

	if (val)
		*val = NULL;
	if (len)
		*len = 0;
	if (!db || !val || !len)
		return err_set(err, ERR_ARG, "featdb_get: NULL argument");
	if ((ret = featdb_key_check(db, key, &k, err)) != 0)
		return ret;
	if ((rc = featdb_txn_begin(db, MDB_RDONLY, &txn)) != 0)
		return featdb_lmdb_fail(db, rc, "begin", err);
	rc = mdb_get(txn, db->features, &k, &v);
	if (rc == MDB_NOTFOUND) {
		ret = err_set(err, ERR_MISSING, "%s: key '%.*s' is not in the store",
			      db->path, FEATDB_KEY_QUOTE, key);
		goto done;
	}
	if (rc) {
		ret = featdb_lmdb_fail(db, rc, "get", err);
		goto done;
	}
	/* The value lives in the map only while the transaction does. */
	*val = malloc(v.mv_size ? v.mv_size : 1);
	if (!*val) {
		ret = err_set(err, ERR_NOMEM, "%s: out of memory", db->path);
		goto done;
	}
	memcpy(*val, v.mv_data, v.mv_size);
	*len = v.mv_size;
	ret = 0;
done:
	mdb_txn_abort(txn);
	return ret;
}

/* featdb_foreach's walk, inside the read transaction txn. */
static int foreach_txn(featdb_t *db, MDB_txn *txn, featdb_foreach_fn fn,
		       void *ctx, char *err)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	char why[ERR_LEN];
	int rc, ret = 0;

	if ((rc = mdb_cursor_open(txn, db->features, &cur)) != 0)
		return featdb_lmdb_fail(db, rc, "cursor", err);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		featdb_rec_t rec;
		int ok = featdb_rec_decode(v.mv_data, v.mv_size, &rec, why) == 0;
		ret = fn(ctx, k.mv_data, k.mv_size, ok ? &rec : NULL, ok ? NULL : why);
		if (ret)
			goto done;
	}
	if (rc != MDB_NOTFOUND)
		ret = featdb_lmdb_fail(db, rc, "cursor", err);
done:
	mdb_cursor_close(cur);
	return ret;
}

int featdb_foreach(featdb_t *db, featdb_foreach_fn fn, void *ctx, char *err)
{
	MDB_txn *txn = NULL;
	int rc, ret;

	if (!db || !fn)
		return err_set(err, ERR_ARG, "featdb_foreach: NULL argument");
	if ((rc = featdb_txn_begin(db, MDB_RDONLY, &txn)) != 0)
		return featdb_lmdb_fail(db, rc, "begin", err);
	ret = foreach_txn(db, txn, fn, ctx, err);
	mdb_txn_abort(txn);
	return ret;
}

/* ---- reading with the metadata, from one snapshot ---- */

int featdb_scan(featdb_t *db, featdb_meta_t *meta, featdb_foreach_fn fn,
		void *ctx, char *err)
{
	MDB_txn *txn = NULL;
	int rc, ret;

	if (!db || !meta || !fn)
		return err_set(err, ERR_ARG, "featdb_scan: NULL argument");
	memset(meta, 0, sizeof *meta);
	if ((rc = featdb_txn_begin(db, MDB_RDONLY, &txn)) != 0)
		return featdb_lmdb_fail(db, rc, "begin", err);
	if ((ret = featdb_meta_read(db, txn, meta, err)) == 0)
		ret = foreach_txn(db, txn, fn, ctx, err);
	mdb_txn_abort(txn);
	return ret;
}

/* featdb_blocks' walk, inside the read transaction txn. */
static int blocks_txn(featdb_t *db, MDB_txn *txn, int n, featdb_block_fn fn,
		      void *ctx, char *err)
{
	const char **keys = malloc((size_t)n * sizeof *keys);
	const uint8_t **vals = malloc((size_t)n * sizeof *vals);
	size_t *klens = malloc((size_t)n * sizeof *klens);
	size_t *vlens = malloc((size_t)n * sizeof *vlens);
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int m = 0, rc, ret = 0;

	if (!keys || !vals || !klens || !vlens) {
		ret = err_set(err, ERR_NOMEM, "%s: out of memory", db->path);
		goto done;
	}
	if ((rc = mdb_cursor_open(txn, db->features, &cur)) != 0) {
		ret = featdb_lmdb_fail(db, rc, "cursor", err);
		goto done;
	}
	/* A read transaction's pages stay where they are until it ends, so
	 * a block's pointers hold while fn works on them. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		keys[m] = k.mv_data;
		klens[m] = k.mv_size;
		vals[m] = v.mv_data;
		vlens[m] = v.mv_size;
		if (++m == n) {
			if ((ret = fn(ctx, m, keys, klens, vals, vlens)) != 0)
				goto done;
			m = 0;
		}
	}
	if (rc != MDB_NOTFOUND)
		ret = featdb_lmdb_fail(db, rc, "cursor", err);
	else if (m > 0)
		ret = fn(ctx, m, keys, klens, vals, vlens);
done:
	mdb_cursor_close(cur);
	free(keys);
	free(vals);
	free(klens);
	free(vlens);
	return ret;
}

int featdb_blocks(featdb_t *db, featdb_meta_t *meta, int n, featdb_block_fn fn,
		  void *ctx, char *err)
{
	MDB_txn *txn = NULL;
	int rc, ret;

	if (!db || !meta || !fn || n < 1)
		return err_set(err, ERR_ARG, "featdb_blocks: bad arguments");
	memset(meta, 0, sizeof *meta);
	if ((rc = featdb_txn_begin(db, MDB_RDONLY, &txn)) != 0)
		return featdb_lmdb_fail(db, rc, "begin", err);
	if ((ret = featdb_meta_read(db, txn, meta, err)) == 0)
		ret = blocks_txn(db, txn, n, fn, ctx, err);
	mdb_txn_abort(txn);
	return ret;
}
