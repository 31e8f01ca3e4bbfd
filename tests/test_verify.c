/* test_verify.c - the real verify program: two images' distance is the
 * distance of their vectors in the store, under each metric, and 0 for an
 * image and itself; the threshold comes from --threshold or the store's
 * calibration; --calibrate on generated stores whose answer is worked out
 * by hand (ROC AUC, EER, the threshold at a FAR and its TAR, LFW's folds,
 * the metadata written); the convolution path the store's vectors were
 * computed on is the one that runs by default, to the bit; the bad inputs
 * (a missing store, a store of another model or weights, an image that
 * does not decode, a folder, even of one image, a FIFO with no writer)
 * give one clear line and the
 * conventions' exit statuses, promptly; an image through a FIFO is read.
 * Letters: D vector length, P people, I images per person. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <hdf5.h>
#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "e2e.h"
#include "error.h"
#include "net/model.h"
#include "proc.h"
#include "recog/recog.h"
#include "store/featdb.h"
#include "testutil.h"

#define GOLDEN "tests/golden/recog_golden.h5"
#define VERIFY proc_bin("verify")

static char dir[256], faces[512], db[512], out[512];

/* The faces tests/ref/recog_ref.py's golden vectors were made from: 4
 * people, 4 images each, extracted with the test weights. */
static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "%s", tu_tmpdir());
	snprintf(faces, sizeof faces, "%s/faces", dir);
	snprintf(db, sizeof db, "%s/s.lmdb", dir);
	snprintf(out, sizeof out, "%s/out", dir);
	char *gen[] = {proc_tool("gen_faces"), "--out", faces, "--people", "4",
		       "--images", "4", "--seed", "26", NULL};
	if (proc_run(gen, out) != 0)
		return -1;
	return e2e_extract(faces, db, out, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	tu_rm_rf(dir);
	return 0;
}

/* Runs verify with the arguments (NULL-terminated): its exit status, its
 * output (stdout and stderr) in *text (malloc'd). */
static int run(char **text, ...)
{
	char *argv[PROC_ARGV];
	va_list ap;

	va_start(ap, text);
	proc_argv(argv, VERIFY, ap);
	va_end(ap);
	int st = proc_run(argv, out);
	*text = tu_slurp(out);
	return st;
}

static char *face(const char *person, int i)
{
	static char buf[4][600];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s/%03d.jpg", faces, person, i);
	return buf[k];
}

/* The vector of key (D) in the store at path. */
static float *stored_in(const char *path, const char *key, int *D)
{
	featdb_t *s;
	featdb_rec_t rec;
	uint8_t *val;
	size_t len;
	char err[ERR_LEN];

	assert_int_equal(featdb_open(path, FEATDB_RDONLY, &s, err), 0);
	if (featdb_get(s, key, &val, &len, err))
		fail_msg("%s", err);
	assert_int_equal(featdb_rec_decode(val, len, &rec, err), 0);
	float *v = malloc((size_t)rec.dim * sizeof *v);
	featdb_rec_vector(&rec, v);
	*D = rec.dim;
	free(val);
	featdb_close(s);
	return v;
}

/* The store's vector of key (D). */
static float *stored(const char *key, int *D)
{
	return stored_in(db, key, D);
}

/* The store holds the vectors the golden file's numpy distances are of
 * (within the network's tolerance across instruction sets: 1e-4 of the
 * largest value, as test_vgg's). */
static void test_store_is_the_golden(void **state)
{
	(void)state;
	hid_t f = H5Fopen(GOLDEN, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(f >= 0);
	hid_t d = H5Dopen2(f, "features", H5P_DEFAULT);
	float *g = malloc(16 * 4096 * sizeof *g);
	assert_true(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, g) >= 0);
	H5Dclose(d);
	H5Fclose(f);
	for (int i = 0; i < 16; i++) {
		char key[64];
		int D;
		snprintf(key, sizeof key, "person_%02d/%03d.jpg", i / 4 + 1, i % 4 + 1);
		float *v = stored(key, &D);
		double maxref = 0, maxdiff = 0;
		assert_int_equal(D, 4096);
		for (int j = 0; j < D; j++) {
			maxref = fmax(maxref, fabs(g[i * 4096 + j]));
			maxdiff = fmax(maxdiff, fabs(v[j] - g[i * 4096 + j]));
		}
		if (maxdiff > 1e-4 * maxref)
			fail_msg("%s: not the golden's vector (max diff %g of %g)", key,
				 maxdiff, maxref);
		free(v);
	}
	free(g);
}

/* verify's distance is recog_distance on the two stored vectors (test_recog
 * checks those against numpy), under each metric; the verdict follows the
 * threshold. */
