/* test_train_head.c - bin/train-head end to end, on feature stores made
 * here with featdb_write: the Keras-style output, the history CSV, the head
 * file, sweeps, determinism over threads, every error the issue lists, the
 * atomic write of the head, where it goes without --out and what it never
 * replaces, a store an extract left partial, parity with PyTorch (the
 * per-epoch losses of tests/ref/torch_head.py, kept in
 * tests/golden/head_parity.h5), the model the head records, and the
 * --min-prob it suggests for predict.
 * Letters: N records, D features, K classes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "dataset/dataset.h"
#include "e2e.h"
#include "error.h"
#include "net/model.h"
#include "store/featdb.h"
#include "img/img.h"
#include "head/head.h"
#include "proc.h"
#include "testutil.h"

#define PROG proc_bin("train-head")
#define GOLDEN "tests/golden/head_parity.h5"

static const char *tmpdir;

static const char *path_in(const char *name)
{
	static char path[32][512];
	static int i;
	char *p = path[i++ % 32];
	snprintf(p, 512, "%s/%s", tmpdir, name);
	return p;
}

/* ---- stores ------------------------------------------------------------------ */

typedef struct spec {
	int D, K, per_class;
	int dtype;
	int valid_every;  /* tag every n-th record of a class valid (0: none) */
	int test_every;   /* the same for test */
	int all_valid;    /* this class's records are all tagged valid (-1: none) */
	double noise;     /* amplitude of the uniform noise on the class mean */
	uint64_t seed;
	int vggface;      /* VGG-Face's features (model, preprocessing) */
	int imbalance;    /* class c has per_class - c * imbalance records */
} spec_t;

static spec_t spec_default(void)
{
	return (spec_t){.D = 24, .K = 3, .per_class = 30, .dtype = FEATDB_F32,
			.all_valid = -1, .noise = 1.6, .seed = 1};
}

/* Opens (creating) the store and writes n records of spec's shape, whose
 * features depend on the class: a sparse non-negative class mean plus
 * noise, clipped at 0 as fc2's ReLU output is. */
static void store_add(const char *path, const spec_t *s, int first)
{
	featdb_t *db;
	featdb_meta_t m = {.dim = s->D, .dtype = s->dtype, .nclasses = s->K};
	char err[ERR_LEN];
	rng_t r = {s->seed};
	int n = s->K * s->per_class;
	size_t rs = featdb_rec_size(s->dtype, s->D);
	float *mean = malloc((size_t)s->K * s->D * sizeof *mean);
	float *x = malloc((size_t)s->D * sizeof *x);
	uint8_t *recs = malloc((size_t)(n ? n : 1) * rs);
	char (*keys)[48] = malloc((size_t)(n ? n : 1) * sizeof *keys);
	const char **kp = malloc((size_t)(n ? n : 1) * sizeof *kp);
	const uint8_t **vp = malloc((size_t)(n ? n : 1) * sizeof *vp);
	size_t *lens = malloc((size_t)(n ? n : 1) * sizeof *lens);

	assert_true(mean && x && recs && keys && kp && vp && lens);
	m.classes = calloc((size_t)s->K, sizeof *m.classes);
	assert_non_null(m.classes);
	for (int k = 0; k < s->K; k++) {
		char name[16];
		snprintf(name, sizeof name, "c%d", k);
		m.classes[k] = strdup(name);
	}
	snprintf(m.fingerprint, sizeof m.fingerprint, "feedfacecafebeef");
	snprintf(m.model, sizeof m.model, "%s",
		 s->vggface ? model_info(MODEL_VGGFACE)->store_model : "");
	snprintf(m.preprocess, sizeof m.preprocess, "%s",
		 model_info(s->vggface ? MODEL_VGGFACE : MODEL_VGG16)->preprocess);
	snprintf(m.version, sizeof m.version, "test_train_head");
	for (size_t i = 0; i < (size_t)s->K * s->D; i++)
		mean[i] = rng_uniform(&r) < 0.4 ? (float)(2 * rng_uniform(&r)) : 0.0f;
	int w = 0;
	for (int i = 0; i < n; i++) {
		int c = i % s->K, j = i / s->K;
		for (int d = 0; d < s->D; d++) {
			double v = mean[(size_t)c * s->D + d] + s->noise * (rng_uniform(&r) - 0.5);
			x[d] = v > 0 ? (float)v : 0.0f;
		}
		if (j >= s->per_class - c * s->imbalance)
			continue;
		int split = c == s->all_valid ? FEATDB_VALID
			  : s->valid_every && j % s->valid_every == 1 ? FEATDB_VALID
			  : s->test_every && j % s->test_every == 2 ? FEATDB_TEST
			  : FEATDB_TRAIN;
		snprintf(keys[w], sizeof keys[w], "c%d/img%04d_%d.jpg", c, j, first);
		kp[w] = keys[w];
		vp[w] = recs + (size_t)w * rs;
		lens[w] = rs;
		assert_int_equal(featdb_rec_encode(x, s->D, s->dtype, c, split,
						   recs + (size_t)w * rs, err), 0);
		w++;
	}
	assert_int_equal(featdb_open(path, FEATDB_CREATE, &db, err), 0);
	if (featdb_write(db, &m, w, kp, vp, lens, err) != 0)
		fail_msg("featdb_write: %s", err);
	featdb_close(db);
	featdb_meta_free(&m);
	free(mean), free(x), free(recs), free(keys), free(kp), free(vp), free(lens);
}

static const char *make_store(const char *name, const spec_t *s)
{
	const char *p = path_in(name);
	store_add(p, s, 0);
	return p;
}

/* ---- running the program ----------------------------------------------------- */

/* run executes bin/train-head with the NULL-terminated arguments, its
 * stdout and stderr into out (a path), in the test's folder (where a run
 * without --out writes head.h5); returns the exit status. */
