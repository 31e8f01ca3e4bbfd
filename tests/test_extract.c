/* test_extract.c - the real extract program, end to end, on generated face
 * folders: every image lands once with its key, class and split; vectors
 * equal the network's output for that file; kill -9 at many points then a
 * rerun gives the store an uninterrupted run gives; bad files are skipped
 * and reported; bad arguments and mismatched stores give one clear error. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pty.h>
#include <unistd.h>

#include "cli.h"
#include "e2e.h"
#include "error.h"
#include "net/model.h"
#include "store/featdb.h"
#include "img/img.h"
#include "proc.h"
#include "testutil.h"
#include "net/vgg.h"
#include "net/weights.h"

#define EXTRACT proc_bin("extract")

static weights_t g_weights;

static int setup(void **state)
{
	char err[ERR_LEN];
	(void)state;
	if (weights_load(tu_weights_path(), &g_weights, err)) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	weights_free(&g_weights);
	return 0;
}

/* A w x h binary PPM (PGM when gray) of seeded smooth noise at root/rel. */
static void write_pnm(const char *root, const char *rel, int w, int h, int gray,
		      uint64_t seed)
{
	assert_int_equal(e2e_write_pnm(root, rel, w, h, gray, seed), 0);
}

/* A small face folder: 3 people, 9 images of several sizes. */
static void make_faces(const char *d)
{
	write_pnm(d, "carol/c1.ppm", 224, 224, 0, 1);
	write_pnm(d, "carol/c2.pgm", 92, 112, 1, 2);
	write_pnm(d, "carol/more/c3.ppm", 250, 250, 0, 3);
	write_pnm(d, "alice/a1.ppm", 61, 47, 0, 4);
	write_pnm(d, "alice/a2.ppm", 300, 200, 0, 5);
	write_pnm(d, "alice/a3.pgm", 224, 224, 1, 6);
	write_pnm(d, "bob/b1.ppm", 128, 128, 0, 7);
	write_pnm(d, "bob/b2.ppm", 17, 300, 0, 8);
	write_pnm(d, "bob/b3.PPM", 225, 223, 0, 9);
}

/* extract --batch 3 -q with up to two more arguments (NULL when absent). */
static int run_extract(const char *in, const char *db, const char *log,
		       const char *extra1, const char *extra2)
{
	return e2e_extract(in, db, log, "--batch", "3", extra1, extra2, NULL);
}

static void test_end_to_end(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char in[4200], db[4200], log[4200], err[ERR_LEN];
	snprintf(in, sizeof in, "%s/faces", d);
	snprintf(db, sizeof db, "%s/feats.lmdb", d);
	snprintf(log, sizeof log, "%s/log", d);
	make_faces(in);

	/* The default batch (8) here, the network alone on each image below:
	 * an image's vector does not depend on its batch. */
	assert_int_equal(e2e_extract(in, db, log, NULL), 0);
	char *out = tu_slurp(log);
	assert_non_null(strstr(out, "extracted 9, already present 0, skipped 0"));
	free(out);

	featdb_t *f = NULL;
	featdb_meta_t meta = {0};
	assert_int_equal(featdb_open(db, FEATDB_RDONLY, &f, err), 0);
	assert_int_equal(featdb_meta_get(f, &meta, err), 0);
	assert_int_equal(meta.nclasses, 3);
	assert_string_equal(meta.classes[0], "alice");
	assert_string_equal(meta.classes[2], "carol");
	assert_int_equal(meta.count, 9);
	assert_int_equal(meta.dim, VGG_FEATURES);
	assert_int_equal(meta.dtype, FEATDB_F32);
	assert_string_equal(meta.fingerprint, g_weights.fingerprint);
	assert_string_equal(meta.preprocess, model_info(MODEL_VGG16)->preprocess);

	/* Each record is the network's output for its own file. */
	static const struct { const char *key; int cls; } want[] = {
		{"alice/a1.ppm", 0}, {"alice/a2.ppm", 0}, {"alice/a3.pgm", 0},
		{"bob/b1.ppm", 1}, {"bob/b2.ppm", 1}, {"bob/b3.PPM", 1},
		{"carol/c1.ppm", 2}, {"carol/c2.pgm", 2}, {"carol/more/c3.ppm", 2},
	};
	vgg_t *net = NULL;
	float *x = malloc(VGG_IN_FLOATS * sizeof(float));
	float y[VGG_FEATURES], v[VGG_FEATURES];
	assert_int_equal(vgg_create(&g_weights, 1, &net, err), 0);
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		char path[4400];
		uint8_t *val = NULL;
		size_t len = 0;
		featdb_rec_t rec;
		snprintf(path, sizeof path, "%s/%s", in, want[i].key);
		assert_int_equal(tu_load_input(path, MODEL_VGG16, x, err), 0);
		assert_int_equal(vgg_forward(net, x, 1, y, err), 0);
		assert_int_equal(featdb_get(f, want[i].key, &val, &len, err), 0);
		assert_int_equal(featdb_rec_decode(val, len, &rec, err), 0);
		assert_int_equal(rec.cls, want[i].cls);
		assert_int_equal(rec.split, FEATDB_TRAIN);
		assert_int_equal(rec.dim, VGG_FEATURES);
		featdb_rec_vector(&rec, v);
		/* Same file, same network: the same numbers, to the bit. */
		assert_memory_equal(v, y, sizeof y);
		free(val);
	}
	vgg_free(net);
	free(x);
	featdb_meta_free(&meta);
	featdb_close(f);

	/* A rerun has nothing to do; a new person and a new image are added,
	 * and the class indices are renumbered to stay Keras' sorted order. */
	write_pnm(in, "aaron/n1.ppm", 80, 90, 0, 10);
	write_pnm(in, "bob/b4.ppm", 80, 90, 0, 11);
	assert_int_equal(run_extract(in, db, log, NULL, NULL), 0);
	out = tu_slurp(log);
	assert_non_null(strstr(out, "extracted 2, already present 9, skipped 0"));
	free(out);
	assert_int_equal(featdb_open(db, FEATDB_RDONLY, &f, err), 0);
	assert_int_equal(featdb_meta_get(f, &meta, err), 0);
	assert_int_equal(meta.nclasses, 4);
	assert_string_equal(meta.classes[0], "aaron");
	assert_int_equal(meta.count, 11);
	uint8_t *val;
	size_t len;
	featdb_rec_t rec;
	int grc = featdb_get(f, "carol/c1.ppm", &val, &len, err);
	if (grc)
		print_error("%s\n", err);
	assert_int_equal(grc, 0);
	assert_int_equal(featdb_rec_decode(val, len, &rec, err), 0);
	assert_int_equal(rec.cls, 3);
	free(val);
	featdb_meta_free(&meta);
	featdb_close(f);
	tu_rm_rf(d);
}

