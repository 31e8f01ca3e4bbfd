#include "e2e.h"

#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "error.h"
#include "net/model.h"
#include "store/featdb.h"
#include "img/img.h"
#include "proc.h"
#include "testutil.h"

void e2e_mkdirs(const char *root, const char *rel)
{
	char path[4096];

	mkdir(root, 0777);
	snprintf(path, sizeof path, "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			mkdir(path, 0777);
			*p = '/';
		}
}

int e2e_write_pnm(const char *root, const char *rel, int w, int h, int gray,
		  uint64_t seed)
{
	char path[4096];
	int ch = gray ? 1 : 3, rc;
	size_t n = (size_t)w * (size_t)h * (size_t)ch;
	uint8_t *buf = malloc(n + 64);
	rng_t r = {seed};

	if (!buf)
		return -1;
	int hl = snprintf((char *)buf, 64, "P%d\n%d %d\n255\n", gray ? 5 : 6, w, h);
	int base = (int)(rng_next(&r) % 200);
	for (size_t i = 0; i < n; i++)
		buf[(size_t)hl + i] = (uint8_t)(base + (int)(i * 7 % 50) +
						(int)(rng_next(&r) % 6));
	e2e_mkdirs(root, rel);
	snprintf(path, sizeof path, "%s/%s", root, rel);
	rc = tu_write_file(path, buf, n + (size_t)hl);
	free(buf);
	return rc;
}

int e2e_extract(const char *in, const char *db, const char *log, ...)
{
	char *argv[32] = {proc_bin("extract"), "--in", (char *)in, "--db", (char *)db,
			  "--weights", (char *)tu_weights_path(), "-q"};
	int k = 8;
	va_list ap;
	char *a;

	va_start(ap, log);
	while ((a = va_arg(ap, char *)) && k < 31)
		argv[k++] = a;
	va_end(ap);
	argv[k] = NULL;
	return proc_run(argv, log);
}

int e2e_make_store(const char *path, int n, int D, uint64_t seed, char *why)
{
	static const char *const classes[] = {"ann", "bob", "cy"};
	featdb_t *db = NULL;
	featdb_meta_t m = {0};
	size_t size = featdb_rec_size(FEATDB_F32, D);
	char **keys = calloc((size_t)n + 1, sizeof *keys);
	const uint8_t **vals = calloc((size_t)n + 1, sizeof *vals);
	size_t *lens = calloc((size_t)n + 1, sizeof *lens);
	uint8_t *recs = malloc((size_t)n * size + 1);
	float *v = malloc((size_t)D * sizeof *v);
	rng_t r = {seed};
	int rc = -1;

	if (!keys || !vals || !lens || !recs || !v || !size) {
		snprintf(why, ERR_LEN, "out of memory");
		goto done;
	}
	if (featdb_open(path, FEATDB_CREATE, &db, why))
		goto done;
	snprintf(m.fingerprint, sizeof m.fingerprint, "0123456789abcdef");
	snprintf(m.preprocess, sizeof m.preprocess, "%s",
		 model_info(MODEL_VGG16)->preprocess);
	snprintf(m.version, sizeof m.version, "test");
	m.dim = D;
	m.dtype = FEATDB_F32;
	m.classes = (char **)classes;
	m.nclasses = 3;
	for (int i = 0; i < n; i++) {
		int c = i % 3;
		for (int j = 0; j < D; j++)
			v[j] = (float)(rng_uniform(&r) * (j % 3 == c ? 2.0 : 0.5));
		if (asprintf(&keys[i], "%s/%03d.jpg", classes[c], i) < 0) {
			keys[i] = NULL;
			snprintf(why, ERR_LEN, "out of memory");
			goto done;
		}
		vals[i] = recs + (size_t)i * size;
		lens[i] = size;
		if (featdb_rec_encode(v, D, FEATDB_F32, c, FEATDB_TRAIN,
				      recs + (size_t)i * size, why))
			goto done;
	}
	if (featdb_write(db, &m, n, (const char *const *)keys, vals, lens, why))
		goto done;
	rc = 0;
done:
	featdb_close(db);
	for (int i = 0; keys && i < n; i++)
		free(keys[i]);
	free(keys);
	free(vals);
	free(lens);
	free(recs);
	free(v);
	return rc;
}

int e2e_store_meta(const char *db, featdb_meta_t *m, char *why)
{
	featdb_t *f = NULL;
	int rc = featdb_open(db, FEATDB_RDONLY, &f, why);

	if (rc == 0)
		rc = featdb_meta_get(f, m, why);
	featdb_close(f);
	return rc ? -1 : 0;
}

long e2e_store_count(const char *db)
{
	featdb_meta_t m;
	char err[ERR_LEN];
	long n = -1;

	if (e2e_store_meta(db, &m, err) == 0) {
		n = (long)m.count;
		featdb_meta_free(&m);
	}
	return n;
}

