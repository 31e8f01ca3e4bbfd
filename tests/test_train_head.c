/* test_train_head.c - bin/train-head end to end, on feature stores made
 * here with featdb_write: the Keras-style output, the history CSV, the head
 * file, sweeps, determinism over threads, every error the issue lists, the
 * atomic write of the head, parity with PyTorch (the per-epoch losses of
 * tests/ref/torch_head.py, kept in tests/golden/head_parity.h5), the model
 * the head records, and the --min-prob it suggests for predict.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
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
	for (int i = 0; i < n; i++) {
		int c = i % s->K, j = i / s->K;
		for (int d = 0; d < s->D; d++) {
			double v = mean[(size_t)c * s->D + d] + s->noise * (rng_uniform(&r) - 0.5);
			x[d] = v > 0 ? (float)v : 0.0f;
		}
		int split = c == s->all_valid ? FEATDB_VALID
			  : s->valid_every && j % s->valid_every == 1 ? FEATDB_VALID
			  : s->test_every && j % s->test_every == 2 ? FEATDB_TEST
			  : FEATDB_TRAIN;
		snprintf(keys[i], sizeof keys[i], "c%d/img%04d_%d.jpg", c, j, first);
		kp[i] = keys[i];
		vp[i] = recs + (size_t)i * rs;
		lens[i] = rs;
		assert_int_equal(featdb_rec_encode(x, s->D, s->dtype, c, split,
						   recs + (size_t)i * rs, err), 0);
	}
	assert_int_equal(featdb_open(path, FEATDB_CREATE, &db, err), 0);
	if (featdb_write(db, &m, n, kp, vp, lens, err) != 0)
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
 * stdout and stderr into out (a path); returns the exit status. */
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
	return proc_run(argv, out);
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

/* Reads a history file, which must be what Keras' CSVLogger writes: the
 * header "epoch,accuracy,loss,val_accuracy,val_loss", \r\n line ends,
 * epochs from 0.  rows receive (epoch, loss, accuracy, val_loss,
 * val_accuracy), NAN for "NA". */
static int read_history(const char *path, double (*rows)[5], int max)
{
	static const char header[] = "epoch,accuracy,loss,val_accuracy,val_loss\r\n";
	char *text = tu_slurp(path);
	const char *s = text;
	int n = 0;
	if (strncmp(s, header, strlen(header)) != 0)
		fail_msg("%s: header '%.60s', not CSVLogger's", path, s);
	s += strlen(header);
	while (*s && n < max) {
		char f[5][32];
		assert_int_equal(sscanf(s, "%31[^,],%31[^,],%31[^,],%31[^,],%31[^\r]",
					f[0], f[1], f[2], f[3], f[4]), 5);
		static const int col[5] = {0, 2, 1, 4, 3};
		for (int i = 0; i < 5; i++)
			rows[n][col[i]] = strcmp(f[i], "NA") == 0 ? NAN : strtod(f[i], NULL);
		assert_int_equal(rows[n][0], n);
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
	/* 90 records, 18 tagged test, so 72 of which about 20 % held out. */
	assert_non_null(strstr(text, "train-head: 18 records tagged test are not used"));
	assert_non_null(strstr(text, "for validation (held out by --val-split 0.2)"));
	double rows[8][5];
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
	double r32[2][5], r16[2][5];
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

typedef struct valid_set {
	int D;
	size_t n;
	float *x;  /* (n, D) the records tagged valid */
	int *y;
} valid_set_t;

static int collect_valid(void *ctx, const char *key, size_t keylen,
			 const featdb_rec_t *rec, const char *why)
{
	valid_set_t *v = ctx;
	(void)key, (void)keylen, (void)why;
	assert_non_null(rec);
	if (rec->split != FEATDB_VALID)
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
	valid_set_t v = {0};
	head_t h;
	char err[ERR_LEN];
	featdb_t *db = NULL;

	assert_int_equal(load_head(head, &h), 0);
	v.D = h.D;
	assert_int_equal(featdb_open(store, FEATDB_RDONLY, &db, err), 0);
	assert_int_equal(featdb_foreach(db, collect_valid, &v, err), 0);
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
	double rows[16][5];
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
	assert_int_equal(tu_write_file(head, "the old head", 12), 0);
	/* 16 KB: enough for the store's lock file, not for a 16 KB kernel. */
	char *argv[] = {(char *)PROG, (char *)"--db", (char *)store, (char *)"--epochs",
			(char *)"1", (char *)"-q", (char *)"--out", head, NULL};
	expect_error(out, run_limited(out, 16384, argv), "File too large");
	assert_string_equal(slurp(head), "the old head");
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
	double xsum, ksum, osum;
	double metrics[16][4];
	float *valid_x; /* (nvalid, D) */
} traced_t;

static void read_traced(const char *trace, traced_t *r)
{
	hid_t t = H5Fopen(trace, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(t >= 0);
	size_t nx = dset_len(t, "train_x"), nk = dset_len(t, "kernel0");
	size_t no = dset_len(t, "order"), nm = dset_len(t, "metrics");
	r->K = (int)dset_len(t, "bias0");
	r->D = (int)(nk / (size_t)r->K);
	r->epochs = (int)(nm / 4);
	r->ntrain = no / (size_t)r->epochs;
	r->nvalid = dset_len(t, "valid_y");
	assert_true(r->epochs <= 16);
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
			 "says", script);
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
	double ours[16][5], keras[16][5];
	char kp[] = "/tmp/keras_csv_XXXXXX";

	assert_non_null(want);
	read_dset(g, "csvlogger", H5T_NATIVE_UCHAR, want, n);
	int fd = mkstemp(kp);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, want, n), (ssize_t)n);
	close(fd);
	int rows = read_history(kp, keras, 16);
	unlink(kp);
	assert_int_equal(read_history(hist, ours, 16), rows);
	for (int e = 0; e < rows; e++)
		for (int c = 1; c < 5; c++)
			if (!close_rel(ours[e][c], keras[e][c], 1e-4))
				fail_msg("%s: epoch %d column %d: ours %.9g, CSVLogger's %.9g",
					 hist, e, c, ours[e][c], keras[e][c]);
	free(want);
}