static void test_pair_distance(void **state)
{
	(void)state;
	static const struct {
		const char *pa, *pb, *metric;
		int ia, ib;
	} cases[] = {
		{"person_01", "person_01", "cosine", 1, 3},
		{"person_02", "person_04", "euclidean", 2, 4},
		{"person_03", "person_01", "euclidean_l2", 4, 2},
	};
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		char *text, ka[64], kb[64], a[600], b[600];
		int D;
		snprintf(a, sizeof a, "%s", face(cases[c].pa, cases[c].ia));
		snprintf(b, sizeof b, "%s", face(cases[c].pb, cases[c].ib));
		snprintf(ka, sizeof ka, "%s/%03d.jpg", cases[c].pa, cases[c].ia);
		snprintf(kb, sizeof kb, "%s/%03d.jpg", cases[c].pb, cases[c].ib);
		float *va = stored(ka, &D), *vb = stored(kb, &D);
		double want = recog_distance(recog_metric_parse(cases[c].metric), va, vb, D);
		/* A threshold just above, then just below. */
		char hi[32], lo[32];
		snprintf(hi, sizeof hi, "%.6f", want + 2e-6);
		snprintf(lo, sizeof lo, "%.6f", want - 2e-6);
		int st = run(&text, a, b, "--db", db, "--weights", (char *)tu_weights_path(),
			     "--metric", cases[c].metric, "--threshold", hi, "-q", NULL);
		if (st != 0)
			fail_msg("verify exited %d:\n%s", st, text);
		char ra[600], rb[600], verdict[16];
		double dist, thr;
		assert_int_equal(sscanf(text, "%599[^\t]\t%599[^\t]\t%lf\t%lf\t%15s", ra, rb,
					&dist, &thr, verdict), 5);
		assert_string_equal(ra, a);
		assert_string_equal(rb, b);
		assert_true(fabs(dist - want) <= 1e-6);
		assert_true(thr == atof(hi));
		assert_string_equal(verdict, "same");
		print_message("%-12s %s %s: %.6f (recog_distance %.9f)\n", cases[c].metric,
			      ka, kb, dist, want);
		free(text);
		if (c == 0) {
			st = run(&text, a, b, "--db", db, "--weights",
				 (char *)tu_weights_path(), "--threshold", lo, "-q", NULL);
			assert_int_equal(st, 0);
			assert_non_null(strstr(text, "\tdifferent\n"));
			free(text);
		}
		free(va);
		free(vb);
	}
}

/* An image and itself: distance 0, whatever the metric; the JSON answer
 * has DeepFace.verify's keys. */
static void test_same_image_zero(void **state)
{
	(void)state;
	char *text, *a = face("person_02", 3);
	int st = run(&text, a, a, "--db", db, "--weights", (char *)tu_weights_path(),
		     "--threshold", "0.25", "--json", NULL);
	assert_int_equal(st, 0);
	/* As json.dumps writes DeepFace's dictionary. */
	assert_non_null(strstr(text, "{\"verified\": true, \"distance\": 0.0, "
			       "\"threshold\": 0.25, \"model\": \"VGG16\", "
			       "\"detector_backend\": \"skip\", \"similarity_metric\": "
			       "\"cosine\", \"time\": "));
	free(text);
	st = run(&text, a, a, "--weights", (char *)tu_weights_path(), "--metric",
		 "euclidean", "--threshold", "0", "-q", NULL);
	assert_int_equal(st, 0);
	assert_non_null(strstr(text, "\t0.000000\t0.000000\tsame\n"));
	free(text);
	/* At cosine too: DeepFace's formula, 1 - a.a / (|a| |a|), gives this
	 * image and itself 2.2e-16 (one of the store's 16 images), which
	 * --threshold 0 called "different". */
	a = face("person_02", 2);
	st = run(&text, a, a, "--db", db, "--weights", (char *)tu_weights_path(),
		 "--threshold", "0", "-q", NULL);
	assert_int_equal(st, 0);
	assert_non_null(strstr(text, "\t0.000000\t0.000000\tsame\n"));
	free(text);
}

/* ---- calibration on stores whose answer is known ----
 *
 * P people, I = 5 images each, on orthogonal axes e_0 .. e_(D-1): image i
 * of person p is e_(axis p) + t_i e_(P + i), t_i = 0.1 (i + 1).  Cosine
 * distances:
 *   genuine (p, i), (p, j):            g(i, j) = 1 - 1 / sqrt((1 + t_i^2)(1 + t_j^2))
 *                                      (10 values, 0.0243 to 0.1696, each
 *                                      once per person);
 *   two people on their own axes:      1 / (1 + t_i^2) >= 0.8 (same i), else 1;
 *   twins (two people on ONE axis):    g(i, j) for i != j, 0 for i == j.
 * Separable (no twins): AUC 1, EER 0, every fold right, the threshold
 * halfway between the largest genuine distance g(3, 4) and 0.8.  With one
 * pair of twins among 24 people: 240 genuine and 6900 impostor pairs, 25
 * of them the twins': 5 at distance 0, 2 at each g(i, j).  So a genuine
 * distance of rank r (0..9) has 5 + 2r impostors below it and 2 equal:
 *   AUC = 1 - 24 sum_r (5 + 2r + 1) / (240 * 6900) = 1 - 3600 / 1656000;
 * the rates are closest after the last genuine distance: FRR 0, FAR 25 /
 * 6900, so EER = 25 / 13800; FAR 0.01 (69 allowed) stops there too, at
 * TAR 1; FAR 1e-3 (6 allowed) stops after the 5 zeros, before g(0, 1), at
 * TAR 0. */
#define CAL_P 24
#define CAL_I 5
#define CAL_D 32

static double t_of(int i)
{
	return 0.1 * (i + 1);
}

static double g_of(int i, int j)
{
	/* As the program computes it: float32 inputs, sums in double. */
	double ti = (float)t_of(i), tj = (float)t_of(j);
	return 1 - 1 / (sqrt(1 + ti * ti) * sqrt(1 + tj * tj));
}

