/* test_featdb.c - the LMDB feature store: round trips, metadata, map
 * growth, class renumbering, a reader process beside a growing writer,
 * broken data files and, where the test may mount a tmpfs, a full disk.
 * The record codec is test_featdb_rec.c's.
 * Letters: D vector length (dim), N records. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <lmdb.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e.h"
#include "error.h"
#include "net/model.h"
#include "store/featdb.h"
#include "img/img.h"
#include "testutil.h"

#define MiB ((size_t)1 << 20)
/* The exit status a forked child uses to say "cannot run here: skip". */
#define CHILD_SKIP 77

/* ---- helpers ---- */

/* vec (D): exactly representable in float16 (multiples of 1/4 below 256),
 * different for every record index i. */
static void vec_for(int i, int D, float *vec)
{
	for (int j = 0; j < D; j++)
		vec[j] = (float)(((uint32_t)i * 2654435761u + (uint32_t)j * 40503u) % 2000u) *
			 0.125f - 120.0f;
}

static uint8_t *make_rec(int i, int D, int dtype, int32_t cls, int split, size_t *len)
{
	float *vec = malloc((size_t)D * sizeof *vec);
	size_t n = featdb_rec_size(dtype, D);
	uint8_t *r = malloc(n);
	char err[ERR_LEN];

	assert_non_null(vec);
	assert_non_null(r);
	vec_for(i, D, vec);
	assert_int_equal(featdb_rec_encode(vec, D, dtype, cls, split, r, err), 0);
	free(vec);
	*len = n;
	return r;
}

static void make_meta(featdb_meta_t *m, int D, int dtype, const char *const *classes,
		      int nclasses)
{
	memset(m, 0, sizeof *m);
	snprintf(m->fingerprint, sizeof m->fingerprint, "0123456789abcdef");
	snprintf(m->preprocess, sizeof m->preprocess, "%s",
		 model_info(MODEL_VGG16)->preprocess);
	snprintf(m->version, sizeof m->version, "test 1.0");
	m->dim = D;
	m->dtype = dtype;
	m->nclasses = nclasses;
	m->classes = (char **)classes;
}

static void key_for(char *key, size_t cap, int i)
{
	snprintf(key, cap, "p%03d/img_%05d.jpg", i % 7, i);
}

/* Writes records first..first+n-1 (record i has class i % nclasses) in one
 * featdb_write, in a scrambled order. */
static int write_range(featdb_t *db, featdb_meta_t *m, int first, int n, char *err)
{
	char (*keys)[64] = malloc((size_t)n * sizeof *keys);
	const char **kp = malloc((size_t)n * sizeof *kp);
	const uint8_t **vp = malloc((size_t)n * sizeof *vp);
	size_t *lens = malloc((size_t)n * sizeof *lens);
	int ret;

	assert_true(keys && kp && vp && lens);
	for (int j = 0; j < n; j++) {
		int i = first + (j * 37) % n; /* n is never a multiple of 37 here */
		key_for(keys[j], sizeof keys[j], i);
		kp[j] = keys[j];
		vp[j] = make_rec(i, m->dim, m->dtype, i % m->nclasses, i % 3, &lens[j]);
	}
	ret = featdb_write(db, m, n, kp, vp, lens, err);
	for (int j = 0; j < n; j++)
		free((void *)vp[j]);
	free(keys);
	free(kp);
	free(vp);
	free(lens);
	return ret;
}

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Checks a whole store: every record i in 0..N-1 present once, in key order,
 * decoding to vec_for(i) with class map(i). */
struct check_ctx {
	int D, dtype, n, bad, order_bad, content_bad;
	char prev[128];
	size_t prevlen;
	float *vec, *want;
	int (*cls_of)(int i);
};

static int check_cb(void *ctx, const char *key, size_t keylen, const featdb_rec_t *rec,
		    const char *why)
{
	struct check_ctx *c = ctx;
	int i;
	char k[128];

	if (c->n > 0) {
		size_t m = keylen < c->prevlen ? keylen : c->prevlen;
		int d = memcmp(c->prev, key, m);
		if (d > 0 || (d == 0 && c->prevlen >= keylen))
			c->order_bad++;
	}
	if (keylen >= sizeof c->prev)
		return -100;
	memcpy(c->prev, key, keylen);
	c->prevlen = keylen;
	c->n++;
	if (!rec) {
		print_error("record %.*s: %s\n", (int)keylen, key, why);
		c->bad++;
		return 0;
	}
	memcpy(k, key, keylen);
	k[keylen] = '\0';
	if (sscanf(k, "p%*3d/img_%5d.jpg", &i) != 1 || rec->dim != c->D ||
	    rec->dtype != c->dtype || (c->cls_of && rec->cls != c->cls_of(i))) {
		c->content_bad++;
		return 0;
	}
	featdb_rec_vector(rec, c->vec);
	vec_for(i, c->D, c->want);
	if (memcmp(c->vec, c->want, (size_t)c->D * sizeof(float)) != 0)
		c->content_bad++;
	return 0;
}

static void check_store(featdb_t *db, int D, int dtype, int N, int (*cls_of)(int))
{
	struct check_ctx c = {.D = D, .dtype = dtype, .cls_of = cls_of};
	char err[ERR_LEN];

	c.vec = malloc((size_t)D * sizeof(float));
	c.want = malloc((size_t)D * sizeof(float));
	assert_true(c.vec && c.want);
	assert_int_equal(featdb_foreach(db, check_cb, &c, err), 0);
	free(c.vec);
	free(c.want);
	assert_int_equal(c.n, N);
	assert_int_equal(c.bad, 0);
	assert_int_equal(c.order_bad, 0);
	assert_int_equal(c.content_bad, 0);
}

static int cls_mod3(int i)
{
	return i % 3;
}

static void expect_err(int ret, int code, const char *err, const char *substr)
{
	if (ret != code || (substr && !strstr(err, substr))) {
		print_error("got %d (%s) \"%s\", want %d (%s) with \"%s\"\n", ret,
			    err_name(ret), err, code, err_name(code), substr ? substr : "");
		fail();
	}
}

/* ---- the store ---- */

static const char *const classes3[] = {"alice", "bob", "carol"};

static int stop_cb(void *ctx, const char *key, size_t keylen, const featdb_rec_t *rec,
		   const char *why)
{
	int *calls = ctx;
	(void)key, (void)keylen, (void)rec, (void)why;
	return ++*calls == 5 ? 42 : 0;
}

static void check_meta(featdb_t *db, const featdb_meta_t *want, uint64_t count)
{
	featdb_meta_t m;
	char err[ERR_LEN];

	assert_int_equal(featdb_meta_get(db, &m, err), 0);
	assert_string_equal(m.fingerprint, want->fingerprint);
	assert_string_equal(m.preprocess, want->preprocess);
	assert_string_equal(m.version, want->version);
	assert_int_equal(m.dim, want->dim);
	assert_int_equal(m.dtype, want->dtype);
	assert_int_equal(m.nclasses, want->nclasses);
	for (int i = 0; i < m.nclasses; i++)
		assert_string_equal(m.classes[i], want->classes[i]);
	assert_int_equal(m.count, count);
	featdb_meta_free(&m);
	assert_null(m.classes);
	featdb_meta_free(&m);
	featdb_meta_free(NULL);
}

