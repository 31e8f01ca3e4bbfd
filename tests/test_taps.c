/* test_taps.c - the taps end to end (net/model.h: extract --layer,
 * --pooling), with the real programs on generated faces and the seed-1
 * weights: a _notop file serves the pool taps; the store holds one tap,
 * named in its metadata, `featdb info` and `export`, and its fingerprint
 * covers the layers the tap needs, so that a store begun with the _notop
 * file and finished with the full one is, byte for byte, the store the
 * full file makes alone; the head records the tap and predict follows it.
 * verify and nearest run to the store's tap too, and verify without a
 * store to --layer's, its distance the stored vectors'.  And the refusals: fc2
 * from a _notop file, another tap into a store, a merge of two taps,
 * predict with weights that cannot give the head's tap.  (The taps' numbers against Keras: test_vgg.c.) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "e2e.h"
#include "error.h"
#include "hdf5/h5util.h"
#include "head/head.h"
#include "net/model.h"
#include "net/vgg.h"
#include "net/weights.h"
#include "proc.h"
#include "recog/recog.h"
#include "store/featdb.h"
#include "testutil.h"

/* What the tests share: 3 generated people of 8 images, the seed-1 weights
 * (the full file, and the _notop file written here), loaded once. */
typedef struct world {
	char dir[64], faces[256], notop[256], log[256];
	const char *full;
	weights_t wfull, wnotop;
} world_t;

static world_t g;

static int setup(void **state)
{
	char err[ERR_LEN];

	snprintf(g.dir, sizeof g.dir, "%s", tu_tmpdir());
	snprintf(g.faces, sizeof g.faces, "%s/faces", g.dir);
	snprintf(g.notop, sizeof g.notop, "%s/seed1_notop.h5", g.dir);
	snprintf(g.log, sizeof g.log, "%s/log", g.dir);
	g.full = tu_weights_path();
	char *faces[] = {proc_tool("gen_faces"), "--out", g.faces, "--people", "3",
			 "--images", "8", "--seed", "11", NULL};
	char *notop[] = {proc_tool("gen_weights"), "--seed", "1", "--notop", "--out",
			 g.notop, NULL};
	if (proc_run(faces, g.log) || proc_run(notop, g.log)) {
		fprintf(stderr, "generating the faces or the _notop file failed (%s)\n",
			g.log);
		return -1;
	}
	if (weights_load(g.full, &g.wfull, err) || weights_load(g.notop, &g.wnotop, err)) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	weights_free(&g.wfull);
	weights_free(&g.wnotop);
	tu_rm_rf(g.dir);
	return 0;
}

/* path_in: dir/name in buf (static storage, eight at a time). */
static const char *path_in(const char *name)
{
	static char buf[8][512];
	static int n;
	char *p = buf[n++ % 8];

	snprintf(p, sizeof buf[0], "%s/%s", g.dir, name);
	return p;
}

/* run_status runs argv and fails unless it exits with status; returns its
 * output (malloc'd). */
static char *run_status(char *const argv[], int status)
{
	int st = proc_run(argv, g.log);
	char *out = tu_slurp(g.log);

	if (st != status)
		fail_msg("%s exited with %d, not %d:\n%s", argv[0], st, status, out);
	return out;
}

/* expect_says fails unless out holds each of the NULL-terminated parts. */
static void expect_says(const char *out, ...)
{
	va_list ap;
	const char *part;

	va_start(ap, out);
	while ((part = va_arg(ap, const char *)))
		if (!strstr(out, part))
			fail_msg("the output lacks \"%s\":\n%s", part, out);
	va_end(ap);
}

/* extract runs extract on the faces into db with weights, then the extra
 * arguments (NULL-terminated); fails unless it exits with status; returns
 * its output (malloc'd). */
static char *extract(const char *db, const char *weights, int status, ...)
{
	char *argv[32] = {proc_bin("extract"), "--in", g.faces, "--db", (char *)db,
			  "--weights", (char *)weights, "-q"};
	int k = 8;
	va_list ap;
	char *a;

	va_start(ap, status);
	while ((a = va_arg(ap, char *)) && k < 31)
		argv[k++] = a;
	va_end(ap);
	argv[k] = NULL;
	return run_status(argv, status);
}

