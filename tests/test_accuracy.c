/* test_accuracy.c - the pipeline on real faces against Keras' own recipe
 * on the same split and the same weights: extract --layer block5_pool
 * --pooling avg with the real convolution base (tests/ref/real_weights.py)
 * on ../shared/data/lfw-dev, split as tests/golden/lfw_dev_split.txt says
 * (per person the last 4 images by name validate), then train-head with
 * Keras' settings (Adam 1e-4, batch 32) for the epochs Keras was trained
 * (tests/golden/keras_lfw_accuracy.json, from
 * tests/ref/keras_lfw_accuracy.py), seeds 1 to 5: our mean val_accuracy
 * must be within 2 points of Keras' mean over its 5 seeds.  The store,
 * extracted once, serves the 5 seeds, and a check of bin/extract's
 * vectors against Keras' on the LFW faces of
 * tests/golden/keras_taps_real.h5, and verify --calibrate's ROC AUC, EER
 * and 10-fold accuracy on it against tests/golden/lfw_verify.json.
 * pooling='max' too, when asked
 * (VGGFEAT_ACCURACY_MAX=1: a second pass over the faces).
 *
 * Skips, saying why, when the real weights (`make real-weights`) or
 * lfw-dev are not there, and under the sanitizers (1,240 faces through
 * VGG16). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "error.h"
#include "net/model.h"
#include "proc.h"
#include "store/featdb.h"
#include "testutil.h"
#include "tjson.h"

#define SPLIT "tests/golden/lfw_dev_split.txt"
#define KERAS_ACCURACY "tests/golden/keras_lfw_accuracy.json"
#define TAPS_REAL_GOLDEN "tests/golden/keras_taps_real.h5"
#define LFW_VERIFY "tests/golden/lfw_verify.json"
#define SEEDS 5
/* verify --calibrate's figures on the store: the same vectors but for
 * their last bits (another instruction set's kernels) may order a few
 * all-but-tied pairs otherwise; 0.005 of a 10-fold accuracy is 3 of a
 * fold's 600 pairs. */
#define AUC_TOL 1e-3
#define FOLD_TOL 0.005
/* The bound: 2 points of val_accuracy, mean against mean. */
#define MAX_GAP 0.02

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* json_number: the number at the path of keys (NULL-terminated) in the
 * tree of file; fails the test when it is not there. */
static double json_number(const tj_t *v, const char *file, ...)
{
	va_list ap;
	const char *key;

	va_start(ap, file);
	while (v && (key = va_arg(ap, const char *)))
		v = tj_get(v, key);
	va_end(ap);
	if (!v || v->type != TJ_NUM)
		fail_msg("%s: a number is missing", file);
	return v->num;
}

/* make_tree builds faces/{train,valid}/<person>/<file>, symbolic links to
 * lfw's files as the split lists them; returns the images linked. */
static int make_tree(const char *lfw, const char *faces)
{
	char *text = tu_slurp(SPLIT), *save = NULL;
	int n = 0;

	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char set[8], rel[512], from[2048], to[2048];
		int cls;
		if (line[0] == '#')
			continue;
		if (sscanf(line, "%7s %d %511s", set, &cls, rel) != 3)
			fail_msg("%s: bad line '%s'", SPLIT, line);
		snprintf(from, sizeof from, "%s/%s", lfw, rel);
		snprintf(to, sizeof to, "%s/%s", set, rel);
		if (access(from, R_OK) != 0)
			fail_msg("%s: %s is listed but not readable", SPLIT, from);
		e2e_mkdirs(faces, to);
		snprintf(to, sizeof to, "%s/%s/%s", faces, set, rel);
		if (symlink(from, to) != 0)
			fail_msg("symlink %s: %s", to, strerror(errno));
		n++;
	}
	free(text);
	return n;
}

/* last_val_accuracy: the val_accuracy of the last epoch in a history file
 * (CSVLogger's: epoch,accuracy,loss,val_accuracy,val_loss). */
static double last_val_accuracy(const char *history, int epochs)
{
	char *text = tu_slurp(history), *line = NULL, *save = NULL;
	int ep = -1, rows = 0;
	double acc = -1, loss, va = -1;

	for (char *l = strtok_r(text, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save))
		line = l, rows++;
	if (!line || sscanf(line, "%d,%lf,%lf,%lf", &ep, &acc, &loss, &va) != 4)
		fail_msg("%s: no last epoch", history);
	assert_int_equal(ep, epochs - 1);
	assert_int_equal(rows, epochs + 1);
	free(text);
	return va;
}

/* check_vectors compares the store's vectors of the LFW faces in Keras'
 * golden set (block5_pool pooled by pooling, on the same weights) with
 * Keras', within 1e-5 of each one's largest value; returns the faces
 * compared. */