/* Writes the store: person p's axis is axis[p]; extra, when set, adds a
 * person tagged train who would spoil the answer if the records tagged
 * valid were not the only ones used. */
static void write_axes_store(const char *path, const int *axis, int valid, int extra)
{
	featdb_t *s;
	featdb_meta_t m = {0};
	char err[ERR_LEN];
	char *classes[CAL_P + 1];
	int n = CAL_P * CAL_I + (extra ? CAL_I : 0), k = 0;
	char **keys = malloc((size_t)n * sizeof *keys);
	uint8_t **vals = malloc((size_t)n * sizeof *vals);
	size_t *lens = malloc((size_t)n * sizeof *lens), len = featdb_rec_size(FEATDB_F32, CAL_D);

	for (int p = 0; p < CAL_P + extra; p++) {
		classes[p] = malloc(16);
		snprintf(classes[p], 16, "p%02d", p);
		for (int i = 0; i < CAL_I; i++, k++) {
			float v[CAL_D] = {0};
			/* The spoiler sits on person 0's axis, its images his. */
			v[p < CAL_P ? axis[p] : axis[0]] = 1;
			v[CAL_P + i] = (float)t_of(i);
			keys[k] = malloc(32);
			snprintf(keys[k], 32, "p%02d/%d.jpg", p, i);
			vals[k] = malloc(len);
			lens[k] = len;
			assert_int_equal(featdb_rec_encode(v, CAL_D, FEATDB_F32, p,
							   p < CAL_P && valid ? FEATDB_VALID
							   : FEATDB_TRAIN, vals[k], err), 0);
		}
	}
	snprintf(m.fingerprint, sizeof m.fingerprint, "0123456789abcdef");
	snprintf(m.preprocess, sizeof m.preprocess, "%s", model_info(MODEL_VGG16)->preprocess);
	snprintf(m.version, sizeof m.version, "test");
	m.dim = CAL_D;
	m.dtype = FEATDB_F32;
	m.classes = classes;
	m.nclasses = CAL_P + extra;
	assert_int_equal(featdb_open(path, FEATDB_CREATE, &s, err), 0);
	if (featdb_write(s, &m, n, (const char *const *)keys, (const uint8_t *const *)vals,
			 lens, err))
		fail_msg("%s", err);
	featdb_close(s);
	for (int i = 0; i < n; i++) {
		free(keys[i]);
		free(vals[i]);
	}
	for (int p = 0; p < CAL_P + extra; p++)
		free(classes[p]);
	free(keys);
	free(vals);
	free(lens);
}

/* What verify --calibrate printed. */
typedef struct cal {
	long gen, imp;
	double auc, eer, eer_at, thr, far, tar, acc, acc_sd;
	int folds;
} cal_t;

static void parse_cal(const char *text, cal_t *c)
{
	const char *p;
	memset(c, 0, sizeof *c);
	assert_non_null(p = strstr(text, "pairs:"));
	assert_int_equal(sscanf(p, "pairs: %ld genuine (all), %ld impostor", &c->gen,
				&c->imp), 2);
	assert_non_null(p = strstr(text, "ROC AUC:"));
	assert_int_equal(sscanf(p, "ROC AUC: %lf", &c->auc), 1);
	assert_non_null(p = strstr(text, "EER:"));
	assert_int_equal(sscanf(p, "EER: %lf (at distance %lf)", &c->eer, &c->eer_at), 2);
	assert_non_null(p = strstr(text, "threshold "));
	assert_int_equal(sscanf(p, "threshold %lf, FAR %lf", &c->thr, &c->far), 2);
	assert_non_null(p = strstr(p, "TAR "));
	assert_int_equal(sscanf(p, "TAR %lf", &c->tar), 1);
	p = strstr(text, "10-fold:     accuracy ");
	c->folds = p != NULL;
	if (p)
		assert_int_equal(sscanf(p, "10-fold: accuracy %lf +- %lf", &c->acc,
					&c->acc_sd), 2);
}

/* The threshold verify chooses between two distances, worked out here:
 * halfway, to 6 decimals. */
static double between(double lo, double hi)
{
	return round((lo + (hi - lo) / 2) * 1e6) / 1e6;
}

static const featdb_threshold_t *stored_threshold(const char *path, const char *metric,
						  featdb_meta_t *m)
{
	featdb_t *s;
	char err[ERR_LEN];
	assert_int_equal(featdb_open(path, FEATDB_RDONLY, &s, err), 0);
	assert_int_equal(featdb_meta_get(s, m, err), 0);
	featdb_close(s);
	return featdb_meta_threshold(m, metric);
}