/* Keras' predict of the validation rows with our head file loaded by
 * load_weights (golden) against softmax(x @ kernel + bias) of our file. */
static void assert_same_predictions(const char *head, hid_t g, const traced_t *r)
{
	head_t h;
	size_t n = dset_len(g, "predictions") / (size_t)r->K;
	float *want = malloc(n * (size_t)r->K * sizeof *want);
	float *logits = malloc((size_t)r->K * sizeof *logits);
	double worst = 0;

	assert_true(want && logits && n > 0 && n <= r->nvalid);
	read_dset(g, "predictions", H5T_NATIVE_FLOAT, want, n * (size_t)r->K);
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
	print_message("  our head file in Keras: %zu rows of probabilities within "
		      "%.1e of ours\n", n, worst);
	assert_true(worst <= 1e-4);
	head_free(&h);
	free(want), free(logits), free(work);
}

/* One parity case: train-head with the seed's recipe (Adam 1e-4, batch 32,
 * 5 epochs) on store, against tests/golden/head_keras_<name>.h5. */
static void check_keras_case(const char *name, const char *store, double xtol)
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
	assert_true(trace && head);
	if (run(out, "--db", store, "--trace", trace, "--out", head, "--history", hist,
		"-q", NULL) != 0)
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
	double want[4][16], worst = 0;
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
	print_message("%s: %zu training, %zu validation samples, %d epochs: every "
		      "loss and accuracy within %.1e of Keras' (relative)\n", name,
		      r.ntrain, r.nvalid, r.epochs, worst);
	assert_history_is_csvlogger(hist, g);
	assert_same_predictions(head, g, &r);
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
	check_keras_case("synthetic", make_store("keras.lmdb", &s), 1e-12);
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
	check_keras_case("lfw", db, 1e-6);
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

int main(void)
{
	/* Failures are asserted on; HDF5's own report would only clutter. */
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_train_output_history_and_head),
		cmocka_unit_test(test_valid_tagged_and_f16),
		cmocka_unit_test(test_min_prob_suggested),
		cmocka_unit_test(test_head_records_model),
		cmocka_unit_test(test_same_result_any_threads),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_head_written_atomically),
		cmocka_unit_test(test_parity_with_pytorch),
		cmocka_unit_test(test_parity_with_keras_synthetic),
		cmocka_unit_test(test_parity_with_keras_lfw),
		cmocka_unit_test(test_stdout_write_failure),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
