/* test_tune.c - the tuner (net/tune.h) changes no bit: every choice it
 * may make, for every Winograd layer of VGG16 (its channels and tile side,
 * on a smaller image), gives the default's output bit for bit on every ISA
 * this CPU runs; the network with other choices for every layer gives the
 * default's vectors; the cache file round-trips, refuses what is not one
 * and is another CPU's when its key differs; without time for 3 rounds
 * the tuner measures nothing and keeps the defaults; and extract --tune
 * writes one that a later extract reads, with the store of an untuned run. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/workers.h"
#include "e2e.h"
#include "error.h"
#include "kernels/isa.h"
#include "net/tune.h"
#include "net/vgg.h"
#include "net/winograd.h"
#include "proc.h"
#include "testutil.h"

/* run_isa: whether to check isa here.  Under the sanitizers only the one
 * the programs run (isa_best()'s): the bits of the others are make test's
 * to check, and their kernels run sanitized in test_winograd; the tuner's
 * own code is the same for every ISA. */
static int run_isa(int isa)
{
	if (!tu_sanitized() || isa == isa_best())
		return 1;
	print_message("%s: under the sanitizers, left to make test\n", isa_name(isa));
	return 0;
}

/* Layer i's channels and tile side on an H x H image, for each candidate
 * of the tuner, against its default choice's output (pooled as in the
 * network when a pool follows). */
static void check_layer(int isa, int i, int H, workers_t *workers)
{
	const weights_layer_spec_t *s = &weights_spec[i];
	const int N = 2, threads = workers_threads(workers);
	size_t nin = (size_t)N * H * H * s->cin, nout = (size_t)N * H * H * s->cout;
	rng_t r = {(uint64_t)(i * 101 + isa)};
	float *in = tu_rand_floats(&r, nin, 0, 3);
	float *kernel = tu_rand_floats(&r, (size_t)9 * s->cin * s->cout, -0.05, 0.05);
	float *bias = tu_rand_floats(&r, (size_t)s->cout, -0.1, 0.1);
	float *want = malloc(nout * sizeof *want), *out = malloc(nout * sizeof *out);
	wino_layer_t *l = NULL;
	wino_choice_t c[TUNE_MAX_CANDIDATES];
	char err[ERR_LEN];

	assert_true(want && out);
	assert_int_equal(wino_layer_create(kernel, bias, s->cin, s->cout, vgg_default_tile(i),
					   isa, &l, err), 0);
	int n = tune_candidates(l, c);
	assert_true(n >= 4 && n <= TUNE_MAX_CANDIDATES);
	for (int k = 0; k < n; k++) {
		/* The blocks of the full-sized layer, on fewer tiles: several
		 * blocks or one, as it falls. */
		wino_layer_set_choice(l, &c[k]);
		float *work = malloc(wino_work_floats(l, threads) * sizeof *work);
		float *y = k ? out : want;
		assert_non_null(work);
		memset(y, 0xff, nout * sizeof *y);
		wino_conv3x3_relu(l, in, N, H, H, s->pool_after, y, workers, work);
		free(work);
		if (k)
			assert_memory_equal(out, want,
					    (s->pool_after ? nout / 4 : nout) * sizeof *out);
	}
	wino_layer_free(l);
	free(in), free(kernel), free(bias), free(want), free(out);
}

static void test_candidates_same_bits(void **state)
{
	(void)state;
	char err[ERR_LEN];
	workers_t *workers = NULL;
	assert_int_equal(workers_create(2, &workers, err), 0);
	for (int isa = ISA_PORTABLE; isa < ISA_COUNT; isa++) {
		if (!isa_cpu_has(isa)) {
			print_message("%s: not on this CPU, skipped\n", isa_name(isa));
			continue;
		}
		if (!run_isa(isa))
			continue;
		for (int i = 1; i < WEIGHTS_NCONV; i++)
			check_layer(isa, i, 26, workers);
		print_message("%s: every candidate of every layer, the default's bits\n",
			      isa_name(isa));
	}
	workers_free(workers);
}

/* The network with, for every layer, a candidate other than the default
 * (and other layers by image) gives the default's vectors. */