static void test_calibrate_separable(void **state)
{
	(void)state;
	char path[600], *text;
	int axis[CAL_P];
	cal_t c;
	featdb_meta_t m;

	for (int p = 0; p < CAL_P; p++)
		axis[p] = p;
	snprintf(path, sizeof path, "%s/separable.lmdb", dir);
	write_axes_store(path, axis, 0, 0);
	int st = run(&text, "--calibrate", "--db", path, NULL);
	if (st != 0)
		fail_msg("verify --calibrate exited %d:\n%s", st, text);
	parse_cal(text, &c);
	assert_non_null(strstr(text, "120 (all: none is tagged valid), 24 people"));
	assert_int_equal(c.gen, 240);
	assert_int_equal(c.imp, 6900);
	assert_true(c.auc == 1 && c.eer == 0);
	double want = between(g_of(3, 4), 0.8);
	assert_true(fabs(c.thr - want) < 5e-7);
	assert_true(c.far == 0 && c.tar == 1);
	assert_int_equal(c.folds, 1);
	assert_true(c.acc == 1 && c.acc_sd == 0);
	const featdb_threshold_t *t = stored_threshold(path, "cosine", &m);
	assert_non_null(t);
	assert_true(t->value == want && t->far == 0 && t->tar == 1 && t->count == 120);
	assert_string_equal(t->records, "all");
	featdb_meta_free(&m);
	free(text);

	/* A report that cannot reach the standard output (a full disk)
	 * writes no threshold: the failure leaves the store as it was (it
	 * wrote the threshold, then exited 1). */
	if (access("/dev/full", W_OK) == 0) {
		char *argv[] = {(char *)VERIFY, "--calibrate", "--db", path, "--metric",
				"euclidean_l2", NULL};
		char errs[700];
		snprintf(errs, sizeof errs, "%s/full.err", dir);
		assert_int_equal(proc_run_split(argv, "/dev/full", errs), 1);
		char *said = tu_slurp(errs);
		if (!strstr(said, "verify: error: writing the standard output failed: No "
			    "space left on device\n") ||
		    !strstr(said, "verify: error: the threshold was not written into "))
			fail_msg("verify --calibrate > /dev/full said:\n%s", said);
		free(said);
		assert_null(stored_threshold(path, "euclidean_l2", &m));
		featdb_meta_free(&m);
	}

	/* Euclidean: genuine sqrt(t_i^2 + t_j^2) <= sqrt(0.41), impostors
	 * sqrt(2) and more: its own key beside cosine's. */
	st = run(&text, "--calibrate", "--db", path, "--metric", "euclidean", NULL);
	assert_int_equal(st, 0);
	parse_cal(text, &c);
	double g34 = sqrt((double)(float)0.4 * (float)0.4 + (double)(float)0.5 * (float)0.5);
	assert_true(c.auc == 1 && fabs(c.thr - between(g34, sqrt(2))) < 5e-7);
	t = stored_threshold(path, "euclidean", &m);
	assert_non_null(t);
	assert_true(fabs(t->value - between(g34, sqrt(2))) < 1e-12);
	assert_non_null(featdb_meta_threshold(&m, "cosine"));
	featdb_meta_free(&m);
	free(text);
}

static void test_calibrate_twins(void **state)
{
	(void)state;
	char path[600], *text;
	int axis[CAL_P];
	cal_t c;
	featdb_meta_t m;

	for (int p = 0; p < CAL_P; p++)
		axis[p] = p;
	axis[1] = 0; /* p00 and p01: twins */
	snprintf(path, sizeof path, "%s/twins.lmdb", dir);
	write_axes_store(path, axis, 1, 1);
	int st = run(&text, "--calibrate", "--db", path, "--far", "0.01", NULL);
	if (st != 0)
		fail_msg("verify --calibrate exited %d:\n%s", st, text);
	parse_cal(text, &c);
	/* Only the 120 records tagged valid: the spoiler (train) is left out. */
	assert_non_null(strstr(text, "120 tagged valid, 24 people"));
	assert_int_equal(c.gen, 240);
	assert_int_equal(c.imp, 6900);
	assert_true(fabs(c.auc - (1 - 3600.0 / 1656000.0)) < 5e-7);
	assert_true(fabs(c.eer - 25.0 / 13800.0) < 5e-7);
	double want = between(g_of(3, 4), 0.8);
	assert_true(fabs(c.eer_at - want) < 5e-7);
	assert_true(fabs(c.thr - want) < 5e-7);
	assert_true(fabs(c.far - 25.0 / 6900.0) < 5e-7 && c.tar == 1);
	print_message("twins: AUC %.6f (1 - 3600/1656000), EER %.6f (25/13800), "
		      "FAR 0.01: threshold %.6f, TAR %.6f\n", c.auc, c.eer, c.thr, c.tar);
	const featdb_threshold_t *t = stored_threshold(path, "cosine", &m);
	assert_true(t->value == want && t->tar == 1 && fabs(t->far - 25.0 / 6900) < 1e-15);
	assert_string_equal(t->records, "valid");
	assert_int_equal(t->count, 125);
	featdb_meta_free(&m);
	free(text);

	/* --records all: the spoiler too, 5 more records on p00's axis. */
	st = run(&text, "--calibrate", "--db", path, "--records", "all", NULL);
	assert_int_equal(st, 0);
	parse_cal(text, &c);
	assert_non_null(strstr(text, "125 (all, --records all), 25 people"));
	assert_int_equal(c.gen, 250);
	assert_int_equal(c.imp, 125 * 124 / 2 - 250);
	t = stored_threshold(path, "cosine", &m);
	assert_string_equal(t->records, "all");
	featdb_meta_free(&m);
	free(text);

	/* The default FAR, 1e-3: 6 false accepts allowed, the twins' 5
	 * zeros only; nothing genuine is that close.  The new threshold
	 * replaces the old. */
	st = run(&text, "--calibrate", "--db", path, NULL);
	assert_int_equal(st, 0);
	parse_cal(text, &c);
	double zero_cut = between(0, g_of(0, 1));
	assert_true(fabs(c.thr - zero_cut) < 5e-7);
	assert_true(fabs(c.far - 5.0 / 6900.0) < 5e-7 && c.tar == 0);
	t = stored_threshold(path, "cosine", &m);
	assert_true(fabs(t->value - zero_cut) < 1e-12 && t->tar == 0);
	featdb_meta_free(&m);
	free(text);

	/* featdb info shows it. */
	char *info[] = {proc_bin("featdb"), "info", path, NULL};
	assert_int_equal(proc_run(info, out), 0);
	text = tu_slurp(out);
	assert_non_null(strstr(text, "threshold:   cosine "));
	free(text);
}

