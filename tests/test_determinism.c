/* test_determinism.c - the store is a function of the images and the
 * weights alone: an image's vector has the same bits whatever the batch,
 * its place in the batch, the threads and where a previous run stopped, on
 * both convolution paths and on every ISA this CPU runs; and the same on
 * every ISA, portable C included (extract end to end).
 *
 * The network is checked in this process (each image alone against the
 * same images in batches of other sizes and orders, on 1 and 2 threads);
 * the real extract program end to end (stores made with --batch 1, 3, 5,
 * 8, with 1 or 2 compute threads and 1 or 2 decoding threads, and a run
 * stopped by --limit inside a batch then resumed with another batch size,
 * all equal byte for byte to one reference store, and so is featdb merge's
 * output from two stores that batched the same images differently).  MPI
 * ranks whose blocks split the batches differently: tests/test_mpi.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "error.h"
#include "kernels/isa.h"
#include "base/workers.h"
#include "proc.h"
#include "testutil.h"
#include "net/vgg.h"
#include "net/weights.h"

#define IMG VGG_IN_FLOATS

static weights_t g_w;
static char g_dir[4096], g_faces[4200];

/* 11 images of 4 people, of many sizes, one in a subfolder. */
static const char *const g_rel[] = {
	"ann/1.ppm", "ann/2.pgm", "ann/3.ppm", "bo/1.ppm", "bo/2.ppm",
	"bo/old/3.ppm", "cy/1.pgm", "cy/2.ppm", "dee/1.ppm", "dee/2.ppm",
	"dee/3.ppm",
};
#define NIMG ((int)(sizeof g_rel / sizeof *g_rel))

static int setup(void **state)
{
	char err[ERR_LEN];
	(void)state;
	if (weights_load(tu_weights_path(), &g_w, err)) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
	snprintf(g_faces, sizeof g_faces, "%s/faces", g_dir);
	for (int i = 0; i < NIMG; i++)
		if (e2e_write_pnm(g_faces, g_rel[i], 37 + 23 * i, 251 - 13 * i,
				  strstr(g_rel[i], ".pgm") != NULL, 700 + (uint64_t)i))
			return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	weights_free(&g_w);
	tu_rm_rf(g_dir);
	return 0;
}

/* Seeded images in [-120, 130), as preprocessed pixels are. */
static float *random_images(int n)
{
	rng_t r = {4242};
	return tu_rand_floats(&r, (size_t)n * IMG, -120, 130);
}

/* out[i] for image i of in, run in batches of the given sizes (in turn,
 * repeating) in the order perm gives, on a network of the given threads. */
static void run_batches(const vgg_opts_t *base, int threads, const float *in,
			int n, const int *sizes, int nsizes, const int *perm,
			float *out)
{
	vgg_opts_t o = *base;
	vgg_t *net = NULL;
	char err[ERR_LEN];
	float *x = malloc((size_t)n * IMG * sizeof *x);
	float *y = malloc((size_t)n * VGG_FEATURES * sizeof *y);

	assert_true(x && y);
	o.threads = threads;
	o.max_batch = n;
	assert_int_equal(vgg_create_opts(&g_w, &o, &net, err), 0);
	for (int i = 0; i < n; i++)
		memcpy(x + (size_t)i * IMG, in + (size_t)perm[i] * IMG, IMG * sizeof *x);
	for (int i0 = 0, s = 0; i0 < n; i0 += sizes[s], s = (s + 1) % nsizes) {
		int b = n - i0 < sizes[s] ? n - i0 : sizes[s];
		assert_int_equal(vgg_forward(net, x + (size_t)i0 * IMG, b,
					     y + (size_t)i0 * VGG_FEATURES, err), 0);
	}
	for (int i = 0; i < n; i++)
		memcpy(out + (size_t)perm[i] * VGG_FEATURES, y + (size_t)i * VGG_FEATURES,
		       VGG_FEATURES * sizeof *out);
	vgg_free(net);
	free(x), free(y);
}

/* The network on one path: each image alone (1 thread) against batches of
 * 3, then 8, then an odd 5 and 1, in shuffled order, on 2 threads, and a
 * batch of all n on 1 thread. */