static void test_store_roundtrip(void **state)
{
	const int D = 7;
	const char *dir = tu_tmpdir();
	char *path = path_join(dir, "store");
	featdb_t *db;
	featdb_meta_t meta, m;
	char err[ERR_LEN], key[64];
	uint8_t *val, *want;
	size_t len, wlen;
	struct stat st;
	mode_t mask;
	int calls = 0;

	(void)state;
	featdb_close(NULL);
	make_meta(&meta, D, FEATDB_F16, classes3, 3);
	assert_int_equal(featdb_open(path, FEATDB_CREATE, &db, err), 0);
	mask = umask(0);
	umask(mask);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0777 & ~mask);
	expect_err(featdb_meta_get(db, &m, err), ERR_MISSING, err, "no metadata");
	assert_int_equal(featdb_has(db, "p000/img_00000.jpg", err), 0);

	assert_int_equal(write_range(db, &meta, 0, 10, err), 0);
	assert_int_equal(meta.count, 10);
	assert_int_equal(write_range(db, &meta, 10, 11, err), 0);
	assert_int_equal(meta.count, 21);
	/* Metadata alone, then rewriting records already there. */
	assert_int_equal(featdb_write(db, &meta, 0, NULL, NULL, NULL, err), 0);
	assert_int_equal(meta.count, 21);
	assert_int_equal(write_range(db, &meta, 5, 3, err), 0);
	assert_int_equal(meta.count, 21);

	for (int i = 0; i < 21; i++) {
		key_for(key, sizeof key, i);
		assert_int_equal(featdb_has(db, key, err), 1);
		assert_int_equal(featdb_get(db, key, &val, &len, err), 0);
		want = make_rec(i, D, FEATDB_F16, i % 3, i % 3, &wlen);
		assert_int_equal(len, wlen);
		assert_memory_equal(val, want, len);
		free(val);
		free(want);
	}
	key_for(key, sizeof key, 21);
	assert_int_equal(featdb_has(db, key, err), 0);
	expect_err(featdb_get(db, key, &val, &len, err), ERR_MISSING, err, key);
	assert_null(val);
	check_store(db, D, FEATDB_F16, 21, cls_mod3);
	check_meta(db, &meta, 21);
	assert_int_equal(featdb_foreach(db, stop_cb, &calls, err), 42);
	assert_int_equal(calls, 5);
	featdb_close(db);

	assert_int_equal(featdb_open(path, FEATDB_RDONLY, &db, err), 0);
	check_store(db, D, FEATDB_F16, 21, cls_mod3);
	check_meta(db, &meta, 21);
	expect_err(write_range(db, &meta, 30, 2, err), ERR_ARG, err, "read-only");
	featdb_close(db);
	free(path);
	tu_rm_rf(dir);
}

static void test_write_checks(void **state)
{
	static const char *const unsorted[] = {"bob", "alice"};
	const char *dir = tu_tmpdir();
	featdb_t *db;
	featdb_meta_t meta, bad;
	char err[ERR_LEN];
	const char *k[1] = {"a/1.jpg"};
	const uint8_t *v[1];
	size_t len;
	uint8_t *rec;

	(void)state;
	make_meta(&meta, 5, FEATDB_F32, classes3, 3);
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	assert_int_equal(write_range(db, &meta, 0, 4, err), 0);

	bad = meta;
	bad.classes = (char **)unsorted;
	bad.nclasses = 2;
	expect_err(write_range(db, &bad, 10, 1, err), ERR_ARG, err, "sorted");
	bad = meta;
	bad.dim = 0;
	expect_err(featdb_write(db, &bad, 0, NULL, NULL, NULL, err), ERR_ARG, err, "dim");

	rec = make_rec(1, 6, FEATDB_F32, 0, 0, &len); /* dim 6, store takes 5 */
	v[0] = rec;
	expect_err(featdb_write(db, &meta, 1, k, v, &len, err), ERR_ARG, err, "a/1.jpg");
	free(rec);
	rec = make_rec(1, 5, FEATDB_F16, 0, 0, &len);
	v[0] = rec;
	expect_err(featdb_write(db, &meta, 1, k, v, &len, err), ERR_ARG, err, "dtype");
	free(rec);
	rec = make_rec(1, 5, FEATDB_F32, 3, 0, &len); /* class 3 of 3 */
	v[0] = rec;
	expect_err(featdb_write(db, &meta, 1, k, v, &len, err), ERR_ARG, err, "class 3");
	rec[30] ^= 1;
	expect_err(featdb_write(db, &meta, 1, k, v, &len, err), ERR_ARG, err, "CRC");
	free(rec);
	assert_int_equal(featdb_has(db, k[0], err), 0);
	check_meta(db, &meta, 4);
	featdb_close(db);
	tu_rm_rf(dir);
}

static void test_key_too_long(void **state)
{
	const char *dir = tu_tmpdir();
	featdb_t *db;
	featdb_meta_t meta;
	char err[ERR_LEN];
	char *key;
	const char *keys[2];
	const uint8_t *vals[2];
	size_t lens[2];
	int max;

	(void)state;
	make_meta(&meta, 3, FEATDB_F32, classes3, 3);
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	max = featdb_max_key(db);
	assert_true(max >= 200);
	key = malloc((size_t)max + 2);
	assert_non_null(key);
	memset(key, 'k', (size_t)max + 1);
	memcpy(key, "long/", 5);
	key[max + 1] = '\0';
	vals[0] = make_rec(0, 3, FEATDB_F32, 0, 0, &lens[0]);
	vals[1] = make_rec(1, 3, FEATDB_F32, 1, 0, &lens[1]);
	keys[0] = "good.jpg";
	keys[1] = key;
	/* One bad key and nothing of the batch is written. */
	expect_err(featdb_write(db, &meta, 2, keys, vals, lens, err), ERR_ARG, err,
		   "long/kkkk");
	assert_int_equal(featdb_has(db, "good.jpg", err), 0);
	expect_err(featdb_has(db, key, err), ERR_ARG, err, "long/kkkk");
	expect_err(featdb_has(db, "", err), ERR_ARG, err, "1 to");
	keys[1] = "";
	expect_err(featdb_write(db, &meta, 2, keys, vals, lens, err), ERR_ARG, err, "1 to");
	/* The longest allowed key is fine. */
	key[max] = '\0';
	keys[1] = key;
	assert_int_equal(featdb_write(db, &meta, 2, keys, vals, lens, err), 0);
	assert_int_equal(featdb_has(db, key, err), 1);
	assert_int_equal(meta.count, 2);
	free((void *)vals[0]);
	free((void *)vals[1]);
	free(key);
	featdb_close(db);
	tu_rm_rf(dir);
}