/* A calibrated store gives verify its threshold; a store that has grown
 * since says so. */
static void test_threshold_from_store(void **state)
{
	(void)state;
	char *text, copy[600], cmd[1400];
	snprintf(copy, sizeof copy, "%s/copy.lmdb", dir);
	snprintf(cmd, sizeof cmd, "cp -r %s %s", db, copy);
	assert_int_equal(system(cmd), 0);
	int st = run(&text, "--calibrate", "--db", copy, NULL);
	assert_int_equal(st, 0);
	/* Four people: too few for ten folds, said. */
	assert_non_null(strstr(text, "10-fold:     not run: needs 10 people"));
	free(text);
	featdb_meta_t m;
	const featdb_threshold_t *t = stored_threshold(copy, "cosine", &m);
	assert_non_null(t);
	double thr = t->value;
	featdb_meta_free(&m);

	st = run(&text, face("person_01", 1), face("person_01", 2), "--db", copy,
		 "--weights", (char *)tu_weights_path(), "--json", NULL);
	assert_int_equal(st, 0);
	double got;
	const char *at = strstr(text, "\"threshold\": ");
	assert_non_null(at);
	assert_int_equal(sscanf(at, "\"threshold\": %lf", &got), 1);
	assert_true(got == thr);
	assert_null(strstr(text, "note:"));
	free(text);

	/* As if an extract had added records since. */
	featdb_t *s;
	char err[ERR_LEN];
	featdb_threshold_t old = {.metric = "cosine", .value = thr, .far = 0, .tar = 1,
				  .records = "all", .count = 15};
	assert_int_equal(featdb_open(copy, FEATDB_WRITE, &s, err), 0);
	assert_int_equal(featdb_threshold_put(s, &old, err), 0);
	featdb_close(s);
	st = run(&text, face("person_01", 1), face("person_01", 2), "--db", copy,
		 "--weights", (char *)tu_weights_path(), NULL);
	assert_int_equal(st, 0);
	assert_non_null(strstr(text, "calibrated at 15 records; it holds 16 now"));
	free(text);

	/* No calibration for this metric: an error that says how to get one. */
	st = run(&text, face("person_01", 1), face("person_01", 2), "--db", copy,
		 "--metric", "euclidean", NULL);
	assert_int_equal(st, 1);
	assert_non_null(strstr(text, "no euclidean threshold"));
	assert_non_null(strstr(text, "--calibrate"));
	free(text);
}

/* Writes a store of n 8-d float32 records (keys, vectors v, classes cls,
 * splits) whose metadata says model (m_id's preprocessing) and
 * fingerprint fp. */
static void small_store(const char *path, const char *model, int m_id, const char *fp,
			char **classes, int nclasses, int n, const char *const *keys,
			const float (*v)[8], const int *cls, const int *split)
{
	featdb_t *s;
	featdb_meta_t m = {0};
	char err[ERR_LEN];
	const uint8_t *vals[8];
	size_t lens[8], len = featdb_rec_size(FEATDB_F32, 8);

	assert_true(n <= 8);
	snprintf(m.model, sizeof m.model, "%s", model);
	snprintf(m.fingerprint, sizeof m.fingerprint, "%s", fp);
	snprintf(m.preprocess, sizeof m.preprocess, "%s", model_info(m_id)->preprocess);
	snprintf(m.version, sizeof m.version, "test");
	m.dim = 8;
	m.dtype = FEATDB_F32;
	m.classes = classes;
	m.nclasses = nclasses;
	for (int i = 0; i < n; i++) {
		uint8_t *r = malloc(len);
		assert_int_equal(featdb_rec_encode(v[i], 8, FEATDB_F32, cls[i], split[i], r,
						   err), 0);
		vals[i] = r;
		lens[i] = len;
	}
	assert_int_equal(featdb_open(path, FEATDB_CREATE, &s, err), 0);
	assert_int_equal(featdb_write(s, &m, n, keys, vals, lens, err), 0);
	featdb_close(s);
	for (int i = 0; i < n; i++)
		free((void *)vals[i]);
}

/* Writes a store of 3 records whose metadata says model (and
 * fingerprint): a store another model's or other weights' vectors fill. */
static void other_store(const char *path, const char *model, int m_id, const char *fp)
{
	static char *classes[1] = {"ann"};
	static const char *const keys[3] = {"ann/1.jpg", "ann/2.jpg", "ann/3.jpg"};
	static const float v[3][8] = {{1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 3, 4, 5, 6, 7, 8},
				      {1, 2, 3, 4, 5, 6, 7, 8}};
	static const int cls[3] = {0}, split[3] = {0};
	small_store(path, model, m_id, fp, classes, 1, 3, keys, v, cls, split);
}