static void check_network(int conv, int isa, int n)
{
	static const int ident[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	static const int shuffled[16] = {5, 0, 9, 3, 7, 1, 10, 2, 8, 4, 6, 11, 13, 15, 12, 14};
	static const int one[] = {1}, mixed[] = {3, 8}, odd[] = {5, 1};
	int perm[16], all[] = {n};
	vgg_opts_t o;
	float *in = random_images(n);
	size_t nout = (size_t)n * VGG_FEATURES;
	float *ref = malloc(nout * sizeof *ref), *out = malloc(nout * sizeof *out);

	assert_true(n <= 16 && ref && out);
	for (int i = 0, k = 0; i < 16; i++)
		if (shuffled[i] < n)
			perm[k++] = shuffled[i];
	vgg_opts_init(&o, n);
	o.conv = conv;
	o.isa = isa;
	run_batches(&o, 1, in, n, one, 1, ident, ref);
	run_batches(&o, 2, in, n, mixed, 2, perm, out);
	assert_memory_equal(out, ref, nout * sizeof *out);
	run_batches(&o, 2, in, n, odd, 2, perm, out);
	assert_memory_equal(out, ref, nout * sizeof *out);
	run_batches(&o, 1, in, n, all, 1, ident, out);
	assert_memory_equal(out, ref, nout * sizeof *out);
	print_message("%s, %s: %d images, the same bits in batches of 1, 3, 5, 8 "
		      "and %d, in two orders, on 1 and 2 threads\n",
		      conv == VGG_CONV_DIRECT ? "direct" : "winograd", isa_name(isa), n, n);
	free(in), free(ref), free(out);
}

static void test_network_winograd(void **state)
{
	(void)state;
	for (int isa = ISA_PORTABLE; isa < ISA_COUNT; isa++) {
		if (!isa_cpu_has(isa)) {
			print_message("winograd, %s: not on this CPU, skipped\n", isa_name(isa));
			continue;
		}
		check_network(VGG_CONV_WINOGRAD, isa, isa == isa_best() ? 11 : 5);
	}
}

static void test_network_direct(void **state)
{
	(void)state;
	check_network(VGG_CONV_DIRECT, isa_best(), 6);
}

/* extract with the given arguments (NULL-terminated) into g_dir/name. */
static void extract_to(const char *name, const char *log, ...)
{
	char db[4300], *argv[32] = {proc_bin("extract"), "--in", g_faces, "--db", db,
				    "--weights", (char *)tu_weights_path(), "-q"};
	int k = 8;
	va_list ap;
	char *a;

	snprintf(db, sizeof db, "%s/%s", g_dir, name);
	va_start(ap, log);
	while ((a = va_arg(ap, char *)) && k < 31)
		argv[k++] = a;
	va_end(ap);
	argv[k] = NULL;
	int st = proc_run(argv, log);
	if (st != 0)
		print_error("%s", tu_slurp(log));
	assert_int_equal(st, 0);
}

/* The records of g_dir/name against g_dir/ref's, byte for byte, and the
 * metadata too when meta is set (a merge's records its own version). */
static void assert_same_as(const char *ref, const char *name, int meta)
{
	char a[4300], b[4300], why[ERR_LEN];
	snprintf(a, sizeof a, "%s/%s", g_dir, ref);
	snprintf(b, sizeof b, "%s/%s", g_dir, name);
	if (e2e_same_store(a, b, why) || (meta && e2e_same_meta(a, b, why)))
		fail_msg("%s against %s: %s", name, ref, why);
}

static void assert_same(const char *ref, const char *name)
{
	assert_same_as(ref, name, 1);
}

/* The stores of one convolution path: --batch 8 is the reference. */
static void check_extract(const char *conv)
{
	char log[4300], ref[64], name[64];
	snprintf(log, sizeof log, "%s/%s.log", g_dir, conv);
	snprintf(ref, sizeof ref, "%s-b8.lmdb", conv);
	extract_to(ref, log, "--conv", conv, "--batch", "8", NULL);
	static const char *const batches[] = {"1", "3", "5"};
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof name, "%s-b%s.lmdb", conv, batches[i]);
		extract_to(name, log, "--conv", conv, "--batch", batches[i], NULL);
		assert_same(ref, name);
	}
	/* Stopped after 5 images, inside its second batch of 3, then resumed
	 * with batches of 8: the first run's last batch holds 2 images. */
	snprintf(name, sizeof name, "%s-resumed.lmdb", conv);
	extract_to(name, log, "--conv", conv, "--batch", "3", "--limit", "5", NULL);
	char path[4300];
	snprintf(path, sizeof path, "%s/%s", g_dir, name);
	assert_int_equal(e2e_store_count(path), 5);
	extract_to(name, log, "--conv", conv, "--batch", "8", NULL);
	assert_same(ref, name);
	/* Two runs that batched the same images differently merge without a
	 * conflict, into the reference again. */
	char a[4300], b[4300], merged[4300], mname[64];
	snprintf(a, sizeof a, "%s/%s-b3.lmdb", g_dir, conv);
	snprintf(b, sizeof b, "%s/%s-b5.lmdb", g_dir, conv);
	snprintf(mname, sizeof mname, "%s-merged.lmdb", conv);
	snprintf(merged, sizeof merged, "%s/%s", g_dir, mname);
	char *merge[] = {proc_bin("featdb"), "merge", merged, a, b, NULL};
	assert_int_equal(proc_run(merge, log), 0);
	char *out = tu_slurp(log);
	assert_non_null(strstr(out, " 0 conflicts"));
	free(out);
	assert_same_as(ref, mname, 0);
	print_message("%s: --batch 1, 3, 5, a run stopped at 5 of %d images then "
		      "resumed, and a merge of two of them: the --batch 8 store, byte "
		      "for byte\n", conv, NIMG);
}