static int check_vectors(const char *db, const char *pooling)
{
	hid_t f = H5Fopen(TAPS_REAL_GOLDEN, H5F_ACC_RDONLY, H5P_DEFAULT);
	hid_t d = H5Dopen2(f, "keys", H5P_DEFAULT);
	hid_t sp = H5Dget_space(d), ft = H5Dget_type(d), mt = H5Tcopy(H5T_C_S1);
	int n = (int)H5Sget_simple_extent_npoints(sp), checked = 0;
	size_t len = H5Tget_size(ft);
	char *keys = calloc((size_t)n, len + 1), err[ERR_LEN], name[64];
	float *want = malloc((size_t)n * 512 * sizeof *want), v[512];
	double ref[512];
	featdb_t *db_ = NULL;

	assert_true(f >= 0 && keys && want);
	H5Tset_size(mt, len + 1);
	assert_true(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, keys) >= 0);
	H5Tclose(mt), H5Tclose(ft), H5Sclose(sp), H5Dclose(d);
	snprintf(name, sizeof name, "block5_pool_%s", pooling);
	d = H5Dopen2(f, name, H5P_DEFAULT);
	assert_true(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, want) >= 0);
	H5Dclose(d), H5Fclose(f);
	if (featdb_open(db, FEATDB_RDONLY, &db_, err))
		fail_msg("%s", err);
	for (int i = 0; i < n; i++) {
		const char *key = keys + (size_t)i * (len + 1), *rel;
		static const char *const sets[] = {"train", "valid"};
		if (strncmp(key, "shared:lfw-dev/", 15) != 0)
			continue;
		rel = key + 15;
		for (int s = 0; s < 2; s++) {
			char k[600], what[700];
			uint8_t *val = NULL;
			size_t vlen = 0;
			featdb_rec_t rec;
			snprintf(k, sizeof k, "%s/%s", sets[s], rel);
			if (featdb_get(db_, k, &val, &vlen, err) == ERR_MISSING)
				continue;
			if (featdb_rec_decode(val, vlen, &rec, err))
				fail_msg("%s", err);
			featdb_rec_vector(&rec, v);
			for (int j = 0; j < 512; j++)
				ref[j] = want[(size_t)i * 512 + j];
			snprintf(what, sizeof what, "extract's %s against Keras' %s", k, name);
			tu_assert_close(what, v, ref, 512, 0, 1e-5, 0);
			free(val);
			checked++;
		}
	}
	featdb_close(db_);
	free(keys), free(want);
	return checked;
}

/* said: the number after the first occurrence of label in out; fails the
 * test when it is not there. */
static double said(const char *out, const char *label)
{
	const char *p = strstr(out, label);
	double v;

	if (!p || sscanf(p + strlen(label), "%lf", &v) != 1)
		fail_msg("verify --calibrate did not print '%s':\n%s", label, out);
	return v;
}

/* check_calibration runs verify --calibrate --records all on the store
 * (all 1,240 faces: every genuine and every impostor pair, so no sample)
 * and fails unless it counts the pairs LFW_VERIFY does and its ROC AUC,
 * equal error rate and 10-fold accuracy (cosine) are LFW_VERIFY's, the
 * figures of docs/accuracy.md, within AUC_TOL and FOLD_TOL. */
static void check_calibration(const char *db, const char *pooling, const char *log)
{
	char *json = tu_slurp(LFW_VERIFY), why[256];
	tj_t *doc = tj_parse(json, why);
	char *argv[] = {proc_bin("verify"), "--calibrate", "--db", (char *)db, "--records",
			"all", NULL};

	if (!doc)
		fail_msg("%s: %s", LFW_VERIFY, why);
	int st = proc_run(argv, log);
	char *out = tu_slurp(log);
	if (st != 0)
		fail_msg("verify --calibrate failed:\n%s", out);
	double got[5] = {said(out, "pairs:"), said(out, "genuine (all), "),
			 said(out, "ROC AUC:"), said(out, "EER:"), said(out, "accuracy ")};
	static const char *const key[5] = {"genuine", "impostor", "auc", "eer", "tenfold"};
	const double tol[5] = {0, 0, AUC_TOL, AUC_TOL, FOLD_TOL};
	for (int i = 0; i < 5; i++) {
		double want = json_number(doc, LFW_VERIFY, pooling, key[i], NULL);
		if (fabs(got[i] - want) > tol[i])
			fail_msg("%s: verify --calibrate gives %s %.6f, %s says %.6f (bound "
				 "%g):\n%s", pooling, key[i], got[i], LFW_VERIFY, want, tol[i],
				 out);
	}
	print_message("%s: verify --calibrate --records all: ROC AUC %.4f, EER %.4f, "
		      "10-fold accuracy %.4f (%s: %.4f, %.4f, %.4f)\n", pooling, got[2],
		      got[3], got[4], LFW_VERIFY,
		      json_number(doc, LFW_VERIFY, pooling, "auc", NULL),
		      json_number(doc, LFW_VERIFY, pooling, "eer", NULL),
		      json_number(doc, LFW_VERIFY, pooling, "tenfold", NULL));
	free(out);
	tj_free(doc);
	free(json);
}