/* Puts val (len bytes; NULL: deletes) under key in database name of the
 * store at db, with LMDB directly, in one transaction. */
static int raw_change(const char *db, const char *name, const char *key,
		      const void *val, size_t len, char *why)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};
	int rc;

	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 4)) ||
	    (rc = mdb_env_open(env, db, 0, 0666)) ||
	    (rc = mdb_txn_begin(env, NULL, 0, &txn)) ||
	    (rc = mdb_dbi_open(txn, name, 0, &dbi)) ||
	    (rc = val ? mdb_put(txn, dbi, &k, &v, 0) : mdb_del(txn, dbi, &k, NULL)))
		goto fail;
	rc = mdb_txn_commit(txn); /* frees txn, even when it fails */
	txn = NULL;
	if (rc)
		goto fail;
	mdb_env_close(env);
	return 0;
fail:
	snprintf(why, ERR_LEN, "%s: %s '%s' in \"%s\" with LMDB: %s", db,
		 val ? "putting" : "deleting", key, name, mdb_strerror(rc));
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
	return -1;
}

int e2e_raw_put(const char *db, const char *key, const void *val, size_t len,
		char *why)
{
	return raw_change(db, "features", key, val, len, why);
}

int e2e_raw_del_meta(const char *db, const char *key, char *why)
{
	return raw_change(db, "meta", key, NULL, 0, why);
}

int e2e_raw_put_meta(const char *db, const char *key, const char *val, char *why)
{
	return raw_change(db, "meta", key, val, strlen(val), why);
}

int e2e_env_info(const char *db, size_t *mapsize, size_t *used, size_t *psize,
		 char *why)
{
	MDB_env *env = NULL;
	MDB_envinfo info;
	MDB_stat st;
	int rc;

	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 4)) ||
	    (rc = mdb_env_open(env, db, MDB_RDONLY, 0644)) ||
	    (rc = mdb_env_info(env, &info)) || (rc = mdb_env_stat(env, &st))) {
		snprintf(why, ERR_LEN, "%s: %s", db, mdb_strerror(rc));
		if (env)
			mdb_env_close(env);
		return -1;
	}
	mdb_env_close(env);
	if (mapsize)
		*mapsize = info.me_mapsize;
	if (used)
		*used = (info.me_last_pgno + 1) * st.ms_psize;
	if (psize)
		*psize = st.ms_psize;
	return 0;
}

static int dump_one(void *ctx, const char *key, size_t keylen,
		    const featdb_rec_t *rec, const char *why)
{
	e2e_dump_t *d = ctx;
	size_t len;

	if (!rec) {
		d->bad++;
		return 0;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 64;
		char **k = realloc(d->keys, cap * sizeof *k);
		if (k)
			d->keys = k;
		uint8_t **v = realloc(d->vals, cap * sizeof *v);
		if (v)
			d->vals = v;
		size_t *l = realloc(d->lens, cap * sizeof *l);
		if (l)
			d->lens = l;
		if (!k || !v || !l)
			return ERR_NOMEM;
		d->cap = cap;
	}
	/* rec->data lies FEATDB_HEADER bytes into the value. */
	len = featdb_rec_size(rec->dtype, rec->dim);
	d->keys[d->n] = strndup(key, keylen);
	d->vals[d->n] = malloc(len);
	if (!d->keys[d->n] || !d->vals[d->n]) {
		free(d->keys[d->n]);
		free(d->vals[d->n]);
		return ERR_NOMEM;
	}
	memcpy(d->vals[d->n], rec->data - FEATDB_HEADER, len);
	d->lens[d->n++] = len;
	return 0;
}

int e2e_dump(const char *db, e2e_dump_t *d, char *why)
{
	featdb_t *f = NULL;
	int rc;

	memset(d, 0, sizeof *d);
	if (featdb_open(db, FEATDB_RDONLY, &f, why))
		return -1;
	rc = featdb_foreach(f, dump_one, d, why);
	featdb_close(f);
	if (rc) {
		if (rc == ERR_NOMEM)
			snprintf(why, ERR_LEN, "%s: out of memory", db);
		e2e_dump_free(d);
		return -1;
	}
	if (d->bad) {
		snprintf(why, ERR_LEN, "%s: %zu records do not decode", db, d->bad);
		return -1;
	}
	return 0;
}

void e2e_dump_free(e2e_dump_t *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->keys[i]);
		free(d->vals[i]);
	}
	free(d->keys);
	free(d->vals);
	free(d->lens);
	memset(d, 0, sizeof *d);
}

