/* test_nearest.c - the real nearest program: a held-out photo's nearest
 * record is its own person's, under each metric; a stored image finds
 * itself at distance 0; images and --query-db give the same answer; the
 * threshold column; a store far larger than the program's own memory is
 * streamed through the map (its anonymous memory measured while it runs);
 * the store's convolution path is the one that runs by default, so that a
 * stored image finds itself at exactly 0 (and --conv the other does not);
 * the bad inputs (a missing store, a store of another model, one whose
 * records were all removed, an image that does not decode, a folder of
 * files not named as images, a FIFO with no writer) give one clear line
 * and the conventions' exit statuses, promptly; an image through a FIFO
 * is read. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e.h"
#include "error.h"
#include "net/model.h"
#include "proc.h"
#include "store/featdb.h"
#include "testutil.h"

#define NEAREST proc_bin("nearest")

static char dir[256], faces[512], held[512], db[512], out[512];

/* 5 people, 6 images each in the store, 2 more each held out. */
static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "%s", tu_tmpdir());
	snprintf(faces, sizeof faces, "%s/faces", dir);
	snprintf(held, sizeof held, "%s/held", dir);
	snprintf(db, sizeof db, "%s/s.lmdb", dir);
	snprintf(out, sizeof out, "%s/out", dir);
	char *gen[] = {proc_tool("gen_faces"), "--out", faces, "--people", "5",
		       "--images", "8", "--seed", "27", NULL};
	if (proc_run(gen, out) != 0)
		return -1;
	char cmd[2048];
	snprintf(cmd, sizeof cmd,
		 "set -e; for p in %s/*/; do n=$(basename $p); mkdir -p %s/$n; "
		 "mv $p/007.jpg $p/008.jpg %s/$n/; done", faces, held, held);
	if (system(cmd) != 0)
		return -1;
	char *ext[] = {proc_bin("extract"), "--in", faces, "--db", db, "--weights",
		       (char *)tu_weights_path(), "-q", NULL};
	return proc_run(ext, out) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	tu_rm_rf(dir);
	return 0;
}

/* One answer line. */
typedef struct hit {
	char query[600], key[128], person[64], verdict[16];
	int rank;
	double dist;
} hit_t;

/* Runs nearest with the arguments (NULL-terminated), failing unless it
 * exits with want; reads its answer lines into h (at most max): their
 * number.  The whole output (with the summary) in *text when not NULL. */
static int nearest(int want, hit_t *h, int max, char **text, ...)
{
	char *argv[PROC_ARGV];
	int lines = 0;
	va_list ap;

	va_start(ap, text);
	proc_argv(argv, NEAREST, ap);
	va_end(ap);
	int st = proc_run(argv, out);
	char *s = tu_slurp(out);
	if (st != want)
		fail_msg("nearest exited %d, not %d:\n%s", st, want, s);
	char *copy = strdup(s);
	for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "nearest:", 8) == 0)
			continue;
		assert_true(lines < max);
		hit_t *x = &h[lines++];
		if (sscanf(line, "%599[^\t]\t%d\t%127[^\t]\t%63[^\t]\t%lf\t%15s", x->query,
			   &x->rank, x->key, x->person, &x->dist, x->verdict) != 6)
			fail_msg("not an answer line: '%s'", line);
	}
	free(copy);
	if (text)
		*text = s;
	else
		free(s);
	return lines;
}

/* The person of a query path: the folder it sits in. */
static void person_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/'), *p = slash;
	while (p > path && p[-1] != '/')
		p--;
	snprintf(buf, len, "%.*s", (int)(slash - p), p);
}

static void test_own_person_first(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("three runs of the network over ten photos; "
			  "test_self_and_query_db runs the same code sanitized");
	static hit_t h[64];
	static const char *const metrics[] = {"cosine", "euclidean", "euclidean_l2"};
	for (int m = 0; m < 3; m++) {
		char *text;
		int n = nearest(0, h, 64, &text, held, "--db", db, "--weights",
				(char *)tu_weights_path(), "--top-k", "3", "--metric",
				metrics[m], NULL);
		assert_int_equal(n, 30);
		/* No calibration, no --threshold: nothing to judge by. */
		assert_non_null(strstr(text, "threshold none"));
		free(text);
		int right = 0;
		for (int i = 0; i < n; i++) {
			char want[64];
			assert_int_equal(h[i].rank, i % 3 + 1);
			assert_string_equal(h[i].verdict, "-");
			if (h[i].rank > 1)
				assert_true(h[i].dist >= h[i - 1].dist);
			else {
				person_of(h[i].query, want, sizeof want);
				right += strcmp(want, h[i].person) == 0;
				/* The key names its person. */
				assert_int_equal(strncmp(h[i].key, h[i].person,
							 strlen(h[i].person)), 0);
			}
		}
		print_message("%-12s %d of 10 held-out photos: the nearest record is "
			      "their own person's\n", metrics[m], right);
		assert_int_equal(right, 10);
	}
}