/* pooling_accuracy extracts the faces (dir/FACES) at block5_pool with
 * pooling from the real _notop file, checks the store's vectors against
 * Keras', trains SEEDS heads as Keras' recipe was trained (doc: Keras'
 * JSON) and fails unless their mean val_accuracy is within MAX_GAP of
 * Keras' mean. */
static void pooling_accuracy(const char *pooling, const char *dir, const char *notop,
			     const tj_t *doc)
{
	const int epochs = (int)json_number(doc, KERAS_ACCURACY, "epochs", pooling, NULL);
	const double keras = json_number(doc, KERAS_ACCURACY, "results", pooling,
					 "mean_val_accuracy", NULL);
	const double keras_sd = json_number(doc, KERAS_ACCURACY, "results", pooling,
					    "std_val_accuracy", NULL);
	char faces[256], db[256], log[256], history[256], head[256], seed[16], ep[16];
	double acc[SEEDS], sum = 0, ss = 0, t0 = now();

	assert_true(epochs > 0 && keras > 0 && keras <= 1);
	snprintf(faces, sizeof faces, "%s/FACES", dir);
	snprintf(db, sizeof db, "%s/lfw_%s.lmdb", dir, pooling);
	snprintf(log, sizeof log, "%s/log", dir);
	snprintf(ep, sizeof ep, "%d", epochs);
	char *extract[] = {proc_bin("extract"), "--in", faces, "--db", db, "--weights",
			   (char *)notop, "--layer", "block5_pool", "--pooling",
			   (char *)pooling, "-q", NULL};
	if (proc_run(extract, log) != 0) {
		char *out = tu_slurp(log);
		fail_msg("extract failed:\n%s", out);
	}
	double t_extract = now() - t0;
	int checked = check_vectors(db, pooling);
	assert_true(checked > 0);
	print_message("%s: extract: 1240 faces in %.0f s; %d of them within 1e-5 of "
		      "Keras' vectors\n", pooling, t_extract, checked);
	check_calibration(db, pooling, log);

	t0 = now();
	for (int s = 0; s < SEEDS; s++) {
		snprintf(seed, sizeof seed, "%d", s + 1);
		snprintf(history, sizeof history, "%s/history_%s%d.csv", dir, pooling, s + 1);
		/* In the test's folder: train-head's default is head.h5 in the
		 * current one, the source tree. */
		snprintf(head, sizeof head, "%s/head_%s%d.h5", dir, pooling, s + 1);
		char *train[] = {proc_bin("train-head"), "--db", db, "--epochs", ep,
				 "--lr", "1e-4", "--batch-size", "32", "--seed", seed,
				 "--history", history, "--out", head, "-q", NULL};
		if (proc_run(train, log) != 0) {
			char *out = tu_slurp(log);
			fail_msg("train-head failed:\n%s", out);
		}
		acc[s] = last_val_accuracy(history, epochs);
		sum += acc[s];
		print_message("%s seed %d: val_accuracy %.4f (%.0f/248) after %d epochs\n",
			      pooling, s + 1, acc[s], acc[s] * 248, epochs);
	}
	double mean = sum / SEEDS;
	for (int s = 0; s < SEEDS; s++)
		ss += (acc[s] - mean) * (acc[s] - mean);
	print_message("%s: ours: mean val_accuracy %.4f, sd %.4f over seeds 1..%d "
		      "(%.0f s); Keras: mean %.4f, sd %.4f (%s); gap %+.4f, limit %.2f\n",
		      pooling, mean, sqrt(ss / (SEEDS - 1)), SEEDS, now() - t0, keras,
		      keras_sd, KERAS_ACCURACY, mean - keras, MAX_GAP);
	assert_true(fabs(mean - keras) <= MAX_GAP);
}

/* Keras' recipe is pooling='avg'; with VGGFEAT_ACCURACY_MAX set (for the
 * figures of docs/accuracy.md, not make test's time), 'max' too. */
static void test_lfw_accuracy_matches_keras(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("1,240 faces through VGG16's convolutions, 5 heads trained");
	const char *lfw = tu_shared_data("lfw-dev");
	if (!lfw) {
		print_message("lfw-dev: skipped: ../shared/data/lfw-dev ($SHARED_DATA) is "
			      "not there\n");
		skip();
	}
	char lfw_dir[1024], faces[256];
	snprintf(lfw_dir, sizeof lfw_dir, "%s", lfw);
	const char *notop = tu_real_weights_or_skip(MODEL_VGG16_NOTOP_FILE);
	char *json = tu_slurp(KERAS_ACCURACY), why[256];
	tj_t *doc = tj_parse(json, why);
	if (!doc)
		fail_msg("%s: %s", KERAS_ACCURACY, why);
	const char *max = getenv("VGGFEAT_ACCURACY_MAX");

	const char *dir = tu_tmpdir();
	snprintf(faces, sizeof faces, "%s/FACES", dir);
	assert_int_equal(make_tree(lfw_dir, faces), 1240);
	pooling_accuracy("avg", dir, notop, doc);
	if (max && *max)
		pooling_accuracy("max", dir, notop, doc);
	tj_free(doc);
	free(json);
	tu_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lfw_accuracy_matches_keras),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