/* Index of key in d (keys are sorted), or -1. */
static long find(const e2e_dump_t *d, const char *key)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(d->keys[mid], key);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int e2e_subset(const e2e_dump_t *part, const e2e_dump_t *whole, char *why)
{
	for (size_t i = 0; i < part->n; i++) {
		long j = find(whole, part->keys[i]);
		if (j < 0) {
			snprintf(why, ERR_LEN, "record '%s' should not exist", part->keys[i]);
			return -1;
		}
		if (part->lens[i] != whole->lens[j] ||
		    memcmp(part->vals[i], whole->vals[j], part->lens[i]) != 0) {
			snprintf(why, ERR_LEN, "record '%s' differs", part->keys[i]);
			return -1;
		}
	}
	return 0;
}

int e2e_same(const e2e_dump_t *a, const e2e_dump_t *b, char *why)
{
	if (a->n != b->n) {
		snprintf(why, ERR_LEN, "%zu records against %zu", a->n, b->n);
		return -1;
	}
	return e2e_subset(a, b, why);
}

int e2e_same_store(const char *a, const char *b, char *why)
{
	e2e_dump_t x = {0}, y = {0};
	int rc = e2e_dump(a, &x, why) || e2e_dump(b, &y, why) ? -1 : e2e_same(&x, &y, why);

	/* A failed dump may still hold records (those that decoded). */
	e2e_dump_free(&x);
	e2e_dump_free(&y);
	return rc;
}

/* Reads every entry of the store's "meta" database into d (keys and raw
 * values, in key order). */
static int dump_meta(const char *db, e2e_dump_t *d, char *why)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_dbi dbi;
	MDB_val k, v;
	int rc;

	memset(d, 0, sizeof *d);
	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 4)) ||
	    (rc = mdb_env_open(env, db, MDB_RDONLY, 0644)) ||
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) ||
	    (rc = mdb_dbi_open(txn, "meta", 0, &dbi)) ||
	    (rc = mdb_cursor_open(txn, dbi, &cur)))
		goto out;
	while ((rc = mdb_cursor_get(cur, &k, &v, d->n ? MDB_NEXT : MDB_FIRST)) == 0) {
		if (d->n == d->cap) {
			size_t cap = d->cap ? 2 * d->cap : 16;
			char **keys = realloc(d->keys, cap * sizeof *keys);
			if (keys)
				d->keys = keys;
			uint8_t **vals = realloc(d->vals, cap * sizeof *vals);
			if (vals)
				d->vals = vals;
			size_t *lens = realloc(d->lens, cap * sizeof *lens);
			if (lens)
				d->lens = lens;
			if (!keys || !vals || !lens) {
				rc = ENOMEM;
				goto out;
			}
			d->cap = cap;
		}
		d->keys[d->n] = strndup(k.mv_data, k.mv_size);
		d->vals[d->n] = malloc(v.mv_size ? v.mv_size : 1);
		d->lens[d->n] = v.mv_size;
		if (!d->keys[d->n] || !d->vals[d->n]) {
			free(d->keys[d->n]);
			free(d->vals[d->n]);
			rc = ENOMEM;
			goto out;
		}
		memcpy(d->vals[d->n++], v.mv_data, v.mv_size);
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
out:
	if (rc)
		snprintf(why, ERR_LEN, "%s: reading its metadata: %s", db, mdb_strerror(rc));
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
	return rc ? -1 : 0;
}

int e2e_same_meta(const char *a, const char *b, char *why)
{
	e2e_dump_t x = {0}, y = {0};
	int rc = dump_meta(a, &x, why) || dump_meta(b, &y, why) ? -1 : e2e_same(&x, &y, why);

	if (rc == 0 && x.n == 0) {
		snprintf(why, ERR_LEN, "%s: no metadata", a);
		rc = -1;
	}
	e2e_dump_free(&x);
	e2e_dump_free(&y);
	return rc;
}

/* The spec's or the golden file's field with each \xNN turned into its
 * byte, in place. */
static void unescape(char *s)
{
	char *o = s;
	for (; *s; o++) {
		unsigned v;
		if (s[0] == '\\' && s[1] == 'x' && sscanf(s + 2, "%2x", &v) == 1) {
			*o = (char)v;
			s += 4;
		} else {
			*o = *s++;
		}
	}
	*o = 0;
}

/* Splits line (its newline removed) at TABs into at most max fields. */
static int split_tabs(char *line, char **f, int max)
{
	int n = 0;
	line[strcspn(line, "\n")] = 0;
	while (n < max) {
		f[n++] = line;
		char *t = strchr(line, '\t');
		if (!t)
			break;
		*t = 0;
		line = t + 1;
	}
	return n;
}

