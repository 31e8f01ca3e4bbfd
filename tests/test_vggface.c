/* test_vggface.c - VGG-Face (keras-vggface's weights file) through the real
 * programs, on a generated file (gen_weights --layout vggface, seed 1: the
 * same numbers as the VGG16 test weights, under VGG-Face's names) and
 * generated faces: extract detects the model and preprocesses with its
 * means; --model must agree with the file; a store, a merge or a head
 * holds one model's vectors; the head records the model and predict
 * follows it, to the default file of keras-vggface's cache; the --min-prob
 * train-head suggests does in predict what train-head said it would.
 * (The loader's detection: test_weights.c; fc7 against an independent
 * reference: test_vgg.c; the store's and featdb's model: test_featdb_tool.c.) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "net/model.h"
#include "store/featdb.h"
#include "head/head.h"
#include "img/img.h"
#include "proc.h"
#include "testutil.h"
#include "net/vgg.h"
#include "net/weights.h"

static char dir[256], vf[512], faces[512], db[512], db16[512], head[512],
	    head16[512];

static const char *path_in(const char *name)
{
	static char p[8][600];
	static int i;
	char *s = p[i++ % 8];
	snprintf(s, 600, "%s/%s", dir, name);
	return s;
}

/* Runs argv (NULL-terminated) with its output to out: the status. */
static int run_to(const char *out, char *const argv[])
{
	return proc_run(argv, out);
}

/* The output of the last run_to into path, for the test's life (a few kept
 * in rotation). */
static const char *slurp(const char *path)
{
	static char *bufs[4];
	static int i;
	free(bufs[i % 4]);
	return bufs[i++ % 4] = tu_slurp(path);
}

/* An error: status 1 and every needle in the output. */
static void expect_refusal(char *const argv[], const char *n1, const char *n2,
			   const char *n3)
{
	const char *log = path_in("refusal.txt");
	int st = run_to(log, argv);
	const char *text = slurp(log);
	const char *needles[3] = {n1, n2, n3};
	if (st != 1)
		fail_msg("%s: status %d, wanted 1:\n%s", argv[0], st, text);
	for (int k = 0; k < 3; k++)
		if (needles[k] && !strstr(text, needles[k]))
			fail_msg("%s: no '%s' in:\n%s", argv[0], needles[k], text);
}

/* The faces: 3 people, 8 images each for training and 4 in valid/ (so
 * that train-head's validation set is a folder predict can be run on). */
static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "%s", tu_tmpdir());
	snprintf(vf, sizeof vf, "%s/vggface_seed1.h5", dir);
	snprintf(faces, sizeof faces, "%s/faces", dir);
	snprintf(db, sizeof db, "%s/face.lmdb", dir);
	snprintf(db16, sizeof db16, "%s/vgg16.lmdb", dir);
	snprintf(head, sizeof head, "%s/face_head.h5", dir);
	snprintf(head16, sizeof head16, "%s/vgg16_head.h5", dir);
	const char *log = path_in("setup.log");
	char train[600], cmd[2400];
	snprintf(train, sizeof train, "%s/train", faces);
	char *gen[] = {proc_tool("gen_weights"), "--seed", "1", "--layout", "vggface",
		       "--out", vf, NULL};
	char *gf[] = {proc_tool("gen_faces"), "--out", train, "--people", "3",
		      "--images", "12", "--seed", "11", NULL};
	snprintf(cmd, sizeof cmd,
		 "set -e; for p in %s/*/; do n=$(basename $p); mkdir -p %s/valid/$n; "
		 "mv $p/009.jpg $p/010.jpg $p/011.jpg $p/012.jpg %s/valid/$n/; done",
		 train, faces, faces);
	if (mkdir(faces, 0755) != 0 || proc_run(gen, log) != 0 ||
	    proc_run(gf, log) != 0 || system(cmd) != 0) {
		char *text = tu_read_text(log);
		fprintf(stderr, "test_vggface setup failed:\n%s\n", text ? text : "");
		free(text);
		tu_rm_rf(dir); /* a weights file is 580 MB */
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rm_rf(dir);
	return 0;
}