static void test_map_growth(void **state)
{
	const int D = 4096, N = 5000, B = 64;
	const char *dir = tu_tmpdir();
	featdb_t *db;
	featdb_meta_t meta;
	char err[ERR_LEN];
	size_t mapsize, used;

	(void)state;
	make_meta(&meta, D, FEATDB_F32, classes3, 3);
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	for (int first = 0; first < N; first += B) {
		int n = N - first < B ? N - first : B;
		if (write_range(db, &meta, first, n, err) != 0) {
			print_error("batch at %d: %s\n", first, err);
			fail();
		}
	}
	assert_int_equal(meta.count, N);
	check_store(db, D, FEATDB_F32, N, cls_mod3);
	featdb_close(db);
	if (e2e_env_info(dir, &mapsize, &used, NULL, err))
		fail_msg("%s", err);
	assert_true(used > 64 * MiB);
	assert_true(mapsize >= used && mapsize >= 128 * MiB);
	/* Reopened, the store keeps its grown map and reads back whole. */
	assert_int_equal(featdb_open(dir, FEATDB_RDONLY, &db, err), 0);
	check_store(db, D, FEATDB_F32, N, cls_mod3);
	check_meta(db, &meta, (uint64_t)N);
	featdb_close(db);
	tu_rm_rf(dir);
}

/* The stored records names[0..n-1] have the classes want[0..n-1]. */
static void expect_classes(featdb_t *db, const char *const *names,
			   const int32_t *want, int n)
{
	char err[ERR_LEN];
	for (int i = 0; i < n; i++) {
		uint8_t *val;
		size_t len;
		featdb_rec_t rec;
		assert_int_equal(featdb_get(db, names[i], &val, &len, err), 0);
		assert_int_equal(featdb_rec_decode(val, len, &rec, err), 0);
		assert_int_equal(rec.cls, want[i]);
		free(val);
	}
}

/* With dim 4096 each value sits on LMDB overflow pages, which an in-place
 * cursor update handles differently from values inside a leaf page. */
static void check_class_renumber(int dim)
{
	static const char *const bd[] = {"b", "d"};
	static const char *const abcd[] = {"a", "b", "c", "d"};
	static const char *const acd[] = {"a", "c", "d"};
	static const char *const abcde[] = {"a", "b", "c", "d", "e"};
	const char *dir = tu_tmpdir();
	const char *names[8] = {"b/0.jpg", "d/1.jpg", "b/2.jpg", "d/3.jpg",
				"a/4.jpg", "c/5.jpg", "a/6.jpg", "c/7.jpg"};
	const int32_t cls_old[4] = {0, 1, 0, 1}, cls_new[8] = {1, 3, 1, 3, 0, 2, 0, 2};
	const uint8_t *vals[8];
	size_t lens[8];
	featdb_t *db;
	featdb_meta_t meta;
	char err[ERR_LEN];

	for (int i = 0; i < 8; i++)
		vals[i] = make_rec(i, dim, FEATDB_F32, i < 4 ? cls_old[i] : cls_new[i],
				   i % 3, &lens[i]);
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	make_meta(&meta, dim, FEATDB_F32, bd, 2);
	assert_int_equal(featdb_write(db, &meta, 4, names, vals, lens, err), 0);
	/* Reopened, as by a rerun of extract: the stored pages are clean. */
	featdb_close(db);
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);

	/* People a and c join: b and d move from 0, 1 to 1, 3. */
	make_meta(&meta, dim, FEATDB_F32, abcd, 4);
	assert_int_equal(featdb_write(db, &meta, 4, names + 4, vals + 4, lens + 4, err), 0);
	assert_int_equal(meta.count, 8);
	for (int i = 0; i < 8; i++) {
		uint8_t *val;
		size_t len;
		featdb_rec_t rec;
		static float got[4096], want[4096];
		assert_int_equal(featdb_get(db, names[i], &val, &len, err), 0);
		assert_int_equal(featdb_rec_decode(val, len, &rec, err), 0);
		assert_int_equal(rec.cls, cls_new[i]);
		assert_int_equal(rec.split, i % 3);
		featdb_rec_vector(&rec, got);
		vec_for(i, dim, want);
		assert_memory_equal(got, want, (size_t)dim * sizeof *got);
		free(val);
	}
	check_meta(db, &meta, 8);

	/* A list without a stored name is refused, and nothing changes. */
	make_meta(&meta, dim, FEATDB_F32, acd, 3);
	expect_err(featdb_write(db, &meta, 0, NULL, NULL, NULL, err), ERR_ARG, err, "'b'");
	make_meta(&meta, dim, FEATDB_F32, abcd, 4);
	check_meta(db, &meta, 8);

	/* A name added at the end renumbers nothing. */
	make_meta(&meta, dim, FEATDB_F32, abcde, 5);
	assert_int_equal(featdb_write(db, &meta, 0, NULL, NULL, NULL, err), 0);
	expect_classes(db, names, cls_new, 8);
	check_meta(db, &meta, 8);
	for (int i = 0; i < 8; i++)
		free((void *)vals[i]);
	featdb_close(db);
	tu_rm_rf(dir);
}

static void test_class_renumber(void **state)
{
	(void)state;
	check_class_renumber(9);
	check_class_renumber(4096);
}

/* A stored class list out of Keras' order (written by other software, or by
 * hand) still names each record's class: the next write renumbers the
 * records into the sorted list, by name. */
static void test_class_renumber_unsorted(void **state)
{
	static const char *const bd[] = {"b", "d"};
	static const char *const abcd[] = {"a", "b", "c", "d"};
	const char *dir = tu_tmpdir();
	const char *names[4] = {"x/0.jpg", "x/1.jpg", "x/2.jpg", "x/3.jpg"};
	const int32_t cls_old[4] = {0, 1, 0, 1};
	const int32_t cls_new[4] = {3, 1, 3, 1}; /* 0 was "d", 1 "b" */
	const uint8_t *vals[4];
	size_t lens[4];
	featdb_t *db;
	featdb_meta_t meta;
	char err[ERR_LEN];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {7, "classes"}, v = {3, "d\nb"};

	(void)state;
	for (int i = 0; i < 4; i++)
		vals[i] = make_rec(i, 9, FEATDB_F32, cls_old[i], 0, &lens[i]);
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	make_meta(&meta, 9, FEATDB_F32, bd, 2);
	assert_int_equal(featdb_write(db, &meta, 4, names, vals, lens, err), 0);
	featdb_close(db);

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	make_meta(&meta, 9, FEATDB_F32, abcd, 4);
	assert_int_equal(featdb_write(db, &meta, 0, NULL, NULL, NULL, err), 0);
	expect_classes(db, names, cls_new, 4);
	check_meta(db, &meta, 4);
	for (int i = 0; i < 4; i++)
		free((void *)vals[i]);
	featdb_close(db);
	tu_rm_rf(dir);
}