int e2e_build_tree(const char *spec, const char *base, char *why)
{
	FILE *f = fopen(spec, "r");
	char line[1024], path[4096];
	int rc = 0;

	if (!f) {
		snprintf(why, ERR_LEN, "%s: cannot open", spec);
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof line, f)) {
		char *fl[3];
		if (line[0] == '#' || line[0] == '\n')
			continue;
		int n = split_tabs(line, fl, 3);
		for (int i = 1; i < n; i++)
			unescape(fl[i]);
		snprintf(path, sizeof path, "%s/%s", base, n > 1 ? fl[1] : "");
		if (n == 2 && strcmp(fl[0], "d") == 0) {
			e2e_mkdirs(base, fl[1]);
			rc = mkdir(path, 0777) == 0 || errno == EEXIST ? 0 : -1;
		} else if (n == 2 && strcmp(fl[0], "f") == 0) {
			e2e_mkdirs(base, fl[1]);
			rc = tu_write_file(path, "P6\n1 1\n255\n\x80\x80\x80", 14);
		} else if (n == 3 && strcmp(fl[0], "l") == 0) {
			e2e_mkdirs(base, fl[1]);
			rc = symlink(fl[2], path);
		} else {
			rc = -1;
		}
		if (rc)
			snprintf(why, ERR_LEN, "%s: cannot make '%.400s'", spec, path);
	}
	fclose(f);
	return rc;
}

/* 1 when a '/'-separated path has a component that starts with '.'. */
static int hidden(const char *path)
{
	if (path[0] == '.')
		return 1;
	for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/'))
		if (p[1] == '.')
			return 1;
	return 0;
}

int e2e_keras_walk(const char *golden, int follow, e2e_walk_t *w, char *why)
{
	FILE *f = fopen(golden, "r");
	char line[1024];
	int in = 0, rc = 0, map[256];

	memset(w, 0, sizeof *w);
	for (int i = 0; i < 256; i++)
		map[i] = -1;
	if (!f) {
		snprintf(why, ERR_LEN, "%s: cannot open", golden);
		return -1;
	}
	w->classes = calloc(256, sizeof *w->classes);
	w->files = calloc(1024, sizeof *w->files);
	w->cls = calloc(1024, sizeof *w->cls);
	if (!w->classes || !w->files || !w->cls)
		rc = -1;
	while (rc == 0 && fgets(line, sizeof line, f)) {
		char *fl[3];
		int n = split_tabs(line, fl, 3);
		if (n == 2 && strcmp(fl[0], "follow") == 0) {
			in = atoi(fl[1]) == follow;
			continue;
		}
		if (!in || n != 3)
			continue;
		int idx = atoi(fl[1]);
		unescape(fl[2]);
		if (idx < 0 || idx >= 256) {
			rc = -1;
		} else if (strcmp(fl[0], "class") == 0) {
			map[idx] = hidden(fl[2]) ? -1 : w->nclasses;
			if (map[idx] >= 0 && !(w->classes[w->nclasses++] = strdup(fl[2])))
				rc = -1;
		} else if (strcmp(fl[0], "file") == 0 && !hidden(fl[2])) {
			if (w->n == 1024 || map[idx] < 0 || !(w->files[w->n] = strdup(fl[2])))
				rc = -1;
			else
				w->cls[w->n++] = map[idx];
		}
	}
	fclose(f);
	if (rc == 0 && w->nclasses == 0)
		rc = -1;
	if (rc) {
		snprintf(why, ERR_LEN, "%s: unreadable, or no listing for follow %d",
			 golden, follow);
		e2e_walk_free(w);
	}
	return rc;
}

void e2e_walk_free(e2e_walk_t *w)
{
	for (int i = 0; i < w->nclasses; i++)
		free(w->classes[i]);
	for (size_t i = 0; i < w->n; i++)
		free(w->files[i]);
	free(w->classes);
	free(w->files);
	free(w->cls);
	memset(w, 0, sizeof *w);
}

int e2e_mount_tmpfs(const char *dir, const char *size)
{
	char opts[64];
	snprintf(opts, sizeof opts, "size=%s", size);
	char *argv[] = {"/bin/mount", "-t", "tmpfs", "-o", opts, "tmpfs", (char *)dir, NULL};
	e2e_mkdirs(dir, "");
	return proc_run(argv, NULL) == 0 ? 0 : -1;
}

int e2e_umount(const char *dir)
{
	char *argv[] = {"/bin/umount", "-l", (char *)dir, NULL};
	return proc_run(argv, NULL) == 0 ? 0 : -1;
}

int e2e_fill(const char *dir, const char *path, long leave)
{
	struct statvfs vfs;
	if (statvfs(dir, &vfs) != 0)
		return -1;
	long avail = (long)(vfs.f_bavail * vfs.f_frsize) - leave;
	if (avail <= 0)
		return 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	static char zeros[65536];
	for (long left = avail; left > 0;) {
		ssize_t w = write(fd, zeros, left < (long)sizeof zeros ? (size_t)left :
					     sizeof zeros);
		if (w <= 0)
			break;
		left -= w;
	}
	close(fd);
	return 0;
}