/* Two people, two records each, one of them tagged valid: no genuine
 * pair among the valid records alone, two with --records all. */
static void one_valid_each_store(const char *path)
{
	static char *classes[2] = {"ann", "bob"};
	static const char *const keys[4] = {"ann/1.jpg", "ann/2.jpg", "bob/1.jpg",
					    "bob/2.jpg"};
	static const float v[4][8] = {{1, 0, 0, 0, 0.1f}, {1, 0, 0, 0, 0, 0.1f},
				      {0, 1, 0, 0, 0.1f}, {0, 1, 0, 0, 0, 0.1f}};
	static const int cls[4] = {0, 0, 1, 1};
	static const int split[4] = {FEATDB_TRAIN, FEATDB_VALID, FEATDB_TRAIN, FEATDB_VALID};
	small_store(path, model_info(MODEL_VGG16)->store_model, MODEL_VGG16,
		    "0123456789abcdef", classes, 2, 4, keys, v, cls, split);
}

/* Runs verify with the arguments in ap: its exit status must be
 * want_status and its output (stdout and stderr) contain want (exact: be
 * want), when want is not NULL. */
static void expect_ap(int want_status, const char *want, int exact, va_list ap)
{
	char *argv[PROC_ARGV];

	proc_argv(argv, VERIFY, ap);
	int st = proc_run(argv, out);
	char *text = tu_slurp(out);
	if (st != want_status ||
	    (want && (exact ? strcmp(text, want) != 0 : !strstr(text, want))))
		fail_msg("verify %s %s ...: exit %d (want %d), output:\n%s\n(want %s'%s')",
			 argv[1], argv[2] ? argv[2] : "", st, want_status, text,
			 exact ? "exactly " : "", want ? want : "");
	free(text);
}

static void expect(int want_status, const char *substr, ...)
{
	va_list ap;

	va_start(ap, substr);
	expect_ap(want_status, substr, 0, ap);
	va_end(ap);
}

static void expect_exactly(int want_status, const char *want, ...)
{
	va_list ap;

	va_start(ap, want);
	expect_ap(want_status, want, 1, ap);
	va_end(ap);
}

static void test_bad_inputs(void **state)
{
	(void)state;
	char *w = (char *)tu_weights_path(), *a = face("person_01", 1), *b = face("person_02", 1);
	char bad[600], other[600], fp[600], one[600], missing[600];
	snprintf(bad, sizeof bad, "%s/bad.jpg", dir);
	snprintf(other, sizeof other, "%s/vggface.lmdb", dir);
	snprintf(fp, sizeof fp, "%s/otherweights.lmdb", dir);
	snprintf(one, sizeof one, "%s/one.lmdb", dir);
	snprintf(missing, sizeof missing, "%s/nope.lmdb", dir);
	assert_int_equal(tu_write_file(bad, "not a jpeg", 10), 0);

	/* A missing store. */
	expect(1, "no such feature store", a, b, "--db", missing, "--threshold", "1", NULL);
	expect(1, "no such feature store", "--calibrate", "--db", missing, NULL);
	/* A store of another model, of other weights, of a model no one knows. */
	other_store(other, model_info(MODEL_VGGFACE)->store_model, MODEL_VGGFACE,
		    "0123456789abcdef");
	expect(1, "holds vggface-fc7 vectors (VGG-Face), but", a, b, "--db", other,
	       "--weights", w, "--threshold", "1", NULL);
	expect(1, "holds vggface-fc7 vectors, but --model vgg16", a, b, "--db", other,
	       "--model", "vgg16", "--weights", w, "--threshold", "1", NULL);
	other_store(fp, model_info(MODEL_VGG16)->store_model, MODEL_VGG16,
		    "0123456789abcdef");
	expect(1, "fingerprint", a, b, "--db", fp, "--weights", w, "--threshold", "1", NULL);
	/* A model no one knows: the store's own metadata says so. */
	char unknown[600];
	snprintf(unknown, sizeof unknown, "%s/unknown.lmdb", dir);
	other_store(unknown, model_info(MODEL_VGG16)->store_model, MODEL_VGG16,
		    "0123456789abcdef");
	char why[ERR_LEN];
	if (e2e_raw_put_meta(unknown, "model", "resnet50-avg", why))
		fail_msg("%s", why);
	expect(1, "'resnet50-avg' features", a, b, "--db", unknown, "--threshold", "1",
	       NULL);
	/* An image that does not decode, one that is not there, a folder. */
	expect(1, "bad.jpg", bad, b, "--db", db, "--weights", w, "--threshold", "1", NULL);
	expect(1, "nothere.jpg", "/nonexistent/nothere.jpg", b, "--db", db, "--weights",
	       w, "--threshold", "1", NULL);
	expect(1, "a folder", faces, b, "--db", db, "--weights", w, "--threshold", "1", NULL);
	/* A folder that holds one image, or none, is a folder too (the first
	 * was compared as its image, exit 0; the second was "not an image"),
	 * said before the weights are read: a missing file given for them
	 * is not reached. */
	char folder1[600], folder0[600], inside[700];
	snprintf(folder1, sizeof folder1, "%s/one_image", dir);
	snprintf(folder0, sizeof folder0, "%s/no_image", dir);
	snprintf(inside, sizeof inside, "%s/001.jpg", folder1);
	assert_int_equal(mkdir(folder1, 0755), 0);
	assert_int_equal(mkdir(folder0, 0755), 0);
	size_t len;
	uint8_t *bytes = tu_read_file(b, &len);
	assert_non_null(bytes);
	assert_int_equal(tu_write_file(inside, bytes, len), 0);
	free(bytes);
	char want[800];
	snprintf(want, sizeof want, "verify: error: %s: a folder: verify compares two "
		 "image files (nearest looks up the images of a folder)\n", folder1);
	expect_exactly(1, want, a, folder1, "--db", db, "--weights", w, "--threshold",
		       "1", NULL);
	snprintf(want, sizeof want, "verify: error: %s: a folder: verify compares two "
		 "image files (nearest looks up the images of a folder)\n", folder0);
	expect_exactly(1, want, folder0, a, "--db", db, "--weights", "/nonexistent.h5",
		       "--threshold", "1", NULL);
	/* Calibrating one person's records. */
	other_store(one, model_info(MODEL_VGG16)->store_model, MODEL_VGG16, "0123456789abcdef");
	expect(1, "two people", "--calibrate", "--db", one, NULL);
	/* A record tagged valid for each person: the message names the
	 * records it looked at, and the way to take them all. */
	char split[600];
	snprintf(split, sizeof split, "%s/one_valid_each.lmdb", dir);
	one_valid_each_store(split);
	expect(1, "one_valid_each.lmdb: no person has two valid records: no genuine "
	       "pair to calibrate on (--records all takes every record)", "--calibrate",
	       "--db", split, NULL);
	expect(0, NULL, "--calibrate", "--db", split, "--records", "all", NULL);
	/* Usage. */
	expect(2, "Try 'verify --help'", NULL);
	expect(2, "two images", a, "--db", db, NULL);
	expect(2, "two images", a, b, "c.jpg", "--db", db, NULL);
	expect(2, "--calibrate takes", "--calibrate", NULL);
	expect(2, "--calibrate takes", "--calibrate", "--db", db, a, NULL);
	expect(2, "--calibrate takes no", "--calibrate", "--db", db, "--json", NULL);
	expect(2, "--far, --records, --impostors and --seed", a, b, "--db", db, "--far",
	       "0.1", NULL);
	expect(2, "is not valid or all", "--calibrate", "--db", db, "--records", "test",
	       NULL);
	expect(1, "no record is tagged valid", "--calibrate", "--db", db, "--records",
	       "valid", NULL);
	expect(2, "without --db, give --threshold", a, b, "--weights", w, NULL);
	expect(2, "is not cosine", a, b, "--db", db, "--metric", "angular", NULL);
	expect(2, "--far", "--calibrate", "--db", db, "--far", "2", NULL);
	expect(2, "--bogus", a, b, "--bogus", NULL);
	expect(0, "usage: verify", "--help", NULL);
	expect(0, "VGGFEAT_ISA", "--help-dev", NULL);
	expect(0, "verify ", "--version", NULL);
}