/* ---- a reader process beside a growing writer ---- */

struct count_ctx {
	uint64_t n, bad;
	char prev[64];
	size_t prevlen;
};

static int count_cb(void *ctx, const char *key, size_t keylen, const featdb_rec_t *rec,
		    const char *why)
{
	struct count_ctx *c = ctx;
	size_t m = keylen < c->prevlen ? keylen : c->prevlen;

	(void)why;
	if (!rec || rec->dim != 4096 || keylen >= sizeof c->prev ||
	    (c->n && (memcmp(c->prev, key, m) > 0 ||
		      (memcmp(c->prev, key, m) == 0 && c->prevlen >= keylen))))
		c->bad++;
	if (keylen < sizeof c->prev) {
		memcpy(c->prev, key, keylen);
		c->prevlen = keylen;
	}
	c->n++;
	return 0;
}

/* Runs in the child: reads until the parent closes done_fd, then once more;
 * every read must succeed and counts must never go down. */
static int reader_child(const char *path, int done_fd, uint64_t total)
{
	featdb_t *db = NULL;
	featdb_meta_t m;
	char err[ERR_LEN];
	uint64_t last = 0, c1, c2;
	int iters = 0, ret = 1;

	if (featdb_open(path, FEATDB_RDONLY, &db, err) != 0)
		goto fail;
	for (;;) {
		struct pollfd p = {done_fd, POLLIN, 0};
		struct count_ctx c = {0};
		int done = poll(&p, 1, 0) > 0;
		if (featdb_meta_get(db, &m, err) != 0)
			goto fail;
		c1 = m.count;
		featdb_meta_free(&m);
		if (featdb_foreach(db, count_cb, &c, err) != 0)
			goto fail;
		if (featdb_has(db, "p000/img_00000.jpg", err) != 1)
			goto fail;
		if (featdb_meta_get(db, &m, err) != 0)
			goto fail;
		c2 = m.count;
		featdb_meta_free(&m);
		if (c.bad || c1 < last || c.n < c1 || c2 < c.n) {
			snprintf(err, sizeof err, "iteration %d: counts %llu <= %llu <= %llu "
				 "<= %llu broken, %llu bad records", iters,
				 (unsigned long long)last, (unsigned long long)c1,
				 (unsigned long long)c.n, (unsigned long long)c2,
				 (unsigned long long)c.bad);
			goto fail;
		}
		last = c2;
		iters++;
		if (done)
			break;
	}
	if (last != total) {
		snprintf(err, sizeof err, "final count %llu, want %llu",
			 (unsigned long long)last, (unsigned long long)total);
		goto fail;
	}
	fprintf(stderr, "reader: %d passes, all consistent\n", iters);
	ret = 0;
fail:
	if (ret)
		fprintf(stderr, "reader: %s\n", err);
	featdb_close(db);
	return ret;
}

static void test_reader_during_growth(void **state)
{
	const int D = 4096, N = 4000, B = 64;
	const char *dir = tu_tmpdir();
	featdb_t *db;
	featdb_meta_t meta;
	char err[ERR_LEN];
	int fds[2], status;
	size_t mapsize, used;
	pid_t pid;

	(void)state;
	make_meta(&meta, D, FEATDB_F32, classes3, 3);
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	assert_int_equal(write_range(db, &meta, 0, B, err), 0);
	featdb_close(db);

	/* Fork with no environment open: LMDB handles must not cross fork. */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[1]);
		_exit(reader_child(dir, fds[0], (uint64_t)N));
	}
	close(fds[0]);
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	for (int first = B; first < N; first += B) {
		int n = N - first < B ? N - first : B;
		if (write_range(db, &meta, first, n, err) != 0) {
			print_error("batch at %d: %s\n", first, err);
			kill(pid, SIGKILL);
			fail();
		}
	}
	featdb_close(db);
	close(fds[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	if (e2e_env_info(dir, &mapsize, &used, NULL, err))
		fail_msg("%s", err);
	assert_true(used > 64 * MiB); /* so the reader had to follow the growth */
	tu_rm_rf(dir);
}

/* ---- broken stores ---- */

static void open_expect(const char *path, int flags, int code, const char *substr)
{
	featdb_t *db = (featdb_t *)&db; /* not NULL, to see it reset */
	char err[ERR_LEN] = "";

	expect_err(featdb_open(path, flags, &db, err), code, err, substr);
	assert_null(db);
	assert_non_null(strstr(err, path));
}

static void test_open_missing(void **state)
{
	const char *dir = tu_tmpdir();
	char *missing = path_join(dir, "nope");
	char *deep = path_join(dir, "nope/deeper");
	char *file = path_join(dir, "file");
	char *lock = path_join(dir, "lock.mdb");
	struct stat st;

	(void)state;
	open_expect(missing, FEATDB_RDONLY, ERR_MISSING, "no such");
	assert_int_equal(stat(missing, &st), -1);
	open_expect(deep, FEATDB_CREATE, ERR_MISSING, "cannot create");
	/* An empty directory is no store, and reading it leaves no trace. */
	open_expect(dir, FEATDB_RDONLY, ERR_MISSING, "no data.mdb");
	assert_int_equal(stat(lock, &st), -1);
	assert_int_equal(tu_write_file(file, "x", 1), 0);
	open_expect(file, FEATDB_RDONLY, ERR_FORMAT, "not a directory");
	open_expect(file, FEATDB_CREATE, ERR_FORMAT, "not a directory");
	free(missing);
	free(deep);
	free(file);
	free(lock);
	tu_rm_rf(dir);
}

static void test_open_garbage(void **state)
{
	const char *dir = tu_tmpdir();
	char *data = path_join(dir, "data.mdb");
	uint8_t buf[65536];
	rng_t r = {99};

	(void)state;
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)rng_next(&r);
	assert_int_equal(tu_write_file(data, buf, sizeof buf), 0);
	open_expect(dir, FEATDB_RDONLY, ERR_FORMAT, "LMDB");
	open_expect(dir, FEATDB_CREATE, ERR_FORMAT, "LMDB");
	assert_int_equal(tu_write_file(data, "hello, world\n", 13), 0);
	open_expect(dir, FEATDB_RDONLY, ERR_FORMAT, "LMDB");
	memset(buf, 0, sizeof buf);
	assert_int_equal(tu_write_file(data, buf, sizeof buf), 0);
	open_expect(dir, FEATDB_RDONLY, ERR_FORMAT, "LMDB");
	assert_int_equal(tu_write_file(data, buf, 0), 0);
	open_expect(dir, FEATDB_RDONLY, ERR_FORMAT, "empty");
	free(data);
	tu_rm_rf(dir);
}