/* extract on the VGG-Face file, the model told by the file alone: the
 * store says vggface-fc7 with keras-vggface's preprocessing, and each
 * record is the network's fc7 on the image minus VGG-Face's means, to the
 * bit (VGG16's means give other vectors). */
static void test_extract_detects_vggface(void **state)
{
	(void)state;
	const char *log = path_in("extract.txt");
	char *ext[] = {proc_bin("extract"), "--in", faces, "--db", db, "--weights", vf,
		       "-q", NULL};
	assert_int_equal(run_to(log, ext), 0);
	assert_non_null(strstr(slurp(log), "extracted 36, already present 0"));

	featdb_t *f = NULL;
	featdb_meta_t m = {0};
	weights_t w = {0};
	char err[ERR_LEN], path[700];
	assert_int_equal(featdb_open(db, FEATDB_RDONLY, &f, err), 0);
	assert_int_equal(featdb_meta_get(f, &m, err), 0);
	assert_string_equal(m.model, model_info(MODEL_VGGFACE)->store_model);
	assert_string_equal(m.preprocess, model_info(MODEL_VGGFACE)->preprocess);
	assert_int_equal(m.count, 36);
	if (weights_load(vf, &w, err))
		fail_msg("%s", err);
	assert_int_equal(w.model, MODEL_VGGFACE);
	assert_string_equal(m.fingerprint, w.fingerprint);
	const float *mean = model_info(MODEL_VGGFACE)->mean_bgr;
	/* keras_vggface.utils.preprocess_input(version=1)'s means. */
	assert_true(mean[0] == 93.5940f && mean[1] == 104.7624f && mean[2] == 129.1863f);

	float *x = malloc(VGG_IN_FLOATS * sizeof *x);
	static float y[VGG_FEATURES], y16[VGG_FEATURES], v[VGG_FEATURES];
	uint8_t *val = NULL;
	size_t len;
	featdb_rec_t rec;
	vgg_t *net = NULL;
	assert_non_null(x);
	snprintf(path, sizeof path, "%s/valid/person_02/010.jpg", faces);
	assert_int_equal(vgg_create(&w, 1, &net, err), 0);
	assert_int_equal(tu_load_input(path, MODEL_VGGFACE, x, err), 0);
	assert_int_equal(vgg_forward(net, x, 1, y, err), 0);
	assert_int_equal(tu_load_input(path, MODEL_VGG16, x, err), 0);
	assert_int_equal(vgg_forward(net, x, 1, y16, err), 0);
	assert_int_equal(featdb_get(f, "valid/person_02/010.jpg", &val, &len, err), 0);
	assert_int_equal(featdb_rec_decode(val, len, &rec, err), 0);
	assert_int_equal(rec.split, FEATDB_VALID);
	featdb_rec_vector(&rec, v);
	assert_memory_equal(v, y, sizeof y);
	assert_memory_not_equal(v, y16, sizeof y16);
	free(val);
	free(x);
	vgg_free(net);
	weights_free(&w);
	featdb_meta_free(&m);
	featdb_close(f);

	/* --model vggface, agreeing with the file: the same store. */
	char *again[] = {proc_bin("extract"), "--in", faces, "--db", db, "--weights", vf,
			 "--model", "vggface", "-q", NULL};
	assert_int_equal(run_to(log, again), 0);
	assert_non_null(strstr(slurp(log), "extracted 0, already present 36"));
}

/* --model that the file contradicts, either way: one error naming both,
 * before any store is made; a model that does not exist is a usage error. */
static void test_model_option_must_agree(void **state)
{
	(void)state;
	const char *none = path_in("never.lmdb");
	char *a[] = {proc_bin("extract"), "--in", faces, "--db", (char *)none,
		     "--weights", vf, "--model", "vgg16", "-q", NULL};
	expect_refusal(a, "holds VGG-Face weights", "--model vgg16 disagrees", vf);
	char *b[] = {proc_bin("extract"), "--in", faces, "--db", (char *)none, "--weights",
		     (char *)tu_weights_path(), "--model", "vggface", "-q", NULL};
	expect_refusal(b, "holds VGG16 weights", "--model vggface disagrees", NULL);
	assert_int_equal(access(none, F_OK), -1);
	char *c[] = {proc_bin("extract"), "--in", faces, "--db", (char *)none,
		     "--model", "facenet", NULL};
	assert_int_equal(run_to(path_in("usage.txt"), c), 2);
	assert_non_null(strstr(slurp(path_in("usage.txt")),
			       "--model: 'facenet' is not vgg16 or vggface"));
}