/* A stored image finds itself, at 0; the store's own records as queries
 * (--query-db) give the same neighbours and distances as the images. */
static void test_self_and_query_db(void **state)
{
	(void)state;
	static hit_t a[128], b[256];
	char dir1[600];
	snprintf(dir1, sizeof dir1, "%s/person_03", faces);
	int n = nearest(0, a, 128, NULL, dir1, "--db", db, "--weights",
			(char *)tu_weights_path(), "--top-k", "4", "--threshold", "0.02",
			"-q", NULL);
	assert_int_equal(n, 24);
	int m = nearest(0, b, 256, NULL, "--query-db", db, "--db", db, "--top-k", "4",
			"--threshold", "0.02", "-q", NULL);
	assert_int_equal(m, 30 * 4);
	for (int i = 0; i < n; i++) {
		if (a[i].rank == 1) {
			/* Itself: its key is its path under faces/. */
			assert_string_equal(a[i].key, a[i].query + strlen(faces) + 1);
			assert_true(a[i].dist == 0);
			assert_string_equal(a[i].verdict, "same");
		}
		assert_string_equal(a[i].verdict, a[i].dist <= 0.02 ? "same" : "different");
		/* person_03's records are queries 12..17 of the store's 30. */
		const hit_t *q = &b[(12 + i / 4) * 4 + i % 4];
		assert_string_equal(q->query, a[i].query + strlen(faces) + 1);
		assert_string_equal(q->key, a[i].key);
		assert_true(q->dist == a[i].dist);
		assert_string_equal(q->verdict, a[i].verdict);
	}
	/* At --threshold 0, every record finds itself "same" under every
	 * metric: the cosine distance of a vector and itself is 0, not the
	 * 2.2e-16 DeepFace's formula gives about one time in four (9 of these
	 * 30 records were "different"). */
	static const char *const metrics[] = {"cosine", "euclidean", "euclidean_l2"};
	for (int k = 0; k < 3; k++) {
		m = nearest(0, b, 256, NULL, "--query-db", db, "--db", db, "--top-k", "1",
			    "--metric", metrics[k], "--threshold", "0", "-q", NULL);
		assert_int_equal(m, 30);
		for (int i = 0; i < m; i++) {
			assert_string_equal(b[i].key, b[i].query);
			if (b[i].dist != 0 || strcmp(b[i].verdict, "same") != 0)
				fail_msg("%s: %s is %s at %g from itself", metrics[k],
					 b[i].key, b[i].verdict, b[i].dist);
		}
	}
}

/* A damaged record in the searched store is passed over, and the summary
 * counts it. */
static void test_damaged_record_counted(void **state)
{
	(void)state;
	char dmg[600], cmd[2000], why[ERR_LEN];
	snprintf(dmg, sizeof dmg, "%s/damaged.lmdb", dir);
	snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r %s %s", dmg, db, dmg);
	assert_int_equal(system(cmd), 0);
	if (e2e_raw_put(dmg, "person_01/001.jpg", "garbage", 7, why))
		fail_msg("%s", why);
	char *text;
	static hit_t h[64];
	int n = nearest(0, h, 64, &text, "--query-db", db, "--db", dmg, "--top-k", "1",
			NULL);
	assert_int_equal(n, 30);
	/* The store's records, the damaged one among them, then that one. */
	assert_non_null(strstr(text, "nearest: 30 queries, 30 records ("));
	assert_non_null(strstr(text, "; 1 damaged record passed over (featdb verify)\n"));
	free(text);
	tu_rm_rf(dmg);
}

/* Writes a store of n records of dimension D (float32, 7 people) whose
 * record i is the seeded vector of i; fingerprint fp. */