static void test_open_truncated(void **state)
{
	const int D = 4096, N = 300;
	const char *dir = tu_tmpdir(), *copy = tu_tmpdir();
	char *src = path_join(dir, "data.mdb"), *dst = path_join(copy, "data.mdb");
	char *lock = path_join(copy, "lock.mdb");
	featdb_t *db;
	featdb_meta_t meta;
	char err[ERR_LEN];
	size_t mapsize, used, len, ps;
	uint8_t *bytes;

	(void)state;
	make_meta(&meta, D, FEATDB_F32, classes3, 3);
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	for (int first = 0; first < N; first += 100)
		assert_int_equal(write_range(db, &meta, first, 100, err), 0);
	featdb_close(db);
	if (e2e_env_info(dir, &mapsize, &used, &ps, err))
		fail_msg("%s", err);
	bytes = tu_read_file(src, &len);
	assert_non_null(bytes);
	assert_true(len >= used);

	/* A copy of exactly the used pages is a whole store. */
	assert_int_equal(tu_write_file(dst, bytes, used), 0);
	assert_int_equal(featdb_open(copy, FEATDB_RDONLY, &db, err), 0);
	check_store(db, D, FEATDB_F32, N, cls_mod3);
	featdb_close(db);

	/* Inside the data pages, down to the two meta pages and into them. */
	const size_t cuts[] = {used - ps, used / 2, 3 * ps, 2 * ps, ps, 100};
	for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
		unlink(lock);
		assert_int_equal(tu_write_file(dst, bytes, cuts[i]), 0);
		open_expect(copy, FEATDB_RDONLY, ERR_FORMAT, NULL);
		open_expect(copy, FEATDB_CREATE, ERR_FORMAT, NULL);
	}
	assert_int_equal(tu_write_file(dst, bytes, used / 2), 0);
	open_expect(copy, FEATDB_RDONLY, ERR_FORMAT, "truncated");
	free(bytes);
	free(src);
	free(dst);
	free(lock);
	tu_rm_rf(dir);
	tu_rm_rf(copy);
}

/* What LMDB writes before a store's first commit (its two meta pages),
 * cut short as a full disk or a kill during that write leaves it: no
 * record can be in it.  A reader says so; a writer starts it again, as
 * on an empty file, where it was refused for good as truncated. */
static void test_open_unborn(void **state)
{
	const char *dir = tu_tmpdir();
	char *data = path_join(dir, "data.mdb"), *lock = path_join(dir, "lock.mdb");
	featdb_t *db;
	featdb_meta_t meta;
	MDB_env *env;
	char err[ERR_LEN];
	size_t len;

	(void)state;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
	mdb_env_close(env);
	uint8_t *bytes = tu_read_file(data, &len);
	assert_non_null(bytes);
	assert_true(len >= 1024 && len % 2 == 0);
	/* One page, and one and a bit. */
	const size_t cuts[] = {len / 2, len / 2 + 100};
	for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
		unlink(lock);
		assert_int_equal(tu_write_file(data, bytes, cuts[i]), 0);
		open_expect(dir, FEATDB_RDONLY, ERR_FORMAT, "holds no record: the extract "
			    "that made it stopped before its first commit");
		open_expect(dir, FEATDB_WRITE, ERR_FORMAT, "holds no record");
	}
	make_meta(&meta, 16, FEATDB_F32, classes3, 3);
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	assert_int_equal(write_range(db, &meta, 0, 9, err), 0);
	featdb_close(db);
	assert_int_equal(featdb_open(dir, FEATDB_RDONLY, &db, err), 0);
	check_store(db, 16, FEATDB_F32, 9, cls_mod3);
	featdb_close(db);
	free(bytes);
	free(data);
	free(lock);
	tu_rm_rf(dir);
}

/* An LMDB environment made with LMDB directly: a key in the main database
 * and, when meta_format is set, our databases with that "format". */