static void test_splits_and_f16(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char in[4200], db[4200], db32[4200], log[4200], err[ERR_LEN];
	snprintf(in, sizeof in, "%s/faces", d);
	snprintf(db, sizeof db, "%s/f16.lmdb", d);
	snprintf(db32, sizeof db32, "%s/f32.lmdb", d);
	snprintf(log, sizeof log, "%s/log", d);
	write_pnm(in, "train/ann/1.ppm", 50, 60, 0, 21);
	write_pnm(in, "train/ben/1.ppm", 50, 60, 0, 22);
	write_pnm(in, "valid/ann/2.ppm", 50, 60, 0, 23);
	write_pnm(in, "test/ben/3.ppm", 50, 60, 0, 24);
	assert_int_equal(run_extract(in, db, log, "--dtype", "f16"), 0);
	assert_int_equal(run_extract(in, db32, log, NULL, NULL), 0);
	/* A store keeps one dtype. */
	assert_int_equal(run_extract(in, db, log, NULL, NULL), 1);
	char *out = tu_slurp(log);
	assert_non_null(strstr(out, "--dtype f16"));
	free(out);

	featdb_t *f16 = NULL, *f32 = NULL;
	assert_int_equal(featdb_open(db, FEATDB_RDONLY, &f16, err), 0);
	assert_int_equal(featdb_open(db32, FEATDB_RDONLY, &f32, err), 0);
	static const struct { const char *key; int split, cls; } want[] = {
		{"train/ann/1.ppm", FEATDB_TRAIN, 0}, {"train/ben/1.ppm", FEATDB_TRAIN, 1},
		{"valid/ann/2.ppm", FEATDB_VALID, 0}, {"test/ben/3.ppm", FEATDB_TEST, 1},
	};
	for (size_t i = 0; i < 4; i++) {
		uint8_t *a, *b;
		size_t la, lb;
		featdb_rec_t ra, rb;
		float va[VGG_FEATURES], vb[VGG_FEATURES];
		assert_int_equal(featdb_get(f16, want[i].key, &a, &la, err), 0);
		assert_int_equal(featdb_get(f32, want[i].key, &b, &lb, err), 0);
		assert_int_equal(la, FEATDB_HEADER + 2 * VGG_FEATURES);
		assert_int_equal(featdb_rec_decode(a, la, &ra, err), 0);
		assert_int_equal(featdb_rec_decode(b, lb, &rb, err), 0);
		assert_int_equal(ra.split, want[i].split);
		assert_int_equal(ra.cls, want[i].cls);
		assert_int_equal(ra.dtype, FEATDB_F16);
		featdb_rec_vector(&ra, va);
		featdb_rec_vector(&rb, vb);
		/* binary16 keeps 11 significant bits: relative error <= 2^-11. */
		for (int k = 0; k < VGG_FEATURES; k++)
			assert_true(fabsf(va[k] - vb[k]) <= fabsf(vb[k]) * (1.0f / 2048) + 1e-7f);
		free(a), free(b);
	}
	featdb_close(f16);
	featdb_close(f32);
	tu_rm_rf(d);
}

/* kill -9 at many points of a run (weights loading, decoding, inside the
 * network, inside a commit), rerunning in between; the final store must be
 * the one an uninterrupted run writes, record for record, to the byte. */
static void test_crash_and_resume(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("runs killed at many points, then resumed: a durability property");
	const char *d = tu_tmpdir();
	char in[4200], ref[4200], db[4200], log[4200], why[ERR_LEN];
	snprintf(in, sizeof in, "%s/faces", d);
	snprintf(ref, sizeof ref, "%s/ref.lmdb", d);
	snprintf(db, sizeof db, "%s/crash.lmdb", d);
	snprintf(log, sizeof log, "%s/log", d);
	make_faces(in);
	write_pnm(in, "dave/d1.ppm", 40, 40, 0, 31);
	write_pnm(in, "dave/d2.ppm", 41, 40, 0, 32);
	write_pnm(in, "dave/d3.ppm", 40, 41, 0, 33);

	double t = cli_now();
	assert_int_equal(e2e_extract(in, ref, log, NULL), 0);
	double full = cli_now() - t;

	/* Kill points spread over the run's duration, and a rerun after each;
	 * --batch 1 commits after every image, so kills land inside commits. */
	rng_t r = {42};
	int kills = 0;
	for (int i = 0; i < 8; i++) {
		char *argv[] = {EXTRACT, "--in", in, "--db", db, "--weights",
				(char *)tu_weights_path(), "--batch", "1", "-q", NULL};
		pid_t pid = proc_spawn(argv, log);
		proc_sleep(full * (0.1 + 0.8 * rng_uniform(&r)) / 2);
		kill(pid, SIGKILL);
		int st = proc_wait(pid);
		kills += st == 128 + SIGKILL;
	}
	print_message("%d of 8 runs were killed\n", kills);
	assert_true(kills >= 4);
	/* The reference ran batches of 8, the killed runs batches of 1, the
	 * last one batches of 3: still the same bytes. */
	assert_int_equal(run_extract(in, db, log, NULL, NULL), 0);
	if (e2e_same_store(ref, db, why) || e2e_same_meta(ref, db, why))
		fail_msg("%s", why);
	tu_rm_rf(d);
}

/* expect_log: extract's (or featdb's) output at log holds each needle. */
static void expect_log(const char *log, const char *const needles[], size_t n)
{
	char *out = tu_slurp(log);
	for (size_t i = 0; i < n; i++)
		if (!strstr(out, needles[i])) {
			print_error("output:\n%s\n(want '%s')\n", out, needles[i]);
			fail();
		}
	free(out);
}

/* get_rec: key's record in the store at db, malloc'd (*len bytes). */
static uint8_t *get_rec(const char *db, const char *key, size_t *len)
{
	featdb_t *f = NULL;
	uint8_t *val = NULL;
	char err[ERR_LEN];

	if (featdb_open(db, FEATDB_RDONLY, &f, err) || featdb_get(f, key, &val, len, err))
		fail_msg("%s", err);
	featdb_close(f);
	return val;
}

/* Records damaged on disk are extracted again by a rerun, which replaces
 * them with the bytes a fresh extraction makes: a flipped bit (bad CRC), a
 * short record, a NaN with its CRC right, a sound record of another dim.
 * A damaged record whose image is skipped, or no longer in the folder,
 * stays as it is, and featdb verify still names it. */