static void big_store(const char *path, int n, int D, const char *fp)
{
	featdb_t *s;
	featdb_meta_t m = {0};
	char err[ERR_LEN], *classes[7];
	const int B = 1000;
	size_t len = featdb_rec_size(FEATDB_F32, D);
	char **keys = malloc(B * sizeof *keys);
	uint8_t **vals = malloc(B * sizeof *vals);
	size_t *lens = malloc(B * sizeof *lens);
	float *v = malloc((size_t)D * sizeof *v);

	for (int c = 0; c < 7; c++) {
		classes[c] = malloc(16);
		snprintf(classes[c], 16, "p%d", c);
	}
	for (int k = 0; k < B; k++) {
		keys[k] = malloc(32);
		vals[k] = malloc(len);
		lens[k] = len;
	}
	snprintf(m.model, sizeof m.model, "%s", model_info(MODEL_VGG16)->store_model);
	snprintf(m.fingerprint, sizeof m.fingerprint, "%s", fp);
	snprintf(m.preprocess, sizeof m.preprocess, "%s", model_info(MODEL_VGG16)->preprocess);
	snprintf(m.version, sizeof m.version, "test");
	m.dim = D;
	m.dtype = FEATDB_F32;
	m.classes = classes;
	m.nclasses = 7;
	assert_int_equal(featdb_open(path, FEATDB_CREATE, &s, err), 0);
	for (int i0 = 0; i0 < n; i0 += B) {
		int b = n - i0 < B ? n - i0 : B;
		for (int k = 0; k < b; k++) {
			rng_t r = {(uint64_t)(i0 + k) + 1};
			for (int j = 0; j < D; j++)
				v[j] = (float)rng_uniform(&r);
			snprintf(keys[k], 32, "p%d/%07d.jpg", (i0 + k) % 7, i0 + k);
			assert_int_equal(featdb_rec_encode(v, D, FEATDB_F32, (i0 + k) % 7,
							   0, vals[k], err), 0);
		}
		if (featdb_write(s, &m, b, (const char *const *)keys,
				 (const uint8_t *const *)vals, lens, err))
			fail_msg("%s", err);
	}
	featdb_close(s);
	for (int k = 0; k < B; k++) {
		free(keys[k]);
		free(vals[k]);
	}
	for (int c = 0; c < 7; c++)
		free(classes[c]);
	free(keys);
	free(vals);
	free(lens);
	free(v);
}

/* A field of /proc/PID/status, in kB; -1 when the process is gone. */
static long status_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	long v = -1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, field, strlen(field)) == 0)
			v = atol(line + strlen(field) + 1);
	fclose(f);
	return v;
}

/* A store of 160 MB searched by a program whose own (anonymous) memory
 * stays far below that: the records stream through the LMDB map, whose
 * pages the kernel may drop, never into the process' memory.  So a store
 * larger than the machine's memory is searched as well, a block at a
 * time. */
static void test_store_streamed(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("the sanitizers' own memory would be measured");
	const int n = 40000, D = 1024;
	char big[600], q[600];
	snprintf(big, sizeof big, "%s/big.lmdb", dir);
	snprintf(q, sizeof q, "%s/q.lmdb", dir);
	big_store(big, n, D, "feedfacefeedface");
	big_store(q, 5, D, "feedfacefeedface");
	/* The query store's records are the big store's first five. */
	char *argv[] = {NEAREST, "--query-db", q, "--db", big, "--top-k", "2",
			"--threads", "2", "-q", NULL};
	pid_t pid = proc_spawn(argv, out);
	assert_true(pid > 0);
	long anon = 0, rss = 0;
	for (;;) {
		int st;
		long a = status_kb(pid, "RssAnon:"), r = status_kb(pid, "VmRSS:");
		anon = a > anon ? a : anon;
		rss = r > rss ? r : rss;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
			break;
		}
		proc_sleep(0.002);
	}
	char *text = tu_slurp(out);
	/* Each query finds itself first. */
	for (int i = 0; i < 5; i++) {
		char want[64];
		snprintf(want, sizeof want, "p%d/%07d.jpg\t1\tp%d/%07d.jpg\tp%d\t0.000000\t-\n",
			 i % 7, i, i % 7, i, i % 7);
		assert_non_null(strstr(text, want));
	}
	free(text);
	long store_kb = (long)((size_t)n * featdb_rec_size(FEATDB_F32, D) / 1024);
	print_message("a %ld MB store: nearest's peak anonymous memory %ld MB, resident "
		      "with the map's pages %ld MB\n", store_kb / 1024, anon / 1024,
		      rss / 1024);
	assert_true(anon > 0);
	assert_true(anon < store_kb / 2);
}