/* read_meta reads the store's metadata into *m. */
static void read_meta(const char *db, featdb_meta_t *m)
{
	featdb_t *f = NULL;
	char err[ERR_LEN];

	if (featdb_open(db, FEATDB_RDONLY, &f, err) || featdb_meta_get(f, m, err))
		fail_msg("%s", err);
	featdb_close(f);
}

/* expect_records_are_taps checks that each record of db is the network's
 * output at tap, on w, for its own file, to the bit. */
static void expect_records_are_taps(const char *db, const weights_t *w, int tap)
{
	e2e_dump_t d;
	vgg_t *net = NULL;
	vgg_opts_t o;
	char err[ERR_LEN], path[600];
	int D = model_tap_info(tap)->dim;
	float *x = malloc(VGG_IN_FLOATS * sizeof *x), *y = malloc((size_t)D * sizeof *y);
	float *v = malloc((size_t)D * sizeof *v);

	assert_true(x && y && v);
	vgg_opts_init(&o, 1);
	o.tap = tap;
	if (e2e_dump(db, &d, err) || vgg_create_opts(w, &o, &net, err))
		fail_msg("%s", err);
	assert_true(d.n > 0);
	for (size_t i = 0; i < d.n; i++) {
		featdb_rec_t rec;
		snprintf(path, sizeof path, "%s/%s", g.faces, d.keys[i]);
		if (tu_load_input(path, w->model, x, err) || vgg_forward(net, x, 1, y, err) ||
		    featdb_rec_decode(d.vals[i], d.lens[i], &rec, err))
			fail_msg("%s", err);
		assert_int_equal(rec.dim, D);
		featdb_rec_vector(&rec, v);
		assert_memory_equal(v, y, (size_t)D * sizeof *v);
	}
	vgg_free(net);
	e2e_dump_free(&d);
	free(x), free(y), free(v);
}

/* A pool tap from the _notop file: the store's name, width and
 * fingerprint (the convolutions', the full file's over them), each record
 * the network's output at the tap; featdb info and export name it. */