static void test_damaged_records_repaired(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char in[4200], ref[4200], db[4200], log[4200], why[ERR_LEN];
	snprintf(in, sizeof in, "%s/faces", d);
	snprintf(ref, sizeof ref, "%s/ref.lmdb", d);
	snprintf(db, sizeof db, "%s/feats.lmdb", d);
	snprintf(log, sizeof log, "%s/log", d);
	make_faces(in);
	assert_int_equal(e2e_extract(in, ref, log, NULL), 0);
	assert_int_equal(run_extract(in, db, log, NULL, NULL), 0);

	size_t len;
	uint8_t *r = get_rec(db, "alice/a2.ppm", &len);
	r[FEATDB_HEADER + 1000] ^= 0x10;
	if (e2e_raw_put(db, "alice/a2.ppm", r, len, why))
		fail_msg("%s", why);
	free(r);
	r = get_rec(db, "bob/b2.ppm", &len);
	if (e2e_raw_put(db, "bob/b2.ppm", r, len / 2, why))
		fail_msg("%s", why);
	free(r);
	/* Its CRC right: only the values say it is not the network's. */
	featdb_rec_t rec;
	float v[VGG_FEATURES];
	r = get_rec(db, "carol/c1.ppm", &len);
	assert_int_equal(featdb_rec_decode(r, len, &rec, why), 0);
	featdb_rec_vector(&rec, v);
	v[17] = NAN;
	assert_int_equal(featdb_rec_encode(v, VGG_FEATURES, FEATDB_F32, rec.cls,
					   rec.split, r, why), 0);
	if (e2e_raw_put(db, "carol/c1.ppm", r, len, why))
		fail_msg("%s", why);
	assert_int_equal(featdb_rec_encode(v, 5, FEATDB_F32, 0, 0, r, why), 0);
	if (e2e_raw_put(db, "carol/more/c3.ppm", r, featdb_rec_size(FEATDB_F32, 5), why))
		fail_msg("%s", why);
	free(r);
	char *verify[] = {proc_bin("featdb"), "verify", db, NULL};
	assert_int_equal(proc_run(verify, log), 1);
	static const char *const bad4[] = {"4 of 9 records are bad"};
	expect_log(log, bad4, 1);

	/* The rerun in batches of 2, the first run's of 3 and the
	 * reference's of 8: the same bytes. */
	char *rerun[] = {EXTRACT, "--in", in, "--db", db, "--weights",
			 (char *)tu_weights_path(), "--batch", "2", NULL};
	assert_int_equal(proc_run(rerun, log), 0);
	static const char *const said[] = {
		"extract: 9 images in 3 classes; 5 already stored, 4 to extract\n",
		"extract: 4 damaged records will be extracted again (the first, "
		"alice/a2.ppm: CRC mismatch",
		"extract: extracted 4 (4 over damaged records), already present 5, "
		"skipped 0, ",
	};
	expect_log(log, said, sizeof said / sizeof *said);
	assert_int_equal(proc_run(verify, log), 0);
	if (e2e_same_store(ref, db, why) || e2e_same_meta(ref, db, why))
		fail_msg("%s", why);

	/* A damaged record whose image cannot be read now stays damaged, and
	 * the summary says so, under -q too; one whose image left the folder
	 * is not extract's to touch. */
	r = get_rec(db, "bob/b1.ppm", &len);
	r[len - 1] ^= 1;
	if (e2e_raw_put(db, "bob/b1.ppm", r, len, why) ||
	    e2e_raw_put(db, "dave/gone.ppm", r, len, why))
		fail_msg("%s", why);
	free(r);
	char p[4400];
	snprintf(p, sizeof p, "%s/bob/b1.ppm", in);
	assert_int_equal(tu_write_file(p, "P6\n128 128\n255\n", 15), 0);
	assert_int_equal(run_extract(in, db, log, NULL, NULL), 0);
	static const char *const left[] = {
		"extracted 0, already present 8, skipped 1, 1 damaged record left "
		"(its image skipped), ",
		"skipped ", "bob/b1.ppm",
	};
	expect_log(log, left, sizeof left / sizeof *left);
	write_pnm(in, "bob/b1.ppm", 128, 128, 0, 7);
	assert_int_equal(run_extract(in, db, log, NULL, NULL), 0);
	static const char *const one[] = {
		"extracted 1 (1 over a damaged record), already present 8, skipped 0, ",
	};
	expect_log(log, one, 1);
	assert_int_equal(proc_run(verify, log), 1);
	static const char *const orphan[] = {
		"bad\tdave/gone.ppm\tCRC mismatch", "1 of 10 records are bad",
	};
	expect_log(log, orphan, sizeof orphan / sizeof *orphan);
	/* Its records that decode are the reference's; the orphan does not. */
	e2e_dump_t dr = {0}, dd = {0};
	if (e2e_dump(ref, &dr, why))
		fail_msg("%s", why);
	assert_int_equal(e2e_dump(db, &dd, why), -1);
	assert_int_equal(dd.bad, 1);
	if (e2e_same(&dr, &dd, why))
		fail_msg("%s", why);
	e2e_dump_free(&dr);
	e2e_dump_free(&dd);
	tu_rm_rf(d);
}

/* set_class gives key's record in the store at db the class cls under a
 * right CRC: a damaged record that decodes. */
static void set_class(const char *db, const char *key, int32_t cls)
{
	size_t len;
	featdb_rec_t rec;
	float v[VGG_FEATURES];
	char why[ERR_LEN];
	uint8_t *r = get_rec(db, key, &len);

	assert_int_equal(featdb_rec_decode(r, len, &rec, why), 0);
	featdb_rec_vector(&rec, v);
	assert_int_equal(featdb_rec_encode(v, VGG_FEATURES, FEATDB_F32, cls, rec.split,
					   r, why), 0);
	if (e2e_raw_put(db, key, r, len, why))
		fail_msg("%s", why);
	free(r);
}

/* A record whose CRC is right and whose class is outside the store's list,
 * in a rerun that adds people: renumbered, it would pass for one of them.
 * The run replaces it, each in a commit after the one that renumbers (in
 * batches of 1), and the store is then the fresh extract's.  One that is
 * not the run's to replace (its image is not in the folder) stops the
 * renumbering in the plan, before the network is made. */