static int run(const char *out, ...)
{
	char *argv[64];
	int n = 0;
	va_list ap;

	argv[n++] = (char *)PROG;
	va_start(ap, out);
	for (char *a; (a = va_arg(ap, char *)) && n < 63;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return proc_run_in(tmpdir, argv, out);
}

/* The whole of a file as a string (static buffers, a few in rotation). */
static const char *slurp(const char *path)
{
	static char *bufs[4];
	static int i;
	char *s = tu_slurp(path);
	free(bufs[i % 4]);
	bufs[i++ % 4] = s;
	return s;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* An error: status 1 and exactly one line naming the cause. */
static void expect_error(const char *out, int status, const char *needle)
{
	const char *text = slurp(out);
	if (status != 1 || count_lines(text) != 1 ||
	    strncmp(text, "train-head: error: ", 19) != 0 || !strstr(text, needle))
		fail_msg("status %d, wanted 1 and one line with '%s'; got:\n%s", status,
			 needle, text);
}

static void expect_usage(int status, const char *out)
{
	if (status != 2)
		fail_msg("status %d, wanted 2; output:\n%s", status, slurp(out));
}

/* ---- tests --------------------------------------------------------------------- */

static void test_usage(void **state)
{
	(void)state;
	const char *out = path_in("usage.txt");
	assert_int_equal(run(out, "--help", NULL), 0);
	assert_non_null(strstr(slurp(out), "usage: train-head --db"));
	/* The development options have a text of their own. */
	assert_null(strstr(slurp(out), "--trace"));
	assert_int_equal(run(out, "--help-dev", NULL), 0);
	assert_non_null(strstr(slurp(out), "--trace FILE"));
	assert_non_null(strstr(slurp(out), "VGGFEAT_ISA="));
	/* A usage error: what is wrong, the way to the help, status 2. */
	expect_usage(run(out, "--db", "x", "--bogus", NULL), out);
	assert_string_equal(slurp(out), "train-head: unknown option --bogus\n"
			    "Try 'train-head --help'.\n");
	expect_usage(run(out, "--db", "x", "--threads", "0", NULL), out);
	assert_string_equal(slurp(out), "train-head: --threads: 0 is out of range "
			    "1..64\nTry 'train-head --help'.\n");
	expect_usage(run(out, "--epochs", "3", NULL), out);
	assert_non_null(strstr(slurp(out), "--db is required"));
	expect_usage(run(out, "--db", "x", "--bogus", NULL), out);
	expect_usage(run(out, "--db", "x", "--lr", "abc", NULL), out);
	expect_usage(run(out, "--db", "x", "--lr", "1e-3,,1e-2", NULL), out);
	expect_usage(run(out, "--db", "x", "--epochs", "0", NULL), out);
	expect_usage(run(out, "--db", "x", "--batch-size", "8.5", NULL), out);
	expect_usage(run(out, "--db", "x", "--val-split", "1", NULL), out);
	expect_usage(run(out, "--db", "x", "extra", NULL), out);
	expect_usage(run(out, "--db", "x", "--lr", "1e-3,1e-2", "--trace", "t.h5", NULL), out);
	assert_non_null(strstr(slurp(out), "--trace records one run"));
	/* --check-options: the whole command line checked, options against
	 * each other too, and nothing read (no store x) or written. */
	assert_int_equal(run(out, "--db", "x", "--out", path_in("never.h5"),
			     "--check-options", NULL), 0);
	assert_string_equal(slurp(out), "");
	assert_int_equal(access(path_in("never.h5"), F_OK), -1);
	expect_usage(run(out, "--db", "x", "--restore-best", "--check-options", NULL), out);
	assert_non_null(strstr(slurp(out), "--restore-best is EarlyStopping's"));
}

/* usage_says: exit 2 with a message holding needle (the arguments
 * NULL-terminated after it). */
static void usage_says(const char *needle, ...)
{
	const char *out = path_in("usage2.txt");
	char *argv[32] = {(char *)PROG, (char *)"--db", (char *)"x"};
	int n = 3;
	va_list ap;
	va_start(ap, needle);
	for (char *a; (a = va_arg(ap, char *)) && n < 31;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	int st = proc_run(argv, out);
	if (st != 2 || !strstr(slurp(out), needle))
		fail_msg("%s %s: status %d, wanted 2 and '%s'; got:\n%s", argv[3],
			 n > 4 ? argv[4] : "", st, needle, slurp(out));
}

/* Every option of the head's tuning, with bad values: a clear message and
 * exit 2, before the store is opened. */
static void test_usage_tuning(void **state)
{
	(void)state;
	usage_says("not an integer", "--hidden", "wide", NULL);
	usage_says("out of range", "--hidden", "-1", NULL);
	usage_says("not an integer", "--hidden", "2.5", NULL);
	usage_says("empty value", "--hidden", "8,", NULL);
	usage_says("out of range", "--dropout", "-0.1", NULL);
	usage_says("below 1", "--dropout", "1", NULL);
	usage_says("out of range", "--dropout", "0.2,1.5", NULL);
	usage_says("out of range", "--label-smoothing", "1.1", NULL);
	usage_says("not", "--label-smoothing", "some", NULL);
	usage_says("empty value", "--class-weight", "", NULL);
	usage_says("empty value", "--class-weight", "none,,balanced", NULL);
	usage_says("not one of constant, cosine", "--lr-schedule", "linear", NULL);
	usage_says("not an integer", "--patience", "soon", NULL);
	usage_says("out of range", "--patience", "-1", NULL);
	usage_says("not one of val_loss, val_accuracy, loss, accuracy", "--patience",
		   "2", "--monitor", "val_acc", NULL);
	usage_says("out of range", "--patience", "2", "--min-delta", "-1", NULL);
	usage_says("below 1", "--reduce-lr", "1", NULL);
	usage_says("out of range", "--reduce-lr", "0", NULL);
	usage_says("out of range", "--reduce-lr", "0.5", "--reduce-lr-patience", "-2", NULL);
	usage_says("out of range", "--reduce-lr", "0.5", "--min-lr", "-1e-5", NULL);
	usage_says("out of range", "--test-split", "0.99", NULL);
	usage_says("more than 0.95 together", "--val-split", "0.5", "--test-split", "0.5",
		   NULL);
	usage_says("needs a value", "--confusion", NULL);
	usage_says("takes no value", "--restore-best=yes", NULL);
	/* The callbacks' options without their callback. */
	usage_says("give --patience", "--restore-best", NULL);
	usage_says("give --patience", "--min-delta", "0.1", NULL);
	usage_says("give one", "--monitor", "val_accuracy", NULL);
	usage_says("give --reduce-lr", "--reduce-lr-patience", "3", NULL);
	usage_says("give --reduce-lr", "--min-lr", "1e-6", NULL);
	usage_says("cannot set a schedule", "--reduce-lr", "0.5", "--lr-schedule",
		   "constant,cosine", NULL);
	/* A value given twice would train one run twice ("1e-4" and
	 * "0.0001" are one value). */
	usage_says("--lr: 0.0001 is given twice; a sweep would train that run twice",
		   "--lr", "1e-4,3e-4,0.0001", NULL);
	usage_says("--batch-size: 32 is given twice", "--batch-size", "32,32", NULL);
	usage_says("--lr-schedule: 'cosine' is given twice", "--lr-schedule",
		   "cosine,constant,cosine", NULL);
	usage_says("--class-weight: 'w.txt' is given twice", "--class-weight",
		   "w.txt,none,w.txt", NULL);
	usage_says("combinations, at most", "--hidden", "1,2,3,4,5,6,7,8", "--dropout",
		   "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7", "--lr", "1,2,3,4,5,6,7,8",
		   "--patience", "1,2,3,4,5,6,7,8,9", NULL);
}

static void test_errors(void **state)
{
	(void)state;
	const char *out = path_in("err.txt");
	char err[ERR_LEN];

	expect_error(out, run(out, "--db", path_in("nope.lmdb"), NULL),
		     "no such feature store");

	/* Not ours: a plain file, and a folder whose data.mdb is not LMDB. */
	const char *file = path_in("file.lmdb");
	assert_int_equal(tu_write_file(file, "hello", 5), 0);
	expect_error(out, run(out, "--db", file, NULL), "not a directory");
	const char *junk = path_in("junk.lmdb");
	assert_int_equal(mkdir(junk, 0755), 0);
	char data[600];
	snprintf(data, sizeof data, "%s/data.mdb", junk);
	static char noise[65536];
	for (size_t i = 0; i < sizeof noise; i++)
		noise[i] = (char)(i * 7 + 3);
	assert_int_equal(tu_write_file(data, noise, sizeof noise), 0);
	expect_error(out, run(out, "--db", junk, NULL), junk);

	/* Empty: the metadata without a record. */
	const char *empty = path_in("empty.lmdb");
	featdb_t *db;
	featdb_meta_t m = {.dim = 8, .dtype = FEATDB_F32, .nclasses = 2,
			   .classes = (char *[]){"a", "b"}};
	assert_int_equal(featdb_open(empty, FEATDB_CREATE, &db, err), 0);
	assert_int_equal(featdb_write(db, &m, 0, NULL, NULL, NULL, err), 0);
	featdb_close(db);
	expect_error(out, run(out, "--db", empty, NULL), "the store is empty");

	spec_t s = spec_default();
	s.K = 1;
	expect_error(out, run(out, "--db", make_store("one.lmdb", &s), NULL),
		     "only one class (c0)");

	/* A class seen only in valid/. */
	s = spec_default();
	s.all_valid = 2;
	expect_error(out, run(out, "--db", make_store("novalid.lmdb", &s), NULL),
		     "class 'c2' has no training records (30 for validation");

	/* Two extractions with different dimensions in one store. */
	s = spec_default();
	const char *mixed = make_store("mixed.lmdb", &s);
	s.D = 20;
	s.seed = 2;
	store_add(mixed, &s, 1);
	expect_error(out, run(out, "--db", mixed, NULL), "mixed dimensions");
	assert_non_null(strstr(slurp(out), "has 24 features, the store says 20"));
}

/* The columns of a history row, as read_history gives them. */
enum { H_EPOCH, H_LOSS, H_ACCURACY, H_VAL_LOSS, H_VAL_ACCURACY, H_LR, H_COLS };

/* Reads a history file, which must be what Keras' CSVLogger writes: the
 * header "epoch,accuracy,loss,val_accuracy,val_loss" (with "lr" after
 * loss when ReduceLROnPlateau logs it), \r\n line ends, epochs from 0.
 * rows receive the H_ columns, NAN for "NA" and for an absent lr. */
static int read_history(const char *path, double (*rows)[H_COLS], int max)
{
	static const char header[] = "epoch,accuracy,loss,val_accuracy,val_loss\r\n";
	static const char header_lr[] = "epoch,accuracy,loss,lr,val_accuracy,val_loss\r\n";
	char *text = tu_slurp(path);
	const char *s = text;
	int n = 0, lr = strncmp(s, header_lr, strlen(header_lr)) == 0;
	if (!lr && strncmp(s, header, strlen(header)) != 0)
		fail_msg("%s: header '%.60s', not CSVLogger's", path, s);
	s += strlen(lr ? header_lr : header);
	while (*s && n < max) {
		char f[6][32];
		int nf = lr ? 6 : 5;
		assert_int_equal(sscanf(s, lr ? "%31[^,],%31[^,],%31[^,],%31[^,],%31[^,],%31[^\r]"
					      : "%31[^,],%31[^,],%31[^,],%31[^,],%31[^\r]",
					f[0], f[1], f[2], f[3], f[4], f[5]), nf);
		static const int col[5] = {H_EPOCH, H_ACCURACY, H_LOSS, H_VAL_ACCURACY,
					   H_VAL_LOSS};
		static const int col_lr[6] = {H_EPOCH, H_ACCURACY, H_LOSS, H_LR,
					      H_VAL_ACCURACY, H_VAL_LOSS};
		rows[n][H_LR] = NAN;
		for (int i = 0; i < nf; i++)
			rows[n][lr ? col_lr[i] : col[i]] =
				strcmp(f[i], "NA") == 0 ? NAN : strtod(f[i], NULL);
		assert_int_equal(rows[n][H_EPOCH], n);
		s = strstr(s, "\r\n");
		assert_non_null(s);
		s += 2;
		n++;
	}
	free(text);
	return n;
}

static void test_train_output_history_and_head(void **state)
{
	(void)state;
	spec_t s = spec_default();
	s.test_every = 5;
	const char *store = make_store("basic.lmdb", &s);
	const char *out = path_in("basic.txt"), *hist = path_in("basic.csv");
	const char *head = path_in("basic.h5");

	assert_int_equal(run(out, "--db", store, "--epochs", "3", "--lr", "1e-2",
			     "--batch-size", "8", "--history", hist, "--out", head,
			     "--threads", "2", NULL), 0);
	const char *text = slurp(out);
	/* 90 records, 18 tagged test, so 72 of which about 20 % held out; the
	 * test set scored once at the end. */
	assert_non_null(strstr(text, "train-head: 18 for testing (tagged test by "
				     "extract), scored once at the end"));
	assert_non_null(strstr(text, "\ntest: 18 records: accuracy "));
	assert_non_null(strstr(text, "for validation (held out by --val-split 0.2)"));
	double rows[8][H_COLS];
	assert_int_equal(read_history(hist, rows, 8), 3);
	/* The Keras verbose=2 lines carry the CSV's numbers to 4 decimals. */
	size_t ntrain = 0;
	for (const char *l = text; l && !ntrain; l = strchr(l, '\n'), l = l ? l + 1 : l)
		if (sscanf(l, "train-head: %zu for training", &ntrain) != 1)
			ntrain = 0;
	assert_true(ntrain > 50 && ntrain < 66);
	for (int e = 0; e < 3; e++) {
		char line[256];
		size_t steps = (ntrain + 7) / 8;
		snprintf(line, sizeof line, "Epoch %d/3\n%zu/%zu - 0s - loss: %.4f - "
			 "accuracy: %.4f - val_loss: %.4f - val_accuracy: %.4f\n",
			 e + 1, steps, steps, rows[e][1], rows[e][2], rows[e][3], rows[e][4]);
		if (!strstr(text, line))
			fail_msg("missing line:\n%sin output:\n%s", line, text);
	}
	assert_true(rows[2][1] < rows[0][1]);

	head_t h;
	head_meta_t m;
	char err[ERR_LEN];
	assert_int_equal(head_load(head, &h, &m, err), 0);
	assert_int_equal(h.D, 24);
	assert_int_equal(h.K, 3);
	assert_int_equal(m.nclasses, 3);
	assert_string_equal(m.classes[2], "c2");
	assert_string_equal(m.fingerprint, "feedfacecafebeef");
	assert_string_equal(m.preprocess, model_info(MODEL_VGG16)->preprocess);
	assert_string_equal(m.model, model_info(MODEL_VGG16)->store_model);
	head_free(&h);
	head_meta_free(&m);

	/* -q: nothing at all on success. */
	assert_int_equal(run(out, "--db", store, "--epochs", "2", "-q", NULL), 0);
	assert_string_equal(slurp(out), "");
}

static void test_valid_tagged_and_f16(void **state)
{
	(void)state;
	spec_t s = spec_default();
	s.valid_every = 4;
	const char *f32 = make_store("v32.lmdb", &s);
	s.dtype = FEATDB_F16;
	const char *f16 = make_store("v16.lmdb", &s);
	const char *o32 = path_in("v32.txt"), *o16 = path_in("v16.txt");
	const char *h32 = path_in("v32.csv"), *h16 = path_in("v16.csv");

	assert_int_equal(run(o32, "--db", f32, "--epochs", "2", "--val-split", "0.3",
			     "--history", h32, NULL), 0);
	/* 8 of each class's 30 records are tagged valid. */
	assert_non_null(strstr(slurp(o32), "66 for training, 24 for validation (tagged "
				     "valid by extract)"));
	assert_non_null(strstr(slurp(o32), "--val-split is ignored"));
	assert_int_equal(run(o16, "--db", f16, "--epochs", "2", "--history", h16, NULL), 0);
	double r32[2][H_COLS], r16[2][H_COLS];
	assert_int_equal(read_history(h32, r32, 2), 2);
	assert_int_equal(read_history(h16, r16, 2), 2);
	/* Half precision moves the features by 1e-3 at most. */
	for (int e = 0; e < 2; e++)
		assert_true(fabs(r32[e][1] - r16[e][1]) < 1e-3);
}

static int load_head(const char *path, head_t *h)
{
	head_meta_t m;
	char err[ERR_LEN];
	int rc = head_load(path, h, &m, err);
	head_meta_free(&m);
	return rc;
}

/* ---- the suggested --min-prob -------------------------------------------- */

/* The store's records of one split (FEATDB_VALID, FEATDB_TEST), gathered
 * by featdb_foreach with collect_split. */
typedef struct split_set {
	int split, D;
	size_t n;
	float *x;  /* (n, D) the records tagged split */
	int *y;
} split_set_t;

static int collect_split(void *ctx, const char *key, size_t keylen,
			 const featdb_rec_t *rec, const char *why)
{
	split_set_t *v = ctx;
	(void)key, (void)keylen, (void)why;
	assert_non_null(rec);
	if (rec->split != v->split)
		return 0;
	v->x = realloc(v->x, (v->n + 1) * (size_t)v->D * sizeof *v->x);
	v->y = realloc(v->y, (v->n + 1) * sizeof *v->y);
	assert_true(v->x && v->y);
	featdb_rec_vector(rec, v->x + v->n * (size_t)v->D);
	v->y[v->n++] = rec->cls;
	return 0;
}

static int desc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x < y) - (x > y);
}

/* What train-head's suggestion line says. */
typedef struct suggestion {
	double p, keep;
	size_t kept, right, caught, wrong;
} suggestion_t;

static void parse_suggestion(const char *text, suggestion_t *g)
{
	const char *line = strstr(text, "train-head: predict --min-prob ");
	if (!line)
		fail_msg("no suggested --min-prob in:\n%s", text);
	if (sscanf(line, "train-head: predict --min-prob %lf keeps %zu of the %zu "
		   "correct validation answers (%*[^,], --keep %lf) and turns %zu of "
		   "the %zu wrong ones", &g->p, &g->kept, &g->right, &g->keep,
		   &g->caught, &g->wrong) != 6)
		fail_msg("cannot read: %.300s", line);
}

/* The suggestion, recomputed from the head file and the store's records
 * tagged valid with plain double arithmetic: the top-1 answers right and
 * wrong, the ceil(keep * right)-th most confident right one just above p
 * (6 decimals, rounded down), and the counts at p (train-head's float
 * logits differ from these by about 1e-6: answers that close to p may
 * count either way). */
static void check_suggestion(const char *store, const char *head,
			     const suggestion_t *g)
{
	split_set_t v = {.split = FEATDB_VALID};
	head_t h;
	char err[ERR_LEN];
	featdb_t *db = NULL;

	assert_int_equal(load_head(head, &h), 0);
	v.D = h.D;
	assert_int_equal(featdb_open(store, FEATDB_RDONLY, &db, err), 0);
	assert_int_equal(featdb_foreach(db, collect_split, &v, err), 0);
	featdb_close(db);
	double *right = malloc(v.n * sizeof *right), *wrong = malloc(v.n * sizeof *wrong);
	double *l = malloc((size_t)h.K * sizeof *l);
	size_t nr = 0, nw = 0;
	assert_true(right && wrong && l);
	for (size_t i = 0; i < v.n; i++) {
		int best = 0;
		double mx = -INFINITY, sum = 0;
		for (int k = 0; k < h.K; k++) {
			l[k] = h.layer[0].bias[k];
			for (int d = 0; d < h.D; d++)
				l[k] += (double)v.x[i * (size_t)h.D + d] *
					h.layer[0].kernel[(size_t)d * h.K + k];
			if (l[k] > mx)
				mx = l[k], best = k;
		}
		for (int k = 0; k < h.K; k++)
			sum += exp(l[k] - mx);
		if (best == v.y[i])
			right[nr++] = 1 / sum;
		else
			wrong[nw++] = 1 / sum;
	}
	assert_int_equal(g->right, nr);
	assert_int_equal(g->wrong, nw);
	assert_true(nr > 0);
	qsort(right, nr, sizeof *right, desc);
	size_t want = (size_t)ceil(g->keep * (double)nr - 1e-9);
	double pk = right[want - 1];
	if (!(g->p <= pk && g->p > pk - 2.2e-6))
		fail_msg("--min-prob %.6f, but the %zu-th of %zu right answers has %.9f",
			 g->p, want, nr, pk);
	/* The promise: at least keep of the right answers stay. */
	assert_true(g->kept >= want);
	size_t lo = 0, hi = 0;
	for (size_t i = 0; i < nr; i++)
		lo += right[i] >= g->p + 1e-6, hi += right[i] >= g->p - 1e-6;
	assert_true(g->kept >= lo && g->kept <= hi);
	lo = hi = 0;
	for (size_t i = 0; i < nw; i++)
		lo += wrong[i] < g->p - 1e-6, hi += wrong[i] < g->p + 1e-6;
	assert_true(g->caught >= lo && g->caught <= hi);
	print_message("--keep %g: --min-prob %.6f keeps %zu of %zu right, turns %zu of "
		      "%zu wrong into unknown\n", g->keep, g->p, g->kept, nr, g->caught, nw);
	free(right), free(wrong), free(l), free(v.x), free(v.y);
	head_free(&h);
}

/* After training, the line that tells predict's --min-prob: checked
 * against its definition for --keep 0.95 (the default), 0.7 and 1; absent
 * without a validation set or with -q; --keep out of range is a usage
 * error. */
static void test_min_prob_suggested(void **state)
{
	(void)state;
	spec_t s = spec_default();
	s.K = 5;
	s.per_class = 60;
	s.valid_every = 3; /* 20 of each class's 60 */
	s.noise = 2.4;     /* some validation answers wrong */
	const char *store = make_store("minprob.lmdb", &s);
	const char *out = path_in("minprob.txt"), *head = path_in("minprob.h5");
	static const char *const keeps[] = {NULL, "0.7", "1"};
	suggestion_t g;

	for (int i = 0; i < 3; i++) {
		int st = keeps[i] ?
			run(out, "--db", store, "--epochs", "5", "--lr", "1e-2", "--out",
			    head, "--keep", keeps[i], NULL) :
			run(out, "--db", store, "--epochs", "5", "--lr", "1e-2", "--out",
			    head, NULL);
		assert_int_equal(st, 0);
		parse_suggestion(slurp(out), &g);
		assert_true(g.keep == (keeps[i] ? strtod(keeps[i], NULL) : 0.95));
		check_suggestion(store, head, &g);
		if (i == 0)
			assert_true(g.wrong > 0 && g.caught > 0 && g.kept < g.right);
		if (i == 2)
			assert_int_equal(g.kept, g.right);
	}
	assert_int_equal(run(out, "--db", store, "--epochs", "1", "--val-split", "0",
			     "--out", head, NULL), 0);
	assert_int_equal(run(out, "--db", store, "--epochs", "1", "-q", NULL), 0);
	assert_null(strstr(slurp(out), "--min-prob"));
	spec_t none = spec_default();
	assert_int_equal(run(out, "--db", make_store("noval.lmdb", &none), "--epochs",
			     "1", "--val-split", "0", NULL), 0);
	assert_null(strstr(slurp(out), "--min-prob"));
	expect_usage(run(out, "--db", store, "--keep", "0", NULL), out);
	expect_usage(run(out, "--db", store, "--keep", "1.5", NULL), out);
	expect_usage(run(out, "--db", store, "--keep", "most", NULL), out);
}

/* The head records the store's model and preprocessing (VGG-Face's here;
 * VGG16's: test_train_output_history_and_head), for predict to check. */
static void test_head_records_model(void **state)
{
	(void)state;
	spec_t s = spec_default();
	s.vggface = 1;
	const char *store = make_store("vggface.lmdb", &s);
	const char *out = path_in("vggface.txt"), *head = path_in("vggface.h5");
	head_t h;
	head_meta_t m;
	char err[ERR_LEN];

	assert_int_equal(run(out, "--db", store, "--epochs", "1", "--out", head, "-q",
			     NULL), 0);
	assert_int_equal(head_load(head, &h, &m, err), 0);
	assert_string_equal(m.model, model_info(MODEL_VGGFACE)->store_model);
	assert_string_equal(m.preprocess, model_info(MODEL_VGGFACE)->preprocess);
	head_free(&h);
	head_meta_free(&m);
}

static void test_same_result_any_threads(void **state)
{
	(void)state;
	spec_t s = spec_default();
	s.D = 700; /* three stripes of the kernel */
	s.K = 5;
	const char *store = make_store("threads.lmdb", &s);
	const char *o1 = path_in("t1.txt"), *o2 = path_in("t2.txt"), *o3 = path_in("t3.txt");
	const char *a = path_in("t1.h5"), *b = path_in("t2.h5"), *c = path_in("t3.h5");
	head_t h1, h2, h3;

	assert_int_equal(run(o1, "--db", store, "--epochs", "3", "--l2", "1e-3",
			     "--threads", "1", "--out", a, "--seed", "9", NULL), 0);
	assert_int_equal(run(o2, "--db", store, "--epochs", "3", "--l2", "1e-3",
			     "--threads", "2", "--out", b, "--seed", "9", NULL), 0);
	assert_int_equal(run(o3, "--db", store, "--epochs", "3", "--l2", "1e-3",
			     "--threads", "2", "--out", c, "--seed", "10", NULL), 0);
	assert_int_equal(load_head(a, &h1), 0);
	assert_int_equal(load_head(b, &h2), 0);
	assert_int_equal(load_head(c, &h3), 0);
	size_t n = h1.nparams * sizeof(float);
	assert_memory_equal(h1.params, h2.params, n);
	assert_memory_not_equal(h1.params, h3.params, n);
	/* The printed epochs too (the last line holds the timing). */
	const char *t1 = slurp(o1), *t2 = slurp(o2);
	const char *e1 = strstr(t1, "Epoch 1/3"), *e2 = strstr(t2, "Epoch 1/3");
	assert_true(e1 && e2);
	assert_memory_equal(e1, e2, (size_t)(strstr(e1, "train-head: 1 run") - e1));
	head_free(&h1), head_free(&h2), head_free(&h3);
}

/* A sweep: every combination, a ranked table, and the head saved is the
 * best combination's at its best epoch, identical to a single run that
 * stops at that epoch. */
static void test_sweep(void **state)
{
	(void)state;
	spec_t s = spec_default();
	s.per_class = 40;
	const char *store = make_store("sweep.lmdb", &s);
	const char *out = path_in("sweep.txt"), *hist = path_in("sweep.csv");
	const char *head = path_in("sweep.h5"), *one = path_in("one.h5");
	const double lrs[2] = {1e-3, 3e-2};
	const int batches[2] = {8, 16};

	assert_int_equal(run(out, "--db", store, "--epochs", "4", "--lr", "1e-3,3e-2",
			     "--batch-size", "8,16", "--history", hist, "--out", head,
			     NULL), 0);
	const char *text = slurp(out);
	assert_non_null(strstr(text, "Run 4/4: lr 0.03, batch_size 16"));
	/* One CSVLogger file per run, sweep.runN.csv; runs vary lr fastest. */
	double rows[16][H_COLS];
	for (int r = 0; r < 4; r++) {
		char name[32];
		snprintf(name, sizeof name, "sweep.run%d.csv", r + 1);
		assert_int_equal(read_history(path_in(name), rows + 4 * r, 4), 4);
	}
	assert_int_equal(access(hist, F_OK), -1);
	int best = 0;
	for (int i = 1; i < 16; i++)
		if (rows[i][4] > rows[best][4] ||
		    (rows[i][4] == rows[best][4] && rows[i][3] < rows[best][3]))
			best = i;
	int run_i = best / 4, epoch = (int)rows[best][0] + 1;
	char lr[32], batch[32], epochs[32];
	snprintf(lr, sizeof lr, "%g", lrs[run_i % 2]);
	snprintf(batch, sizeof batch, "%d", batches[run_i / 2]);
	snprintf(epochs, sizeof epochs, "%d", epoch);
	/* The table: a header and four ranked rows, the best first. */
	const char *table = strstr(text, "\nrank ");
	assert_non_null(table);
	char first[128];
	snprintf(first, sizeof first, "\n   1  %10.3g %10d ", lrs[run_i % 2],
		 batches[run_i / 2]);
	if (!strstr(table, first))
		fail_msg("best run %d epoch %d not ranked first:\n%s", run_i + 1, epoch,
			 table);
	assert_non_null(strstr(table, "\n   4  "));
	/* Each row ends with its run's number: its history file's. */
	const char *row = strstr(table, "\n   1  "), *eol = strchr(row + 1, '\n');
	assert_non_null(eol);
	const char *last = eol;
	while (last[-1] != ' ')
		last--;
	assert_int_equal(atoi(last), run_i + 1);
	assert_non_null(strstr(table, "s/epoch    run\n"));
	char saved[64];
	snprintf(saved, sizeof saved, "run %d, epoch %d", run_i + 1, epoch);
	assert_non_null(strstr(text, saved));

	assert_int_equal(run(out, "--db", store, "--epochs", epochs, "--lr", lr,
			     "--batch-size", batch, "--out", one, NULL), 0);
	head_t h1, h2;
	assert_int_equal(load_head(head, &h1), 0);
	assert_int_equal(load_head(one, &h2), 0);
	assert_int_equal(h1.nparams, h2.nparams);
	assert_memory_equal(h1.params, h2.params, h1.nparams * sizeof(float));
	head_free(&h1), head_free(&h2);
}

/* ---- the test set --------------------------------------------------------- */

/* The records tagged test are scored once, by the chosen head: the
 * printed accuracy, top-5 accuracy and support, and the --confusion file,
 * against the head file run over the store's test records here. */
static void test_test_score(void **state)
{
	(void)state;
	spec_t s = spec_default();
	s.K = 7;
	s.per_class = 30;
	s.test_every = 3;
	s.noise = 3.5; /* some test answers wrong */
	const char *store = make_store("score.lmdb", &s);
	const char *out = path_in("score.txt"), *head = path_in("score.h5");
	const char *csv = path_in("score.csv");
	split_set_t v = {.split = FEATDB_TEST, .D = s.D};
	featdb_t *db;
	head_t h;
	char err[ERR_LEN];

	assert_int_equal(run(out, "--db", store, "--epochs", "4", "--lr", "1e-2", "--out",
			     head, "--confusion", csv, NULL), 0);
	assert_int_equal(load_head(head, &h), 0);
	assert_int_equal(featdb_open(store, FEATDB_RDONLY, &db, err), 0);
	assert_int_equal(featdb_foreach(db, collect_split, &v, err), 0);
	featdb_close(db);
	assert_int_equal(v.n, 70);
	long conf[7][7] = {{0}};
	size_t right = 0, top5 = 0;
	float logits[7], work[1];
	for (size_t i = 0; i < v.n; i++) {
		int best = 0, above = 0;
		head_forward(&h, v.x + i * (size_t)s.D, 1, logits, work);
		for (int k = 0; k < 7; k++) {
			best = logits[k] > logits[best] ? k : best;
			above += logits[k] > logits[v.y[i]];
		}
		conf[v.y[i]][best]++;
		right += best == v.y[i];
		top5 += above < 5;
	}
	char line[128];
	snprintf(line, sizeof line, "test: 70 records: accuracy %.4f - top-5 accuracy %.4f\n",
		 right / 70.0, top5 / 70.0);
	const char *text = slurp(out);
	if (!strstr(text, line))
		fail_msg("no '%s' in:\n%s", line, text);
	assert_true(right < 70 && right > 20);
	assert_non_null(strstr(text, "              precision    recall  f1-score   support\n"));
	assert_non_null(strstr(text, "\n    accuracy                           "));
	assert_non_null(strstr(text, "Most confused (test records answered as the other "
				     "person):\n"));
	/* The confusion matrix, row by row. */
	char want[2048] = "true\\predicted,c0,c1,c2,c3,c4,c5,c6\r\n";
	for (int a = 0; a < 7; a++) {
		size_t l = strlen(want);
		l += (size_t)snprintf(want + l, sizeof want - l, "c%d", a);
		for (int b = 0; b < 7; b++)
			l += (size_t)snprintf(want + l, sizeof want - l, ",%ld", conf[a][b]);
		snprintf(want + l, sizeof want - l, "\r\n");
	}
	assert_string_equal(slurp(csv), want);
	head_free(&h);
	free(v.x), free(v.y);

	/* -q: the score is not printed, the matrix still written. */
	assert_int_equal(unlink(csv), 0);
	assert_int_equal(run(out, "--db", store, "--epochs", "1", "-q", "--confusion", csv,
			     NULL), 0);
	assert_string_equal(slurp(out), "");
	assert_int_equal(access(csv, R_OK), 0);

	/* A sweep chooses on validation and scores the chosen run alone. */
	assert_int_equal(run(out, "--db", store, "--epochs", "2", "--lr", "1e-3,1e-2",
			     NULL), 0);
	text = slurp(out);
	const char *first = strstr(text, "\ntest: ");
	assert_non_null(first);
	assert_null(strstr(first + 1, "\ntest: "));
	assert_non_null(strstr(text, "The chosen head: run "));

	/* Nothing tagged test: --test-split holds out the top of the keys'
	 * hashes; without it, --confusion has nothing to score. */
	spec_t t = spec_default();
	const char *plain = make_store("score_plain.lmdb", &t);
	assert_int_equal(run(out, "--db", plain, "--epochs", "1", "--test-split", "0.25",
			     NULL), 0);
	assert_non_null(strstr(slurp(out), "for testing (held out by --test-split 0.25)"));
	assert_non_null(strstr(slurp(out), "\ntest: "));
	expect_error(out, run(out, "--db", plain, "--epochs", "1", "--confusion", csv, "-q",
			      NULL), "--confusion: no test set");
	/* Records tagged test win over --test-split. */
	assert_int_equal(run(out, "--db", store, "--epochs", "1", "--test-split", "0.25",
			     NULL), 0);
	assert_non_null(strstr(slurp(out), "--test-split is ignored"));
	assert_non_null(strstr(slurp(out), "70 for testing (tagged test by extract)"));
}

/* --class-weight: balanced is sklearn's n_samples / (n_classes * count)
 * over the training set, the same head as a file with those weights;
 * none is no weights; a file's faults are named; a FIFO is read, or said
 * to have nothing written to it. */
static void test_class_weight(void **state)
{
	(void)state;
	spec_t s = spec_default();
	s.per_class = 30;
	s.imbalance = 5; /* 30, 25, 20 records */
	const char *store = make_store("weights.lmdb", &s);
	const char *out = path_in("weights.txt"), *file = path_in("weights.csv");
	const char *a = path_in("w_bal.h5"), *b = path_in("w_file.h5");
	const char *c = path_in("w_none.h5"), *d = path_in("w_plain.h5");
	head_t ha, hb, hc, hd, he;

#define W_ARGS "--db", (char *)store, "--epochs", "2", "--lr", "1e-2", "--val-split", "0", "-q"
	assert_int_equal(run(out, W_ARGS, "--class-weight", "balanced", "--out", a, NULL), 0);
	/* 75 records: 75 / (3 * 30), 75 / (3 * 25), 75 / (3 * 20). */
	const char *wf = "# weights\nc2,1.25\r\n\nc0,0.8333333333333334\nc1,1\n";
	assert_int_equal(tu_write_file(file, wf, strlen(wf)), 0);
	assert_int_equal(run(out, W_ARGS, "--class-weight", file, "--out", b, NULL), 0);
	assert_int_equal(run(out, W_ARGS, "--class-weight", "none", "--out", c, NULL), 0);
	assert_int_equal(run(out, W_ARGS, "--out", d, NULL), 0);
	assert_int_equal(load_head(a, &ha), 0);
	assert_int_equal(load_head(b, &hb), 0);
	assert_int_equal(load_head(c, &hc), 0);
	assert_int_equal(load_head(d, &hd), 0);
	size_t n = ha.nparams * sizeof(float);
	assert_memory_equal(ha.params, hb.params, n);
	assert_memory_equal(hc.params, hd.params, n);
	assert_memory_not_equal(ha.params, hc.params, n);
	head_free(&ha), head_free(&hb), head_free(&hc), head_free(&hd);

	static const struct { const char *text, *needle; } bad[] = {
		{"c0,1\nc1,1\n", "class 'c2' has no weight"},
		{"c0,1\nc1,1\nc2,1\nbob,2\n", "line 4: 'bob' is not a class"},
		{"c0,1\nc1,1\nc0,2\nc2,1\n", "line 3: class 'c0' is listed twice"},
		{"c0,1\nc1,heavy\nc2,1\n", "line 2: 'heavy' is not a weight"},
		{"c0,1\nc1,-1\nc2,1\n", "line 2: '-1' is not a weight"},
		{"c0 1\n", "line 1: not NAME,WEIGHT"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(tu_write_file(file, bad[i].text, strlen(bad[i].text)), 0);
		expect_error(out, run(out, W_ARGS, "--class-weight", file, NULL), bad[i].needle);
	}
	expect_error(out, run(out, W_ARGS, "--class-weight", path_in("none.csv"), NULL),
		     "No such file");

	/* A FIFO with nothing writing to it: said at once (its open once
	 * waited for a writer, forever; a hang is killed after 300 s).  One
	 * whose writer is slow gives the file's weights, and the file's head. */
	const char *fifo = path_in("weights.fifo"), *e = path_in("w_fifo.h5");
	assert_int_equal(mkfifo(fifo, 0644), 0);
	char *argv[] = {PROG, W_ARGS, "--class-weight", (char *)fifo, "--out", (char *)e,
			NULL};
	char want[600];
	snprintf(want, sizeof want, "--class-weight %s: a FIFO or pipe with nothing "
		 "written to it", fifo);
	expect_error(out, proc_run_bounded(argv, out, 300), want);
	assert_int_equal(unlink(fifo), 0);
	pid_t writer = proc_fifo_writer(fifo, wf, strlen(wf), 300);
	assert_true(writer > 0);
	assert_int_equal(proc_run_bounded(argv, out, 300), 0);
	assert_int_equal(proc_wait_bounded(writer, 300), 0);
	assert_int_equal(load_head(b, &hb), 0);
	assert_int_equal(load_head(e, &he), 0);
	assert_memory_equal(hb.params, he.params, hb.nparams * sizeof(float));
	head_free(&hb), head_free(&he);
	unlink(fifo);
#undef W_ARGS
}

/* EarlyStopping: training stops after patience epochs without a better
 * val_loss, and with --restore-best the head saved is the best epoch's:
 * the same bits as a run of that many epochs. */
static void test_early_stopping(void **state)
{
	(void)state;
	spec_t s = spec_default();
	s.per_class = 40;
	s.noise = 6; /* the classes overlap: val_loss turns up */
	const char *store = make_store("early.lmdb", &s);
	const char *out = path_in("early.txt"), *hist = path_in("early.csv");
	const char *head = path_in("early.h5"), *one = path_in("early_one.h5");
	double rows[64][H_COLS];
	head_t h1, h2;
	char epochs[16], line[96];

	assert_int_equal(run(out, "--db", store, "--epochs", "60", "--lr", "3e-2",
			     "--patience", "2", "--restore-best", "--history", hist, "--out",
			     head, NULL), 0);
	int ran = read_history(hist, rows, 64), best = 0;
	if (!(ran > 3 && ran < 60))
		fail_msg("ran %d epochs:\n%s", ran, slurp(hist));
	for (int e = 1; e < ran; e++)
		if ((float)rows[e][H_VAL_LOSS] < (float)rows[best][H_VAL_LOSS])
			best = e;
	/* patience 2: the two epochs after the best did no better. */
	assert_int_equal(ran, best + 3);
	snprintf(line, sizeof line, "Epoch %d: early stopping\n", ran);
	assert_non_null(strstr(slurp(out), line));
	snprintf(line, sizeof line, "the end of the best epoch: %d.\n", best + 1);
	assert_non_null(strstr(slurp(out), line));
	snprintf(epochs, sizeof epochs, "%d", best + 1);
	assert_int_equal(run(out, "--db", store, "--epochs", epochs, "--lr", "3e-2", "--out",
			     one, NULL), 0);
	assert_int_equal(load_head(head, &h1), 0);
	assert_int_equal(load_head(one, &h2), 0);
	assert_memory_equal(h1.params, h2.params, h1.nparams * sizeof(float));
	head_free(&h1), head_free(&h2);

	/* Without --restore-best, the last epoch's, as Keras. */
	assert_int_equal(run(out, "--db", store, "--epochs", "60", "--lr", "3e-2",
			     "--patience", "2", "--out", head, NULL), 0);
	snprintf(epochs, sizeof epochs, "%d", ran);
	assert_int_equal(run(out, "--db", store, "--epochs", epochs, "--lr", "3e-2", "--out",
			     one, NULL), 0);
	assert_int_equal(load_head(head, &h1), 0);
	assert_int_equal(load_head(one, &h2), 0);
	assert_memory_equal(h1.params, h2.params, h1.nparams * sizeof(float));
	head_free(&h1), head_free(&h2);

	/* A callback that watches val_loss needs a validation set. */
	expect_error(out, run(out, "--db", store, "--val-split", "0", "--patience", "2", "-q",
			      NULL), "--patience watches val_loss, but there is no validation set");
	expect_error(out, run(out, "--db", store, "--val-split", "0", "--reduce-lr", "0.5",
			      "--monitor", "val_accuracy", "-q", NULL),
		     "--reduce-lr watches val_accuracy");
	assert_int_equal(run(out, "--db", store, "--val-split", "0", "--epochs", "2",
			     "--patience", "1", "--monitor", "loss", "-q", NULL), 0);
}

/* ReduceLROnPlateau: the history gains Keras' lr column, each rate the
 * last or the last times the factor (in float32), never below --min-lr;
 * the epoch line shows it as Keras does. */
static void test_reduce_lr(void **state)
{
	(void)state;
	spec_t s = spec_default();
	s.per_class = 40;
	s.noise = 6; /* the classes overlap: val_loss stalls */
	const char *store = make_store("plateau.lmdb", &s);
	const char *out = path_in("plateau.txt"), *hist = path_in("plateau.csv");
	double rows[32][H_COLS];

	assert_int_equal(run(out, "--db", store, "--epochs", "25", "--lr", "3e-2",
			     "--reduce-lr", "0.5", "--reduce-lr-patience", "1", "--min-lr",
			     "1e-2", "--history", hist, NULL), 0);
	assert_int_equal(read_history(hist, rows, 32), 25);
	int reduced = 0;
	assert_true((float)rows[0][H_LR] == 3e-2f);
	for (int e = 1; e < 25; e++) {
		float last = (float)rows[e - 1][H_LR], now = (float)rows[e][H_LR];
		float half = last * 0.5f;
		assert_true(now == last || now == (half < 1e-2f ? 1e-2f : half));
		reduced += now != last;
		assert_true(now >= 1e-2f);
	}
	if (reduced < 2)
		fail_msg("reduced %d times:\n%s", reduced, slurp(hist));
	assert_non_null(strstr(slurp(out), " - lr: 0.0300\n"));
	assert_non_null(strstr(slurp(out), "ReduceLROnPlateau reducing learning rate to 0.015."));
	/* The floor: 0.015 halved is 0.0075, below --min-lr. */
	assert_non_null(strstr(slurp(out), "ReduceLROnPlateau reducing learning rate to 0.01."));
	assert_non_null(strstr(slurp(out), " - lr: 0.0100\n"));
}

/* A hidden layer with dropout: a two-layer head file, the same bits on 1
 * and 2 threads (the masks drawn by position), other bits with another
 * seed; predict reads it (test_predict). */
static void test_hidden_dropout(void **state)
{
	(void)state;
	spec_t s = spec_default();
	s.D = 600; /* three stripes of the first kernel */
	const char *store = make_store("hidden.lmdb", &s);
	const char *out = path_in("hidden.txt");
	const char *a = path_in("hd1.h5"), *b = path_in("hd2.h5"), *c = path_in("hd3.h5");
	head_t h1, h2, h3;

	assert_int_equal(run(out, "--db", store, "--epochs", "3", "--hidden", "12",
			     "--dropout", "0.3", "--threads", "1", "--out", a, NULL), 0);
	assert_int_equal(run(out, "--db", store, "--epochs", "3", "--hidden", "12",
			     "--dropout", "0.3", "--threads", "2", "--out", b, NULL), 0);
	assert_int_equal(run(out, "--db", store, "--epochs", "3", "--hidden", "12",
			     "--dropout", "0.3", "--seed", "1", "--out", c, NULL), 0);
	assert_int_equal(load_head(a, &h1), 0);
	assert_int_equal(load_head(b, &h2), 0);
	assert_int_equal(load_head(c, &h3), 0);
	assert_int_equal(h1.nlayers, 2);
	assert_int_equal(h1.layer[0].in, 600);
	assert_int_equal(h1.layer[0].out, 12);
	assert_int_equal(h1.layer[1].out, 3);
	assert_memory_equal(h1.params, h2.params, h1.nparams * sizeof(float));
	assert_memory_not_equal(h1.params, h3.params, h1.nparams * sizeof(float));
	head_free(&h1), head_free(&h2), head_free(&h3);
}

/* A sweep's table shows the options that vary, and its Run lines name
 * them. */
static void test_sweep_columns(void **state)
{
	(void)state;
	spec_t s = spec_default();
	const char *store = make_store("columns.lmdb", &s);
	const char *out = path_in("columns.txt");

	assert_int_equal(run(out, "--db", store, "--epochs", "2", "--hidden", "0,4",
			     "--label-smoothing", "0,0.1", "--lr-schedule", "cosine",
			     "--class-weight", "none,balanced", NULL), 0);
	const char *text = slurp(out);
	assert_non_null(strstr(text, "Run 1/8: hidden 0, label_smoothing 0, class_weight none\n"));
	assert_non_null(strstr(text, "Run 8/8: hidden 4, label_smoothing 0.1, class_weight "
				     "balanced\n"));
	const char *table = strstr(text, "\nrank ");
	assert_non_null(table);
	char header[256];
	snprintf(header, sizeof header, "\nrank  %10s %15s %12s  epoch      loss", "hidden",
		 "label_smoothing", "class_weight");
	assert_non_null(strstr(text, header));
	assert_null(strstr(table, "beta1"));
	assert_null(strstr(table, "lr_schedule"));
	assert_non_null(strstr(table, "\n   8  "));
}

/* Runs train-head with the file size limited to limit bytes, so that
 * writing the head fails after the store was read. */
static int run_limited(const char *out, rlim_t limit, char *const argv[])
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit rl = {limit, limit};
		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(126);
		FILE *f = freopen(out, "w", stdout);
		if (!f || dup2(1, 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	return proc_wait(pid);
}

static void test_head_written_atomically(void **state)
{
	(void)state;
	spec_t s = spec_default();
	s.D = 512;
	s.K = 8;
	s.per_class = 5;
	const char *store = make_store("atomic.lmdb", &s);
	const char *out = path_in("atomic.txt");
	char dir[600], head[700];

	snprintf(dir, sizeof dir, "%s/heads", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(head, sizeof head, "%s/head.h5", dir);
	/* The old head, one train-head wrote (it replaces no other file). */
	assert_int_equal(run(out, "--db", store, "--epochs", "1", "--seed", "4", "-q",
			     "--out", head, NULL), 0);
	size_t old_len;
	uint8_t *old = tu_read_file(head, &old_len);
	assert_non_null(old);
	/* 16 KB: enough for the store's lock file, not for a 16 KB kernel. */
	char *argv[] = {(char *)PROG, (char *)"--db", (char *)store, (char *)"--epochs",
			(char *)"1", (char *)"-q", (char *)"--out", head, NULL};
	expect_error(out, run_limited(out, 16384, argv), "File too large");
	size_t now_len;
	uint8_t *now = tu_read_file(head, &now_len);
	assert_non_null(now);
	assert_int_equal(now_len, old_len);
	assert_memory_equal(now, old, old_len);
	free(old), free(now);
	/* Nothing is left behind but the old file. */
	DIR *d = opendir(dir);
	struct dirent *e;
	int entries = 0;
	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			entries++;
	closedir(d);
	assert_int_equal(entries, 1);

	/* Into a folder that does not exist: the reason, before any rename. */
	snprintf(head, sizeof head, "%s/no/such/head.h5", tmpdir);
	expect_error(out, run(out, "--db", store, "--epochs", "1", "-q", "--out", head, NULL),
		     "No such file or directory");

	/* And without the limit it replaces the old file. */
	snprintf(head, sizeof head, "%s/head.h5", dir);
	assert_int_equal(run(out, "--db", store, "--epochs", "1", "--out", head, NULL), 0);
	head_t h;
	assert_int_equal(load_head(head, &h), 0);
	assert_int_equal(h.K, 8);
	head_free(&h);
}

/* ---- where the head goes ------------------------------------------------------ */

/* The last line of text (without its newline), in a static buffer. */
static const char *last_line(const char *text)
{
	static char line[1024];
	size_t n = strlen(text);
	while (n && text[n - 1] == '\n')
		n--;
	size_t b = n;
	while (b && text[b - 1] != '\n')
		b--;
	snprintf(line, sizeof line, "%.*s", (int)(n - b), text + b);
	return line;
}

/* Without --out the head goes to head.h5 in the current folder, and the
 * last line says so; a sweep's is its best run's, at its best epoch. */
static void test_default_out(void **state)
{
	(void)state;
	spec_t s = spec_default();
	const char *store = make_store("default.lmdb", &s);
	const char *out = path_in("default.txt"), *head = path_in("head.h5");
	head_t h, one;

	unlink(head);
	assert_int_equal(run(out, "--db", store, "--epochs", "2", NULL), 0);
	const char *line = last_line(slurp(out));
	if (!strstr(line, "train-head: 1 run of 2 epochs, ") ||
	    !strstr(line, "; the head is in head.h5"))
		fail_msg("last line: '%s'", line);
	assert_int_equal(load_head(head, &h), 0);
	assert_int_equal(h.K, 3);
	/* The same as --out names it. */
	assert_int_equal(run(out, "--db", store, "--epochs", "2", "-q", "--out",
			     path_in("named.h5"), NULL), 0);
	assert_int_equal(load_head(path_in("named.h5"), &one), 0);
	assert_int_equal(h.nparams, one.nparams);
	assert_memory_equal(h.params, one.params, h.nparams * sizeof(float));
	head_free(&h), head_free(&one);

	/* A sweep: the best run's head, and the line says which it is. */
	assert_int_equal(run(out, "--db", store, "--epochs", "3", "--lr", "1e-4,1e-2",
			     NULL), 0);
	int run_i, epoch;
	line = last_line(slurp(out));
	const char *at = strstr(line, "; the head (run ");
	if (!at || !strstr(line, "train-head: 2 runs, 6 epochs in all, ") ||
	    sscanf(at, "; the head (run %d, epoch %d, the best) is in head.h5",
		   &run_i, &epoch) != 2)
		fail_msg("last line: '%s'", line);
	char best[64];
	snprintf(best, sizeof best, "%d", epoch);
	assert_int_equal(run(out, "--db", store, "--epochs", best, "--lr",
			     run_i == 1 ? "1e-4" : "1e-2", "-q", "--out",
			     path_in("best.h5"), NULL), 0);
	assert_int_equal(load_head(head, &h), 0);
	assert_int_equal(load_head(path_in("best.h5"), &one), 0);
	assert_int_equal(h.nparams, one.nparams);
	assert_memory_equal(h.params, one.params, h.nparams * sizeof(float));
	head_free(&h), head_free(&one);
}

/* A file that is not a head train-head wrote is never replaced: the run
 * stops before training, with one line that says why and what to do. */
static void test_out_refuses_other_files(void **state)
{
	(void)state;
	spec_t s = spec_default();
	const char *store = make_store("refuse.lmdb", &s);
	const char *out = path_in("refuse.txt");
	const char *photo = path_in("photo.h5"), *empty = path_in("keras.h5");
	const char *folder = path_in("folder.h5");

	assert_int_equal(tu_write_file(photo, "\xff\xd8\xff\xe0 a JPEG", 12), 0);
	expect_error(out, run(out, "--db", store, "--out", photo, NULL),
		     "photo.h5 exists and is not a head file (not an HDF5 file); "
		     "train-head replaces only a head it wrote: move that file away or "
		     "give another --out");
	assert_null(strstr(slurp(out), "Epoch"));
	assert_memory_equal(slurp(photo), "\xff\xd8\xff\xe0 a JPEG", 12);

	/* HDF5, but no head: a Keras file of the user's, say. */
	hid_t f = H5Fcreate(empty, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(f >= 0);
	H5Fclose(f);
	size_t len;
	uint8_t *before = tu_read_file(empty, &len), *after;
	expect_error(out, run(out, "--db", store, "--out", empty, NULL),
		     "keras.h5 exists and is not a head file (");
	size_t len2;
	after = tu_read_file(empty, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(before, after, len);
	free(before), free(after);

	assert_int_equal(mkdir(folder, 0755), 0);
	expect_error(out, run(out, "--db", store, "--out", folder, NULL),
		     "folder.h5 is a folder; --out names the head's file");

	/* The default path obeys the same rule. */
	const char *dflt = path_in("head.h5");
	unlink(dflt);
	assert_int_equal(tu_write_file(dflt, "epoch,loss\n", 11), 0);
	expect_error(out, run(out, "--db", store, NULL),
		     "head.h5 exists and is not a head file (not an HDF5 file)");
	assert_string_equal(slurp(dflt), "epoch,loss\n");
	unlink(dflt);
}

/* The entries of folder dir whose names hold ".tmp." (temporary files
 * left behind). */
static int temporaries_in(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		n += strstr(e->d_name, ".tmp.") != NULL;
	closedir(d);
	return n;
}

/* --out through a symbolic link writes the file the link names and keeps
 * the link, as cp, a shell's > and Keras' model.save(path) do (the head
 * used to be renamed over the link: the link became a file, the file it
 * named stayed old).  A dangling link's file is made where it points.  A
 * link to a photo is a photo: refused before training, the photo as it
 * was byte for byte, the link still a link. */
static void test_out_through_link(void **state)
{
	(void)state;
	spec_t s = spec_default();
	const char *store = make_store("link.lmdb", &s);
	const char *out = path_in("link.txt"), *link = path_in("link.h5");
	const char *dangling = path_in("dangling.h5"), *tophoto = path_in("tophoto.h5");
	char dir[600], real[700], later[700], photo[700], want[1400], to[700];
	struct stat st;
	head_t h;

	snprintf(dir, sizeof dir, "%s/linked", tmpdir);
	snprintf(real, sizeof real, "%s/real.h5", dir);
	snprintf(later, sizeof later, "%s/later.h5", dir);
	snprintf(photo, sizeof photo, "%s/me.jpg", dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(symlink("linked/real.h5", link), 0);
	assert_int_equal(run(out, "--db", store, "--epochs", "1", "--seed", "4", "-q",
			     "--out", real, NULL), 0);
	size_t old_len, new_len;
	uint8_t *old = tu_read_file(real, &old_len);
	assert_non_null(old);
	assert_int_equal(run(out, "--db", store, "--epochs", "3", "--seed", "5", "-q",
			     "--out", link, NULL), 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	ssize_t n = readlink(link, to, sizeof to - 1);
	assert_true(n > 0);
	to[n] = '\0';
	assert_string_equal(to, "linked/real.h5");
	uint8_t *now = tu_read_file(real, &new_len);
	assert_non_null(now);
	assert_true(new_len != old_len || memcmp(now, old, old_len) != 0);
	free(old), free(now);
	assert_int_equal(load_head(link, &h), 0);
	assert_int_equal(h.K, 3);
	head_free(&h);
	assert_int_equal(temporaries_in(dir), 0);
	assert_int_equal(temporaries_in(tmpdir), 0);

	assert_int_equal(symlink("linked/later.h5", dangling), 0);
	assert_int_equal(run(out, "--db", store, "--epochs", "1", "-q", "--out", dangling,
			     NULL), 0);
	assert_int_equal(lstat(dangling, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(load_head(later, &h), 0);
	head_free(&h);

	static const char jpeg[] = "\xff\xd8\xff\xe0 a JPEG";
	assert_int_equal(tu_write_file(photo, jpeg, sizeof jpeg - 1), 0);
	assert_int_equal(symlink("linked/me.jpg", tophoto), 0);
	snprintf(want, sizeof want, "tophoto.h5 (a link to %s/linked/me.jpg) exists and "
		 "is not a head file (not an HDF5 file); train-head replaces only a head "
		 "it wrote", tmpdir);
	expect_error(out, run(out, "--db", store, "--out", tophoto, NULL), want);
	tu_assert_file_holds(photo, jpeg, sizeof jpeg - 1);
	assert_int_equal(lstat(tophoto, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
}

/* --confusion's file is written after the training, so a missing folder,
 * a link that leads back to itself or a read-only disk was found only
 * then: the training's time lost, the run failed, the matrix not written.
 * Now each is refused before training, in one line, nothing written.
 * The same holds for --trace's file (development's), which also said only
 * "cannot create" after the training. */
static void test_confusion_checked_first(void **state)
{
	(void)state;
	spec_t s = spec_default();
	const char *store = make_store("confirst.lmdb", &s);
	const char *out = path_in("confirst.txt"), *head = path_in("confirst.h5");
	const char *loop = path_in("conlooping"), *disk = path_in("condisk");
	char csv[600], want[1400];

	snprintf(csv, sizeof csv, "%s/c.csv", path_in("nowhere"));
	snprintf(want, sizeof want, "--confusion %s: No such file or directory", csv);
	expect_error(out, run(out, "--db", store, "--epochs", "1", "-q", "--test-split", "0.25",
			      "--out", head, "--confusion", csv, NULL), want);
	assert_false(tu_exists(head));
	snprintf(want, sizeof want, "--trace %s: No such file or directory", csv);
	expect_error(out, run(out, "--db", store, "--epochs", "1", "-q", "--out", head,
			      "--trace", csv, NULL), want);
	assert_false(tu_exists(head));

	assert_int_equal(symlink("conlooping", loop), 0);
	snprintf(want, sizeof want, "--confusion %s: Too many levels of symbolic links; "
		 "a symbolic link on the way leads back to itself", loop);
	expect_error(out, run(out, "--db", store, "--epochs", "1", "-q", "--test-split", "0.25",
			      "--out", head, "--confusion", loop, NULL), want);
	assert_false(tu_exists(head));
	unlink(loop);

	if (e2e_mount_tmpfs(disk, "16k"))
		skip(); /* not root, or no mount(8) */
	snprintf(csv, sizeof csv, "%s/c.csv", disk);
	int ro = mount("none", disk, "none", MS_REMOUNT | MS_RDONLY, NULL);
	int st = ro ? -1 : run(out, "--db", store, "--epochs", "1", "-q", "--test-split", "0.25",
			       "--out", head, "--confusion", csv, NULL);
	assert_int_equal(e2e_umount(disk), 0);
	assert_int_equal(ro, 0);
	snprintf(want, sizeof want, "--confusion %s: Read-only file system", csv);
	expect_error(out, st, want);
	assert_false(tu_exists(head));
}

/* --out or --history a symbolic link that leads back to itself said only
 * "Too many levels of symbolic links"; it now says what to do, before
 * training, nothing written. */
static void test_output_link_loop(void **state)
{
	(void)state;
	spec_t s = spec_default();
	const char *store = make_store("looped.lmdb", &s);
	const char *out = path_in("looped.txt"), *head = path_in("looped.h5");
	const char *loop = path_in("looping");
	char want[1400];

	assert_int_equal(symlink("looping", loop), 0);
	snprintf(want, sizeof want, "%s: Too many levels of symbolic links; a symbolic "
		 "link on the way leads back to itself: fix the link or name another "
		 "path", loop);
	expect_error(out, run(out, "--db", store, "--epochs", "1", "-q", "--out", loop,
			      NULL), want);
	expect_error(out, run(out, "--db", store, "--epochs", "1", "-q", "--out", head,
			      "--history", loop, NULL), want);
	assert_false(tu_exists(head));
	unlink(loop);
}

/* No two outputs are one file, however the paths spell it (a link, ./x),
 * and none is a file of the store: refused before training, each file as
 * it was.  --history feats.lmdb/data.mdb used to replace the store with a
 * CSV and exit 0; --confusion naming the head replaced the head just
 * saved; --history naming it failed with a temporary file's ENOENT.  A
 * stream or a device may take several (/dev/null here). */
static void test_outputs_one_file(void **state)
{
	(void)state;
	spec_t s = spec_default();
	s.test_every = 3;
	const char *store = make_store("onefile.lmdb", &s);
	const char *out = path_in("onefile.txt"), *head = path_in("onefile.h5");
	const char *link = path_in("onefile-link.csv"), *csv = path_in("onefile.csv");
	char data[600], dotted[700], want[1800];
	size_t len;

	snprintf(data, sizeof data, "%s/data.mdb", store);
	uint8_t *before = tu_read_file(data, &len);
	assert_non_null(before);
	snprintf(want, sizeof want, "--history %s is a file of the store %s: writing it "
		 "would destroy the store", data, store);
	expect_error(out, run(out, "--db", store, "--epochs", "1", "-q", "--out", head,
			      "--history", data, NULL), want);
	size_t now_len;
	uint8_t *now = tu_read_file(data, &now_len);
	assert_non_null(now);
	assert_int_equal(now_len, len);
	assert_memory_equal(now, before, len);
	free(now), free(before);
	assert_false(tu_exists(head));

	snprintf(dotted, sizeof dotted, "%s/./onefile.h5", tmpdir);
	snprintf(want, sizeof want, "--out %s and --confusion %s are one file: one would "
		 "replace the other", head, dotted);
	expect_error(out, run(out, "--db", store, "--epochs", "1", "-q", "--out", head,
			      "--confusion", dotted, NULL), want);
	assert_int_equal(symlink("onefile.h5", link), 0);
	snprintf(want, sizeof want, "--out %s and --history %s are one file", head, link);
	expect_error(out, run(out, "--db", store, "--epochs", "1", "-q", "--out", head,
			      "--history", link, NULL), want);
	snprintf(want, sizeof want, "--history %s and --confusion %s are one file", csv,
		 csv);
	expect_error(out, run(out, "--db", store, "--epochs", "1", "-q", "--out", head,
			      "--history", csv, "--confusion", csv, NULL), want);
	assert_false(tu_exists(head));
	assert_false(tu_exists(csv));

	assert_int_equal(run(out, "--db", store, "--epochs", "1", "-q", "--out", head,
			     "--history", "/dev/null", "--confusion", "/dev/null", NULL), 0);
	head_t h;
	assert_int_equal(load_head(head, &h), 0);
	head_free(&h);

	/* A history of one's own beside the store's files is no file of the
	 * store: written, and replaced by the next run. */
	char hist[700];
	snprintf(hist, sizeof hist, "%s/history.csv", store);
	for (int i = 0; i < 2; i++)
		assert_int_equal(run(out, "--db", store, "--epochs", "1", "-q", "--out", head,
				     "--history", hist, NULL), 0);
	assert_true(tu_exists(hist));
}

/* A sweep writes one history per run (h.csv: h.run1.csv, ...): those are
 * the files that must not be another output, and there is no such file
 * beside a stream, a FIFO or a device.  Refused before training; they used
 * to be trained for, --out h.run1.csv then replaced run 1's history with
 * the head and failed with ENOENT, and --history /dev/stdout wrote
 * /dev/stdout.run1 and so on into /dev. */
static void test_sweep_histories_one_file(void **state)
{
	(void)state;
	spec_t s = spec_default();
	s.test_every = 3;
	const char *store = make_store("sweepfiles.lmdb", &s);
	const char *out = path_in("sweepfiles.txt"), *csv = path_in("sweepfiles.csv");
	const char *run2 = path_in("sweepfiles.run2.csv"), *head = path_in("sweepfiles.h5");
	const char *fifo = path_in("sweepfiles.fifo"), *fifo1 = path_in("sweepfiles.fifo.run1");
	char want[2000];

	snprintf(want, sizeof want, "--out %s and --history %s's run 2 file, %s, are one "
		 "file: one would replace the other; give each its own", run2, csv, run2);
	expect_error(out, run(out, "--db", store, "--epochs", "1", "-q", "--lr",
			      "1e-3,1e-4,1e-5", "--out", run2, "--history", csv, NULL),
		     want);
	assert_false(tu_exists(run2));
	snprintf(want, sizeof want, "--history %s's run 2 file, %s, and --confusion %s "
		 "are one file", csv, run2, run2);
	expect_error(out, run(out, "--db", store, "--epochs", "1", "-q", "--lr",
			      "1e-3,1e-4", "--out", head, "--history", csv,
			      "--confusion", run2, NULL), want);
	assert_false(tu_exists(head));

	assert_int_equal(mkfifo(fifo, 0644), 0);
	snprintf(want, sizeof want, "--history %s is not a file: a sweep writes one "
		 "history per run, beside the file named", fifo);
	expect_error(out, run(out, "--db", store, "--epochs", "1", "-q", "--lr",
			      "1e-3,1e-4", "--out", head, "--history", fifo, NULL), want);
	assert_false(tu_exists(fifo1));
	assert_false(tu_exists(head));
	unlink(fifo);

	/* One run's history may still be a stream, and the sweep's files are
	 * written where they were. */
	assert_int_equal(run(out, "--db", store, "--epochs", "1", "-q", "--out", head,
			     "--history", "/dev/null", NULL), 0);
	assert_int_equal(run(out, "--db", store, "--epochs", "1", "--lr", "1e-3,1e-4",
			     "--out", head, "--history", csv, NULL), 0);
	assert_true(tu_exists(run2));
	assert_false(tu_exists(csv));
	/* --history names no file of a sweep's: the output says where they are. */
	snprintf(want, sizeof want, "train-head: the runs' histories are in %s to %s\n",
		 path_in("sweepfiles.run1.csv"), run2);
	if (!strstr(slurp(out), want))
		fail_msg("no '%s' in:\n%s", want, slurp(out));
}

/* --out is checked before training and again at the save: a link turned
 * to a photo while the head trained is refused then, the photo kept byte
 * for byte (the head used to replace it: the check had looked at the file
 * the link named before).  The run waits at --history, a FIFO, until the
 * test reads it: the link is turned in between, with 3000 epochs' lines
 * (about 180 KB) still to come through a 64 KB pipe. */
static void test_out_link_turned_during_training(void **state)
{
	(void)state;
	spec_t s = spec_default();
	const char *store = make_store("turned.lmdb", &s);
	const char *out = path_in("turned.txt"), *link = path_in("turned.h5");
	const char *fifo = path_in("turned.fifo");
	char dir[600], real[700], photo[700], want[1400];

	snprintf(dir, sizeof dir, "%s/turned", tmpdir);
	snprintf(real, sizeof real, "%s/real.h5", dir);
	snprintf(photo, sizeof photo, "%s/me.jpg", dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(run(out, "--db", store, "--epochs", "1", "-q", "--out", real,
			     NULL), 0);
	size_t head_len;
	uint8_t *head = tu_read_file(real, &head_len);
	assert_non_null(head);
	static const char jpeg[] = "\xff\xd8\xff\xe0 a JPEG";
	assert_int_equal(tu_write_file(photo, jpeg, sizeof jpeg - 1), 0);
	assert_int_equal(symlink("turned/real.h5", link), 0);
	assert_int_equal(mkfifo(fifo, 0644), 0);

	char *argv[] = {PROG, "--db", (char *)store, "--epochs", "3000", "-q", "--out",
			(char *)link, "--history", (char *)fifo, NULL};
	pid_t pid = proc_spawn(argv, out);
	assert_true(pid > 0);
	int fd = open(fifo, O_RDONLY); /* returns once train-head opened it */
	assert_true(fd >= 0);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink("turned/me.jpg", link), 0);
	char buf[4096];
	while (read(fd, buf, sizeof buf) > 0)
		;
	close(fd);
	snprintf(want, sizeof want, "turned.h5 (a link to %s/turned/me.jpg) exists and "
		 "is not a head file (not an HDF5 file); train-head replaces only a head "
		 "it wrote", tmpdir);
	expect_error(out, proc_wait_bounded(pid, 300), want);
	expect_error(out, 1, "the head was not saved");
	tu_assert_file_holds(photo, jpeg, sizeof jpeg - 1);
	tu_assert_file_holds(real, head, head_len);
	free(head);
	assert_int_equal(temporaries_in(dir), 0);
	unlink(fifo);
}

/* Class folders without an image (made before the photos are copied in,
 * or holding only files extract skips) are classes all the same, as
 * flow_from_directory lists them.  extract names them as it scans, and
 * train-head names them again; its note used to lay them to an extract
 * still running, the one cause the store could not show. */
static void test_empty_class_folders(void **state)
{
	(void)state;
	const char *faces = path_in("emptyfolder-faces"), *db = path_in("emptyfolder.lmdb");
	const char *out = path_in("emptyfolder.txt"), *head = path_in("emptyfolder.h5");
	char *gen[] = {proc_tool("gen_faces"), "--out", (char *)faces, "--people", "2",
		       "--images", "2", "--seed", "8", NULL};
	assert_int_equal(proc_run(gen, out), 0);
	char dir[700];
	snprintf(dir, sizeof dir, "%s/adrien", faces);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(dir, sizeof dir, "%s/zoe", faces);
	assert_int_equal(mkdir(dir, 0755), 0);
	char note[800];
	snprintf(note, sizeof note, "%s/notes.txt", dir);
	assert_int_equal(tu_write_file(note, "not a photo\n", 12), 0);

	char *ex[] = {proc_bin("extract"), "--in", (char *)faces, "--db", (char *)db,
		      "--weights", (char *)tu_weights_path(), NULL};
	assert_int_equal(proc_run(ex, out), 0);
	const char *text = slurp(out);
	if (!strstr(text, "extract: 2 of the 4 class folders hold no images (adrien, "
		    "zoe): they stay in the class list, as in Keras' "
		    "flow_from_directory, with no records\n"))
		fail_msg("no note of the empty folders in:\n%s", text);

	assert_int_equal(run(out, "--db", db, "--epochs", "2", "--out", head, NULL), 0);
	text = slurp(out);
	if (!strstr(text, "train-head: 2 of the 4 classes the store lists have no "
		    "records (adrien, zoe): their folders held no image extract "
		    "could read, or an extract still running, interrupted or run "
		    "with --limit has not reached them yet\n") ||
	    !strstr(text, "train-head: they stay in the head's output layer"))
		fail_msg("no note of the empty classes in:\n%s", text);

	head_t h;
	head_meta_t m;
	char err[ERR_LEN];
	assert_int_equal(head_load(head, &h, &m, err), 0);
	assert_int_equal(h.K, 4);
	assert_string_equal(m.classes[0], "adrien");
	assert_string_equal(m.classes[3], "zoe");
	head_free(&h);
	head_meta_free(&m);
}

/* A store an extract has not finished (here: stopped by --limit inside
 * the second of 3 people) is trained on as it stands.  It used to stop
 * with "class 'person_03' has no training records ... give it training
 * images or remove it".  The person without a record keeps a place in the
 * head's output layer, as Keras keeps an empty class folder; the note says
 * how many and why; predict ranks that person as any other. */
static void test_partial_store(void **state)
{
	(void)state;
	const char *faces = path_in("partial-faces"), *db = path_in("partial.lmdb");
	const char *out = path_in("partial.txt"), *head = path_in("partial.h5");
	char *gen[] = {proc_tool("gen_faces"), "--out", (char *)faces, "--people", "3",
		       "--images", "2", "--seed", "8", NULL};
	assert_int_equal(proc_run(gen, out), 0);
	if (e2e_extract(faces, db, out, "--limit", "3", NULL) != 0)
		fail_msg("extract: %s", slurp(out));

	assert_int_equal(run(out, "--db", db, "--epochs", "3", "--lr", "1e-3",
			     "--out", head, NULL), 0);
	const char *text = slurp(out);
	if (!strstr(text, "train-head: 1 of the 3 classes the store lists has no "
		    "records (person_03): its folder held no image extract could "
		    "read, or an extract still running, interrupted or run with "
		    "--limit has not reached it yet\n") ||
	    !strstr(text, "train-head: it stays in the head's output layer (as "
		    "Keras keeps an empty class folder); the head learns the other 2 "
		    "from the records there\n"))
		fail_msg("no note of the partial store in:\n%s", text);
	assert_non_null(strstr(text, ".lmdb: 3 records, 3 classes, 4096 features"));

	head_t h;
	head_meta_t m;
	char err[ERR_LEN];
	assert_int_equal(head_load(head, &h, &m, err), 0);
	assert_int_equal(h.K, 3);
	assert_int_equal(m.nclasses, 3);
	assert_string_equal(m.classes[2], "person_03");
	head_free(&h);
	head_meta_free(&m);

	char img[700];
	snprintf(img, sizeof img, "%s/person_03/001.jpg", faces);
	char *pred[] = {proc_bin("predict"), "--head", (char *)head, "--weights",
			(char *)tu_weights_path(), "--top-k", "3", "-q", img, NULL};
	assert_int_equal(proc_run(pred, out), 0);
	text = slurp(out);
	assert_int_equal(count_lines(text), 3);
	assert_non_null(strstr(text, "\tperson_03\t"));
}

/* ---- parity with PyTorch ------------------------------------------------------- */

/* The parity run: what tests/ref/torch_head.py was given (through
 * --trace) to make the golden file. */
static spec_t parity_spec(void)
{
	return (spec_t){.D = 300, .K = 7, .per_class = 60, .dtype = FEATDB_F32,
			.all_valid = -1, .noise = 8, .seed = 2024};
}

#define PARITY_ARGS "--epochs", "6", "--lr", "3e-3", "--batch-size", "16", \
	"--l2", "1e-3", "--seed", "5", "-q"

/* The Keras cases whose callbacks must act within the run. */
#define PARITY_REDUCE_LR "--reduce-lr", "0.5", "--reduce-lr-patience", "1", \
	"--lr", "3e-3", "--l2", "1e-3", "--epochs", "10"
#define PARITY_PATIENCE "--patience", "1", "--min-delta", "0.01", "--restore-best", \
	"--lr", "3e-3", "--l2", "1e-3", "--epochs", "20"

static void read_dset(hid_t f, const char *name, hid_t type, void *buf, size_t want)
{
	hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
	if (d < 0)
		fail_msg("%s missing", name);
	hid_t sp = H5Dget_space(d);
	assert_int_equal((size_t)H5Sget_simple_extent_npoints(sp), want);
	assert_true(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
	H5Sclose(sp);
	H5Dclose(d);
}

static double read_attr(hid_t f, const char *name)
{
	double v;
	hid_t a = H5Aopen(f, name, H5P_DEFAULT);
	if (a < 0)
		fail_msg("attribute %s missing", name);
	assert_true(H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0);
	H5Aclose(a);
	return v;
}

static size_t dset_len(hid_t f, const char *name)
{
	hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
	assert_true(d >= 0);
	hid_t sp = H5Dget_space(d);
	size_t n = (size_t)H5Sget_simple_extent_npoints(sp);
	H5Sclose(sp);
	H5Dclose(d);
	return n;
}

/* What a traced run was given, summed as tests/ref/torch_head.py and
 * keras_head.py sum it, and what train-head made of it. */
typedef struct traced {
	size_t ntrain, nvalid;
	int D, K, epochs;
	double restored; /* the epoch --restore-best restored, 0: none */
	double xsum, ksum, osum;
	double metrics[32][4];
	float *valid_x; /* (nvalid, D) */
} traced_t;

static void read_traced(const char *trace, traced_t *r)
{
	hid_t t = H5Fopen(trace, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(t >= 0);
	size_t nx = dset_len(t, "train_x"), nk = dset_len(t, "kernel0");
	size_t no = dset_len(t, "order"), nm = dset_len(t, "metrics");
	size_t o0 = dset_len(t, "bias0");
	/* With --hidden, kernel0 is the hidden layer's; the classes are the
	 * output layer's. */
	r->K = H5Lexists(t, "bias0_out", H5P_DEFAULT) > 0 ? (int)dset_len(t, "bias0_out")
							  : (int)o0;
	r->D = (int)(nk / o0);
	r->epochs = (int)(nm / 4);
	r->ntrain = no / (size_t)r->epochs;
	r->nvalid = dset_len(t, "valid_y");
	r->restored = H5Aexists(t, "restored") > 0 ? read_attr(t, "restored") : 0;
	assert_true(r->epochs <= 32);
	float *x = malloc(nx * sizeof *x), *k = malloc(nk * sizeof *k);
	uint32_t *order = malloc(no * sizeof *order);
	r->valid_x = malloc((r->nvalid ? r->nvalid : 1) * (size_t)r->D * sizeof *r->valid_x);
	assert_true(x && k && order && r->valid_x);
	read_dset(t, "train_x", H5T_NATIVE_FLOAT, x, nx);
	read_dset(t, "kernel0", H5T_NATIVE_FLOAT, k, nk);
	read_dset(t, "order", H5T_NATIVE_UINT32, order, no);
	read_dset(t, "metrics", H5T_NATIVE_DOUBLE, r->metrics, nm);
	if (r->nvalid)
		read_dset(t, "valid_x", H5T_NATIVE_FLOAT, r->valid_x, r->nvalid * (size_t)r->D);
	H5Fclose(t);
	r->xsum = r->ksum = r->osum = 0;
	for (size_t i = 0; i < nx; i++)
		r->xsum += x[i];
	for (size_t i = 0; i < nk; i++)
		r->ksum += k[i];
	for (size_t i = 0; i < no; i++)
		r->osum += (double)order[i] * (double)(i % 1000 + 1);
	free(x), free(k), free(order);
}

/* Fails unless the golden file g was made from the run r repeats: the same
 * batches exactly, the same initial kernel, features within xtol (relative;
 * features extracted on another ISA differ in their last bits). */
static void assert_same_inputs(hid_t g, const traced_t *r, double xtol,
			       const char *script)
{
	double gx = read_attr(g, "train_x_sum"), gk = read_attr(g, "kernel0_sum");
	double go = read_attr(g, "order_sum"), gn = read_attr(g, "ntrain");
	if (gn != (double)r->ntrain || fabs(gx - r->xsum) > xtol * fabs(r->xsum) ||
	    fabs(gk - r->ksum) > 1e-9 * (1 + fabs(r->ksum)) || go != r->osum)
		fail_msg("the golden data was made from other inputs (features, "
			 "initial kernel or batch order changed); regenerate it as %s "
			 "says (golden against this run: %g and %zu training samples, "
			 "features' sum %.9g and %.9g, kernel's %.9g and %.9g, order's "
			 "%.17g and %.17g)", script, gn, r->ntrain, gx, r->xsum, gk,
			 r->ksum, go, r->osum);
}

static void test_parity_with_pytorch(void **state)
{
	(void)state;
	spec_t s = parity_spec();
	const char *store = make_store("parity.lmdb", &s);
	const char *out = path_in("parity.txt");
	const char *keep = getenv("HEAD_PARITY_TRACE");
	const char *trace = keep && *keep ? keep : path_in("parity_trace.h5");
	traced_t r;

	if (run(out, "--db", store, PARITY_ARGS, "--trace", trace, NULL) != 0)
		fail_msg("train-head failed:\n%s", slurp(out));
	read_traced(trace, &r);
	hid_t g = H5Fopen(GOLDEN, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (g < 0)
		fail_msg(GOLDEN " is missing; see tests/ref/torch_head.py");
	double want[6][6];
	const char *names[6] = {"loss", "accuracy", "val_loss", "val_accuracy",
				"torch_adam_loss", "torch_adam_val_loss"};
	for (int m = 0; m < 6; m++)
		read_dset(g, names[m], H5T_NATIVE_DOUBLE, want[m], 6);
	assert_same_inputs(g, &r, 1e-9, "tests/ref/torch_head.py");
	H5Fclose(g);
	/* Against the Keras update in float64 the losses agree to 1e-7 here;
	 * 1e-5 leaves room for other BLAS kernels' float32 rounding.  An
	 * accuracy may differ by a sample whose two best logits are within
	 * rounding of each other.  torch.optim.Adam itself, whose epsilon
	 * enters after the bias correction, stays within the 1e-4. */
	for (int e = 0; e < 6; e++) {
		for (int m = 0; m < 6; m++) {
			int c = m < 4 ? m : 2 * (m - 4);
			double tol = m >= 4 ? 1e-4 : m % 2 == 0 ? 1e-5 : 1.5 / (double)r.ntrain;
			if (fabs(r.metrics[e][c] - want[m][e]) > tol)
				fail_msg("epoch %d %s: train-head %.7f, PyTorch %.7f", e + 1,
					 names[m], r.metrics[e][c], want[m][e]);
		}
	}
	/* The run learned something, so the comparison means something. */
	assert_true(want[0][5] < 0.7 * want[0][0]);
	free(r.valid_x);
}

/* ---- parity with Keras ----------------------------------------------------------- */

/* |a - b| <= tol * |b|, or both NA. */
static int close_rel(double a, double b, double tol)
{
	return (isnan(a) && isnan(b)) || fabs(a - b) <= tol * fabs(b);
}

/* The history file against Keras' own CSVLogger file (golden bytes): the
 * same header and epochs, each value within 1e-4 relative. */
static void assert_history_is_csvlogger(const char *hist, hid_t g)
{
	size_t n = dset_len(g, "csvlogger");
	char *want = calloc(n + 1, 1);
	double ours[32][H_COLS], keras[32][H_COLS];
	char kp[] = "/tmp/keras_csv_XXXXXX";

	assert_non_null(want);
	read_dset(g, "csvlogger", H5T_NATIVE_UCHAR, want, n);
	int fd = mkstemp(kp);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, want, n), (ssize_t)n);
	close(fd);
	int rows = read_history(kp, keras, 32);
	unlink(kp);
	assert_int_equal(read_history(hist, ours, 32), rows);
	for (int e = 0; e < rows; e++)
		for (int c = 1; c < 5; c++)
			if (!close_rel(ours[e][c], keras[e][c], 1e-4))
				fail_msg("%s: epoch %d column %d: ours %.9g, CSVLogger's %.9g",
					 hist, e, c, ours[e][c], keras[e][c]);
	free(want);
}

/* Our head file's probabilities on the validation rows (as Keras' predict
 * gives them, float32) against the golden's dataset `which`: Keras'
 * predict with our head file loaded by load_weights ("predictions"), or
 * with Keras' own final weights ("keras_predictions"): the restored ones
 * with restore_best_weights. */
static void assert_same_predictions(const char *head, hid_t g, const traced_t *r,
				    const char *which)
{
	head_t h;
	size_t n = dset_len(g, which) / (size_t)r->K;
	float *want = malloc(n * (size_t)r->K * sizeof *want);
	float *logits = malloc((size_t)r->K * sizeof *logits);
	double worst = 0;

	assert_true(want && logits && n > 0 && n <= r->nvalid);
	read_dset(g, which, H5T_NATIVE_FLOAT, want, n * (size_t)r->K);
	assert_int_equal(load_head(head, &h), 0);
	float *work = malloc(head_work_floats(&h, 1) * sizeof *work);
	assert_non_null(work);
	for (size_t i = 0; i < n; i++) {
		head_forward(&h, r->valid_x + i * (size_t)r->D, 1, logits, work);
		double mx = logits[0], sum = 0;
		for (int k = 1; k < r->K; k++)
			mx = logits[k] > mx ? logits[k] : mx;
		for (int k = 0; k < r->K; k++)
			sum += exp(logits[k] - mx);
		for (int k = 0; k < r->K; k++) {
			double p = exp(logits[k] - mx) / sum, d = fabs(p - want[i * (size_t)r->K + k]);
			worst = d > worst ? d : worst;
		}
	}
	print_message("  %s: %zu rows of probabilities within %.1e of our head "
		      "file's\n", which, n, worst);
	assert_true(worst <= 1e-4);
	head_free(&h);
	free(want), free(logits), free(work);
}

/* One parity case: train-head on store with the seed's recipe (Adam 1e-4,
 * batch 32, 5 epochs) and the options args (NULL-terminated), against
 * tests/golden/head_keras_<name>.h5: every epoch's numbers (and as many
 * epochs as Keras ran), the history file, and the predictions with our
 * head file; with full, also the epoch EarlyStopping restored and Keras'
 * own final predictions. */
static void check_keras_case(const char *name, const char *store, double xtol,
			     int full, const char *const *args)
{
	char golden[256], file[64];
	const char *keep = getenv("HEAD_KERAS_KEEP");
	traced_t r;

	snprintf(golden, sizeof golden, "tests/golden/head_keras_%s.h5", name);
	snprintf(file, sizeof file, "%s.trace.h5", name);
	char *trace = strdup(path_in(file));
	snprintf(file, sizeof file, "%s.head.h5", name);
	char *head = strdup(path_in(file));
	snprintf(file, sizeof file, "%s.csv", name);
	const char *hist = path_in(file), *out = path_in("keras.txt");
	char *argv[64] = {(char *)PROG, (char *)"--db", (char *)store, (char *)"--trace",
			  trace, (char *)"--out", head, (char *)"--history", (char *)hist,
			  (char *)"-q"};
	int argc = 10;
	assert_true(trace && head);
	for (; args && *args && argc < 63; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	if (proc_run(argv, out) != 0)
		fail_msg("train-head failed:\n%s", slurp(out));
	if (keep && *keep) {
		char cmd[2048];
		snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s' '%s'", keep, trace,
			 head, keep);
		assert_int_equal(system(cmd), 0);
	}
	read_traced(trace, &r);
	hid_t g = H5Fopen(golden, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (g < 0)
		fail_msg("%s is missing; see tests/ref/keras_head.py", golden);
	assert_same_inputs(g, &r, xtol, "tests/ref/keras_head.py");
	const char *names[4] = {"loss", "accuracy", "val_loss", "val_accuracy"};
	double want[4][32], worst = 0;
	if (full) {
		/* EarlyStopping stopped both at the same epoch, and restored the
		 * same one. */
		int ran = (int)read_attr(g, "epochs_run");
		if (ran != r.epochs || read_attr(g, "restored") != r.restored)
			fail_msg("%s: train-head ran %d epochs and restored epoch %g, Keras "
				 "%d and %g", name, r.epochs, r.restored, ran,
				 read_attr(g, "restored"));
	}
	for (int m = 0; m < 4; m++)
		read_dset(g, names[m], H5T_NATIVE_DOUBLE, want[m], (size_t)r.epochs);
	for (int e = 0; e < r.epochs; e++)
		for (int m = 0; m < 4; m++) {
			double d = fabs(r.metrics[e][m] - want[m][e]) / fabs(want[m][e]);
			worst = d > worst ? d : worst;
			if (!close_rel(r.metrics[e][m], want[m][e], 1e-4))
				fail_msg("%s: epoch %d %s: train-head %.7f, Keras %.7f", name, e,
					 names[m], r.metrics[e][m], want[m][e]);
		}
	print_message("%s: %zu training, %zu validation samples, %d epochs%s: every "
		      "loss and accuracy within %.1e of Keras' (relative)\n", name,
		      r.ntrain, r.nvalid, r.epochs,
		      r.restored ? " (the best restored)" : "", worst);
	assert_history_is_csvlogger(hist, g);
	assert_same_predictions(head, g, &r, "predictions");
	if (full)
		assert_same_predictions(head, g, &r, "keras_predictions");
	/* The run learned something, so the comparison means something. */
	assert_true(want[0][r.epochs - 1] < want[0][0]);
	H5Fclose(g);
	free(r.valid_x);
	free(trace), free(head);
}

/* The seed's recipe on a synthetic store of 4096-d features, 8 people. */
static void test_parity_with_keras_synthetic(void **state)
{
	(void)state;
	spec_t s = {.D = 4096, .K = 8, .per_class = 40, .dtype = FEATDB_F32,
		    .all_valid = -1, .noise = 6, .seed = 77};
	check_keras_case("synthetic", make_store("keras.lmdb", &s), 1e-12, 0, NULL);
}

/* The synthetic store of the seed's recipe, for the cases below. */
static const char *keras_store(void)
{
	static const char *store;
	spec_t s = {.D = 4096, .K = 8, .per_class = 40, .dtype = FEATDB_F32,
		    .all_valid = -1, .noise = 6, .seed = 77};
	if (!store)
		store = make_store("keras_cases.lmdb", &s);
	return store;
}

/* class_weight: sklearn's balanced weights on a store whose people have
 * 40, 36, ..., 12 records. */
static void test_parity_keras_class_weight(void **state)
{
	(void)state;
	spec_t s = {.D = 4096, .K = 8, .per_class = 40, .dtype = FEATDB_F32,
		    .all_valid = -1, .noise = 6, .seed = 77, .imbalance = 4};
	check_keras_case("class_weight", make_store("keras_imbalanced.lmdb", &s), 1e-12,
			 1, (const char *[]){"--class-weight", "balanced", NULL});
}

/* CategoricalCrossentropy(label_smoothing=0.1). */
static void test_parity_keras_label_smoothing(void **state)
{
	(void)state;
	check_keras_case("label_smoothing", keras_store(), 1e-12, 1,
			 (const char *[]){"--label-smoothing", "0.1", NULL});
}

/* ReduceLROnPlateau: the rate halved each time val_loss stalls. */
static void test_parity_keras_reduce_lr(void **state)
{
	(void)state;
	check_keras_case("reduce_lr", keras_store(), 1e-12, 1,
			 (const char *[]){PARITY_REDUCE_LR, NULL});
}

/* CosineDecay over the run's steps. */
static void test_parity_keras_cosine(void **state)
{
	(void)state;
	check_keras_case("cosine", keras_store(), 1e-12, 1,
			 (const char *[]){"--lr-schedule", "cosine", "--lr", "1e-3", NULL});
}

/* EarlyStopping with restore_best_weights: the epoch it stops at, and the
 * weights it restores. */
static void test_parity_keras_patience(void **state)
{
	(void)state;
	check_keras_case("patience", keras_store(), 1e-12, 1,
			 (const char *[]){PARITY_PATIENCE, NULL});
}

/* A hidden Dense(256, relu) layer, from the same starting weights for
 * both layers. */
static void test_parity_keras_hidden(void **state)
{
	(void)state;
	check_keras_case("hidden", keras_store(), 1e-12, 1,
			 (const char *[]){"--hidden", "256", "--lr", "3e-5", NULL});
}

/* The same on real faces: fc2 features of 96 LFW images (12 people, their
 * first 8), extracted with the test weights. */
static void test_parity_with_keras_lfw(void **state)
{
	(void)state;
	const char *lfw = tu_shared_data("lfw-dev");
	if (!lfw) {
		print_message("../shared/data/lfw-dev absent: skipped\n");
		skip();
	}
	TU_SKIP_SANITIZED("96 images to extract first; the synthetic case runs");
	char faces[600], db[600], log[600], err[ERR_LEN];
	snprintf(faces, sizeof faces, "%s/lfw12", tmpdir);
	snprintf(db, sizeof db, "%s/lfw12.lmdb", tmpdir);
	snprintf(log, sizeof log, "%s/lfw12.log", tmpdir);
	dataset_t ds;
	assert_int_equal(dataset_scan(lfw, 0, &ds, err), 0);
	int taken[12] = {0};
	for (size_t i = 0; i < ds.n; i++) {
		if (ds.items[i].cls >= 12 || taken[ds.items[i].cls] == 8)
			continue;
		taken[ds.items[i].cls]++;
		char link[700], *target = realpath(ds.items[i].path, NULL);
		snprintf(link, sizeof link, "%s/%s", faces, ds.items[i].key);
		e2e_mkdirs(faces, ds.items[i].key);
		assert_non_null(target);
		assert_int_equal(symlink(target, link), 0);
		free(target);
	}
	dataset_free(&ds);
	if (e2e_extract(faces, db, log, NULL) != 0)
		fail_msg("extract failed:\n%s", slurp(log));
	/* Features from another ISA differ in their last bits: so do their
	 * sums, by far less than 1e-6. */
	check_keras_case("lfw", db, 1e-6, 0, NULL);
}

static int setup(void **state)
{
	(void)state;
	tmpdir = tu_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rm_rf(tmpdir);
	return 0;
}

/* A sweep's table is the run's result: when the standard output cannot
 * take it (a full disk), the status says so. */
static void test_stdout_write_failure(void **state)
{
	(void)state;
	if (access("/dev/full", W_OK) != 0)
		skip();
	spec_t s = spec_default();
	const char *store = make_store("stdout.lmdb", &s);
	assert_int_equal(run(path_in("stdout.txt"), "--db", store, "--epochs", "1",
			     "--lr", "1e-3,1e-2", "-q", NULL), 0);
	assert_non_null(strstr(slurp(path_in("stdout.txt")), "rank "));
	assert_int_equal(run("/dev/full", "--db", store, "--epochs", "1",
			     "--lr", "1e-3,1e-2", "-q", NULL), 1);
}

/* The history on a full disk (a 16 KB tmpfs, filled midway through 400
 * epochs): the training goes on, the head is saved, and the run fails in
 * one line that says both, and that the earlier history is unchanged, as
 * it is (replaced whole or not at all; the line did not say so); nothing
 * else is left on the disk. */
static void test_history_full_disk(void **state)
{
	(void)state;
	spec_t s = spec_default();
	const char *store = make_store("histfull.lmdb", &s);
	const char *disk = path_in("histdisk"), *out = path_in("histfull.txt");
	const char *head = path_in("histfull.h5");
	char hist[600], want[1400];

	if (e2e_mount_tmpfs(disk, "16k"))
		skip(); /* not root, or no mount(8) */
	snprintf(hist, sizeof hist, "%s/hist.csv", disk);
	assert_int_equal(tu_write_file(hist, "old\r\n", 5), 0);
	int st = run(out, "--db", store, "--epochs", "400", "-q", "--history", hist,
		     "--out", head, NULL);
	char *left = tu_read_text(hist);
	DIR *dir = opendir(disk);
	int files = 0;
	for (struct dirent *e; dir && (e = readdir(dir));)
		files += e->d_name[0] != '.';
	if (dir)
		closedir(dir);
	assert_int_equal(e2e_umount(disk), 0);

	snprintf(want, sizeof want, "%s: writing failed: No space left on device "
		 "(the earlier %s is unchanged); the head is saved in %s", hist, hist,
		 head);
	expect_error(out, st, want);
	assert_true(tu_exists(head));
	assert_non_null(left);
	assert_string_equal(left, "old\r\n");
	free(left);
	assert_int_equal(files, 1);
}

/* The head on a full disk (a 64 KB tmpfs, an earlier head and history on
 * it, a new head of 128 KB): one line naming the head as given, not its
 * temporary file, with the cause, saying the earlier head is unchanged
 * and the history not written (it said "head.h5.tmp.HOST.PID: No space
 * left on device"); the head and the history byte for byte as they were,
 * and nothing else left on the disk. */
static void test_head_full_disk(void **state)
{
	(void)state;
	spec_t s = spec_default(), big = spec_default();
	big.D = 4096;
	big.K = 8;
	big.per_class = 3;
	const char *small_store = make_store("headfull_small.lmdb", &s);
	const char *big_store = make_store("headfull_big.lmdb", &big);
	const char *disk = path_in("headdisk"), *out = path_in("headfull.txt");
	char head[600], hist[600], want[1600];

	if (e2e_mount_tmpfs(disk, "64k"))
		skip(); /* not root, or no mount(8) */
	snprintf(head, sizeof head, "%s/head.h5", disk);
	snprintf(hist, sizeof hist, "%s/hist.csv", disk);
	int first = run(out, "--db", small_store, "--epochs", "2", "-q", "--history", hist,
			"--out", head, NULL);
	size_t head_len = 0, hist_len = 0, head_len2 = 0, hist_len2 = 0;
	uint8_t *head_before = tu_read_file(head, &head_len);
	uint8_t *hist_before = tu_read_file(hist, &hist_len);
	int st = run(out, "--db", big_store, "--epochs", "1", "-q", "--history", hist,
		     "--out", head, NULL);
	uint8_t *head_after = tu_read_file(head, &head_len2);
	uint8_t *hist_after = tu_read_file(hist, &hist_len2);
	DIR *dir = opendir(disk);
	int files = 0;
	for (struct dirent *e; dir && (e = readdir(dir));)
		files += e->d_name[0] != '.';
	if (dir)
		closedir(dir);
	assert_int_equal(e2e_umount(disk), 0);

	assert_int_equal(first, 0);
	snprintf(want, sizeof want, "train-head: error: %s: writing failed: No space left "
		 "on device (the earlier %s is unchanged); --history was not written "
		 "either\n", head, head);
	expect_error(out, st, want);
	assert_null(strstr(slurp(out), ".tmp."));
	assert_non_null(head_before);
	assert_non_null(head_after);
	assert_int_equal(head_len2, head_len);
	assert_memory_equal(head_after, head_before, head_len);
	assert_non_null(hist_before);
	assert_non_null(hist_after);
	assert_int_equal(hist_len2, hist_len);
	assert_memory_equal(hist_after, hist_before, hist_len);
	assert_int_equal(files, 2);
	free(head_before), free(head_after), free(hist_before), free(hist_after);
}

/* A sweep's histories wait for the head to be saved before they are put
 * in place, closed meanwhile: 80 runs with room for 64 open files (each
 * kept open, the 64th run's could not be made). */
static void test_history_sweep_files(void **state)
{
	(void)state;
	spec_t s = spec_default();
	const char *store = make_store("histsweep.lmdb", &s);
	/* 10 rates by 8 batch sizes (a list holds 32 values at most). */
	const char *lrs = "1e-5,2e-5,3e-5,4e-5,5e-5,6e-5,7e-5,8e-5,9e-5,1e-4";
	struct rlimit old, low;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	int st = run(path_in("histsweep.txt"), "--db", store, "--epochs", "1", "-q",
		     "--lr", lrs, "--batch-size", "4,8,12,16,20,24,28,32",
		     "--history", path_in("hs.csv"), "--out",
		     path_in("hs.h5"), NULL);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	if (st != 0)
		fail_msg("exit %d:\n%s", st, slurp(path_in("histsweep.txt")));
	for (int r = 1; r <= 80; r++) {
		char name[32];
		snprintf(name, sizeof name, "hs.run%d.csv", r);
		if (!tu_exists(path_in(name)))
			fail_msg("%s is missing", name);
	}
}

/* --history /dev/stdout and /dev/stderr: the rows reach the stream as they
 * come, where the stream is.  Sent by a shell to a log written before and
 * after, the log is neither truncated nor replaced (a file written whole
 * is renamed into place: never the program's own output), nor is the
 * device. */
static void test_history_to_stdout(void **state)
{
	(void)state;
	spec_t s = spec_default();
	const char *store = make_store("histout.lmdb", &s);
	const char *out = path_in("histout.txt");
	char *bin = realpath(PROG, NULL), cmd[4096];
	struct stat before, after;

	assert_non_null(bin);
	for (int fd = 1; fd <= 2; fd++) {
		const char *to = fd == 1 ? "" : " >&2", *name = fd == 1 ? "stdout" : "stderr";
		snprintf(cmd, sizeof cmd, "{ echo before%s; %s --db %s --epochs 2 -q "
			 "--history /dev/%s --out %s; echo after%s; } %d>%s", to, bin,
			 store, name, path_in("histout.h5"), to, fd, out);
		assert_int_equal(lstat("/dev/stdout", &before), 0);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(lstat("/dev/stdout", &after), 0);
		assert_int_equal(after.st_mode, before.st_mode);
		assert_int_equal(after.st_ino, before.st_ino);
		const char *text = slurp(out);
		static const char head[] = "before\nepoch,accuracy,loss,val_accuracy,"
					   "val_loss\r\n0,";
		if (strncmp(text, head, sizeof head - 1) != 0 || !strstr(text, "\r\n1,") ||
		    !strstr(text, "\r\nafter\n"))
			fail_msg("--history /dev/%s into a log:\n%s", name, text);
	}
	free(bin);
}

/* --history a FIFO: a reader that is there gets the history, and a run
 * that finds none says why it waits (it used to wait saying nothing), then
 * writes the history to the reader that comes. */
static void test_history_fifo(void **state)
{
	(void)state;
	spec_t s = spec_default();
	const char *store = make_store("histfifo.lmdb", &s);
	const char *out = path_in("histfifo.txt"), *fifo = path_in("histfifo.csv");
	const char *head = path_in("histfifo.h5");
	static const char waits[] = "is a FIFO that nothing reads yet; waiting for a "
				    "reader";
	char *argv[] = {PROG, "--db", (char *)store, "--epochs", "2", "-q", "--out",
			(char *)head, "--history", (char *)fifo, NULL};
	char text[4096];

	assert_int_equal(mkfifo(fifo, 0644), 0);
	for (int reader_first = 1; reader_first >= 0; reader_first--) {
		int fd = reader_first ? open(fifo, O_RDONLY | O_NONBLOCK) : -1, st = 0;
		pid_t pid = proc_spawn(argv, out);
		assert_true(pid > 0);
		if (reader_first) {
			/* The history fits in the pipe: the run ends first. */
			st = proc_wait_bounded(pid, 60);
		} else {
			/* The note, then the reader it waits for. */
			for (int i = 0; i < 600 && !strstr(slurp(out), waits); i++)
				proc_sleep(0.05);
			if (!strstr(slurp(out), waits)) {
				proc_wait_bounded(pid, 0);
				fail_msg("no word of the wait within 30 s:\n%s", slurp(out));
			}
			fd = open(fifo, O_RDONLY);
		}
		assert_true(fd >= 0);
		size_t n = 0;
		for (ssize_t r; n + 1 < sizeof text &&
				(r = read(fd, text + n, sizeof text - 1 - n)) > 0;)
			n += (size_t)r;
		text[n] = '\0';
		close(fd);
		if (!reader_first)
			st = proc_wait_bounded(pid, 60);
		assert_int_equal(st, 0);
		const char *log = slurp(out);
		assert_true(reader_first ? !strstr(log, waits) : strstr(log, waits) != NULL);
		if (strncmp(text, "epoch,accuracy,loss,val_accuracy,val_loss\r\n0,", 45) != 0 ||
		    !strstr(text, "\r\n1,") || count_lines(text) != 3)
			fail_msg("the history through the FIFO (reader %s):\n%s",
				 reader_first ? "first" : "after", text);
	}
}

int main(void)
{
	/* Failures are asserted on; HDF5's own report would only clutter. */
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_usage_tuning),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_train_output_history_and_head),
		cmocka_unit_test(test_valid_tagged_and_f16),
		cmocka_unit_test(test_min_prob_suggested),
		cmocka_unit_test(test_head_records_model),
		cmocka_unit_test(test_same_result_any_threads),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_test_score),
		cmocka_unit_test(test_class_weight),
		cmocka_unit_test(test_early_stopping),
		cmocka_unit_test(test_reduce_lr),
		cmocka_unit_test(test_hidden_dropout),
		cmocka_unit_test(test_sweep_columns),
		cmocka_unit_test(test_head_written_atomically),
		cmocka_unit_test(test_default_out),
		cmocka_unit_test(test_out_refuses_other_files),
		cmocka_unit_test(test_out_through_link),
		cmocka_unit_test(test_out_link_turned_during_training),
		cmocka_unit_test(test_outputs_one_file),
		cmocka_unit_test(test_sweep_histories_one_file),
		cmocka_unit_test(test_output_link_loop),
		cmocka_unit_test(test_confusion_checked_first),
		cmocka_unit_test(test_partial_store),
		cmocka_unit_test(test_empty_class_folders),
		cmocka_unit_test(test_parity_with_pytorch),
		cmocka_unit_test(test_parity_with_keras_synthetic),
		cmocka_unit_test(test_parity_keras_class_weight),
		cmocka_unit_test(test_parity_keras_label_smoothing),
		cmocka_unit_test(test_parity_keras_reduce_lr),
		cmocka_unit_test(test_parity_keras_cosine),
		cmocka_unit_test(test_parity_keras_patience),
		cmocka_unit_test(test_parity_keras_hidden),
		cmocka_unit_test(test_parity_with_keras_lfw),
		cmocka_unit_test(test_stdout_write_failure),
		cmocka_unit_test(test_history_full_disk),
		cmocka_unit_test(test_head_full_disk),
		cmocka_unit_test(test_history_to_stdout),
		cmocka_unit_test(test_history_sweep_files),
		cmocka_unit_test(test_history_fifo),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