/* One store, one model: VGG16's weights into the VGG-Face store, and
 * VGG-Face's into a VGG16 store, are refused naming both models, although
 * the two files hold the same numbers (the same fingerprint). */
static void test_store_holds_one_model(void **state)
{
	(void)state;
	char *a[] = {proc_bin("extract"), "--in", faces, "--db", db, "--weights",
		     (char *)tu_weights_path(), "-q", NULL};
	expect_refusal(a, "holds vggface-fc7 features (VGG-Face)",
		       "is VGG16 weights (vgg16-fc2)", db);
	assert_null(strstr(slurp(path_in("refusal.txt")), "fingerprint"));
	char *mk[] = {proc_bin("extract"), "--in", faces, "--db", db16, "--weights",
		      (char *)tu_weights_path(), "-q", NULL};
	assert_int_equal(run_to(path_in("extract16.txt"), mk), 0);
	char *b[] = {proc_bin("extract"), "--in", faces, "--db", db16, "--weights", vf,
		     "-q", NULL};
	expect_refusal(b, "holds vgg16-fc2 features (VGG16)",
		       "is VGG-Face weights (vggface-fc7)", db16);
	char *info[] = {proc_bin("featdb"), "info", db, NULL};
	assert_int_equal(run_to(path_in("info.txt"), info), 0);
	assert_non_null(strstr(slurp(path_in("info.txt")), "\nmodel:       vggface-fc7\n"));
	char *merge[] = {proc_bin("featdb"), "merge", (char *)path_in("both.lmdb"), db,
			 db16, NULL};
	expect_refusal(merge, "differ in model", NULL, NULL);
}

/* What train-head suggests for --min-prob: "keeps K of the R correct
 * validation answers ... turns C of the W wrong ones". */
typedef struct suggestion {
	double p;
	int kept, right, caught, wrong;
} suggestion_t;

static void read_suggestion(const char *text, suggestion_t *g)
{
	const char *line = strstr(text, "train-head: predict --min-prob ");
	if (!line || sscanf(line, "train-head: predict --min-prob %lf keeps %d of the %d "
			    "correct validation answers (%*[^)]) and turns %d of the %d",
			    &g->p, &g->kept, &g->right, &g->caught, &g->wrong) != 5)
		fail_msg("no suggested --min-prob in:\n%s", text);
}

/* The head records VGG-Face's model; predict follows it (weights, means)
 * and refuses the other model's weights, a --model that contradicts the
 * head, and a VGG16 head on VGG-Face's weights.  On the validation images,
 * predict --min-prob P keeps and turns into "unknown" the answers
 * train-head counted. */