static void test_damaged_class_with_new_people(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char in[4200], ref[4200], db[4200], log[4200], why[ERR_LEN];
	snprintf(in, sizeof in, "%s/faces", d);
	snprintf(ref, sizeof ref, "%s/ref.lmdb", d);
	snprintf(db, sizeof db, "%s/feats.lmdb", d);
	snprintf(log, sizeof log, "%s/log", d);
	make_faces(in);
	assert_int_equal(run_extract(in, db, log, NULL, NULL), 0);
	/* Of 3 people: 7 is no one's, before or after; 3 is carol's once
	 * aaron joins (alice, bob and carol then move up by one). */
	set_class(db, "alice/a2.ppm", 7);
	set_class(db, "bob/b1.ppm", 3);
	char *verify[] = {proc_bin("featdb"), "verify", db, NULL};
	assert_int_equal(proc_run(verify, log), 1);
	static const char *const bad2[] = {"2 of 9 records are bad"};
	expect_log(log, bad2, 1);

	write_pnm(in, "aaron/n1.ppm", 80, 90, 0, 10);
	assert_int_equal(e2e_extract(in, ref, log, NULL), 0);
	char *rerun[] = {EXTRACT, "--in", in, "--db", db, "--weights",
			 (char *)tu_weights_path(), "--batch", "1", NULL};
	int st = proc_run(rerun, log);
	static const char *const said[] = {
		"extract: 10 images in 4 classes; 7 already stored, 3 to extract\n",
		"extract: 2 damaged records will be extracted again (the first, "
		"alice/a2.ppm: class 7, the store has 3)\n",
		"extract: extracted 3 (2 over damaged records), already present 7, "
		"skipped 0, ",
	};
	expect_log(log, said, sizeof said / sizeof *said);
	assert_int_equal(st, 0);
	assert_int_equal(proc_run(verify, log), 0);
	if (e2e_same_store(ref, db, why) || e2e_same_meta(ref, db, why))
		fail_msg("%s", why);

	/* Such a record whose image cannot be read now: the renumbering has
	 * removed it, and the summary says so (a rerun extracts the image as
	 * a new one). */
	set_class(db, "carol/c2.pgm", 9);
	char p[4400];
	snprintf(p, sizeof p, "%s/carol/c2.pgm", in);
	assert_int_equal(tu_write_file(p, "P5\n92 112\n255\n", 15), 0);
	write_pnm(in, "abe/1.ppm", 60, 70, 0, 12);
	assert_int_equal(run_extract(in, db, log, NULL, NULL), 0);
	static const char *const removed[] = {
		"extracted 1, already present 9, skipped 1, 1 damaged record removed "
		"(its image skipped), ",
	};
	expect_log(log, removed, 1);
	assert_int_equal(proc_run(verify, log), 0);
	write_pnm(in, "carol/c2.pgm", 92, 112, 1, 2);
	assert_int_equal(run_extract(in, db, log, NULL, NULL), 0);
	static const char *const back[] = {"extracted 1, already present 10, skipped 0, "};
	expect_log(log, back, 1);

	/* dave/gone.ppm (class 7 of 5) is no image of the folder. */
	size_t len;
	uint8_t *r = get_rec(db, "bob/b1.ppm", &len);
	if (e2e_raw_put(db, "dave/gone.ppm", r, len, why))
		fail_msg("%s", why);
	free(r);
	set_class(db, "dave/gone.ppm", 7);
	write_pnm(in, "abby/1.ppm", 60, 70, 0, 13);
	assert_int_equal(proc_run(rerun, log), 1);
	static const char *const refused[] = {
		"extract: error: ",
		"record 'dave/gone.ppm' has class 7, outside the 5 people the store "
		"lists: with the new people it would pass for one of them",
	};
	expect_log(log, refused, sizeof refused / sizeof *refused);
	char *out = tu_slurp(log);
	if (strstr(out, "compute thread"))
		fail_msg("refused after the network was made:\n%s", out);
	free(out);
	/* Nothing was committed: the people and the count are the ones before. */
	featdb_meta_t m = {0};
	if (e2e_store_meta(db, &m, why))
		fail_msg("%s", why);
	assert_int_equal(m.nclasses, 5);
	assert_string_equal(m.classes[1], "abe");
	assert_int_equal(m.count, 11);
	featdb_meta_free(&m);
	tu_rm_rf(d);
}

/* A rerun whose folder only adds a person, an empty folder (Keras lists
 * one, and train-head keeps it in the head), commits the list a fresh
 * extract of the folder writes, the stored records renumbered: it wrote
 * nothing, the store listing one person fewer than a fresh extract's.  A
 * person whose folder was removed keeps the name and the records: the
 * store is then a fresh extract's of the folders it was given, together. */
static void test_rerun_adds_empty_person(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char in[4200], ref[4200], db[4200], log[4200], p[4400], why[ERR_LEN];
	snprintf(in, sizeof in, "%s/faces", d);
	snprintf(ref, sizeof ref, "%s/ref.lmdb", d);
	snprintf(db, sizeof db, "%s/feats.lmdb", d);
	snprintf(log, sizeof log, "%s/log", d);
	make_faces(in);
	assert_int_equal(run_extract(in, db, log, NULL, NULL), 0);
	/* aaron comes before alice: every stored record moves up by one. */
	snprintf(p, sizeof p, "%s/aaron", in);
	assert_int_equal(mkdir(p, 0755), 0);
	char *rerun[] = {EXTRACT, "--in", in, "--db", db, "--weights",
			 (char *)tu_weights_path(), "--batch", "1", NULL};
	assert_int_equal(proc_run(rerun, log), 0);
	static const char *const said[] = {
		"extract: 9 images in 4 classes; 9 already stored, 0 to extract\n",
		"extract: extracted 0, already present 9, skipped 0, ",
	};
	expect_log(log, said, sizeof said / sizeof *said);
	assert_int_equal(e2e_extract(in, ref, log, NULL), 0);
	if (e2e_same_store(ref, db, why) || e2e_same_meta(ref, db, why))
		fail_msg("%s", why);

	/* bob's folder goes, abel's empty one comes (bob moves up again):
	 * bob stays listed, his records kept, renumbered. */
	snprintf(p, sizeof p, "%s/bob", in);
	tu_rm_rf(p);
	snprintf(p, sizeof p, "%s/abel", in);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(proc_run(rerun, log), 0);
	static const char *const gone[] = {
		"extract: 6 images in 4 classes; 6 already stored, 0 to extract\n",
	};
	expect_log(log, gone, 1);
	make_faces(in);
	tu_rm_rf(ref);
	assert_int_equal(e2e_extract(in, ref, log, NULL), 0);
	if (e2e_same_store(ref, db, why) || e2e_same_meta(ref, db, why))
		fail_msg("%s", why);
	featdb_meta_t m = {0};
	if (e2e_store_meta(db, &m, why))
		fail_msg("%s", why);
	assert_int_equal(m.nclasses, 5);
	assert_string_equal(m.classes[3], "bob");
	assert_int_equal(m.count, 9);
	featdb_meta_free(&m);
	tu_rm_rf(d);
}