/* Far past a run's few seconds, a sanitized one's too: a program still
 * running then hangs, and is killed. */
#define HANG_SECONDS 300

/* A FIFO with nothing writing to it as image A: one error line saying what
 * it is and status 1, promptly (verify once waited in its open, forever).
 * Through a FIFO whose writer is slow, an image is its file: distance 0. */
static void test_fifo(void **state)
{
	(void)state;
	char *w = (char *)tu_weights_path(), *a = face("person_03", 2), fifo[600], want[800];
	snprintf(fifo, sizeof fifo, "%s/fifo.jpg", dir);
	assert_int_equal(mkfifo(fifo, 0644), 0);
	char *argv[] = {VERIFY, fifo, a, "--weights", w, "--metric", "euclidean",
			"--threshold", "0", "-q", NULL};
	int st = proc_run_bounded(argv, out, HANG_SECONDS);
	char *text = tu_slurp(out);
	snprintf(want, sizeof want, "verify: error: %s: a FIFO or pipe with nothing "
		 "written to it\n", fifo);
	if (st != 1 || strcmp(text, want) != 0)
		fail_msg("exit %d (want 1), output:\n%s(want '%s')", st, text, want);
	free(text);
	assert_int_equal(unlink(fifo), 0);

	size_t len;
	uint8_t *bytes = tu_read_file(a, &len);
	assert_non_null(bytes);
	pid_t writer = proc_fifo_writer(fifo, bytes, len, HANG_SECONDS);
	assert_true(writer > 0);
	st = proc_run_bounded(argv, out, HANG_SECONDS);
	text = tu_slurp(out);
	snprintf(want, sizeof want, "%s\t%s\t0.000000\t0.000000\tsame\n", fifo, a);
	if (st != 0 || strcmp(text, want) != 0)
		fail_msg("exit %d (want 0), output:\n%s(want '%s')", st, text, want);
	assert_int_equal(proc_wait_bounded(writer, HANG_SECONDS), 0);
	free(text);
	free(bytes);
	unlink(fifo);
}

/* Asserts that verify's distance for the arguments (NULL-terminated: the
 * two images and options) is want, to the bit: the verdict is "same" at
 * --threshold want and "different" at the double just below it. */