static void test_head_follows_model(void **state)
{
	(void)state;
	const char *log = path_in("train.txt"), *out = path_in("predict.txt");
	char valid[600];
	snprintf(valid, sizeof valid, "%s/valid", faces);
	/* The random weights' vectors are large: the L2 penalty keeps the
	 * head unsure of some faces, and --keep 0.5 puts the threshold among
	 * them. */
	char *tr[] = {proc_bin("train-head"), "--db", db, "--out", head, "--epochs", "40",
		      "--lr", "1e-3", "--l2", "10", "--keep", "0.5", NULL};
	assert_int_equal(run_to(log, tr), 0);
	suggestion_t g;
	read_suggestion(slurp(log), &g);
	assert_true(g.right - g.kept + g.caught > 0);
	head_t h;
	head_meta_t m;
	char err[ERR_LEN], p[32];
	assert_int_equal(head_load(head, &h, &m, err), 0);
	assert_string_equal(m.model, model_info(MODEL_VGGFACE)->store_model);
	assert_string_equal(m.preprocess, model_info(MODEL_VGGFACE)->preprocess);
	head_free(&h);
	head_meta_free(&m);

	/* predict without and with --min-prob, line by line: right or wrong
	 * from the first, kept or "unknown" from the second. */
	snprintf(p, sizeof p, "%.6f", g.p);
	char *plain[] = {proc_bin("predict"), "--head", head, "--weights", vf, "--top-k",
			 "1", "-q", valid, NULL};
	char *strict[] = {proc_bin("predict"), "--head", head, "--weights", vf, "--top-k",
			  "1", "-q", "--min-prob", p, valid, NULL};
	assert_int_equal(run_to(out, plain), 0);
	char *a = strdup(slurp(out));
	assert_int_equal(run_to(out, strict), 0);
	char *b = strdup(slurp(out)), *sa = NULL, *sb = NULL;
	int right = 0, wrong = 0, kept = 0, caught = 0;
	char *la = strtok_r(a, "\n", &sa), *lb = strtok_r(b, "\n", &sb);
	for (; la && lb; la = strtok_r(NULL, "\n", &sa), lb = strtok_r(NULL, "\n", &sb)) {
		char path[600], name[64], name2[64], want[80];
		int rank;
		double q, q2;
		assert_int_equal(sscanf(la, "%599[^\t]\t%d\t%63[^\t]\t%lf", path, &rank,
					name, &q), 4);
		assert_int_equal(sscanf(lb, "%*[^\t]\t%d\t%63[^\t]\t%lf", &rank, name2,
					&q2), 3);
		assert_true(q == q2);
		int unknown = strcmp(name2, "unknown") == 0;
		assert_int_equal(unknown, q < g.p);
		snprintf(want, sizeof want, "/%s/", name);
		if (strstr(path, want))
			right++, kept += !unknown;
		else
			wrong++, caught += unknown;
	}
	assert_true(!la && !lb);
	free(a), free(b);
	print_message("--min-prob %s on the %d validation images: %d of %d right kept, "
		      "%d of %d wrong unknown; train-head said %d of %d, %d of %d\n", p,
		      right + wrong, kept, right, caught, wrong, g.kept, g.right, g.caught,
		      g.wrong);
	assert_int_equal(right, g.right);
	assert_int_equal(wrong, g.wrong);
	assert_int_equal(kept, g.kept);
	assert_int_equal(caught, g.caught);

	char *other[] = {proc_bin("predict"), "--head", head, "--weights",
			 (char *)tu_weights_path(), valid, NULL};
	expect_refusal(other, "trained on vggface-fc7 features (VGG-Face)",
		       "holds VGG16 weights (vgg16-fc2)", NULL);
	char *opt[] = {proc_bin("predict"), "--head", head, "--model", "vgg16", valid, NULL};
	expect_refusal(opt, "trained on vggface-fc7 features", "--model vgg16 was given",
		       NULL);
	char *tr16[] = {proc_bin("train-head"), "--db", db16, "--out", head16, "--epochs",
			"1", "-q", NULL};
	assert_int_equal(run_to(log, tr16), 0);
	char *swap[] = {proc_bin("predict"), "--head", head16, "--weights", vf, valid, NULL};
	expect_refusal(swap, "trained on vgg16-fc2 features (VGG16)",
		       "holds VGG-Face weights (vggface-fc7)", NULL);
}

/* Saves the variables the default paths read, and restores them. */
static const char *const env_vars[] = {"HOME", "KERAS_HOME", "VGG16_WEIGHTS",
				       "VGGFACE_WEIGHTS"};
typedef struct saved_env {
	char v[4][4096];
	int had[4];
} saved_env_t;

static void env_save(saved_env_t *s)
{
	for (int k = 0; k < 4; k++) {
		const char *x = getenv(env_vars[k]);
		s->had[k] = x != NULL;
		snprintf(s->v[k], sizeof s->v[k], "%s", x ? x : "");
		unsetenv(env_vars[k]);
	}
}

static void env_restore(const saved_env_t *s)
{
	for (int k = 0; k < 4; k++)
		if (s->had[k])
			setenv(env_vars[k], s->v[k], 1);
		else
			unsetenv(env_vars[k]);
}

/* Without --weights: predict takes the head's model's file from
 * keras-vggface's cache (~/.keras/models/vggface/, or under $KERAS_HOME),
 * or $VGGFACE_WEIGHTS, saying where it looked and where the file comes
 * from when it is absent; extract does so with --model vggface, and
 * without --model keeps VGG16's default. */