/* Such a record whose image is past --limit: the run cannot replace it,
 * and says so, the advice an extract without --limit, which replaces it
 * (the advice was only "an extract whose folder holds its image", which
 * this folder does). */
static void test_damaged_class_past_limit(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char in[4200], db[4200], log[4200];
	snprintf(in, sizeof in, "%s/faces", d);
	snprintf(db, sizeof db, "%s/feats.lmdb", d);
	snprintf(log, sizeof log, "%s/log", d);
	make_faces(in);
	assert_int_equal(run_extract(in, db, log, NULL, NULL), 0);
	set_class(db, "carol/more/c3.ppm", 7);
	write_pnm(in, "aaron/n1.ppm", 80, 90, 0, 10);
	assert_int_equal(run_extract(in, db, log, "--limit", "2"), 1);
	static const char *const refused[] = {
		"record 'carol/more/c3.ppm' has class 7, outside the 3 people the store "
		"lists",
		"; an extract whose folder holds its image at that path replaces it (one "
		"without --limit, its image past the first 2), or use another --db\n",
	};
	expect_log(log, refused, sizeof refused / sizeof *refused);
	assert_int_equal(run_extract(in, db, log, NULL, NULL), 0);
	char *verify[] = {proc_bin("featdb"), "verify", db, NULL};
	assert_int_equal(proc_run(verify, log), 0);
	tu_rm_rf(d);
}

static void test_bad_files(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char in[4200], db[4200], log[4200], p[4400];
	snprintf(in, sizeof in, "%s/faces", d);
	snprintf(db, sizeof db, "%s/feats.lmdb", d);
	snprintf(log, sizeof log, "%s/log", d);
	write_pnm(in, "ann/good.ppm", 50, 50, 0, 41);
	e2e_mkdirs(in, "ann/x");
	snprintf(p, sizeof p, "%s/ann/empty.jpg", in);
	assert_int_equal(tu_write_file(p, "", 0), 0);
	snprintf(p, sizeof p, "%s/ann/garbage.png", in);
	assert_int_equal(tu_write_file(p, "this is not a picture at all", 28), 0);
	snprintf(p, sizeof p, "%s/ann/truncated.ppm", in);
	assert_int_equal(tu_write_file(p, "P6\n50 50\n255\n\x01\x02\x03", 16), 0);
	snprintf(p, sizeof p, "%s/ann/notes.txt", in);
	assert_int_equal(tu_write_file(p, "ignored", 7), 0);

	assert_int_equal(run_extract(in, db, log, NULL, NULL), 0);
	char *out = tu_slurp(log);
	assert_non_null(strstr(out, "extracted 1, already present 0, skipped 3"));
	assert_non_null(strstr(out, "empty.jpg"));
	assert_non_null(strstr(out, "garbage.png"));
	assert_non_null(strstr(out, "truncated.ppm"));
	free(out);
	/* A rerun retries the bad files (they may have been fixed) and skips
	 * the good one. */
	assert_int_equal(run_extract(in, db, log, NULL, NULL), 0);
	out = tu_slurp(log);
	assert_non_null(strstr(out, "extracted 0, already present 1, skipped 3"));
	free(out);
	/* --strict: the first bad file is an error, said once: not also as
	 * skipped, which it was not. */
	assert_int_equal(run_extract(in, db, log, "--strict", NULL), 1);
	out = tu_slurp(log);
	assert_non_null(strstr(out, "error: --strict"));
	assert_int_equal(tu_count(out, "\n"), 1);
	assert_null(strstr(out, "skipped"));
	free(out);
	/* Images found and not one stored, now or before: a failure that says
	 * so, not a success that leaves the next stage an empty store. */
	char only_bad[4200], db2[4200];
	snprintf(only_bad, sizeof only_bad, "%s/bad", d);
	snprintf(db2, sizeof db2, "%s/bad.lmdb", d);
	e2e_mkdirs(only_bad, "bob/garbage.jpg");
	snprintf(p, sizeof p, "%s/bob/garbage.jpg", only_bad);
	assert_int_equal(tu_write_file(p, "not a picture", 13), 0);
	/* And an entry the walk skips, no image: counted apart, so that the
	 * plan's line and the summary add up. */
	snprintf(p, sizeof p, "%s/bob/fifo.jpg", only_bad);
	assert_int_equal(mkfifo(p, 0644), 0);
	char *loud[] = {EXTRACT, "--in", only_bad, "--db", db2, "--weights",
			(char *)tu_weights_path(), NULL};
	assert_int_equal(proc_run(loud, log), 1);
	out = tu_slurp(log);
	assert_non_null(strstr(out, "extract: 1 image in 1 class (and 1 other entry "
				    "skipped above); 0 already stored, 1 to extract\n"));
	assert_non_null(strstr(out, "extracted 0, already present 0, skipped 2"));
	assert_non_null(strstr(out, "extract: error: the one image found could not be "
				    "read; "));
	free(out);
	tu_rm_rf(d);
}

static void expect_error(const char *log, char *const argv[], int status,
			 const char *needle)
{
	int st = proc_run(argv, log);
	char *out = tu_slurp(log);
	if (st != status || !strstr(out, needle)) {
		print_error("exit %d (want %d), output:\n%s\n(want '%s')\n", st,
			    status, out, needle);
		fail();
	}
	free(out);
}

/* extract on the tree of tests/ref/keras_tree.txt stores the files Keras'
 * flow_from_directory lists (tests/golden/keras_walk.txt), under the class
 * index Keras gives each, with and without --follow-links; a link to a
 * folder not entered is named once and counted. */