static void make_env(const char *path, const char *meta_format)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {5, "hello"}, v = {5, "world"};

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	if (meta_format) {
		MDB_val f = {strlen(meta_format), (void *)meta_format};
		k.mv_size = 6;
		k.mv_data = "format";
		assert_int_equal(mdb_dbi_open(txn, "features", MDB_CREATE, &dbi), 0);
		assert_int_equal(mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi), 0);
		assert_int_equal(mdb_put(txn, dbi, &k, &f, 0), 0);
	} else {
		assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void test_not_a_store(void **state)
{
	const char *dir = tu_tmpdir(), *other = tu_tmpdir();
	featdb_t *db;
	featdb_meta_t m;
	char err[ERR_LEN];

	(void)state;
	make_env(dir, NULL);
	open_expect(dir, FEATDB_RDONLY, ERR_FORMAT, "not a feature store");
	open_expect(dir, FEATDB_CREATE, ERR_FORMAT, "not a feature store");
	make_env(other, "vggfeat 2");
	assert_int_equal(featdb_open(other, FEATDB_RDONLY, &db, err), 0);
	expect_err(featdb_meta_get(db, &m, err), ERR_FORMAT, err, "vggfeat 2");
	assert_null(m.classes);
	featdb_close(db);
	tu_rm_rf(dir);
	tu_rm_rf(other);
}

/* FEATDB_WRITE opens a store that exists, and only that: nothing is made
 * where there is none. */
static void test_open_write_existing(void **state)
{
	const char *dir = tu_tmpdir();
	char *missing = path_join(dir, "nope"), *store = path_join(dir, "s");
	featdb_t *db;
	featdb_meta_t meta;
	char err[ERR_LEN];
	struct stat st;

	(void)state;
	open_expect(missing, FEATDB_WRITE, ERR_MISSING, "no such");
	assert_int_equal(stat(missing, &st), -1);
	open_expect(dir, FEATDB_WRITE, ERR_MISSING, "no data.mdb");
	make_meta(&meta, 8, FEATDB_F32, classes3, 3);
	assert_int_equal(featdb_open(store, FEATDB_CREATE, &db, err), 0);
	assert_int_equal(write_range(db, &meta, 0, 10, err), 0);
	featdb_close(db);
	assert_int_equal(featdb_open(store, FEATDB_WRITE, &db, err), 0);
	assert_int_equal(write_range(db, &meta, 10, 5, err), 0);
	check_store(db, 8, FEATDB_F32, 15, cls_mod3);
	featdb_close(db);
	free(missing);
	free(store);
	tu_rm_rf(dir);
}

/* Puts a raw metadata value, as a writer other than this library would. */
static void put_meta_raw(const char *path, const char *key, const char *val)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {strlen(key), (void *)key}, v = {strlen(val), (void *)val};

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* Two stores were made the same way when every setting that makes their
 * vectors agrees: featdb_meta_differ names the first that does not, in
 * its order, and leaves out what does not make a vector (the dtype, the
 * classes, the count, the version). */
static void test_meta_differ(void **state)
{
	static const char *const classes[] = {"alice", "bob"};
	featdb_meta_t a, b;

	(void)state;
	make_meta(&a, 4096, FEATDB_F32, classes, 2);
	snprintf(a.model, sizeof a.model, "%s",
		 model_store_name(MODEL_VGG16, MODEL_TAP_FC2));
	snprintf(a.conv, sizeof a.conv, "winograd");
	b = a;
	assert_null(featdb_meta_differ(&a, &b));
	b.dtype = FEATDB_F16;
	b.nclasses = 1;
	b.count = 12;
	snprintf(b.version, sizeof b.version, "test 2.0");
	assert_null(featdb_meta_differ(&a, &b));

	b = a;
	snprintf(b.model, sizeof b.model, "%s",
		 model_store_name(MODEL_VGGFACE, MODEL_TAP_FC2));
	assert_string_equal(featdb_meta_differ(&a, &b), "model");
	snprintf(b.model, sizeof b.model, "resnet50-avgpool");
	assert_string_equal(featdb_meta_differ(&a, &b), "model");
	snprintf(b.model, sizeof b.model, "%s",
		 model_store_name(MODEL_VGG16, MODEL_TAP_POOL_AVG));
	assert_string_equal(featdb_meta_differ(&a, &b),
			    "tap (extract --layer, --pooling)");
	assert_string_equal(featdb_meta_differ(&b, &a),
			    "tap (extract --layer, --pooling)");
	b = a;
	snprintf(b.fingerprint, sizeof b.fingerprint, "fedcba9876543210");
	assert_string_equal(featdb_meta_differ(&a, &b), "weights fingerprint");
	b = a;
	snprintf(b.preprocess, sizeof b.preprocess, "%s",
		 model_info(MODEL_VGGFACE)->preprocess);
	assert_string_equal(featdb_meta_differ(&a, &b), "preprocessing");
	b = a;
	b.dim = 512;
	assert_string_equal(featdb_meta_differ(&a, &b), "dimension");
	b = a;
	snprintf(b.conv, sizeof b.conv, "direct");
	assert_string_equal(featdb_meta_differ(&a, &b), FEATDB_SETTING_CONV);
	assert_string_equal(featdb_meta_differ(&a, &b),
			    "convolution path (extract --conv)");
	/* Two direct stores: of fixed sums, or one of them the old direct
	 * path's, OpenBLAS' (no "conv_sums"), whose bits were the CPU's. */
	snprintf(a.conv, sizeof a.conv, "direct");
	snprintf(a.conv_sums, sizeof a.conv_sums, FEATDB_SUMS_FIXED);
	b = a;
	assert_null(featdb_meta_differ(&a, &b));
	assert_false(featdb_meta_cpu_bound(&a));
	b.conv_sums[0] = '\0';
	assert_true(featdb_meta_cpu_bound(&b));
	assert_string_equal(featdb_meta_differ(&a, &b), FEATDB_SETTING_CONV);
	assert_string_equal(featdb_meta_differ(&b, &a), FEATDB_SETTING_CONV);
	/* Winograd's sums were fixed before the key: a store without it is
	 * one with it. */
	snprintf(a.conv, sizeof a.conv, "winograd");
	snprintf(b.conv, sizeof b.conv, "winograd");
	assert_false(featdb_meta_cpu_bound(&b));
	assert_null(featdb_meta_differ(&a, &b));
	snprintf(b.conv, sizeof b.conv, "direct");
	/* The first in the order is named: the convolution path last. */
	b.dim = 512;
	assert_string_equal(featdb_meta_differ(&a, &b), "dimension");
	snprintf(b.fingerprint, sizeof b.fingerprint, "fedcba9876543210");
	assert_string_equal(featdb_meta_differ(&a, &b), "weights fingerprint");
}

/* The calibrated thresholds are metadata beside the vectors: written one
 * metric at a time, read back exactly, kept by later writes, shown as
 * written, and never a change to a record. */
static void test_thresholds(void **state)
{
	const char *dir = tu_tmpdir();
	featdb_t *db;
	featdb_meta_t meta, got;
	featdb_threshold_t t = {.metric = "cosine", .value = 0.412345, .far = 1e-3,
				.tar = 0.9563, .records = "valid", .count = 30};
	char err[ERR_LEN];

	(void)state;
	make_meta(&meta, 16, FEATDB_F16, classes3, 3);
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	/* Nothing to calibrate yet: no metadata. */
	expect_err(featdb_threshold_put(db, &t, err), ERR_MISSING, err, "no metadata");
	assert_int_equal(write_range(db, &meta, 0, 30, err), 0);
	assert_int_equal(featdb_meta_get(db, &got, err), 0);
	assert_int_equal(got.nthresholds, 0);
	assert_null(featdb_meta_threshold(&got, "cosine"));
	featdb_meta_free(&got);

	assert_int_equal(featdb_threshold_put(db, &t, err), 0);
	featdb_threshold_t e = {.metric = "euclidean", .value = 123.25, .far = 0,
				.tar = 1, .records = "all", .count = 30};
	assert_int_equal(featdb_threshold_put(db, &e, err), 0);
	t.value = 0.3;	/* a second calibration replaces the first */
	assert_int_equal(featdb_threshold_put(db, &t, err), 0);
	assert_int_equal(featdb_meta_get(db, &got, err), 0);
	assert_int_equal(got.nthresholds, 2);
	assert_string_equal(got.thresholds[0].metric, "cosine");
	assert_string_equal(got.thresholds[1].metric, "euclidean");
	const featdb_threshold_t *c = featdb_meta_threshold(&got, "cosine");
	assert_non_null(c);
	assert_true(c->value == 0.3 && c->far == 1e-3 && c->tar == 0.9563);
	assert_string_equal(c->records, "valid");
	assert_int_equal(c->count, 30);
	c = featdb_meta_threshold(&got, "euclidean");
	assert_true(c->value == 123.25 && c->far == 0 && c->tar == 1 && c->count == 30);
	assert_string_equal(c->records, "all");
	/* Everything else reads as before, and the records are untouched. */
	assert_int_equal(got.count, 30);
	assert_int_equal(got.dim, 16);
	featdb_meta_free(&got);
	check_store(db, 16, FEATDB_F16, 30, cls_mod3);

	/* A later write (an extract adding images) keeps them: the count
	 * they carry then tells that they are stale. */
	assert_int_equal(write_range(db, &meta, 30, 6, err), 0);
	assert_int_equal(featdb_meta_get(db, &got, err), 0);
	assert_int_equal(got.count, 36);
	assert_int_equal(got.nthresholds, 2);
	assert_int_equal(featdb_meta_threshold(&got, "cosine")->count, 30);
	featdb_meta_free(&got);

	/* What is refused before anything is written. */
	featdb_threshold_t bad = t;
	snprintf(bad.metric, sizeof bad.metric, "Cosine");
	expect_err(featdb_threshold_put(db, &bad, err), ERR_ARG, err, "metric");
	bad = t;
	bad.metric[0] = '\0';
	expect_err(featdb_threshold_put(db, &bad, err), ERR_ARG, err, "metric");
	bad = t;
	snprintf(bad.records, sizeof bad.records, "train");
	expect_err(featdb_threshold_put(db, &bad, err), ERR_ARG, err, "valid");
	bad = t;
	bad.value = NAN;
	expect_err(featdb_threshold_put(db, &bad, err), ERR_ARG, err, "finite");
	featdb_close(db);
	assert_int_equal(featdb_open(dir, FEATDB_RDONLY, &db, err), 0);
	expect_err(featdb_threshold_put(db, &t, err), ERR_ARG, err, "read-only");
	featdb_close(db);

	/* Written by a later version: names we do not know are passed over,
	 * and so is a key whose metric is no name of ours. */
	put_meta_raw(dir, "threshold.angular", "0.25 far=0.01 tar=0.5 records=all "
		     "count=36 auc=0.99 eer=0.02");
	put_meta_raw(dir, "threshold.Not-Ours", "whatever");
	assert_int_equal(featdb_open(dir, FEATDB_RDONLY, &db, err), 0);
	assert_int_equal(featdb_meta_get(db, &got, err), 0);
	assert_int_equal(got.nthresholds, 3);
	c = featdb_meta_threshold(&got, "angular");
	assert_non_null(c);
	assert_true(c->value == 0.25 && c->tar == 0.5 && c->count == 36);
	featdb_meta_free(&got);
	featdb_close(db);
	/* A value that is not a threshold is a damaged store, as any
	 * metadata value that does not read. */
	put_meta_raw(dir, "threshold.angular", "0.25 far=lots");
	assert_int_equal(featdb_open(dir, FEATDB_RDONLY, &db, err), 0);
	expect_err(featdb_meta_get(db, &got, err), ERR_FORMAT, err, "threshold.angular");
	featdb_close(db);
	tu_rm_rf(dir);
}

/* featdb_blocks hands the records out n at a time, undecoded, in key
 * order: the same records featdb_foreach decodes. */
struct blocks_ctx {
	int n, calls, last, records;
	featdb_t *db;
	char prev[128];
	size_t prevlen;
};

static int blocks_cb(void *ctx, int n, const char *const *keys, const size_t *klens,
		     const uint8_t *const *vals, const size_t *vlens)
{
	struct blocks_ctx *b = ctx;
	char err[ERR_LEN];

	assert_true(n >= 1 && n <= b->n);
	/* Only the last block may be short. */
	assert_int_equal(b->last, 0);
	b->last = n < b->n;
	b->calls++;
	for (int i = 0; i < n; i++) {
		featdb_rec_t rec;
		char key[128];
		float *want = malloc(16 * sizeof *want), *got = malloc(16 * sizeof *got);
		int idx;
		assert_true(klens[i] < sizeof key);
		memcpy(key, keys[i], klens[i]);
		key[klens[i]] = '\0';
		if (b->records > 0)
			assert_true(memcmp(b->prev, key, b->prevlen < klens[i] ?
					   b->prevlen : klens[i]) <= 0);
		memcpy(b->prev, key, klens[i]);
		b->prevlen = klens[i];
		assert_int_equal(featdb_rec_decode(vals[i], vlens[i], &rec, err), 0);
		assert_int_equal(sscanf(key + 1 + 4 + 4, "%d", &idx), 1);
		vec_for(idx, 16, want);
		featdb_rec_vector(&rec, got);
		assert_memory_equal(want, got, 16 * sizeof *got);
		assert_int_equal(rec.cls, idx % 3);
		free(want);
		free(got);
		b->records++;
	}
	return 0;
}

static int blocks_stop(void *ctx, int n, const char *const *keys, const size_t *klens,
		       const uint8_t *const *vals, const size_t *vlens)
{
	return 42;
}

static void test_blocks(void **state)
{
	const char *dir = tu_tmpdir();
	featdb_t *db;
	featdb_meta_t meta, got;
	char err[ERR_LEN];

	(void)state;
	make_meta(&meta, 16, FEATDB_F32, classes3, 3);
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	assert_int_equal(write_range(db, &meta, 0, 250, err), 0);
	static const int sizes[] = {1, 7, 64, 250, 251, 1000};
	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		struct blocks_ctx b = {.n = sizes[s], .db = db};
		assert_int_equal(featdb_blocks(db, &got, b.n, blocks_cb, &b, err), 0);
		assert_int_equal(b.records, 250);
		assert_int_equal(b.calls, (250 + b.n - 1) / b.n);
		assert_int_equal(got.count, 250);
		assert_int_equal(got.nclasses, 3);
		featdb_meta_free(&got);
	}
	assert_int_equal(featdb_blocks(db, &got, 10, blocks_stop, NULL, err), 42);
	featdb_meta_free(&got);
	expect_err(featdb_blocks(db, &got, 0, blocks_stop, NULL, err), ERR_ARG, err,
		   "featdb_blocks");
	featdb_close(db);
	tu_rm_rf(dir);
}