/* --top-k larger than the store asks for every record: room is made for
 * the records there are, not for k per query (600 queries at --top-k
 * 100000 took 1.9 GB, and failed "out of memory for 600 queries" in 1.5
 * GB of address space, where their 600 x 600 neighbours take 12 MB). */
static void test_top_k_past_the_store(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("the sanitizers' shadow memory does not fit an address "
			  "space limit");
	const int n = 600;
	char q[600], cmd[2048];
	snprintf(q, sizeof q, "%s/q600.lmdb", dir);
	big_store(q, n, 8, "feedfacefeedface");
	snprintf(cmd, sizeof cmd, "ulimit -v 1500000 && exec %s --query-db %s --db %s "
		 "--top-k 100000 -q >%s 2>&1", NEAREST, q, q, out);
	int st = system(cmd);
	char *text = tu_slurp(out);
	if (st != 0 || tu_count(text, "\n") != n * n)
		fail_msg("exit %d, %d lines (want %d), beginning:\n%.300s", st,
			 tu_count(text, "\n"), n * n, text);
	/* The last rank is the store's size. */
	assert_non_null(strstr(text, "\t600\tp"));
	assert_null(strstr(text, "\t601\t"));
	free(text);
	tu_rm_rf(q);
}

/* Writes a store of 3 records whose metadata says model (with model_id's
 * preprocessing) and fingerprint fp, dimension D. */
static void small_store(const char *path, const char *model, int model_id,
			const char *fp, int D)
{
	featdb_t *s;
	featdb_meta_t m = {0};
	char err[ERR_LEN], *classes[1] = {"ann"};
	const char *keys[3] = {"ann/1.jpg", "ann/2.jpg", "ann/3.jpg"};
	const uint8_t *vals[3];
	size_t lens[3];
	float *v = calloc((size_t)D, sizeof *v);

	snprintf(m.model, sizeof m.model, "%s", model);
	snprintf(m.fingerprint, sizeof m.fingerprint, "%s", fp);
	snprintf(m.preprocess, sizeof m.preprocess, "%s", model_info(model_id)->preprocess);
	snprintf(m.version, sizeof m.version, "test");
	m.dim = D;
	m.dtype = FEATDB_F16;
	m.classes = classes;
	m.nclasses = 1;
	for (int i = 0; i < 3; i++) {
		uint8_t *r = malloc(featdb_rec_size(FEATDB_F16, D));
		v[i] = 1;
		assert_int_equal(featdb_rec_encode(v, D, FEATDB_F16, 0, 0, r, err), 0);
		vals[i] = r;
		lens[i] = featdb_rec_size(FEATDB_F16, D);
	}
	assert_int_equal(featdb_open(path, FEATDB_CREATE, &s, err), 0);
	assert_int_equal(featdb_write(s, &m, 3, keys, vals, lens, err), 0);
	featdb_close(s);
	for (int i = 0; i < 3; i++)
		free((void *)vals[i]);
	free(v);
}

static void expect(int want_status, const char *substr, ...)
{
	char *argv[PROC_ARGV];
	va_list ap;

	va_start(ap, substr);
	proc_argv(argv, NEAREST, ap);
	va_end(ap);
	int st = proc_run(argv, out);
	char *text = tu_slurp(out);
	if (st != want_status || (substr && !strstr(text, substr)))
		fail_msg("nearest %s %s ...: exit %d (want %d), output:\n%s\n(want '%s')",
			 argv[1] ? argv[1] : "", argv[1] && argv[2] ? argv[2] : "", st,
			 want_status, text, substr ? substr : "");
	free(text);
}