static void test_keys_match_keras(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("the keys of a large tree; test_dataset checks its walk sanitized");
	const char *d = tu_tmpdir();
	char faces[4200], db[4200], log[4200], err[ERR_LEN];
	snprintf(faces, sizeof faces, "%s/faces", d);
	snprintf(log, sizeof log, "%s/log", d);
	assert_int_equal(e2e_build_tree("tests/ref/keras_tree.txt", d, err), 0);

	for (int follow = 0; follow <= 1; follow++) {
		e2e_walk_t k;
		e2e_dump_t dump;
		snprintf(db, sizeof db, "%s/feats%d.lmdb", d, follow);
		if (e2e_keras_walk("tests/golden/keras_walk.txt", follow, &k, err))
			fail_msg("%s", err);
		char *argv[12] = {EXTRACT, "--in", faces, "--db", db, "--weights",
				  (char *)tu_weights_path(), "--batch", "5"};
		if (follow)
			argv[9] = "--follow-links";
		assert_int_equal(proc_run(argv, log), 0);
		char *out = tu_slurp(log);
		assert_int_equal(tu_count(out, "ann/elsewhere, a link to a folder"), !follow);
		assert_int_equal(tu_count(out, "1 folder link not entered"), !follow);
		free(out);
		assert_int_equal(e2e_dump(db, &dump, err), 0);
		assert_int_equal(dump.n, k.n);
		for (size_t i = 0; i < k.n; i++) {
			featdb_rec_t rec;
			size_t j = 0;
			while (j < dump.n && strcmp(dump.keys[j], k.files[i]) != 0)
				j++;
			if (j == dump.n)
				fail_msg("follow %d: '%s' (Keras lists it) is not stored", follow,
					 k.files[i]);
			assert_int_equal(featdb_rec_decode(dump.vals[j], dump.lens[j], &rec, err), 0);
			assert_int_equal(rec.cls, k.cls[i]);
		}
		print_message("follow_links=%d: the %zu records are Keras' files and "
			      "class indices\n", follow, k.n);
		e2e_dump_free(&dump);
		e2e_walk_free(&k);
	}
	tu_rm_rf(d);
}

/* Runs extract on a pseudo-terminal with $TERM set to term: all it wrote
 * (malloc'd). */
static char *extract_on_terminal(const char *in, const char *db, const char *term)
{
	int master;
	pid_t pid = forkpty(&master, NULL, NULL, NULL);
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("TERM", term, 1);
		execl(EXTRACT, EXTRACT, "--in", in, "--db", db, "--weights",
		      tu_weights_path(), "--batch", "2", (char *)NULL);
		_exit(127);
	}
	size_t len = 0, cap = 1 << 16;
	char *out = malloc(cap);
	assert_non_null(out);
	for (ssize_t n; (n = read(master, out + len, cap - 1 - len)) > 0;)
		len += (size_t)n;
	out[len] = 0;
	close(master);
	assert_int_equal(proc_wait(pid), 0);
	return out;
}

/* Cursor controls only where they work: a progress bar redrawn with \r and
 * skip messages that erase it (ESC [ K) on a terminal; plain lines for a
 * dumb terminal ($TERM=dumb) and for a file. */
static void test_terminal_manners(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("30 images for the progress line; test_cli checks it sanitized");
	const char *d = tu_tmpdir();
	char in[4200], db[4200], log[4200], bad[4300];
	snprintf(in, sizeof in, "%s/faces", d);
	snprintf(log, sizeof log, "%s/log", d);
	make_faces(in);
	snprintf(bad, sizeof bad, "%s/alice/broken.jpg", in);
	assert_int_equal(tu_write_file(bad, "no", 2), 0);

	snprintf(db, sizeof db, "%s/xterm.lmdb", d);
	char *out = extract_on_terminal(in, db, "xterm");
	assert_non_null(strstr(out, "\r["));
	assert_non_null(strstr(out, "\033[Kextract: skipped"));
	free(out);
	snprintf(db, sizeof db, "%s/dumb.lmdb", d);
	out = extract_on_terminal(in, db, "dumb");
	assert_null(strchr(out, '\033'));
	assert_null(strstr(out, "\r["));
	assert_non_null(strstr(out, "extract: 10/10 images"));
	free(out);
	snprintf(db, sizeof db, "%s/file.lmdb", d);
	assert_int_equal(e2e_extract(in, db, log, "--batch", "2", NULL), 0);
	char *argv[] = {EXTRACT, "--in", in, "--db", db, "--weights",
			(char *)tu_weights_path(), NULL};
	assert_int_equal(proc_run(argv, log), 0);
	out = tu_slurp(log);
	assert_null(strchr(out, '\033'));
	assert_null(strchr(out, '\r'));
	free(out);
	tu_rm_rf(d);
}

/* A store inside the folder of people (extract --in faces --db
 * faces/feats.lmdb; pipeline.sh run from inside FACES_DIR) was made, and
 * the next run read its folder as a person without images: the class
 * list grew and every record was renumbered.  Refused before anything is
 * made; inside a person's folder too. */
static void test_store_inside_faces(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char in[4200], db[4300], log[4200], deep[4300];
	char *w = (char *)tu_weights_path();
	snprintf(in, sizeof in, "%s/faces", d);
	snprintf(db, sizeof db, "%s/feats.lmdb", in);
	snprintf(deep, sizeof deep, "%s/ann/x.lmdb", in);
	snprintf(log, sizeof log, "%s/log", d);
	write_pnm(in, "ann/1.ppm", 30, 30, 0, 52);

	char want[9000];
	char *into[] = {EXTRACT, "--in", in, "--db", db, "--weights", w, NULL};
	snprintf(want, sizeof want, "extract: error: --db %s is inside --in %s (in "
		 "'feats.lmdb'): the next run would read the store as a person's folder "
		 "or images; put it outside the folder of people\n", db, in);
	expect_error(log, into, 1, want);
	assert_int_equal(access(db, F_OK), -1);
	char *below[] = {EXTRACT, "--in", in, "--db", deep, "--weights", w, NULL};
	expect_error(log, below, 1, "(in 'ann'): the next run would read the store");
	assert_int_equal(access(deep, F_OK), -1);
	tu_rm_rf(d);
}