static void test_network_other_choices(void **state)
{
	(void)state;
	weights_t w = {0};
	char err[ERR_LEN];
	rng_t r = {5};
	const int n = 2;
	float *in = tu_rand_floats(&r, (size_t)n * VGG_IN_FLOATS, -120, 130);
	float *want = malloc((size_t)n * VGG_FEATURES * sizeof *want);
	float *out = malloc((size_t)n * VGG_FEATURES * sizeof *out);
	assert_true(want && out);
	assert_int_equal(weights_load(tu_weights_path(), &w, err), 0);
	for (int isa = ISA_PORTABLE; isa < ISA_COUNT; isa++) {
		if (!isa_cpu_has(isa) || !run_isa(isa))
			continue;
		for (int variant = 0; variant < 3; variant++) {
			vgg_opts_t o;
			vgg_t *net = NULL;
			vgg_opts_init(&o, n);
			o.isa = isa;
			if (variant) {
				o.tune.by_image = variant == 1 ? 2 : 0;
				for (int i = 1; i < WEIGHTS_NCONV; i++) {
					o.tune.conv[i] = (wino_choice_t){variant == 1, 7 + i, i % 2};
				}
			}
			assert_int_equal(vgg_create_opts(&w, &o, &net, err), 0);
			assert_int_equal(vgg_forward(net, in, n, variant ? out : want, err), 0);
			vgg_free(net);
			if (variant)
				assert_memory_equal(out, want, (size_t)n * VGG_FEATURES * sizeof *out);
		}
		print_message("%s: two other tunings, the default's vectors\n", isa_name(isa));
	}
	weights_free(&w);
	free(in), free(want), free(out);
}

static void test_file_round_trip(void **state)
{
	(void)state;
	char dir[4096], path[4200], err[ERR_LEN], key[1024];
	vgg_tune_t t, got;

	snprintf(dir, sizeof dir, "%s/xdg", tu_tmpdir());
	assert_int_equal(setenv("XDG_CACHE_HOME", dir, 1), 0);
	tune_key(ISA_PORTABLE, 3, key, sizeof key);
	assert_non_null(strstr(key, "portable; 3 threads"));
	assert_int_equal(tune_path(key, path, sizeof path, err), 0);
	assert_true(strncmp(path, dir, strlen(dir)) == 0);
	assert_non_null(strstr(path, "/vggfeat/tune-"));
	assert_int_equal(tune_load(path, key, &got, err), ERR_MISSING);

	vgg_tune_init(&t);
	t.gather = 16;
	for (int i = 1; i < WEIGHTS_NCONV; i++)
		t.conv[i] = (wino_choice_t){i % 2, 10 + i, (i / 2) % 2};
	assert_int_equal(tune_save(path, key, &t, 12.5, err), 0);
	assert_int_equal(tune_load(path, key, &got, err), 0);
	assert_int_equal(got.gather, 16);
	for (int i = 1; i < WEIGHTS_NCONV; i++)
		assert_memory_equal(&got.conv[i], &t.conv[i], sizeof t.conv[i]);
	/* Another CPU's key: not this one's. */
	assert_int_equal(tune_load(path, "another CPU", &got, err), ERR_MISSING);
	assert_non_null(strstr(err, "another CPU's"));

	/* What is not a tuning file, or a damaged one, is refused. */
	char *text = tu_read_text(path);
	assert_non_null(text);
	static const struct { const char *from, *to; } bad[] = {
		{"vggfeat-tune 1", "vggfeat-tune 2"},
		{"gather 16", "gather 0"},
		{"tiles 11", "tiles -3"},
		{"prefetch 1", "prefetch 7"},
		{"layer block1_conv2", "layer block9_conv9"},
		{"seconds 12.5\n", "seconds 12.5\nextra line\n"},
	};
	for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
		char *at = strstr(text, bad[b].from);
		assert_non_null(at);
		size_t head = (size_t)(at - text);
		char buf[4096];
		snprintf(buf, sizeof buf, "%.*s%s%s", (int)head, text, bad[b].to,
			 at + strlen(bad[b].from));
		assert_int_equal(tu_write_file(path, buf, strlen(buf)), 0);
		assert_int_equal(tune_load(path, key, &got, err), ERR_FORMAT);
	}
	/* A file without one of its layers. */
	char *cut = strstr(text, "layer block5_conv3");
	assert_non_null(cut);
	assert_int_equal(tu_write_file(path, text, (size_t)(cut - text)), 0);
	assert_int_equal(tune_load(path, key, &got, err), ERR_FORMAT);
	assert_non_null(strstr(err, "block5_conv3"));
	free(text);
	assert_int_equal(unsetenv("XDG_CACHE_HOME"), 0);
}