static int bad_cb(void *ctx, const char *key, size_t keylen, const featdb_rec_t *rec,
		  const char *why)
{
	int *seen = ctx;
	if (keylen == 6 && memcmp(key, "zz/bad", 6) == 0) {
		assert_null(rec);
		assert_non_null(strstr(why, "CRC"));
		*seen += 1;
	} else {
		assert_non_null(rec);
		assert_null(why);
	}
	return 0;
}

static void test_foreach_bad_record(void **state)
{
	const char *dir = tu_tmpdir();
	featdb_t *db;
	featdb_meta_t meta;
	char err[ERR_LEN];
	size_t len;
	uint8_t *rec;
	int seen = 0;

	(void)state;
	make_meta(&meta, 5, FEATDB_F32, classes3, 3);
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	assert_int_equal(write_range(db, &meta, 0, 6, err), 0);
	featdb_close(db);
	rec = make_rec(1, 5, FEATDB_F32, 0, 0, &len);
	rec[len - 1] ^= 1;
	if (e2e_raw_put(dir, "zz/bad", rec, len, err))
		fail_msg("%s", err);

	assert_int_equal(featdb_open(dir, FEATDB_RDONLY, &db, err), 0);
	assert_int_equal(featdb_foreach(db, bad_cb, &seen, err), 0);
	assert_int_equal(seen, 1);
	featdb_close(db);
	/* A class change renumbers the others and leaves a record it cannot
	 * read as it is, still failing (extract replaces it when its image is
	 * in the folder)... */
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	static const char *const more[] = {"aaron", "alice", "bob", "carol"};
	make_meta(&meta, 5, FEATDB_F32, more, 4);
	assert_int_equal(featdb_write(db, &meta, 0, NULL, NULL, NULL, err), 0);
	uint8_t *val;
	size_t vlen;
	assert_int_equal(featdb_get(db, "zz/bad", &val, &vlen, err), 0);
	assert_int_equal(vlen, len);
	assert_memory_equal(val, rec, len);
	free(val);
	free(rec);
	for (int i = 0; i < 6; i++) {
		char key[64];
		int32_t want = i % 3 + 1;
		const char *k = key;
		key_for(key, sizeof key, i);
		expect_classes(db, &k, &want, 1);
	}
	/* ...but a sound record whose class is outside the list would pass for
	 * a person of the new one: that stops the write, and nothing changes. */
	featdb_close(db);
	rec = make_rec(2, 5, FEATDB_F32, 7, 0, &len);
	if (e2e_raw_put(dir, "zz/far", rec, len, err))
		fail_msg("%s", err);
	free(rec);
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	static const char *const five[] = {"aaron", "abe", "alice", "bob", "carol"};
	make_meta(&meta, 5, FEATDB_F32, five, 5);
	expect_err(featdb_write(db, &meta, 0, NULL, NULL, NULL, err), ERR_FORMAT, err,
		   "record 'zz/far' has class 7, outside the 4 people the store lists");
	make_meta(&meta, 5, FEATDB_F32, more, 4);
	check_meta(db, &meta, 7);
	/* So does one that people added after the stored ones would make
	 * theirs (class 4, dan's), though they move no one. */
	featdb_close(db);
	rec = make_rec(3, 5, FEATDB_F32, 4, 0, &len);
	if (e2e_raw_put(dir, "zz/far", rec, len, err))
		fail_msg("%s", err);
	free(rec);
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	static const char *const dan[] = {"aaron", "alice", "bob", "carol", "dan"};
	make_meta(&meta, 5, FEATDB_F32, dan, 5);
	expect_err(featdb_write(db, &meta, 0, NULL, NULL, NULL, err), ERR_FORMAT, err,
		   "record 'zz/far' has class 4, outside the 4 people the store lists");
	make_meta(&meta, 5, FEATDB_F32, more, 4);
	check_meta(db, &meta, 7);
	/* A write that replaces that record, or removes it (a NULL value),
	 * renumbers the others: the record is gone at its commit. */
	const char *far = "zz/far", *gone = "zz/bad";
	const uint8_t *fresh = make_rec(4, 5, FEATDB_F32, 0, 0, &len), *none = NULL;
	make_meta(&meta, 5, FEATDB_F32, five, 5);
	assert_int_equal(featdb_write(db, &meta, 1, &far, &fresh, &len, err), 0);
	int32_t aaron = 0;
	expect_classes(db, &far, &aaron, 1);
	free((void *)fresh);
	for (int i = 0; i < 6; i++) {
		char key[64];
		int32_t want = i % 3 + 2; /* alice, bob, carol after aaron, abe */
		const char *k = key;
		key_for(key, sizeof key, i);
		expect_classes(db, &k, &want, 1);
	}
	check_meta(db, &meta, 8);
	featdb_close(db);
	rec = make_rec(2, 5, FEATDB_F32, 7, 0, &len);
	if (e2e_raw_put(dir, "zz/far", rec, len, err))
		fail_msg("%s", err);
	free(rec);
	assert_int_equal(featdb_open(dir, FEATDB_CREATE, &db, err), 0);
	static const char *const six[] = {"aaron", "abe", "al", "alice", "bob", "carol"};
	make_meta(&meta, 5, FEATDB_F32, six, 6);
	const char *both[] = {far, gone};
	const uint8_t *nones[] = {none, none};
	size_t lens[2] = {0, 0};
	assert_int_equal(featdb_write(db, &meta, 2, both, nones, lens, err), 0);
	assert_int_equal(featdb_get(db, far, &val, &vlen, err), ERR_MISSING);
	assert_int_equal(featdb_get(db, gone, &val, &vlen, err), ERR_MISSING);
	const char *first = "p000/img_00000.jpg";
	int32_t alice = 3;
	expect_classes(db, &first, &alice, 1);
	check_meta(db, &meta, 6);
	/* Removing a key that is not there changes nothing else. */
	assert_int_equal(featdb_write(db, &meta, 1, &far, nones, lens, err), 0);
	check_meta(db, &meta, 6);
	featdb_close(db);
	tu_rm_rf(dir);
}