static void test_notop_pool_store(void **state)
{
	const char *db = path_in("avg.lmdb"), *h5 = path_in("avg.h5");
	featdb_meta_t m = {0};
	char err[ERR_LEN];

	free(extract(db, g.notop, 0, "--layer", "block5_pool", "--pooling", "avg",
			 "--limit", "2", NULL));
	read_meta(db, &m);
	assert_string_equal(m.model, "vgg16-block5_pool-avg");
	assert_int_equal(m.dim, 512);
	assert_int_equal(m.count, 2);
	assert_string_equal(m.fingerprint, weights_fingerprint(&g.wnotop, WEIGHTS_NCONV));
	assert_string_equal(m.fingerprint, weights_fingerprint(&g.wfull, WEIGHTS_NCONV));
	assert_string_not_equal(m.fingerprint, g.wfull.fingerprint);
	featdb_meta_free(&m);
	expect_records_are_taps(db, &g.wnotop, MODEL_TAP_POOL_AVG);

	char *info[] = {proc_bin("featdb"), "info", (char *)db, NULL};
	char *out = run_status(info, 0);
	expect_says(out, "model:       vgg16-block5_pool-avg\n",
		    "tap:         block5_pool, pooling avg (extract --layer block5_pool "
		    "--pooling avg)\n", "dimension:   512\n", NULL);
	free(out);
	char *exp[] = {proc_bin("featdb"), "export", (char *)db, "--out", (char *)h5, NULL};
	free(run_status(exp, 0));
	hid_t f = H5Fopen(h5, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(f >= 0);
	static const char *const want[][2] = {
		{"model", "vgg16-block5_pool-avg"}, {"layer", "block5_pool"}, {"pooling", "avg"},
	};
	for (int i = 0; i < 3; i++) {
		h5util_strlist_t v = {0};
		int found = 0;
		if (h5util_attr_strings(f, want[i][0], &v, &found, h5, err))
			fail_msg("%s", err);
		assert_true(found && v.n == 1);
		assert_string_equal(v.v[0], want[i][1]);
		h5util_strlist_free(&v);
	}
	hid_t ds = H5Dopen2(f, "features", H5P_DEFAULT);
	hid_t sp = H5Dget_space(ds);
	hsize_t dims[2];
	assert_int_equal(H5Sget_simple_extent_dims(sp, dims, NULL), 2);
	assert_int_equal(dims[0], 2);
	assert_int_equal(dims[1], 512);
	H5Sclose(sp), H5Dclose(ds), H5Fclose(f);
}

/* A store begun with the _notop file, resumed with the full file (the
 * convolutions' fingerprint is the same), holds the bytes the full file
 * writes alone, in other batches; the two merge without a conflict. */
static void test_notop_and_full_make_one_store(void **state)
{
	TU_SKIP_SANITIZED("the faces through the convolutions three times over");
	const char *mixed = path_in("mixed.lmdb"), *full = path_in("full.lmdb");
	const char *merged = path_in("merged.lmdb");
	char why[ERR_LEN];

	free(extract(mixed, g.notop, 0, "--layer", "block5_pool", "--pooling", "max",
			 "--limit", "10", "--batch", "3", NULL));
	char *out = extract(mixed, g.full, 0, "--layer", "block5_pool", "--pooling",
			    "max", NULL);
	expect_says(out, "extracted 14, already present 10", NULL);
	free(out);
	free(extract(full, g.full, 0, "--layer", "block5_pool", "--pooling", "max",
			 "--batch", "5", NULL));
	if (e2e_same_store(mixed, full, why) || e2e_same_meta(mixed, full, why))
		fail_msg("%s", why);
	expect_records_are_taps(full, &g.wfull, MODEL_TAP_POOL_MAX);
	char *merge[] = {proc_bin("featdb"), "merge", (char *)merged, (char *)mixed,
			 (char *)full, NULL};
	out = run_status(merge, 0);
	expect_says(out, "24 records added, 24 already there, 0 conflicts", NULL);
	free(out);
}

/* The other taps: Keras' Flatten of block5_pool (25,088-d), fc1; and
 * VGG-Face's names (pool5 from keras-vggface's _notop layout). */
static void test_other_taps(void **state)
{
	const char *flat = path_in("flat.lmdb"), *fc1 = path_in("fc1.lmdb");
	const char *face = path_in("face.lmdb"), *wface = path_in("face_notop.h5");
	featdb_meta_t m = {0};
	weights_t w = {0};
	char err[ERR_LEN];

	free(extract(flat, g.notop, 0, "--layer", "block5_pool", "--limit", "1", NULL));
	read_meta(flat, &m);
	assert_string_equal(m.model, "vgg16-block5_pool");
	assert_int_equal(m.dim, 7 * 7 * 512);
	featdb_meta_free(&m);
	expect_records_are_taps(flat, &g.wnotop, MODEL_TAP_POOL);

	free(extract(fc1, g.full, 0, "--layer", "fc1", "--limit", "1", NULL));
	read_meta(fc1, &m);
	assert_string_equal(m.model, "vgg16-fc1");
	assert_int_equal(m.dim, 4096);
	assert_string_equal(m.fingerprint, weights_fingerprint(&g.wfull, WEIGHTS_NLAYERS - 1));
	featdb_meta_free(&m);
	expect_records_are_taps(fc1, &g.wfull, MODEL_TAP_FC1);

	char *gen[] = {proc_tool("gen_weights"), "--seed", "1", "--layout", "vggface",
		       "--notop", "--out", (char *)wface, NULL};
	free(run_status(gen, 0));
	free(extract(face, wface, 0, "--layer", "pool5", "--pooling", "avg", "--limit",
			 "1", NULL));
	read_meta(face, &m);
	assert_string_equal(m.model, "vggface-pool5-avg");
	assert_string_equal(m.preprocess, model_info(MODEL_VGGFACE)->preprocess);
	featdb_meta_free(&m);
	if (weights_load(wface, &w, err))
		fail_msg("%s", err);
	expect_records_are_taps(face, &w, MODEL_TAP_POOL_AVG);
	weights_free(&w);
	/* A layer's name is its model's: fc7 is not VGG16's, block5_pool not
	 * VGG-Face's. */
	char *out = extract(path_in("x.lmdb"), g.full, 1, "--layer", "fc7", NULL);
	expect_says(out, "--layer fc7 is VGG-Face's name", "holds VGG16 weights",
		    "fc2, fc1 or block5_pool", NULL);
	free(out);
	out = extract(path_in("x.lmdb"), wface, 1, "--layer", "block5_pool", NULL);
	expect_says(out, "--layer block5_pool is VGG16's name", "pool5 (avg- or max-pooled", NULL);
	free(out);
}

/* What extract refuses: fc1 or fc2 from a _notop file (naming the file and
 * the taps it gives, before a store is made); another tap into a store;
 * bad --layer and --pooling (usage errors); and featdb merge of two
 * taps. */
static void test_refusals(void **state)
{
	const char *none = path_in("none.lmdb"), *db = path_in("refuse.lmdb");
	const char *other = path_in("refuse_max.lmdb"), *merged = path_in("m.lmdb");
	struct stat st;

	char *out = extract(none, g.notop, 1, NULL);
	expect_says(out, "extract: error: ", g.notop, "VGG16's _notop file (13 "
		    "convolutions, no fc1 or fc2)", "it gives block5_pool (avg- or max-pooled, "
		    "or flattened), not fc2", NULL);
	free(out);
	out = extract(none, g.notop, 1, "--layer", "fc1", NULL);
	expect_says(out, "not fc1", NULL);
	free(out);
	assert_int_equal(stat(none, &st), -1);

	free(extract(db, g.notop, 0, "--layer", "block5_pool", "--pooling", "avg",
			 "--limit", "1", NULL));
	out = extract(db, g.full, 1, "--layer", "block5_pool", "--pooling", "max", NULL);
	expect_says(out, "holds vgg16-block5_pool-avg vectors (--layer block5_pool "
		    "--pooling avg), this run asks for vgg16-block5_pool-max", "a store "
		    "holds one tap's", NULL);
	free(out);
	out = extract(db, g.full, 1, NULL);
	expect_says(out, "this run asks for vgg16-fc2 (--layer fc2)", NULL);
	free(out);
	out = extract(db, g.full, 1, "--layer", "block5_pool", NULL);
	expect_says(out, "this run asks for vgg16-block5_pool (--layer block5_pool)", NULL);
	free(out);
	featdb_meta_t m = {0};
	read_meta(db, &m);
	assert_int_equal(m.count, 1);
	featdb_meta_free(&m);

	static const char *const bad[][5] = {
		{"--layer", "fc3", NULL, NULL, "--layer: 'fc3' is not fc2, fc1 or block5_pool"},
		{"--pooling", "avg", NULL, NULL, "give --layer block5_pool"},
		{"--layer", "fc2", "--pooling", "max", "Keras pools block5_pool"},
		{"--layer", "block5_pool", "--pooling", "sum", "'sum' is not avg or max"},
		{"--layer", "pool5", "--model", "vgg16", "--layer pool5 is VGG-Face's"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		out = extract(none, g.full, 2, bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
		expect_says(out, bad[i][4], "Try 'extract --help'.", NULL);
		free(out);
	}

	free(extract(other, g.notop, 0, "--layer", "block5_pool", "--pooling", "max",
			 "--limit", "1", NULL));
	char *merge[] = {proc_bin("featdb"), "merge", (char *)merged, (char *)db,
			 (char *)other, NULL};
	out = run_status(merge, 1);
	expect_says(out, "differ in tap (extract --layer, --pooling)", NULL);
	free(out);
}

/* The head records the store's tap; predict runs the network to it, from
 * the _notop file or the full one (the same fingerprint over the
 * convolutions), and its probabilities are the head's on the stored
 * vectors. */
static void test_predict_follows_the_tap(void **state)
{
	TU_SKIP_SANITIZED("the faces through the convolutions, then predict twice");
	const char *db = path_in("head_avg.lmdb"), *head = path_in("avg_head.h5");
	const char *img = path_in("faces/person_01/001.jpg");
	head_t h = {0};
	head_meta_t hm = {0};
	char err[ERR_LEN];

	free(extract(db, g.notop, 0, "--layer", "block5_pool", "--pooling", "avg", NULL));
	char *train[] = {proc_bin("train-head"), "--db", (char *)db, "--out", (char *)head,
			 "--epochs", "3", "--seed", "1", "-q", NULL};
	free(run_status(train, 0));
	if (head_load(head, &h, &hm, err))
		fail_msg("%s", err);
	assert_string_equal(hm.model, "vgg16-block5_pool-avg");
	assert_string_equal(hm.fingerprint, weights_fingerprint(&g.wfull, WEIGHTS_NCONV));
	assert_int_equal(h.D, 512);

	/* The stored vector of img, through the head. */
	uint8_t *val = NULL;
	size_t len = 0;
	featdb_t *f = NULL;
	featdb_rec_t rec;
	float v[512];
	double p[16], *work = malloc(head_probabilities_doubles(&h) * sizeof *work);
	assert_true(h.K <= 16);
	if (featdb_open(db, FEATDB_RDONLY, &f, err) ||
	    featdb_get(f, "person_01/001.jpg", &val, &len, err) ||
	    featdb_rec_decode(val, len, &rec, err))
		fail_msg("%s", err);
	featdb_rec_vector(&rec, v);
	assert_non_null(work);
	head_probabilities(&h, v, 1, work, p);
	free(work);
	free(val);
	featdb_close(f);

	char *outs[2];
	const char *weights[2] = {g.notop, g.full};
	for (int k = 0; k < 2; k++) {
		char *pred[] = {proc_bin("predict"), "--head", (char *)head, "--weights",
				(char *)weights[k], "--top-k", "1", "-q", (char *)img, NULL};
		outs[k] = run_status(pred, 0);
		char name[64];
		double prob;
		assert_int_equal(sscanf(strchr(outs[k], '\t'), "\t1\t%63[^\t]\t%lf", name,
					&prob), 2);
		int top = 0;
		for (int c = 1; c < h.K; c++)
			top = p[c] > p[top] ? c : top;
		assert_string_equal(name, hm.classes[top]);
		assert_true(fabs(prob - p[top]) <= 1e-6);
	}
	assert_string_equal(outs[0], outs[1]);
	free(outs[0]), free(outs[1]);
	head_free(&h);
	head_meta_free(&hm);
}

/* write_head writes a head of D inputs and 3 classes whose features are
 * the store's model (a store name) with fingerprint fp. */
static void write_head(const char *path, int D, const char *model, const char *fp)
{
	static const char *const classes[] = {"person_01", "person_02", "person_03"};
	head_meta_t hm = {.nclasses = 3, .classes = (char **)classes};
	head_t h = {0};
	char err[ERR_LEN];

	snprintf(hm.model, sizeof hm.model, "%s", model);
	snprintf(hm.fingerprint, sizeof hm.fingerprint, "%s", fp);
	snprintf(hm.preprocess, sizeof hm.preprocess, "%s",
		 model_info(MODEL_VGG16)->preprocess);
	snprintf(hm.version, sizeof hm.version, "test");
	if (head_create(D, 0, NULL, 3, 1, &h, err) || head_save(path, &h, &hm, err))
		fail_msg("%s", err);
	head_free(&h);
}

/* What predict refuses: a _notop file for a head on fc2 (the file cannot
 * give the tap); a head whose width is not its tap's; --save-model for a
 * head on a pool tap. */
static void test_predict_refusals(void **state)
{
	const char *fc2 = path_in("fc2_head.h5"), *wide = path_in("wide_head.h5");
	const char *img = path_in("faces/person_01/001.jpg");

	write_head(fc2, 4096, "vgg16-fc2", g.wfull.fingerprint);
	char *pred[] = {proc_bin("predict"), "--head", (char *)fc2, "--weights",
			(char *)g.notop, (char *)img, NULL};
	char *out = run_status(pred, 1);
	expect_says(out, "predict: error: ", fc2, "was trained on vgg16-fc2 vectors, "
		    "but", g.notop, "VGG16's _notop file", "not fc2", NULL);
	free(out);
	write_head(wide, 4096, "vgg16-block5_pool-avg",
		   weights_fingerprint(&g.wfull, WEIGHTS_NCONV));
	pred[2] = (char *)wide;
	out = run_status(pred, 1);
	expect_says(out, "the head takes 4096 features, VGG16's block5_pool gives 512",
		    NULL);
	free(out);
	/* The whole-model file is written through fc2 only: a head on
	 * another tap is refused, not written wrong. */
	const char *pool = path_in("pool_head.h5"), *model = path_in("model.h5");
	struct stat st;
	write_head(pool, 512, "vgg16-block5_pool-max",
		   weights_fingerprint(&g.wfull, WEIGHTS_NCONV));
	char *save[] = {proc_bin("predict"), "--head", (char *)pool, "--weights",
			(char *)g.full, "--save-model", (char *)model, NULL};
	out = run_status(save, 1);
	expect_says(out, "--save-model writes VGG16 through fc2 only", "trained on "
		    "vgg16-block5_pool-max vectors", NULL);
	free(out);
	assert_int_equal(stat(model, &st), -1);
}

/* verify and nearest run the network to the store's tap: an image of the
 * pool store is its own nearest record, at distance 0, from the _notop
 * file or the full one; without a store verify takes fc2, which the
 * _notop file cannot give.  (Runs after test_notop_pool_store, whose
 * store it reads.) */
static void test_recog_follows_the_tap(void **state)
{
	const char *db = path_in("avg.lmdb");
	const char *a = path_in("faces/person_01/001.jpg");
	const char *b = path_in("faces/person_01/002.jpg");
	const char *weights[2] = {g.notop, g.full};

	for (int k = 0; k < 2; k++) {
		char *near[] = {proc_bin("nearest"), "--db", (char *)db, "--weights",
				(char *)weights[k], "--top-k", "1", "-q", (char *)a, NULL};
		char *out = run_status(near, 0);
		expect_says(out, "\t1\tperson_01/001.jpg\tperson_01\t0.000000\t", NULL);
		free(out);
	}
	char *ver[] = {proc_bin("verify"), "--db", (char *)db, "--weights", (char *)g.full,
		       "--threshold", "0.5", (char *)a, (char *)b, NULL};
	free(run_status(ver, 0));
	char *bare[] = {proc_bin("verify"), "--weights", (char *)g.notop, "--threshold",
			"0.5", (char *)a, (char *)b, NULL};
	char *out = run_status(bare, 1);
	expect_says(out, "verify: error: ", "VGG16's _notop file", "not fc2", NULL);
	free(out);
}

/* stored_vector: the vector db stores under key, in v (dim floats). */
static void stored_vector(const char *db, const char *key, float *v, int dim)
{
	e2e_dump_t d;
	featdb_rec_t rec;
	char err[ERR_LEN];
	size_t i;

	if (e2e_dump(db, &d, err))
		fail_msg("%s", err);
	for (i = 0; i < d.n && strcmp(d.keys[i], key); i++)
		;
	if (i == d.n)
		fail_msg("%s holds no %s", db, key);
	if (featdb_rec_decode(d.vals[i], d.lens[i], &rec, err))
		fail_msg("%s", err);
	assert_int_equal(rec.dim, dim);
	featdb_rec_vector(&rec, v);
	e2e_dump_free(&d);
}

/* verify_run runs verify with the NULL-terminated options, then images a
 * and b; fails unless it exits with status; returns its output (malloc'd). */
static char *verify_run(int status, const char *a, const char *b, ...)
{
	char *argv[32] = {proc_bin("verify")};
	int k = 1;
	va_list ap;
	char *arg;

	va_start(ap, b);
	while ((arg = va_arg(ap, char *)) && k < 29)
		argv[k++] = arg;
	va_end(ap);
	argv[k++] = (char *)a;
	argv[k++] = (char *)b;
	argv[k] = NULL;
	return run_status(argv, status);
}

/* distance_of: the distance in verify's line (A B distance threshold
 * verdict); frees out. */
static double distance_of(char *out)
{
	char *p = strchr(out, '\t');
	double d;

	p = p ? strchr(p + 1, '\t') : NULL;
	if (!p)
		fail_msg("verify printed no distance:\n%s", out);
	d = strtod(p + 1, NULL);
	free(out);
	return d;
}

/* verify without a store takes the vectors where --layer and --pooling
 * say, as extract does: the distance of two images at block5_pool avg,
 * from the _notop file or the full one, is the one between the vectors
 * extract stored for them, under each metric (printed to 6 decimals);
 * with --db, options that name the store's tap change nothing.  (Runs
 * after test_notop_pool_store, whose store holds the two images.) */
static void test_verify_takes_the_layer(void **state)
{
	const char *db = path_in("avg.lmdb");
	const char *a = path_in("faces/person_01/001.jpg");
	const char *b = path_in("faces/person_01/002.jpg");
	const char *weights[2] = {g.notop, g.full};
	float va[512], vb[512];

	stored_vector(db, "person_01/001.jpg", va, 512);
	stored_vector(db, "person_01/002.jpg", vb, 512);
	for (int m = 0; m < RECOG_NMETRICS; m++) {
		char *metric = (char *)recog_metric_name(m);
		double want = recog_distance(m, va, vb, 512);
		assert_true(want > 1e-4);
		for (int k = 0; k < 2; k++) {
			double got = distance_of(verify_run(0, a, b, "--weights",
							    (char *)weights[k], "--threshold",
							    "0.5", "--metric", metric, "--layer",
							    "block5_pool", "--pooling", "avg",
							    NULL));
			if (fabs(got - want) > 1e-6 * fmax(1, want))
				fail_msg("%s, %s: verify says %.9g, the stored vectors %.9g",
					 weights[k], metric, got, want);
		}
		double got = distance_of(verify_run(0, a, b, "--db", db, "--weights",
						    g.notop, "--threshold", "0.5", "--metric",
						    metric, "--layer", "block5_pool", "--pooling",
						    "avg", NULL));
		assert_true(fabs(got - want) <= 1e-6 * fmax(1, want));
	}
	/* Max pooling is another vector, so another distance. */
	double avg = distance_of(verify_run(0, a, b, "--weights", g.notop, "--threshold",
					    "0.5", "--layer", "block5_pool", "--pooling",
					    "avg", NULL));
	double max = distance_of(verify_run(0, a, b, "--weights", g.notop, "--threshold",
					    "0.5", "--layer", "block5_pool", "--pooling",
					    "max", NULL));
	assert_true(fabs(avg - max) > 1e-4);
}

/* What verify refuses about --layer and --pooling: another tap than the
 * store's (naming both), fc1 or fc2 from a _notop file, a layer of another
 * model than the weights' or --model's, the usage errors extract gives,
 * and either option with --calibrate. */
static void test_verify_layer_refusals(void **state)
{
	const char *db = path_in("avg.lmdb");
	const char *a = path_in("faces/person_01/001.jpg");
	const char *b = path_in("faces/person_01/002.jpg");
	static const char *const other[][3] = {
		{"fc2", NULL, "but --layer fc2 was given"},
		{"block5_pool", NULL, "but --layer block5_pool was given"},
		{"block5_pool", "max", "but --layer block5_pool --pooling max was given"},
		{"pool5", "avg", "but --layer pool5 --pooling avg was given"},
	};
	char *out;

	for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
		out = verify_run(1, a, b, "--db", db, "--weights", g.full, "--threshold",
				 "0.5", "--layer", other[i][0], other[i][1] ? "--pooling" :
				 NULL, other[i][1], NULL);
		expect_says(out, "verify: error: ", "holds vgg16-block5_pool-avg vectors "
			    "(--layer block5_pool --pooling avg)", other[i][2], NULL);
		free(out);
	}
	out = verify_run(1, a, b, "--weights", g.notop, "--threshold", "0.5", "--layer",
			 "fc1", NULL);
	expect_says(out, "verify: error: ", "VGG16's _notop file", "not fc1", NULL);
	free(out);
	out = verify_run(1, a, b, "--weights", g.full, "--threshold", "0.5", "--layer",
			 "fc7", NULL);
	expect_says(out, "verify: error: ", "--layer fc7 is VGG-Face's name",
		    "holds VGG16 weights", NULL);
	free(out);
	static const char *const bad[][5] = {
		{"--layer", "fc3", NULL, NULL, "--layer: 'fc3' is not fc2, fc1 or block5_pool"},
		{"--pooling", "avg", NULL, NULL, "give --layer block5_pool"},
		{"--layer", "fc2", "--pooling", "max", "Keras pools block5_pool"},
		{"--layer", "block5_pool", "--pooling", "sum", "'sum' is not avg or max"},
		{"--layer", "pool5", "--model", "vgg16", "--layer pool5 is VGG-Face's"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		out = verify_run(2, a, b, "--weights", g.full, "--threshold", "0.5",
				 bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
		expect_says(out, bad[i][4], "Try 'verify --help'.", NULL);
		free(out);
	}
	char *cal[] = {proc_bin("verify"), "--calibrate", "--db", (char *)db, "--layer",
		       "block5_pool", "--pooling", "avg", NULL};
	out = run_status(cal, 2);
	expect_says(out, "--calibrate takes no --weights, --layer, --pooling", NULL);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notop_pool_store),
		cmocka_unit_test(test_recog_follows_the_tap),
		cmocka_unit_test(test_verify_takes_the_layer),
		cmocka_unit_test(test_verify_layer_refusals),
		cmocka_unit_test(test_notop_and_full_make_one_store),
		cmocka_unit_test(test_other_taps),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_predict_follows_the_tap),
		cmocka_unit_test(test_predict_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