/* No time for 3 rounds of anything: tune_measure measures nothing, runs
 * nothing more, and every layer and fc keep their defaults (the bound of
 * its time holds where one round is slow: a slow CPU, the sanitizers). */
static void test_measure_without_time(void **state)
{
	(void)state;
	vgg_tune_t t;
	char err[ERR_LEN];
	int measured = -1;

	assert_int_equal(tune_measure(isa_best(), 2, 1e-6, &t, &measured, err), 0);
	assert_int_equal(measured, 0);
	assert_int_equal(t.gather, VGG_GATHER);
	for (int i = 1; i < WEIGHTS_NCONV; i++) {
		const weights_layer_spec_t *s = &weights_spec[i];
		float *kernel = calloc((size_t)9 * s->cin * s->cout, sizeof *kernel);
		float *bias = calloc((size_t)s->cout, sizeof *bias);
		wino_layer_t *l = NULL;
		wino_choice_t c[TUNE_MAX_CANDIDATES];
		assert_true(kernel && bias);
		assert_int_equal(wino_layer_create(kernel, bias, s->cin, s->cout,
						   vgg_default_tile(i), isa_best(), &l, err), 0);
		tune_candidates(l, c);
		assert_memory_equal(&t.conv[i], &c[0], sizeof c[0]);
		wino_layer_free(l);
		free(kernel), free(bias);
	}
}

/* extract --tune for a few seconds writes the file; a later run says it
 * is tuned and stores what an untuned run stores. */
static void test_extract_tune(void **state)
{
	(void)state;
	char dir[4096], faces[4200], log[4200], db1[4200], db2[4200], why[ERR_LEN];

	snprintf(dir, sizeof dir, "%s/xdg-e2e", tu_tmpdir());
	snprintf(faces, sizeof faces, "%s/faces", tu_tmpdir());
	snprintf(log, sizeof log, "%s/tune.log", tu_tmpdir());
	snprintf(db1, sizeof db1, "%s/untuned.lmdb", tu_tmpdir());
	snprintf(db2, sizeof db2, "%s/tuned.lmdb", tu_tmpdir());
	for (int i = 0; i < 3; i++) {
		char rel[32];
		snprintf(rel, sizeof rel, "p%d/%d.ppm", i % 2, i);
		assert_int_equal(e2e_write_pnm(faces, rel, 40 + 9 * i, 60 - 5 * i, 0,
					       (uint64_t)i + 9), 0);
	}
	assert_int_equal(setenv("XDG_CACHE_HOME", dir, 1), 0);
	char *ex1[] = {proc_bin("extract"), "--in", faces, "--db", db1, "--weights",
		       (char *)tu_weights_path(), NULL};
	assert_int_equal(proc_run(ex1, log), 0);
	char *out = tu_slurp(log);
	assert_non_null(strstr(out, "not tuned for this CPU (extract --tune)"));
	assert_non_null(strstr(out, "batches of 32"));
	free(out);

	char *tune[] = {proc_bin("extract"), "--tune=4", NULL};
	assert_int_equal(proc_run(tune, log), 0);
	out = tu_slurp(log);
	assert_non_null(strstr(out, "/vggfeat/tune-"));
	assert_non_null(strstr(out, "block1_conv2"));
	assert_non_null(strstr(out, "fc1, fc2"));
	free(out);

	char *ex2[] = {proc_bin("extract"), "--in", faces, "--db", db2, "--weights",
		       (char *)tu_weights_path(), NULL};
	assert_int_equal(proc_run(ex2, log), 0);
	out = tu_slurp(log);
	assert_non_null(strstr(out, "tuned for this CPU ("));
	free(out);
	if (e2e_same_store(db1, db2, why) || e2e_same_meta(db1, db2, why))
		fail_msg("tuned against untuned: %s", why);
	assert_int_equal(unsetenv("XDG_CACHE_HOME"), 0);

	char *badopt[] = {proc_bin("extract"), "--tune=0", NULL};
	assert_int_equal(proc_run(badopt, log), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_candidates_same_bits),
		cmocka_unit_test(test_network_other_choices),
		cmocka_unit_test(test_file_round_trip),
		cmocka_unit_test(test_measure_without_time),
		cmocka_unit_test(test_extract_tune),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	tu_rm_rf(tu_tmpdir());
	return rc;
}