/* In a child with its own mount namespace, a 2 MiB tmpfs fills up: the
 * write that does not fit fails with ERR_IO naming ENOSPC, and the store
 * still holds every batch committed before it. */
static int full_disk_child(const char *mnt)
{
	const int D = 4096, B = 16;
	char *path = NULL;
	featdb_t *db = NULL;
	featdb_meta_t meta;
	char err[ERR_LEN] = "";
	uint64_t committed = 0;
	int ret = 0, first;

	if (unshare(CLONE_NEWNS) != 0 ||
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", mnt, "tmpfs", 0, "size=2m") != 0)
		return CHILD_SKIP;
	path = malloc(strlen(mnt) + 8);
	if (!path)
		return 1;
	sprintf(path, "%s/store", mnt);
	make_meta(&meta, D, FEATDB_F32, classes3, 3);
	if (featdb_open(path, FEATDB_CREATE, &db, err) != 0)
		goto fail;
	for (first = 0; first < 100 * B; first += B) {
		ret = write_range(db, &meta, first, B, err);
		if (ret)
			break;
		committed = meta.count;
	}
	if (ret != ERR_IO || !strstr(err, "No space left on device") || committed == 0) {
		fprintf(stderr, "full disk: got %d \"%s\" after %llu records\n", ret, err,
			(unsigned long long)committed);
		goto fail;
	}
	fprintf(stderr, "full disk: \"%s\" after %llu records\n", err,
		(unsigned long long)committed);
	featdb_close(db);
	if (featdb_open(path, FEATDB_RDONLY, &db, err) != 0)
		goto fail;
	check_store(db, D, FEATDB_F32, (int)committed, cls_mod3);
	featdb_close(db);
	free(path);
	return 0;
fail:
	fprintf(stderr, "full disk: %s\n", err);
	featdb_close(db);
	free(path);
	return 1;
}

static void test_full_disk(void **state)
{
	const char *dir = tu_tmpdir();
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(full_disk_child(dir));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	tu_rm_rf(dir);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == CHILD_SKIP)
		skip(); /* no right to mount a tmpfs here */
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_roundtrip),
		cmocka_unit_test(test_write_checks),
		cmocka_unit_test(test_key_too_long),
		cmocka_unit_test(test_map_growth),
		cmocka_unit_test(test_class_renumber),
		cmocka_unit_test(test_class_renumber_unsorted),
		cmocka_unit_test(test_reader_during_growth),
		cmocka_unit_test(test_open_missing),
		cmocka_unit_test(test_open_garbage),
		cmocka_unit_test(test_open_truncated),
		cmocka_unit_test(test_open_unborn),
		cmocka_unit_test(test_not_a_store),
		cmocka_unit_test(test_open_write_existing),
		cmocka_unit_test(test_meta_differ),
		cmocka_unit_test(test_thresholds),
		cmocka_unit_test(test_blocks),
		cmocka_unit_test(test_foreach_bad_record),
		cmocka_unit_test(test_full_disk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