static void test_usage_errors(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char in[4200], db[4200], log[4200], file[4200], empty[4200], nodb[4200];
	char *w = (char *)tu_weights_path();
	snprintf(in, sizeof in, "%s/faces", d);
	snprintf(db, sizeof db, "%s/feats.lmdb", d);
	snprintf(log, sizeof log, "%s/log", d);
	snprintf(file, sizeof file, "%s/file", d);
	snprintf(empty, sizeof empty, "%s/empty", d);
	snprintf(nodb, sizeof nodb, "%s/file/sub.lmdb", d);
	write_pnm(in, "ann/1.ppm", 30, 30, 0, 51);
	assert_int_equal(tu_write_file(file, "x", 1), 0);
	mkdir(empty, 0777);

	char *help[] = {EXTRACT, "--help", NULL};
	expect_error(log, help, 0, "usage: extract");
	char *unknown[] = {EXTRACT, "--in", in, "--db", db, "--frobnicate", NULL};
	expect_error(log, unknown, 2, "--frobnicate");
	/* --check-options: the command line alone, nothing read or made. */
	char *check[] = {EXTRACT, "--in", "/nonexistent/faces", "--db", db,
			 "--check-options", NULL};
	expect_error(log, check, 0, "");
	assert_int_equal(access(db, F_OK), -1);
	char *checkbad[] = {EXTRACT, "--in", in, "--db", db, "--pooling", "avg",
			    "--check-options", NULL};
	expect_error(log, checkbad, 2, "extract: --pooling avg: ");
	char *neither[] = {EXTRACT, NULL};
	expect_error(log, neither, 2, "extract: --in and --db are required\n"
		     "Try 'extract --help'.\n");
	char *noin[] = {EXTRACT, "--db", db, NULL};
	expect_error(log, noin, 2, "extract: --in is required too\nTry 'extract --help'.\n");
	char *nodbopt[] = {EXTRACT, "--in", in, NULL};
	expect_error(log, nodbopt, 2, "extract: --db is required too\n");
	char *badbatch[] = {EXTRACT, "--in", in, "--db", db, "--batch", "0", NULL};
	expect_error(log, badbatch, 2, "--batch");
	char *missing[] = {EXTRACT, "--in", "/nonexistent/faces", "--db", db,
			   "--weights", w, NULL};
	expect_error(log, missing, 1, "/nonexistent/faces");
	char *emp[] = {EXTRACT, "--in", empty, "--db", db, "--weights", w, NULL};
	expect_error(log, emp, 1, "no class folders");
	/* --db naming the faces' own folder: not made a store. */
	char *intofaces[] = {EXTRACT, "--in", in, "--db", in, "--weights", w, NULL};
	expect_error(log, intofaces, 1, "faces is a folder that is not a feature "
		     "store (it holds 'ann'); a new store is made in a new or empty folder");
	char *unwritable[] = {EXTRACT, "--in", in, "--db", nodb, "--weights", w, NULL};
	expect_error(log, unwritable, 1, "sub.lmdb");
	char *noweights[] = {EXTRACT, "--in", in, "--db", db, "--weights",
			     "/nonexistent/vgg16.h5", NULL};
	expect_error(log, noweights, 1, "/nonexistent/vgg16.h5");
	expect_error(log, noweights, 1, "extract: error: VGG16 weights not found at ");

	/* Usage errors as in every program: the one line, the Try line. */
	char *out;
	assert_int_equal(proc_run(unknown, log), 2);
	out = tu_slurp(log);
	assert_string_equal(out, "extract: unknown option --frobnicate\n"
			    "Try 'extract --help'.\n");
	free(out);
	char *zero[] = {EXTRACT, "--in", in, "--db", db, "--decode-threads", "0", NULL};
	assert_int_equal(proc_run(zero, log), 2);
	out = tu_slurp(log);
	assert_string_equal(out, "extract: --decode-threads: 0 is out of range 1..64\n"
			    "Try 'extract --help'.\n");
	free(out);
	char *czero[] = {EXTRACT, "--in", in, "--db", db, "--threads", "0", NULL};
	expect_error(log, czero, 2, "extract: --threads: 0 is out of range 1..256\n");
	/* --threads is the network's compute threads, as in every program;
	 * decoding has --decode-threads.  The variables for development and
	 * tests are in --help-dev only. */
	char *threads[] = {EXTRACT, "--in", in, "--db", db, "--weights", w, "--threads",
			   "1", "--decode-threads", "1", NULL};
	expect_error(log, threads, 0, "extract: 1 compute thread, ");
	expect_error(log, help, 0, "--decode-threads N");
	out = tu_slurp(log);
	assert_null(strstr(out, "VGGFEAT_"));
	free(out);
	char *dev[] = {EXTRACT, "--help-dev", NULL};
	expect_error(log, dev, 0, "VGGFEAT_ISA=");
	expect_error(log, dev, 0, "VGGFEAT_TEST_DIE_AFTER=");
	tu_rm_rf(d);
}

/* Features of other weights are never mixed into a store. */
static void test_other_weights_refused(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char in[4200], db[4200], log[4200], w2[4200], why[ERR_LEN];
	snprintf(in, sizeof in, "%s/faces", d);
	snprintf(db, sizeof db, "%s/feats.lmdb", d);
	snprintf(log, sizeof log, "%s/log", d);
	snprintf(w2, sizeof w2, "%s/seed2.h5", d);
	write_pnm(in, "ann/1.ppm", 30, 30, 0, 61);
	assert_int_equal(run_extract(in, db, log, NULL, NULL), 0);
	char *gen[] = {proc_tool("gen_weights"), "--seed", "2", "--out", w2, NULL};
	assert_int_equal(proc_run(gen, log), 0);
	write_pnm(in, "ann/2.ppm", 30, 30, 0, 62);
	char *argv[] = {EXTRACT, "--in", in, "--db", db, "--weights", w2, NULL};
	assert_int_equal(proc_run(argv, log), 1);
	char *out = tu_slurp(log);
	/* The error names both fingerprints. */
	assert_non_null(strstr(out, g_weights.fingerprint));
	assert_non_null(strstr(out, "fingerprint"));
	free(out);
	e2e_dump_t x;
	if (e2e_dump(db, &x, why))
		fail_msg("%s", why);
	assert_int_equal(x.n, 1);
	e2e_dump_free(&x);
	tu_rm_rf(d);
}

/* extract --in in --db db -q with --conv conv (NULL: none) and --limit
 * limit (NULL: none); its exit status, output to log. */
static int extract_conv(const char *in, const char *db, const char *log,
			const char *conv, const char *limit)
{
	char *a[5] = {0};
	int n = 0;

	if (conv)
		a[n++] = "--conv", a[n++] = (char *)conv;
	if (limit)
		a[n++] = "--limit", a[n++] = (char *)limit;
	return e2e_extract(in, db, log, a[0], a[1], a[2], a[3], NULL);
}

/* A resume with the other convolution path is refused, and the store's
 * records and metadata are as they were: whole and verified. */