static void test_bad_inputs(void **state)
{
	(void)state;
	char *w = (char *)tu_weights_path();
	char bad[600], good[600], missing[600], other[600], fp[600];
	snprintf(bad, sizeof bad, "%s/bad.jpg", dir);
	snprintf(good, sizeof good, "%s/person_01/007.jpg", held);
	snprintf(missing, sizeof missing, "%s/nope.lmdb", dir);
	snprintf(other, sizeof other, "%s/vggface.lmdb", dir);
	snprintf(fp, sizeof fp, "%s/fp.lmdb", dir);
	assert_int_equal(tu_write_file(bad, "not a jpeg", 10), 0);

	expect(1, "no such feature store", good, "--db", missing, NULL);
	small_store(other, model_info(MODEL_VGGFACE)->store_model, MODEL_VGGFACE,
		    "0123456789abcdef", 4096);
	expect(1, "holds vggface-fc7 vectors (VGG-Face), but", good, "--db", other,
	       "--weights", w, NULL);
	expect(1, "--model vgg16 was given", good, "--db", other, "--model", "vgg16",
	       "--weights", w, NULL);
	small_store(fp, model_info(MODEL_VGG16)->store_model, MODEL_VGG16,
		    "0123456789abcdef", 4096);
	expect(1, "fingerprint", good, "--db", fp, "--weights", w, NULL);
	/* Two stores that cannot be compared. */
	expect(1, "cannot be compared", "--query-db", fp, "--db", db, NULL);
	/* A store whose records were all removed: nothing to search is an
	 * error (it was no line and status 0). */
	char emptied[600], cmd[4096];
	snprintf(emptied, sizeof emptied, "%s/emptied.lmdb", dir);
	snprintf(cmd, sizeof cmd, "set -e; cp -r %s %s; %s remove %s $(cd %s && echo "
		 "*/*.jpg) >/dev/null 2>&1", db, emptied, proc_bin("featdb"), emptied,
		 faces);
	assert_int_equal(system(cmd), 0);
	expect(1, "emptied.lmdb holds no record: nothing to search (extract images "
	       "into it, or search another store)", "--query-db", db, "--db", emptied,
	       NULL);
	tu_rm_rf(emptied);
	/* An image that does not decode: skipped, and alone, nothing to do. */
	expect(1, "no image to look up (1 skipped)", bad, "--db", db, "--weights", w, NULL);
	expect(1, "skipped", bad, "--db", db, "--weights", w, NULL);
	expect(0, "skipped", bad, good, "--db", db, "--weights", w, NULL);
	/* A weights file that is not there: said once, as verify says it (a
	 * second line, "no weights file (above)", followed). */
	char *nowts[] = {(char *)NEAREST, good, "--db", db, "--weights", missing, NULL};
	assert_int_equal(proc_run(nowts, out), 1);
	char *said = tu_slurp(out);
	if (tu_count(said, "error:") != 1 || !strstr(said, "weights not found at "))
		fail_msg("nearest --weights %s said:\n%s", missing, said);
	free(said);
	/* The summary counts in words that agree ("1 inputs skipped" was). */
	expect(0, "nearest: 1 query, ", bad, good, "--db", db, "--weights", w, NULL);
	expect(0, "; 1 input skipped\n", bad, good, "--db", db, "--weights", w, NULL);
	expect(1, "nothere.jpg", "/nonexistent/nothere.jpg", "--db", db, "--weights", w,
	       NULL);
	/* A folder of photos whose names are not images' (.webp): passed
	 * over as Keras passes them over, and, nothing else found, said so
	 * (it was "(0 skipped)" alone), before the weights are read (this
	 * file is none). */
	char webp[600], photo[700];
	snprintf(webp, sizeof webp, "%s/webp", dir);
	assert_int_equal(mkdir(webp, 0755), 0);
	for (int i = 1; i <= 2; i++) {
		snprintf(photo, sizeof photo, "%s/%d.webp", webp, i);
		assert_int_equal(tu_write_file(photo, "RIFF", 4), 0);
	}
	expect(1, "nearest: error: no image to look up (0 skipped); 2 files were passed "
	       "over for their names: an image's name ends in png, jpg, jpeg, bmp, ppm, "
	       "tif, tiff, pgm (in any case), as extract takes images\n", webp, "--db", db,
	       "--weights", bad, NULL);
	/* Usage. */
	expect(2, "--db STORE is required", good, NULL);
	expect(2, "at least one image", "--db", db, NULL);
	expect(2, "--query-db takes no image", "--query-db", db, "--db", db, good, NULL);
	expect(2, "is not cosine", good, "--db", db, "--metric", "dot", NULL);
	expect(2, "--top-k", good, "--db", db, "--top-k", "0", NULL);
	expect(2, "--bogus", good, "--db", db, "--bogus", NULL);
	expect(0, "usage: nearest", "--help", NULL);
	expect(0, "VGGFEAT_ISA", "--help-dev", NULL);
	expect(0, "nearest ", "--version", NULL);
}