static void distance_is(double want, ...)
{
	char t[2][40];
	va_list ap;

	snprintf(t[0], sizeof t[0], "%.17g", want);
	snprintf(t[1], sizeof t[1], "%.17g", nextafter(want, 0));
	for (int k = 0; k < 2; k++) {
		char *argv[PROC_ARGV];
		int n;
		va_start(ap, want);
		n = proc_argv(argv, VERIFY, ap);
		va_end(ap);
		assert_true(n + 4 <= PROC_ARGV);
		argv[n++] = "--threshold";
		argv[n++] = t[k];
		argv[n++] = "-q";
		argv[n] = NULL;
		int st = proc_run(argv, out);
		char *text = tu_slurp(out);
		if (st != 0 || !strstr(text, k ? "\tdifferent\n" : "\tsame\n"))
			fail_msg("verify %s %s %s %s ... --threshold %s: exit %d, '%s': its "
				 "distance is not %.17g", argv[1], argv[2], argv[3],
				 argv[4], t[k], st, text, want);
		free(text);
	}
}

/* verify computes the convolutions as extract computed the store's
 * (its metadata's "conv"), so that each image's vector is the one extract
 * stored, to the bit: by default the store's path, --conv the other, and
 * Winograd without a store, or with one from before stores recorded it.
 * The euclidean distance of two images, which the two paths' vectors put
 * apart in their last bits, tells which path ran: it is, to the bit, the
 * distance of the two vectors that path's store holds. */
static void test_conv_of_the_store(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("the direct path over two images, three times; test_extract "
			  "checks the store's path sanitized");
	char in[600], cdb[600], old[600], cmd[4096], why[ERR_LEN], a[700], b[700];
	char *w = (char *)tu_weights_path();
	int D;

	snprintf(in, sizeof in, "%s/conv", dir);
	snprintf(cdb, sizeof cdb, "%s/direct.lmdb", dir);
	snprintf(old, sizeof old, "%s/old.lmdb", dir);
	snprintf(a, sizeof a, "%s/person_01/001.jpg", in);
	snprintf(b, sizeof b, "%s/person_02/002.jpg", in);
	snprintf(cmd, sizeof cmd, "set -e; mkdir -p %s/person_01 %s/person_02; "
		 "cp %s/person_01/001.jpg %s/person_01/; cp %s/person_02/002.jpg "
		 "%s/person_02/", in, in, faces, in, faces, in);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(e2e_extract(in, cdb, out, "--conv", "direct", NULL), 0);
	/* The same two images in the setup's store, on the Winograd path. */
	float *ca = stored_in(cdb, "person_01/001.jpg", &D);
	float *cb = stored_in(cdb, "person_02/002.jpg", &D);
	float *wa = stored("person_01/001.jpg", &D), *wb = stored("person_02/002.jpg", &D);
	double dd = recog_distance(RECOG_EUCLIDEAN, ca, cb, D);
	double dw = recog_distance(RECOG_EUCLIDEAN, wa, wb, D);
	print_message("euclidean distance: %.17g direct, %.17g winograd\n", dd, dw);
	assert_true(dd != dw);

	distance_is(dd, a, b, "--db", cdb, "--weights", w, "--metric", "euclidean", NULL);
	distance_is(dw, a, b, "--db", cdb, "--weights", w, "--metric", "euclidean",
		    "--conv", "winograd", NULL);
	distance_is(dw, a, b, "--weights", w, "--metric", "euclidean", NULL);
	snprintf(cmd, sizeof cmd, "cp -r %s %s", cdb, old);
	assert_int_equal(system(cmd), 0);
	if (e2e_raw_del_meta(old, "conv", why))
		fail_msg("%s", why);
	distance_is(dw, a, b, "--db", old, "--weights", w, "--metric", "euclidean", NULL);

	/* A path verify does not know, in the store or on the command line. */
	if (e2e_raw_put_meta(old, "conv", "fft", why))
		fail_msg("%s", why);
	expect(1, "old.lmdb holds vectors made with --conv 'fft'; this program "
	       "computes winograd or direct", a, b, "--db", old, "--weights", w,
	       "--threshold", "1", NULL);
	expect(2, "verify: --conv: 'fft' is not winograd or direct\n"
	       "Try 'verify --help'.\n", a, b, "--db", cdb, "--conv", "fft", NULL);
	expect(2, "--calibrate takes no", "--calibrate", "--db", cdb, "--conv",
	       "direct", NULL);
	free(ca), free(cb), free(wa), free(wb);
	tu_rm_rf(in);
	tu_rm_rf(cdb);
	tu_rm_rf(old);
}

/* The answer is the line: when it cannot be written, the status says so. */
static void test_stdout_write_failure(void **state)
{
	(void)state;
	if (access("/dev/full", W_OK) != 0)
		skip();
	char *argv[] = {VERIFY, face("person_01", 1), face("person_01", 2), "--db", db,
			"--weights", (char *)tu_weights_path(), "--threshold", "1", "-q", NULL};
	assert_int_equal(proc_run(argv, "/dev/full"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_is_the_golden),
		cmocka_unit_test(test_pair_distance),
		cmocka_unit_test(test_same_image_zero),
		cmocka_unit_test(test_calibrate_separable),
		cmocka_unit_test(test_calibrate_twins),
		cmocka_unit_test(test_threshold_from_store),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_conv_of_the_store),
		cmocka_unit_test(test_stdout_write_failure),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
