/* test_predict.c - the real predict program after extract and train-head on
 * a separable synthetic set (generated cartoon people): the true person is
 * the top-1 answer for held-out images, the top-k lines are well formed,
 * weights other than the head's are refused, --min-prob names rank 1
 * "unknown" below its threshold, --threads changes nothing in the answer,
 * a FIFO with no writer is refused at once and one with a writer read,
 * the whole-model file given as the head is named for what it is,
 * and usage and runtime errors read as in every program.  (VGG-Face heads: test_vggface.c.) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "error.h"
#include "hdf5/h5util.h"
#include "head/head.h"
#include "net/model_file.h"
#include "net/vgg.h"
#include "store/featdb.h"
#include "proc.h"
#include "testutil.h"

static char dir[256], faces[512], held[512], db[512], head[512], log_[512];

/* 4 people: 20 images each to train on, 2 more each held out. */
static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "%s", tu_tmpdir());
	snprintf(faces, sizeof faces, "%s/faces", dir);
	snprintf(held, sizeof held, "%s/held", dir);
	snprintf(db, sizeof db, "%s/feats.lmdb", dir);
	snprintf(head, sizeof head, "%s/head.h5", dir);
	snprintf(log_, sizeof log_, "%s/log", dir);
	char *gen[] = {proc_tool("gen_faces"), "--out", faces, "--people", "4",
		       "--images", "22", "--seed", "5", NULL};
	if (proc_run(gen, log_) != 0)
		return -1;
	/* Images 21 and 22 of each person are held out of training. */
	char cmd[2048];
	snprintf(cmd, sizeof cmd,
		 "set -e; for p in %s/*/; do n=$(basename $p); mkdir -p %s/$n; "
		 "mv $p/021.jpg $p/022.jpg %s/$n/; done", faces, held, held);
	if (system(cmd) != 0)
		return -1;
	char *ext[] = {proc_bin("extract"), "--in", faces, "--db", db, "--weights",
		       (char *)tu_weights_path(), "-q", NULL};
	if (proc_run(ext, log_) != 0)
		return -1;
	char *train[] = {proc_bin("train-head"), "--db", db, "--out", head, "--epochs", "30",
			 "--lr", "1e-3", "--val-split", "0", "--seed", "3", "-q", NULL};
	return proc_run(train, log_) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	tu_rm_rf(dir);
	return 0;
}

static void test_top_k(void **state)
{
	(void)state;
	char out[600];
	snprintf(out, sizeof out, "%s/out", dir);
	char *argv[] = {proc_bin("predict"), "--head", head, "--weights",
			(char *)tu_weights_path(), "--top-k", "3", held, NULL};
	int st = proc_run(argv, out);
	char *s = tu_slurp(out);
	if (st != 0)
		print_error("%s\n", s);
	assert_int_equal(st, 0);

	/* 8 images x 3 lines: path, rank, name, probability. */
	int lines = 0, right = 0, images = 0;
	double prev = 2, sum = 0;
	for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
		char path[600], name[64];
		int rank;
		double p;
		if (strncmp(line, "predict:", 8) == 0)
			continue;
		assert_int_equal(sscanf(line, "%599[^\t]\t%d\t%63[^\t]\t%lf", path, &rank,
					name, &p), 4);
		assert_true(p >= 0 && p <= 1);
		lines++;
		if (rank == 1) {
			images++;
			/* The true person is the folder the image sits in. */
			char want[64];
			const char *slash = strrchr(path, '/');
			const char *prevslash = slash;
			while (prevslash > path && prevslash[-1] != '/')
				prevslash--;
			snprintf(want, sizeof want, "%.*s", (int)(slash - prevslash), prevslash);
			right += strcmp(want, name) == 0;
			prev = 2;
			sum = 0;
		}
		assert_true(p <= prev); /* ranked by probability */
		prev = p;
		sum += p;
		assert_true(sum <= 1 + 1e-6);
	}
	free(s);
	assert_int_equal(images, 8);
	assert_int_equal(lines, 24);
	print_message("%d of 8 held-out images: top-1 is the right person\n", right);
	assert_int_equal(right, 8);
}