/* Far past a run's few seconds, a sanitized one's too: a program still
 * running then hangs, and is killed. */
#define HANG_SECONDS 300

/* A FIFO with nothing writing to it: skipped, saying what it is, and alone
 * nothing to look up, status 1, promptly (nearest once waited in its open,
 * forever).  Through a FIFO whose writer is slow, a stored image finds its
 * own record at distance 0. */
static void test_fifo(void **state)
{
	(void)state;
	char *w = (char *)tu_weights_path(), fifo[600], image[600], want[800];
	snprintf(fifo, sizeof fifo, "%s/fifo.jpg", dir);
	snprintf(image, sizeof image, "%s/person_02/003.jpg", faces);
	assert_int_equal(mkfifo(fifo, 0644), 0);
	char *argv[] = {NEAREST, fifo, "--db", db, "--weights", w, "--metric", "euclidean",
			"--top-k", "1", NULL};
	int st = proc_run_bounded(argv, out, HANG_SECONDS);
	char *text = tu_slurp(out);
	snprintf(want, sizeof want, "nearest: skipped %s: a FIFO or pipe with nothing "
		 "written to it\n", fifo);
	if (st != 1 || !strstr(text, want) ||
	    !strstr(text, "nearest: error: no image to look up (1 skipped)\n"))
		fail_msg("exit %d (want 1), output:\n%s(want '%s')", st, text, want);
	free(text);
	assert_int_equal(unlink(fifo), 0);

	size_t len;
	uint8_t *bytes = tu_read_file(image, &len);
	assert_non_null(bytes);
	pid_t writer = proc_fifo_writer(fifo, bytes, len, HANG_SECONDS);
	assert_true(writer > 0);
	st = proc_run_bounded(argv, out, HANG_SECONDS);
	text = tu_slurp(out);
	snprintf(want, sizeof want, "%s\t1\tperson_02/003.jpg\tperson_02\t0.000000\t",
		 fifo);
	if (st != 0 || !strstr(text, want))
		fail_msg("exit %d (want 0), output:\n%s(want '%s')", st, text, want);
	assert_int_equal(proc_wait_bounded(writer, HANG_SECONDS), 0);
	free(text);
	free(bytes);
	unlink(fifo);
}

/* Whether image, whose record in the store at path is key, finds itself
 * at distance exactly 0 with nearest's arguments a and b (or none: NULL):
 * its nearest record is its own either way, and at --threshold 0 the
 * euclidean verdict "same" says the two vectors are one, to the bit. */
static int finds_itself(const char *path, const char *image, const char *key,
			const char *a, const char *b)
{
	hit_t h[2];
	int n = nearest(0, h, 2, NULL, image, "--db", path, "--weights",
			(char *)tu_weights_path(), "--metric", "euclidean", "--threshold",
			"0", "--top-k", "1", "-q", a, b, NULL);
	assert_int_equal(n, 1);
	assert_string_equal(h[0].key, key);
	print_message("%s, %s %s: %s at %.6f\n", path + strlen(dir) + 1,
		      a ? a : "the store's path", b ? b : "", h[0].verdict, h[0].dist);
	return strcmp(h[0].verdict, "same") == 0;
}

/* nearest computes the queries' convolutions as extract computed the
 * store's (its metadata's "conv"), so that a stored image's vector is its
 * record, to the bit: by default the store's path, --conv the other.  An
 * image found at distance 0 shows which path ran: the two paths' vectors
 * differ in their last bits. */