static void test_default_path(void **state)
{
	(void)state;
	saved_env_t saved;
	char home[600], cache[700], file[800], kh[600], valid[600];
	const char *out = path_in("default.txt");
	snprintf(home, sizeof home, "%s/home", dir);
	snprintf(cache, sizeof cache, "%s/.keras/models/vggface", home);
	snprintf(file, sizeof file, "%s/" MODEL_VGGFACE_FILE, cache);
	snprintf(kh, sizeof kh, "%s/keras_home", dir);
	snprintf(valid, sizeof valid, "%s/valid/person_01", faces);
	env_save(&saved);
	assert_int_equal(setenv("HOME", home, 1), 0);

	char *pr[] = {proc_bin("predict"), "--head", head, "-q", valid, NULL};
	expect_refusal(pr, "VGG-Face weights not found at", file, MODEL_VGGFACE_URL);
	char cmd[4000];
	snprintf(cmd, sizeof cmd, "mkdir -p %s %s/models/vggface && ln -s %s %s && "
		 "ln -s %s %s/models/vggface/" MODEL_VGGFACE_FILE, cache, kh, vf,
		 file, vf, kh);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(run_to(out, pr), 0);
	assert_non_null(strstr(slurp(out), "\t1\t"));

	char *ext[] = {proc_bin("extract"), "--in", faces, "--db", db, "--model", "vggface",
		       "-q", NULL};
	assert_int_equal(run_to(out, ext), 0);
	assert_non_null(strstr(slurp(out), "already present 36"));
	/* Without --model, VGG16's file, which is not there. */
	char *ext16[] = {proc_bin("extract"), "--in", faces, "--db", db, "-q", NULL};
	expect_refusal(ext16, "VGG16 weights not found at",
		       "/.keras/models/" MODEL_VGG16_FILE, NULL);

	/* $KERAS_HOME, then $VGGFACE_WEIGHTS first. */
	assert_int_equal(setenv("KERAS_HOME", kh, 1), 0);
	assert_int_equal(unlink(file), 0);
	assert_int_equal(run_to(out, pr), 0);
	assert_int_equal(setenv("KERAS_HOME", path_in("nowhere"), 1), 0);
	assert_int_equal(setenv("VGGFACE_WEIGHTS", vf, 1), 0);
	assert_int_equal(run_to(out, pr), 0);
	env_restore(&saved);
}

/* The issue's own command: ./pipeline.sh FACES --weights VGGFACE_FILE runs
 * end to end (extract, train-head, the report) on VGG-Face's features.
 * pipeline.sh builds and runs the plain programs of bin/, so under the
 * sanitizers (whose programs are elsewhere) it is left to make test. */
static void test_pipeline_on_vggface(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("pipeline.sh runs bin/'s plain programs");
	char report[600], cmd[2400], file[700];
	snprintf(report, sizeof report, "%s/report", dir);
	snprintf(cmd, sizeof cmd, "./pipeline.sh %s --weights %s --report %s --epochs 2 "
		 "-q > %s 2>&1", faces, vf, report, path_in("pipeline.txt"));
	int st = system(cmd);
	if (st != 0)
		fail_msg("pipeline.sh exited %d:\n%s", st, slurp(path_in("pipeline.txt")));
	snprintf(file, sizeof file, "%s/head.h5", report);
	head_t h;
	head_meta_t m;
	char err[ERR_LEN];
	if (head_load(file, &h, &m, err))
		fail_msg("%s", err);
	assert_string_equal(m.model, model_info(MODEL_VGGFACE)->store_model);
	assert_int_equal(h.K, 3);
	head_free(&h);
	head_meta_free(&m);
	snprintf(file, sizeof file, "%s/training.png", report);
	assert_int_equal(access(file, R_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_extract_detects_vggface),
		cmocka_unit_test(test_model_option_must_agree),
		cmocka_unit_test(test_store_holds_one_model),
		cmocka_unit_test(test_head_follows_model),
		cmocka_unit_test(test_default_path),
		cmocka_unit_test(test_pipeline_on_vggface),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