static void test_extract_batches_and_resume(void **state)
{
	(void)state;
	check_extract("winograd");
	check_extract("direct");
}

/* The same store on every CPU: extract on each ISA this one runs
 * (VGGFEAT_ISA), portable C included, against the widest's, byte for
 * byte, at the default batch, itself against --batch 8; on both paths
 * (the direct one's bits were OpenBLAS' until 2026-12-07, which changed
 * with the CPU). */
static void check_isas(const char *conv)
{
	char log[4300], best[64], b8[64], name[64];

	snprintf(log, sizeof log, "%s/isas-%s.log", g_dir, conv);
	snprintf(best, sizeof best, "isa-%s-best.lmdb", conv);
	snprintf(b8, sizeof b8, "isa-%s-b8.lmdb", conv);
	/* The default batch (the tuning's gather, 32 untuned) too. */
	extract_to(best, log, "--conv", conv, NULL);
	extract_to(b8, log, "--conv", conv, "--batch", "8", NULL);
	assert_same(b8, best);
	for (int isa = ISA_PORTABLE; isa < ISA_COUNT; isa++) {
		if (!isa_cpu_has(isa)) {
			print_message("extract on %s: not on this CPU, skipped\n", isa_name(isa));
			continue;
		}
		snprintf(name, sizeof name, "isa-%s-%s.lmdb", conv, isa_name(isa));
		assert_int_equal(setenv("VGGFEAT_ISA", isa_name(isa), 1), 0);
		extract_to(name, log, "--conv", conv, NULL);
		assert_int_equal(unsetenv("VGGFEAT_ISA"), 0);
		assert_same(best, name);
		print_message("%s, extract on %s: the store of %s, byte for byte\n", conv,
			      isa_name(isa), isa_name(isa_best()));
	}
}

static void test_extract_isas(void **state)
{
	(void)state;
	check_isas("winograd");
	check_isas("direct");
}

/* One compute thread against two, by default (extract runs one per CPU it
 * may use: here one CPU) and by --threads, and one decoding thread against
 * two (--decode-threads). */
static void test_extract_threads(void **state)
{
	char log[4300];
	cpu_set_t saved, one;
	(void)state;

	snprintf(log, sizeof log, "%s/threads.log", g_dir);
	extract_to("t2.lmdb", log, "--threads", "2", "--decode-threads", "2",
		   "--batch", "4", NULL);
	assert_int_equal(sched_getaffinity(0, sizeof saved, &saved), 0);
	if (CPU_COUNT(&saved) < 2) {
		print_message("one CPU: 1 against 2 compute threads by default not tested\n");
	} else {
		CPU_ZERO(&one);
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &saved)) {
				CPU_SET(c, &one);
				break;
			}
		/* The spawned program inherits this thread's CPUs. */
		assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
		extract_to("t1.lmdb", log, "--decode-threads", "1", "--batch", "7", NULL);
		assert_int_equal(sched_setaffinity(0, sizeof saved, &saved), 0);
		assert_same("t2.lmdb", "t1.lmdb");
	}
	extract_to("t1d.lmdb", log, "--decode-threads", "1", "--batch", "6", NULL);
	assert_same("t2.lmdb", "t1d.lmdb");
	/* Not quiet: extract says how many compute threads it runs. */
	char db[4300];
	snprintf(db, sizeof db, "%s/t1c.lmdb", g_dir);
	char *argv[] = {proc_bin("extract"), "--in", g_faces, "--db", db, "--weights",
			(char *)tu_weights_path(), "--threads", "1", "--batch", "5", NULL};
	int st = proc_run(argv, log);
	char *out = tu_slurp(log);
	if (st != 0 || !strstr(out, "extract: 1 compute thread, "))
		fail_msg("--threads 1: status %d, want 'extract: 1 compute thread, ' "
			 "in:\n%s", st, out);
	free(out);
	assert_same("t2.lmdb", "t1c.lmdb");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_network_winograd),
		cmocka_unit_test(test_network_direct),
		cmocka_unit_test(test_extract_batches_and_resume),
		cmocka_unit_test(test_extract_isas),
		cmocka_unit_test(test_extract_threads),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