static void refused_resume(const char *in, const char *db, const char *log,
			   const char *had, const char *asked)
{
	char why[ERR_LEN], want[8400];
	e2e_dump_t before, after;

	if (e2e_dump(db, &before, why))
		fail_msg("%s", why);
	assert_int_equal(extract_conv(in, db, log, strcmp(asked, "winograd") ? asked
				      : NULL, NULL), 1);
	char *out = tu_slurp(log);
	snprintf(want, sizeof want, "extract: error: %s was made with --conv %s, this "
		 "run uses --conv %s: their vectors differ in the last bits, and a "
		 "store holds one function of the images; rerun with --conv %s or "
		 "use another --db\n", db, had, asked, had);
	assert_string_equal(out, want);
	free(out);
	if (e2e_dump(db, &after, why) || e2e_same(&before, &after, why))
		fail_msg("%s", why);
	e2e_dump_free(&before);
	e2e_dump_free(&after);
	char *verify[] = {proc_bin("featdb"), "verify", "--db", (char *)db, NULL};
	assert_int_equal(proc_run(verify, log), 0);
}

/* The stored vectors of the convolution path the store was begun with,
 * and only those: a resume with the other path (whose vectors differ in
 * the last bits) is refused, whichever way round; a store written before
 * the metadata named the path holds Winograd's. */
static void test_other_conv_refused(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char in[4200], direct[4200], wino[4200], log[4200], err[ERR_LEN];
	snprintf(in, sizeof in, "%s/faces", d);
	snprintf(direct, sizeof direct, "%s/direct.lmdb", d);
	snprintf(wino, sizeof wino, "%s/wino.lmdb", d);
	snprintf(log, sizeof log, "%s/log", d);
	char *gen[] = {proc_tool("gen_faces"), "--out", in, "--people", "2", "--images",
		       "2", "--seed", "7", NULL};
	assert_int_equal(proc_run(gen, log), 0);

	assert_int_equal(extract_conv(in, direct, log, "direct", "3"), 0);
	assert_int_equal(e2e_store_count(direct), 3);
	refused_resume(in, direct, log, "direct", "winograd");
	assert_int_equal(extract_conv(in, direct, log, "direct", NULL), 0);
	assert_int_equal(e2e_store_count(direct), 4);

	assert_int_equal(extract_conv(in, wino, log, NULL, "3"), 0);
	refused_resume(in, wino, log, "winograd", "direct");
	/* The two paths' vectors differ (else there would be nothing to
	 * refuse), in the last bits only. */
	featdb_t *a = NULL, *b = NULL;
	uint8_t *ra, *rb;
	size_t la, lb;
	featdb_rec_t x, y;
	float va[VGG_FEATURES], vb[VGG_FEATURES];
	const char *key = "person_01/001.jpg";
	assert_int_equal(featdb_open(direct, FEATDB_RDONLY, &a, err), 0);
	assert_int_equal(featdb_open(wino, FEATDB_RDONLY, &b, err), 0);
	assert_int_equal(featdb_get(a, key, &ra, &la, err), 0);
	assert_int_equal(featdb_get(b, key, &rb, &lb, err), 0);
	assert_int_equal(featdb_rec_decode(ra, la, &x, err), 0);
	assert_int_equal(featdb_rec_decode(rb, lb, &y, err), 0);
	featdb_rec_vector(&x, va);
	featdb_rec_vector(&y, vb);
	double diff = 0, top = 0;
	for (int k = 0; k < VGG_FEATURES; k++) {
		diff = fmax(diff, fabs((double)va[k] - vb[k]));
		top = fmax(top, fabs((double)va[k]));
	}
	print_message("direct against winograd: max |diff| %.3g of max |v| %.3g\n",
		      diff, top);
	assert_true(diff > 0 && diff <= 1e-4 * top);
	free(ra), free(rb);
	featdb_meta_t m;
	assert_int_equal(featdb_meta_get(a, &m, err), 0);
	assert_string_equal(m.conv, "direct");
	assert_string_equal(m.conv_sums, FEATDB_SUMS_FIXED);
	assert_false(featdb_meta_cpu_bound(&m));
	featdb_meta_free(&m);
	featdb_close(a);
	featdb_close(b);

	/* A direct store of an extract from before 2026-12-07 has no
	 * "conv_sums": its vectors are OpenBLAS', the CPU's.  It is not
	 * resumed, and stays as it was. */
	char why[ERR_LEN], want[8400];
	e2e_dump_t before, after;
	if (e2e_raw_del_meta(direct, "conv_sums", err))
		fail_msg("%s", err);
	if (e2e_dump(direct, &before, why))
		fail_msg("%s", why);
	assert_int_equal(extract_conv(in, direct, log, "direct", NULL), 1);
	char *out = tu_slurp(log);
	snprintf(want, sizeof want, "extract: error: %s holds --conv direct vectors made "
		 "before 2026-12-07 by OpenBLAS' sgemm, whose last bits depend on the "
		 "CPU; this extract computes the direct path in one order on every "
		 "CPU, and a store holds one function of the images: use another --db "
		 "(or --conv winograd in a new store)\n", direct);
	assert_string_equal(out, want);
	free(out);
	if (e2e_dump(direct, &after, why) || e2e_same(&before, &after, why))
		fail_msg("%s", why);
	e2e_dump_free(&before);
	e2e_dump_free(&after);

	/* An older extract wrote no "conv": its store is Winograd's, resumed
	 * by default and refused with --conv direct; a resume names it. */
	if (e2e_raw_del_meta(wino, "conv", err))
		fail_msg("%s", err);
	assert_int_equal(featdb_open(wino, FEATDB_RDONLY, &b, err), 0);
	assert_int_equal(featdb_meta_get(b, &m, err), 0);
	assert_string_equal(m.conv, "winograd");
	featdb_meta_free(&m);
	featdb_close(b);
	refused_resume(in, wino, log, "winograd", "direct");
	assert_int_equal(extract_conv(in, wino, log, NULL, NULL), 0);
	assert_int_equal(e2e_store_count(wino), 4);
	/* The resume wrote the key: there is one to delete. */
	if (e2e_raw_del_meta(wino, "conv", err))
		fail_msg("%s", err);
	tu_rm_rf(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_store_inside_faces),
		cmocka_unit_test(test_terminal_manners),
		cmocka_unit_test(test_end_to_end),
		cmocka_unit_test(test_keys_match_keras),
		cmocka_unit_test(test_splits_and_f16),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_crash_and_resume),
		cmocka_unit_test(test_damaged_records_repaired),
		cmocka_unit_test(test_damaged_class_with_new_people),
		cmocka_unit_test(test_damaged_class_past_limit),
		cmocka_unit_test(test_rerun_adds_empty_person),
		cmocka_unit_test(test_other_weights_refused),
		cmocka_unit_test(test_other_conv_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