static void test_refuses_other_weights(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("a second 528 MB weights file to generate; test_hostile refuses bad weights sanitized");
	char w2[600];
	snprintf(w2, sizeof w2, "%s/seed2.h5", dir);
	char *gen[] = {proc_tool("gen_weights"), "--seed", "2", "--out", w2, NULL};
	assert_int_equal(proc_run(gen, log_), 0);
	char *argv[] = {proc_bin("predict"), "--head", head, "--weights", w2, held, NULL};
	assert_int_equal(proc_run(argv, log_), 1);
	char *s = tu_slurp(log_);
	assert_non_null(strstr(s, "fingerprint"));
	assert_non_null(strstr(s, w2));
	free(s);
	unlink(w2);
}

/* One result line: path, rank, name, probability. */
typedef struct result {
	char path[600], name[64];
	int rank;
	double p;
} result_t;

/* Runs predict --head h --weights (the test weights) with the arguments
 * (NULL-terminated) and reads its lines into r (at most max): their
 * number. */
static int predict_lines(const char *h, result_t *r, int max, ...)
{
	char out[600], *argv[32];
	int n = 0, lines = 0;
	va_list ap;

	snprintf(out, sizeof out, "%s/out", dir);
	argv[n++] = proc_bin("predict");
	argv[n++] = "--head";
	argv[n++] = (char *)h;
	argv[n++] = "--weights";
	argv[n++] = (char *)tu_weights_path();
	va_start(ap, max);
	for (char *a; (a = va_arg(ap, char *)) && n < 31;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	int st = proc_run(argv, out);
	char *s = tu_slurp(out);
	if (st != 0)
		fail_msg("predict exited with %d:\n%s", st, s);
	for (char *line = strtok(s, "\n"); line && lines < max; line = strtok(NULL, "\n")) {
		if (strncmp(line, "predict:", 8) == 0)
			continue;
		result_t *x = &r[lines++];
		assert_int_equal(sscanf(line, "%599[^\t]\t%d\t%63[^\t]\t%lf", x->path,
					&x->rank, x->name, &x->p), 4);
	}
	free(s);
	return lines;
}

/* --min-prob P: rank 1's name is "unknown" when its probability is below P;
 * every probability, and every other rank, is printed as without it.  The
 * head here is the trained one with its kernel zeroed and its bias set, so
 * that every image gets the probabilities 0.5, 0.3, 0.15, 0.05 (the
 * trained head is sure of every image, at 1.000000). */
static void test_min_prob(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("three more runs over the held-out images; the threshold is one comparison");
	static result_t plain[32], low[32], high[32];
	static const double want[4] = {0.5, 0.3, 0.15, 0.05};
	char flat[600], err[ERR_LEN];
	head_t h;
	head_meta_t m;

	snprintf(flat, sizeof flat, "%s/flat.h5", dir);
	assert_int_equal(head_load(head, &h, &m, err), 0);
	assert_int_equal(h.K, 4);
	assert_int_equal(h.nlayers, 1);
	memset(h.layer[0].kernel, 0, (size_t)h.D * h.K * sizeof *h.layer[0].kernel);
	for (int k = 0; k < 4; k++)
		h.layer[0].bias[k] = (float)log(want[k]);
	assert_int_equal(head_save(flat, &h, &m, err), 0);
	head_free(&h);
	head_meta_free(&m);

	int n = predict_lines(flat, plain, 32, "--top-k", "2", held, NULL);
	assert_int_equal(n, 16);
	assert_int_equal(predict_lines(flat, low, 32, "--top-k", "2", "--min-prob", "0.49",
				       held, NULL), n);
	assert_int_equal(predict_lines(flat, high, 32, "--top-k", "2", "--min-prob", "0.51",
				       held, NULL), n);
	for (int i = 0; i < n; i++) {
		const result_t *a = &plain[i];
		assert_true(fabs(a->p - want[a->rank - 1]) < 1e-6);
		assert_string_equal(a->name, a->rank == 1 ? "person_01" : "person_02");
		assert_string_equal(low[i].name, a->name);
		assert_string_equal(high[i].name, a->rank == 1 ? "unknown" : a->name);
		assert_string_equal(high[i].path, a->path);
		assert_true(low[i].p == a->p && high[i].p == a->p);
	}

	/* Out of 0..1, or not a number: a usage error. */
	char out[600];
	snprintf(out, sizeof out, "%s/out", dir);
	static const char *const bad[] = {"1.5", "-0.1", "most"};
	for (int i = 0; i < 3; i++) {
		char *argv[] = {proc_bin("predict"), "--head", head, "--min-prob",
				(char *)bad[i], held, NULL};
		assert_int_equal(proc_run(argv, out), 2);
	}
	unlink(flat);
}

/* A head with a hidden layer: predict runs both layers, ReLU between.  A
 * head built by hand gives known probabilities (its hidden layer's second
 * unit is negative, so that only ReLU keeps its large weights out); one
 * trained by train-head --hidden names the held-out people. */
static void test_hidden_layer(void **state)
{
	(void)state;
	static result_t got[32];
	static const double want[4] = {0.4, 0.3, 0.2, 0.1};
	static const int H = 2;
	char made[600], trained[600], err[ERR_LEN];
	head_t flat, h;
	head_meta_t m;

	snprintf(made, sizeof made, "%s/made.h5", dir);
	assert_int_equal(head_load(head, &flat, &m, err), 0);
	assert_int_equal(head_create(flat.D, 1, &H, 4, 1, &h, err), 0);
	head_free(&flat);
	memset(h.params, 0, h.nparams * sizeof *h.params);
	h.layer[0].bias[0] = 1.0f;
	h.layer[0].bias[1] = -3.0f;
	for (int k = 0; k < 4; k++) {
		h.layer[1].kernel[k] = (float)log(want[k]);
		h.layer[1].kernel[4 + k] = k == 3 ? 100.0f : 0.0f;
	}
	assert_int_equal(head_save(made, &h, &m, err), 0);
	head_free(&h);
	head_meta_free(&m);
	int n = predict_lines(made, got, 32, "--top-k", "4", held, NULL);
	assert_int_equal(n, 32);
	for (int i = 0; i < n; i++)
		assert_true(fabs(got[i].p - want[got[i].rank - 1]) < 1e-6);
	unlink(made);

	snprintf(trained, sizeof trained, "%s/hidden.h5", dir);
	char *train[] = {proc_bin("train-head"), "--db", db, "--out", trained, "--epochs",
			 "30", "--lr", "1e-3", "--val-split", "0", "--seed", "3", "--hidden",
			 "16", "-q", NULL};
	assert_int_equal(proc_run(train, log_), 0);
	n = predict_lines(trained, got, 32, "--top-k", "1", held, NULL);
	assert_int_equal(n, 8);
	int right = 0;
	for (int i = 0; i < n; i++)
		right += strstr(got[i].path, got[i].name) != NULL;
	print_message("a head with a hidden layer: %d of 8 held-out images right\n", right);
	assert_int_equal(right, 8);
	unlink(trained);
}

static void test_bad_inputs(void **state)
{
	(void)state;
	char bad[600], good[700];
	snprintf(bad, sizeof bad, "%s/bad.jpg", dir);
	snprintf(good, sizeof good, "%s/person_01/021.jpg", held);
	assert_int_equal(tu_write_file(bad, "not a jpeg", 10), 0);
	char out[600];
	snprintf(out, sizeof out, "%s/out", dir);
	char *argv[] = {proc_bin("predict"), "--head", head, "--weights",
			(char *)tu_weights_path(), "--top-k", "1", bad, good, NULL};
	assert_int_equal(proc_run(argv, out), 0);
	char *s = tu_slurp(out);
	assert_non_null(strstr(s, "skipped"));
	assert_non_null(strstr(s, "bad.jpg"));
	assert_non_null(strstr(s, "021.jpg\t1\tperson_01\t"));
	free(s);
	char *nohead[] = {proc_bin("predict"), "--head", "/nonexistent/head.h5", good, NULL};
	assert_int_equal(proc_run(nohead, out), 1);
	char *usage[] = {proc_bin("predict"), good, NULL};
	assert_int_equal(proc_run(usage, out), 2);
	char *help[] = {proc_bin("predict"), "--help", NULL};
	assert_int_equal(proc_run(help, out), 0);
	/* The user's options only; the variables for development and tests
	 * have a text of their own. */
	s = tu_slurp(out);
	assert_non_null(strstr(s, "--threads N"));
	assert_null(strstr(s, "VGGFEAT_"));
	free(s);
	char *dev[] = {proc_bin("predict"), "--help-dev", NULL};
	assert_int_equal(proc_run(dev, out), 0);
	s = tu_slurp(out);
	assert_non_null(strstr(s, "VGGFEAT_ISA="));
	assert_non_null(strstr(s, "VGGFEAT_HDF5_TIMEOUT="));
	free(s);
	/* A usage error: what is wrong, the way to the help, status 2. */
	char *bogus[] = {proc_bin("predict"), "--head", head, "--bogus", good, NULL};
	assert_int_equal(proc_run(bogus, out), 2);
	s = tu_slurp(out);
	assert_string_equal(s, "predict: unknown option --bogus\nTry 'predict --help'.\n");
	free(s);
	char *zero[] = {proc_bin("predict"), "--head", head, "--threads", "0", good, NULL};
	assert_int_equal(proc_run(zero, out), 2);
	s = tu_slurp(out);
	assert_string_equal(s, "predict: --threads: 0 is out of range 1..256\n"
			    "Try 'predict --help'.\n");
	free(s);
	/* Every image unreadable: a runtime error that says so. */
	char *none[] = {proc_bin("predict"), "--head", head, "--weights",
			(char *)tu_weights_path(), "-q", bad, NULL};
	assert_int_equal(proc_run(none, out), 1);
	s = tu_slurp(out);
	assert_non_null(strstr(s, "predict: error: the one image given could not be read\n"));
	free(s);
	/* No image at all (an empty folder): no answer is not a success,
	 * said before the weights are read (a file that is none here). */
	char empty[700], photo[800];
	snprintf(empty, sizeof empty, "%s/empty", dir);
	assert_int_equal(mkdir(empty, 0755), 0);
	char *nothing[] = {proc_bin("predict"), "--head", head, "--weights", head,
			   empty, NULL};
	assert_int_equal(proc_run(nothing, out), 1);
	s = tu_slurp(out);
	if (strcmp(s, "predict: error: no image to predict (0 skipped)\n"))
		fail_msg("empty folder: %s", s);
	free(s);
	/* Its photos named as no image is (.webp, .heic): said so, and how an
	 * image's name ends.  It said "the folders given hold none". */
	snprintf(photo, sizeof photo, "%s/me.heic", empty);
	assert_int_equal(tu_write_file(photo, "heic", 4), 0);
	assert_int_equal(proc_run(nothing, out), 1);
	s = tu_slurp(out);
	if (strcmp(s, "predict: error: no image to predict (0 skipped); 1 file was "
		   "passed over for its name: an image's name ends in png, jpg, jpeg, "
		   "bmp, ppm, tif, tiff, pgm (in any case), as extract takes images\n"))
		fail_msg("a .heic photo: %s", s);
	free(s);
	unlink(photo);
	assert_int_equal(rmdir(empty), 0);
}

/* The whole-model file of predict --save-model given as --head, as a
 * Keras user who calls it the model would: one line that says what the
 * file is and which one --head takes (it said "head format 'vggfeat-model
 * 1', this program reads 'vggfeat-head 1' and 'vggfeat-head 2'"). */
static void test_whole_model_as_head(void **state)
{
	(void)state;
	char model[600], good[700], out[600], want[1600];
	snprintf(model, sizeof model, "%s/face_model.h5", dir);
	snprintf(good, sizeof good, "%s/person_01/021.jpg", held);
	snprintf(out, sizeof out, "%s/out", dir);
	/* A stand-in: the root attributes a whole model is known by. */
	hid_t f = H5Fcreate(model, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(f >= 0);
	assert_int_equal(h5util_attr_write_text(f, "vggfeat_format", MODEL_FILE_FORMAT), 0);
	assert_int_equal(h5util_attr_write_text(f, "model_config", "{}"), 0);
	assert_true(H5Fclose(f) >= 0);
	char *argv[] = {proc_bin("predict"), "--head", model, "--weights",
			(char *)tu_weights_path(), good, NULL};
	assert_int_equal(proc_run(argv, out), 1);
	char *s = tu_slurp(out);
	snprintf(want, sizeof want, "predict: error: %s: a whole model (backbone and "
		 "head) as predict --save-model writes it, not a head, the file "
		 "train-head --out writes\n", model);
	assert_string_equal(s, want);
	free(s);
	unlink(model);
}

/* --threads is the network's compute threads, as in extract: the answer
 * is the same, to the printed digit, on one thread as on two. */
static void test_threads(void **state)
{
	(void)state;
	char good[700], out[600], *s[2];
	snprintf(good, sizeof good, "%s/person_03/021.jpg", held);
	snprintf(out, sizeof out, "%s/out", dir);
	static const char *const n[2] = {"1", "2"};
	for (int i = 0; i < 2; i++) {
		char *argv[] = {proc_bin("predict"), "--head", head, "--weights",
				(char *)tu_weights_path(), "--threads", (char *)n[i],
				"--top-k", "4", "-q", good, NULL};
		assert_int_equal(proc_run(argv, out), 0);
		s[i] = tu_slurp(out);
	}
	assert_int_equal(tu_count(s[0], "\n"), 4);
	assert_non_null(strstr(s[0], "\t1\tperson_03\t"));
	assert_string_equal(s[0], s[1]);
	free(s[0]), free(s[1]);
}

/* A path holding a tab, a newline, a carriage return and a backslash still
 * gives one line per result, the path escaped as PostgreSQL's COPY text
 * format escapes it; --batch-size is --batch. */
static void test_odd_paths_escaped(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("one more run; test_cli checks the escaping sanitized");
	char odd[700], good[700], out[600];
	snprintf(good, sizeof good, "%s/person_02/021.jpg", held);
	snprintf(odd, sizeof odd, "%s/a\tb\nc\rd\\e.jpg", dir);
	snprintf(out, sizeof out, "%s/out", dir);
	assert_int_equal(link(good, odd), 0);
	char *argv[] = {proc_bin("predict"), "--head", head, "--weights",
			(char *)tu_weights_path(), "--top-k", "2", "--batch-size", "3",
			"-q", odd, NULL};
	assert_int_equal(proc_run(argv, out), 0);
	char *s = tu_slurp(out), want[800];
	snprintf(want, sizeof want, "%s/a\\tb\\nc\\rd\\\\e.jpg\t1\tperson_02\t", dir);
	if (strncmp(s, want, strlen(want)) != 0)
		fail_msg("want a line starting '%s', got:\n%s", want, s);
	assert_int_equal(tu_count(s, "\n"), 2);
	assert_int_equal(tu_count(s, "\t"), 6);
	free(s);
	unlink(odd);
}

/* The lines are predict's answer: when the standard output cannot take
 * them (a full disk), predict stops at the first batch it could not write
 * and says why, as the other programs do. */
static void test_stdout_write_failure(void **state)
{
	(void)state;
	if (access("/dev/full", W_OK) != 0)
		skip();
	char err[600];
	snprintf(err, sizeof err, "%s/err.txt", dir);
	char *argv[] = {proc_bin("predict"), "--head", head, "--weights",
			(char *)tu_weights_path(), "--top-k", "2", "--batch", "1",
			held, NULL};
	assert_int_equal(proc_run_split(argv, "/dev/full", err), 1);
	char *said = tu_read_text(err);
	assert_non_null(said);
	assert_string_equal(said, "predict: error: writing the standard output "
			    "failed: No space left on device\n");
	free(said);
	unlink(err);
}

/* Far past a run's few seconds, a sanitized one's too: a program still
 * running then hangs, and is killed. */
#define HANG_SECONDS 300

/* A FIFO with nothing writing to it, named as an image, the head or the
 * weights: one line saying what it is and status 1, promptly (predict once
 * waited in the image's open, forever).  An image through a FIFO whose
 * writer is slow: every byte read, and the answer is the file's. */
static void test_fifo(void **state)
{
	(void)state;
	char *w = (char *)tu_weights_path(), fifo[600], good[700], out[600], want[800];
	snprintf(fifo, sizeof fifo, "%s/fifo.jpg", dir);
	snprintf(good, sizeof good, "%s/person_04/022.jpg", held);
	snprintf(out, sizeof out, "%s/out", dir);
	assert_int_equal(mkfifo(fifo, 0644), 0);
	char *image[] = {proc_bin("predict"), "--head", head, "--weights", w, fifo, NULL};
	int st = proc_run_bounded(image, out, HANG_SECONDS);
	char *s = tu_slurp(out);
	snprintf(want, sizeof want, "predict: skipped %s: a FIFO or pipe with nothing "
		 "written to it\n", fifo);
	if (st != 1 || !strstr(s, want) ||
	    !strstr(s, "predict: error: the one image given could not be read\n"))
		fail_msg("exit %d (want 1), output:\n%s(want '%s')", st, s, want);
	free(s);
	char *as_head[] = {proc_bin("predict"), "--head", fifo, "--weights", w, good, NULL};
	char *as_weights[] = {proc_bin("predict"), "--head", head, "--weights", fifo, good,
			      NULL};
	char *const *named[] = {as_head, as_weights};
	snprintf(want, sizeof want, "predict: error: %s: not a regular file\n", fifo);
	for (int i = 0; i < 2; i++) {
		st = proc_run_bounded(named[i], out, HANG_SECONDS);
		s = tu_slurp(out);
		if (st != 1 || strcmp(s, want) != 0)
			fail_msg("exit %d (want 1), output:\n%s(want '%s')", st, s, want);
		free(s);
	}
	assert_int_equal(unlink(fifo), 0);

	size_t len;
	uint8_t *bytes = tu_read_file(good, &len);
	assert_non_null(bytes);
	pid_t writer = proc_fifo_writer(fifo, bytes, len, HANG_SECONDS);
	assert_true(writer > 0);
	char *argv[] = {proc_bin("predict"), "--head", head, "--weights", w, "--top-k", "4",
			"-q", fifo, good, NULL};
	st = proc_run_bounded(argv, out, HANG_SECONDS);
	s = tu_slurp(out);
	if (st != 0)
		fail_msg("exit %d, output:\n%s", st, s);
	assert_int_equal(proc_wait_bounded(writer, HANG_SECONDS), 0);
	/* 4 lines of the FIFO's, then 4 of the file's: the same but the path. */
	char *line[8], *save = NULL;
	int n = 0;
	for (char *l = strtok_r(s, "\n", &save); l && n < 8; l = strtok_r(NULL, "\n", &save))
		line[n++] = l;
	assert_int_equal(n, 8);
	for (int i = 0; i < 4; i++) {
		assert_true(strncmp(line[i], fifo, strlen(fifo)) == 0);
		assert_true(strncmp(line[4 + i], good, strlen(good)) == 0);
		assert_string_equal(line[i] + strlen(fifo), line[4 + i] + strlen(good));
	}
	assert_non_null(strstr(line[0], "\t1\tperson_04\t"));
	free(s);
	free(bytes);
	unlink(fifo);
}

/* The vector of key in the store at path, (VGG_FEATURES). */
static void stored_vector(const char *path, const char *key, float *v)
{
	featdb_t *store = NULL;
	featdb_rec_t rec;
	uint8_t *val;
	size_t len;
	char err[ERR_LEN];

	assert_int_equal(featdb_open(path, FEATDB_RDONLY, &store, err), 0);
	assert_int_equal(featdb_get(store, key, &val, &len, err), 0);
	assert_int_equal(featdb_rec_decode(val, len, &rec, err), 0);
	assert_int_equal(rec.dim, VGG_FEATURES);
	featdb_rec_vector(&rec, v);
	free(val);
	featdb_close(store);
}

/* A head that tells the two paths' vectors of one image apart: d and w
 * (D), its vector on the direct and on the Winograd path, differ in
 * element i by many of its ulps; class "direct"'s logit is s (x_i - m),
 * m the two values' midpoint, s the power of two that makes it +-8 to +-16
 * at d and w (exact: s x_i, and -s m rounded once, differ by far more than
 * that rounding), class "winograd"'s is 0.  So rank 1 names the path the
 * vector came from, at p >= 0.9997.  (s rounded to the nearest power of two
 * can leave it at 5.7: on an AMD Zen 4, whose OpenBLAS kernels give the
 * direct path other bits than an Intel Xeon's, another element was
 * furthest apart, the logit 6.45, p 0.9984, and the checks of p > 0.999
 * failed.)
 * Written with meta's settings, the path conv. */
static void write_telltale(const char *path, const float *d, const float *w,
			   const head_meta_t *meta, const char *conv)
{
	int i = -1, D = VGG_FEATURES;
	double ulps = 0;
	char err[ERR_LEN];

	for (int k = 0; k < D; k++) {
		float big = fmaxf(d[k], w[k]);
		double u = fabs((double)d[k] - w[k]) / (nextafterf(big, INFINITY) - big);
		if (d[k] > 0 && w[k] > 0 && u > ulps)
			ulps = u, i = k;
	}
	print_message("element %d: direct %.9g, winograd %.9g, %.0f ulps apart\n", i,
		      i >= 0 ? d[i] : 0, i >= 0 ? w[i] : 0, ulps);
	assert_true(ulps >= 8);
	double gap = fabs((double)d[i] - w[i]), sign = d[i] > w[i] ? 1 : -1;
	float s = ldexpf(1.0f, (int)ceil(log2(16 / gap)));
	head_t h;
	head_meta_t m = *meta;
	m.nclasses = 2;
	m.classes = (char *[]){"winograd", "direct"};
	snprintf(m.conv, sizeof m.conv, "%s", conv);
	assert_int_equal(head_create(D, 0, NULL, 2, 1, &h, err), 0);
	memset(h.params, 0, h.nparams * sizeof *h.params);
	h.layer[0].kernel[(size_t)i * 2 + 1] = (float)(sign * s);
	h.layer[0].bias[1] = (float)(-sign * s * ((double)d[i] + w[i]) / 2);
	assert_int_equal(head_save(path, &h, &m, err), 0);
	head_free(&h);
}

/* The top-1 name predict gives image with head h and the arguments (up to
 * two; NULL-terminated), its probability in *p. */
static const char *top1(const char *h, const char *image, double *p, const char *a,
			const char *b)
{
	static result_t r[4];
	assert_int_equal(predict_lines(h, r, 4, "--top-k", "1", "-q", image, a, b,
				       NULL), 1);
	*p = r[0].p;
	return r[0].name;
}

/* predict computes the convolutions as the head's features were computed
 * (extract --conv, which train-head records), so that its vector for an
 * image is the one extract stored, to the bit: by default the head's path,
 * --conv the other.  A head trained on a --conv direct store answers as
 * predict --conv direct does; a telltale head, which names the path its
 * input vector came from, shows which one ran. */
static void test_conv_of_the_head(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("the direct path over a few images, several times; test_extract checks the store's path sanitized");
	char in[600], cdb[600], wdb[600], chead[600], tell[600], image[700];
	char err[ERR_LEN];
	static result_t byhead[32], asked[32];
	static float d[VGG_FEATURES], w[VGG_FEATURES];
	head_t h;
	head_meta_t m;
	double p;

	snprintf(in, sizeof in, "%s/conv", dir);
	snprintf(cdb, sizeof cdb, "%s/direct.lmdb", dir);
	snprintf(wdb, sizeof wdb, "%s/wino.lmdb", dir);
	snprintf(chead, sizeof chead, "%s/direct.h5", dir);
	snprintf(tell, sizeof tell, "%s/telltale.h5", dir);
	snprintf(image, sizeof image, "%s/person_01/021.jpg", in);
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "mkdir -p %s && cp -r %s/person_01 %s/person_02 %s/",
		 in, held, held, in);
	assert_int_equal(system(cmd), 0);
	char *ext[] = {proc_bin("extract"), "--in", in, "--db", cdb, "--weights",
		       (char *)tu_weights_path(), "--conv", "direct", "-q", NULL};
	assert_int_equal(proc_run(ext, log_), 0);
	ext[4] = wdb;
	ext[8] = "winograd";
	assert_int_equal(proc_run(ext, log_), 0);
	char *train[] = {proc_bin("train-head"), "--db", cdb, "--out", chead, "--epochs",
			 "5", "--val-split", "0", "--seed", "3", "-q", NULL};
	assert_int_equal(proc_run(train, log_), 0);
	assert_int_equal(head_load(chead, &h, &m, err), 0);
	assert_string_equal(m.conv, "direct");
	head_free(&h);

	int n = predict_lines(chead, byhead, 32, "--top-k", "2", in, NULL);
	assert_int_equal(n, 8);
	assert_int_equal(predict_lines(chead, asked, 32, "--top-k", "2", "--conv",
				       "direct", in, NULL), n);
	for (int i = 0; i < n; i++) {
		assert_string_equal(byhead[i].path, asked[i].path);
		assert_string_equal(byhead[i].name, asked[i].name);
		assert_true(byhead[i].p == asked[i].p);
	}

	stored_vector(cdb, "person_01/021.jpg", d);
	stored_vector(wdb, "person_01/021.jpg", w);
	write_telltale(tell, d, w, &m, "direct");
	assert_string_equal(top1(tell, image, &p, NULL, NULL), "direct");
	assert_true(p > 0.999);
	assert_string_equal(top1(tell, image, &p, "--conv", "direct"), "direct");
	assert_string_equal(top1(tell, image, &p, "--conv", "winograd"), "winograd");
	assert_true(p > 0.999);
	/* The same head recording the Winograd path runs it by default; so does
	 * one from before heads recorded a path. */
	write_telltale(tell, d, w, &m, "winograd");
	assert_string_equal(top1(tell, image, &p, NULL, NULL), "winograd");
	assert_string_equal(top1(tell, image, &p, "--conv", "direct"), "direct");
	hid_t f = H5Fopen(tell, H5F_ACC_RDWR, H5P_DEFAULT);
	assert_true(f >= 0);
	assert_true(H5Adelete(f, "vggfeat_conv") >= 0);
	H5Fclose(f);
	assert_string_equal(top1(tell, image, &p, NULL, NULL), "winograd");
	head_meta_free(&m);

	/* A path predict does not know, on the command line or in the head. */
	char out[600];
	snprintf(out, sizeof out, "%s/out", dir);
	char *bad[] = {proc_bin("predict"), "--head", chead, "--conv", "fft", image, NULL};
	assert_int_equal(proc_run(bad, out), 2);
	char *s = tu_slurp(out);
	assert_string_equal(s, "predict: --conv: 'fft' is not winograd or direct\n"
			    "Try 'predict --help'.\n");
	free(s);
	f = H5Fopen(tell, H5F_ACC_RDWR, H5P_DEFAULT);
	assert_true(f >= 0);
	hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
	H5Tset_size(t, 3);
	hid_t a = H5Acreate2(f, "vggfeat_conv", t, sp, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(a >= 0 && H5Awrite(a, t, "fft") >= 0);
	H5Aclose(a), H5Sclose(sp), H5Tclose(t), H5Fclose(f);
	char *unknown[] = {proc_bin("predict"), "--head", tell, "--weights",
			   (char *)tu_weights_path(), image, NULL};
	assert_int_equal(proc_run(unknown, out), 1);
	s = tu_slurp(out);
	assert_non_null(strstr(s, "was trained on features made with --conv 'fft'; "
			       "this program computes winograd or direct"));
	free(s);
	tu_rm_rf(in);
	unlink(tell);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_top_k),
		cmocka_unit_test(test_refuses_other_weights),
		cmocka_unit_test(test_min_prob),
		cmocka_unit_test(test_hidden_layer),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_whole_model_as_head),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_odd_paths_escaped),
		cmocka_unit_test(test_stdout_write_failure),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_conv_of_the_head),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