static void test_conv_of_the_store(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("the direct path over four images in all; test_extract "
			  "checks the store's path sanitized");
	char in[600], cdb[600], cmd[4096], why[ERR_LEN], image[700], wimage[700];
	const char *key = "person_01/001.jpg";

	snprintf(in, sizeof in, "%s/conv", dir);
	snprintf(cdb, sizeof cdb, "%s/direct.lmdb", dir);
	snprintf(image, sizeof image, "%s/%s", in, key);
	snprintf(wimage, sizeof wimage, "%s/%s", faces, key);
	snprintf(cmd, sizeof cmd, "set -e; mkdir -p %s/person_01 %s/person_02; "
		 "cp %s/person_01/001.jpg %s/person_01/; cp %s/person_02/001.jpg "
		 "%s/person_02/", in, in, faces, in, faces, in);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(e2e_extract(in, cdb, out, "--conv", "direct", NULL), 0);

	assert_true(finds_itself(cdb, image, key, NULL, NULL));
	assert_false(finds_itself(cdb, image, key, "--conv", "winograd"));
	/* The setup's store, made on the Winograd path. */
	assert_true(finds_itself(db, wimage, key, NULL, NULL));
	assert_false(finds_itself(db, wimage, key, "--conv", "direct"));

	/* A path nearest does not know, on the command line or in the store;
	 * --query-db runs no network. */
	expect(2, "nearest: --conv: 'fft' is not winograd or direct\n"
	       "Try 'nearest --help'.\n", image, "--db", cdb, "--conv", "fft", NULL);
	expect(2, "--query-db takes no --weights, --model or --conv", "--query-db", cdb,
	       "--db", cdb, "--conv", "direct", NULL);
	/* Nor are two stores of different paths searched one by the other. */
	expect(1, "direct.lmdb holds vectors made with --conv direct, ", "--query-db",
	       cdb, "--db", db, NULL);
	expect(1, "with --conv direct: an image's two vectors differ in their last bits; "
	       "extract the queries with --conv direct", "--query-db", db, "--db", cdb,
	       NULL);
	/* A direct store from before 2026-12-07 (no "conv_sums": OpenBLAS'
	 * sums, the CPU's) is named as such, and what to redo is the one no
	 * extract makes any more. */
	char old[700];
	snprintf(old, sizeof old, "%s/olddirect.lmdb", dir);
	snprintf(cmd, sizeof cmd, "cp -r %s %s", cdb, old);
	assert_int_equal(system(cmd), 0);
	if (e2e_raw_del_meta(old, "conv_sums", why))
		fail_msg("%s", why);
	expect(1, "olddirect.lmdb holds vectors made with --conv direct (made before "
	       "2026-12-07, OpenBLAS' sums), ", "--query-db", old, "--db", cdb, NULL);
	expect(1, "extract the queries with --conv direct", "--query-db", old, "--db",
	       cdb, NULL);
	expect(1, "direct.lmdb with --conv direct (made before 2026-12-07, OpenBLAS' "
	       "sums), whose last bits are those of the CPU that made them and no "
	       "extract makes now: extract ", "--query-db", cdb, "--db", old, NULL);
	tu_rm_rf(old);
	if (e2e_raw_put_meta(cdb, "conv", "fft", why))
		fail_msg("%s", why);
	expect(1, "direct.lmdb holds vectors made with --conv 'fft'; this program "
	       "computes winograd or direct", image, "--db", cdb, "--weights",
	       (char *)tu_weights_path(), NULL);
	tu_rm_rf(in);
	tu_rm_rf(cdb);
}

/* The lines are nearest's answer: when the standard output cannot take
 * them (a full disk), it says why, even when the answer is longer than
 * stdout's buffer (the write that failed was an earlier one's). */
static void test_stdout_write_failure(void **state)
{
	(void)state;
	if (access("/dev/full", W_OK) != 0)
		skip();
	char err[600];
	snprintf(err, sizeof err, "%s/err.txt", dir);
	char *argv[] = {NEAREST, "--query-db", db, "--db", db, "-q", NULL};
	assert_int_equal(proc_run(argv, out), 0);
	char *answer = tu_read_text(out);
	assert_non_null(answer);
	assert_true(strlen(answer) > BUFSIZ);
	free(answer);
	assert_int_equal(proc_run_split(argv, "/dev/full", err), 1);
	char *said = tu_read_text(err);
	assert_non_null(said);
	assert_string_equal(said, "nearest: error: writing the standard output "
			    "failed: No space left on device\n");
	free(said);
	unlink(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_person_first),
		cmocka_unit_test(test_self_and_query_db),
		cmocka_unit_test(test_damaged_record_counted),
		cmocka_unit_test(test_store_streamed),
		cmocka_unit_test(test_top_k_past_the_store),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_conv_of_the_store),
		cmocka_unit_test(test_stdout_write_failure),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
