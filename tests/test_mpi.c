/* test_mpi.c - extract across ranks under mpirun (extract/dist/dist.h): the
 * store that 2 and 3 ranks make equals the one-process store record for
 * record and in its metadata, byte for byte, though the ranks' blocks and
 * batches (of 3) cut the images other than its batches (of 8) do, on both
 * convolution paths; bad files are included in rank 0's summary; a rank killed mid-run
 * ends the job with an error, leaves a store that verifies, and a rerun
 * with another number of ranks completes it; records damaged on disk are
 * extracted again across the ranks, the store then equal to the
 * one-process store, also when people join and some of them have a class
 * outside the store's list, and when a person joins with an empty folder
 * and there is nothing to extract; an error on rank 0 ends every rank with
 * rank 0's reason.  Skipped when bin/extract was built without
 * MPI or mpirun is missing. */
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

#include "e2e.h"
#include "error.h"
#include "store/featdb.h"
#include "base/workers.h"
#include "proc.h"
#include "testutil.h"

static char g_dir[4096], g_faces[4200], g_ref[4200], g_mpirun[4096];
/* The images of g_faces (with ben/broken.jpg besides). */
static const char *const g_rel[] = {"ann/1.ppm", "ann/2.pgm", "ann/3.ppm", "ben/1.ppm",
				    "ben/2.ppm", "cid/1.ppm", "cid/2.ppm", "cid/3.pgm"};
static e2e_dump_t g_refdump;
static int g_have_mpi;

/* bin/extract names libmpi among the libraries it needs when it was built
 * with MPI. */
static int extract_has_mpi(void)
{
	size_t len;
	uint8_t *bin = tu_read_file(proc_bin("extract"), &len);
	int has = bin && memmem(bin, len, "libmpi.so", 9) != NULL;
	free(bin);
	return has;
}

/* Runs `mpirun -n ranks extract --in in --db db ... [-q]` with the extra
 * arguments ap, output to log: its exit status. */
static int mpirun_extract_v(int ranks, int quiet, const char *in, const char *db,
			    const char *log, va_list ap)
{
	char n[16], *argv[40] = {g_mpirun, "--oversubscribe", "-n", n};
	int k = 4;
	char *a;

	snprintf(n, sizeof n, "%d", ranks);
	if (geteuid() == 0)
		argv[k++] = "--allow-run-as-root";
	char *rest[] = {proc_bin("extract"), "--in", (char *)in, "--db", (char *)db,
			"--weights", (char *)tu_weights_path(), "--batch", "3"};
	for (size_t i = 0; i < sizeof rest / sizeof *rest; i++)
		argv[k++] = rest[i];
	if (quiet)
		argv[k++] = "-q";
	while ((a = va_arg(ap, char *)) && k < 39)
		argv[k++] = a;
	argv[k] = NULL;
	return proc_run(argv, log);
}

/* mpirun_extract_v on g_faces, quiet, with the extra arguments
 * NULL-terminated. */
static int mpirun_extract(int ranks, const char *db, const char *log, ...)
{
	va_list ap;
	va_start(ap, log);
	int st = mpirun_extract_v(ranks, 1, g_faces, db, log, ap);
	va_end(ap);
	return st;
}

/* mpirun_extract on the folder in. */
static int mpirun_extract_in(int ranks, const char *in, const char *db,
			     const char *log, ...)
{
	va_list ap;
	va_start(ap, log);
	int st = mpirun_extract_v(ranks, 1, in, db, log, ap);
	va_end(ap);
	return st;
}

/* mpirun_extract with its progress lines. */
static int mpirun_extract_loud(int ranks, const char *db, const char *log, ...)
{
	va_list ap;
	va_start(ap, log);
	int st = mpirun_extract_v(ranks, 0, g_faces, db, log, ap);
	va_end(ap);
	return st;
}

/* Finds mpirun on PATH (proc_spawn does not search it): 0 or -1. */
static int find_mpirun(void)
{
	FILE *f = popen("command -v mpirun", "r");
	int ok = f && fgets(g_mpirun, sizeof g_mpirun, f) && g_mpirun[0] == '/';

	if (f)
		pclose(f);
	g_mpirun[strcspn(g_mpirun, "\n")] = 0;
	return ok ? 0 : -1;
}

/* write_faces writes g_rel's images, from the first-th on, under dir. */
static int write_faces(const char *dir, int first)
{
	for (int i = first; i < 8; i++)
		if (e2e_write_pnm(dir, g_rel[i], 30 + 5 * i, 40 - 2 * i,
				  g_rel[i][6] == 'g', 300 + (uint64_t)i))
			return -1;
	return 0;
}

static int setup(void **state)
{
	char why[ERR_LEN];

	/* Under `make test-asan` LeakSanitizer would report Open MPI's own
	 * allocations kept until exit. */
	if (!extract_has_mpi() || find_mpirun() != 0 ||
	    getenv("SANITIZER_LOGS"))
		return 0;
	/* One BLAS thread per rank (the ranks share 2 cores), MPI's shared
	 * memory transport without the kernel's cross-process copy (absent in
	 * containers), and ranks beyond the cores allowed. */
	setenv("OPENBLAS_NUM_THREADS", "1", 1);
	setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
	setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
	snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
	snprintf(g_faces, sizeof g_faces, "%s/faces", g_dir);
	snprintf(g_ref, sizeof g_ref, "%s/one.lmdb", g_dir);
	if (write_faces(g_faces, 0))
		return -1;
	char bad[4300];
	snprintf(bad, sizeof bad, "%s/ben/broken.jpg", g_faces);
	if (tu_write_file(bad, "not a jpeg", 10))
		return -1;
	char log[4300];
	snprintf(log, sizeof log, "%s/one.log", g_dir);
	if (e2e_extract(g_faces, g_ref, log, NULL) != 0 ||
	    e2e_dump(g_ref, &g_refdump, why)) {
		fprintf(stderr, "the one-process store failed: %s\n", why);
		return -1;
	}
	g_have_mpi = 1;
	return 0;
}

static int teardown(void **state)
{
	e2e_dump_free(&g_refdump);
	if (g_dir[0])
		tu_rm_rf(g_dir);
	return 0;
}

static void need_mpi(void)
{
	if (!g_have_mpi) {
		print_message("bin/extract built without MPI, no mpirun, or under "
			      "sanitizers: skipped\n");
		skip();
	}
}

static void assert_same_as(const e2e_dump_t *refdump, const char *ref,
			   const char *db)
{
	e2e_dump_t d;
	char why[ERR_LEN];

	assert_int_equal(e2e_dump(db, &d, why), 0);
	assert_int_equal(d.bad, 0);
	int same = e2e_same(refdump, &d, why) || e2e_same_meta(ref, db, why);
	if (same != 0)
		print_message("%s: %s\n", db, why);
	e2e_dump_free(&d);
	assert_int_equal(same, 0);
}

static void assert_same_as_ref(const char *db)
{
	assert_same_as(&g_refdump, g_ref, db);
}

static void test_ranks_equal_one_process(void **state)
{
	need_mpi();
	assert_int_equal(g_refdump.n, 8);
	for (int ranks = 2; ranks <= 3; ranks++) {
		char db[4300], log[4300];
		snprintf(db, sizeof db, "%s/ranks%d.lmdb", g_dir, ranks);
		snprintf(log, sizeof log, "%s/ranks%d.log", g_dir, ranks);
		assert_int_equal(mpirun_extract(ranks, db, log, NULL), 0);
		assert_same_as_ref(db);
		/* Rank 0 alone reports, once, the bad file another rank met. */
		char *out = tu_slurp(log);
		char *hit = strstr(out, "skipped 1");
		assert_non_null(hit);
		assert_non_null(strstr(out, "broken.jpg"));
		assert_null(strstr(strstr(out, "broken.jpg") + 1, "broken.jpg"));
		free(out);
	}
}

/* The reference path too: 3 ranks against one process, --conv direct. */
static void test_ranks_equal_one_process_direct(void **state)
{
	char ref[4300], db[4300], log[4300], why[ERR_LEN];
	e2e_dump_t refdump;

	need_mpi();
	snprintf(ref, sizeof ref, "%s/one-direct.lmdb", g_dir);
	snprintf(db, sizeof db, "%s/ranks3-direct.lmdb", g_dir);
	snprintf(log, sizeof log, "%s/direct.log", g_dir);
	assert_int_equal(e2e_extract(g_faces, ref, log, "--conv", "direct", NULL), 0);
	assert_int_equal(e2e_dump(ref, &refdump, why), 0);
	assert_int_equal(mpirun_extract(3, db, log, "--conv", "direct", NULL), 0);
	assert_same_as(&refdump, ref, db);
	e2e_dump_free(&refdump);
}

/* A pool tap (512-d vectors travel between the ranks): 2 ranks against one
 * process. */
static void test_ranks_equal_one_process_pool_tap(void **state)
{
	char ref[4300], db[4300], log[4300], why[ERR_LEN];
	e2e_dump_t refdump;

	need_mpi();
	snprintf(ref, sizeof ref, "%s/one-avg.lmdb", g_dir);
	snprintf(db, sizeof db, "%s/ranks2-avg.lmdb", g_dir);
	snprintf(log, sizeof log, "%s/avg.log", g_dir);
	assert_int_equal(e2e_extract(g_faces, ref, log, "--layer", "block5_pool",
				     "--pooling", "avg", NULL), 0);
	assert_int_equal(e2e_dump(ref, &refdump, why), 0);
	assert_int_equal(mpirun_extract(2, db, log, "--layer", "block5_pool",
					"--pooling", "avg", NULL), 0);
	assert_same_as(&refdump, ref, db);
	e2e_dump_free(&refdump);
}

static void test_killed_rank_then_rerun(void **state)
{
	char db[4300], log[4300];
	e2e_dump_t part;
	char why[ERR_LEN];

	need_mpi();
	snprintf(db, sizeof db, "%s/killed.lmdb", g_dir);
	snprintf(log, sizeof log, "%s/killed.log", g_dir);
	/* The last of 3 ranks kills itself after the first of its 2 batches. */
	setenv("VGGFEAT_TEST_DIE_AFTER", "1", 1);
	int st = mpirun_extract(3, db, log, "--batch", "1", NULL);
	unsetenv("VGGFEAT_TEST_DIE_AFTER");
	assert_int_not_equal(st, 0);

	char *verify[] = {proc_bin("featdb"), "verify", db, NULL};
	assert_int_equal(proc_run(verify, NULL), 0);
	assert_int_equal(e2e_dump(db, &part, why), 0);
	assert_int_equal(part.bad, 0);
	assert_int_equal(e2e_subset(&part, &g_refdump, why), 0);
	print_message("the killed run stored %zu of %zu records\n", part.n,
		      g_refdump.n);
	assert_true(part.n < g_refdump.n);
	e2e_dump_free(&part);

	assert_int_equal(mpirun_extract(2, db, log, NULL), 0);
	assert_same_as_ref(db);
}

/* damage_rec flips a bit of key's vector in the store at db, or, with
 * cut, keeps the first half of the record: its CRC fails either way. */
static void damage_rec(const char *db, const char *key, int cut)
{
	featdb_t *f = NULL;
	uint8_t *val = NULL;
	size_t len = 0;
	char err[ERR_LEN];

	if (featdb_open(db, FEATDB_RDONLY, &f, err) || featdb_get(f, key, &val, &len, err))
		fail_msg("%s", err);
	featdb_close(f);
	val[len - 3] ^= 0x40;
	if (e2e_raw_put(db, key, val, cut ? len / 2 : len, err))
		fail_msg("%s", err);
	free(val);
}

/* Rank 0 plans; a damaged record's key is one more of the to-do list the
 * ranks share, and rank 0 commits its new record over the damaged one. */
static void test_damaged_records_across_ranks(void **state)
{
	char db[4300], log[4300];

	need_mpi();
	snprintf(db, sizeof db, "%s/repair.lmdb", g_dir);
	snprintf(log, sizeof log, "%s/repair.log", g_dir);
	assert_int_equal(e2e_extract(g_faces, db, log, "--batch", "5", NULL), 0);
	damage_rec(db, "ann/1.ppm", 0);
	damage_rec(db, "ben/2.ppm", 1);
	damage_rec(db, "cid/3.pgm", 0);
	char *verify[] = {proc_bin("featdb"), "verify", db, NULL};
	assert_int_equal(proc_run(verify, NULL), 1);

	assert_int_equal(mpirun_extract_loud(3, db, log, "--batch", "1", NULL), 0);
	char *out = tu_slurp(log);
	if (!strstr(out, "extract: 3 damaged records will be extracted again") ||
	    !strstr(out, "extracted 3 (3 over damaged records), already present 5, "
		    "skipped 1"))
		print_message("%s", out);
	assert_non_null(strstr(out, "extract: 3 damaged records will be extracted again"));
	assert_non_null(strstr(out, "extracted 3 (3 over damaged records), already "
			       "present 5, skipped 1"));
	free(out);
	assert_int_equal(proc_run(verify, NULL), 0);
	assert_same_as_ref(db);
}

/* set_class gives key's record in the store at db the class cls under a
 * right CRC: a damaged record that decodes. */
static void set_class(const char *db, const char *key, int32_t cls)
{
	featdb_t *f = NULL;
	featdb_rec_t rec;
	uint8_t *val = NULL;
	size_t len = 0;
	char err[ERR_LEN];

	if (featdb_open(db, FEATDB_RDONLY, &f, err) || featdb_get(f, key, &val, &len, err))
		fail_msg("%s", err);
	featdb_close(f);
	assert_int_equal(featdb_rec_decode(val, len, &rec, err), 0);
	float *v = malloc((size_t)rec.dim * sizeof *v);
	assert_non_null(v);
	featdb_rec_vector(&rec, v);
	assert_int_equal(featdb_rec_encode(v, rec.dim, rec.dtype, cls, rec.split, val,
					   err), 0);
	if (e2e_raw_put(db, key, val, len, err))
		fail_msg("%s", err);
	free(v);
	free(val);
}

/* A store of ben and cid, two of whose records have a class outside its
 * list of 2, completed across 3 ranks with ann, who joins before them:
 * rank 0 renumbers the classes as it plans, removing those two, which the
 * ranks extract again; the store is then the one-process store. */
static void test_damaged_class_new_people_across_ranks(void **state)
{
	char faces[4300], db[4300], log[4300];

	need_mpi();
	snprintf(faces, sizeof faces, "%s/ben_cid", g_dir);
	snprintf(db, sizeof db, "%s/joined.lmdb", g_dir);
	snprintf(log, sizeof log, "%s/joined.log", g_dir);
	assert_int_equal(write_faces(faces, 3), 0);
	assert_int_equal(e2e_extract(faces, db, log, "--batch", "5", NULL), 0);
	set_class(db, "ben/2.ppm", 5);
	set_class(db, "cid/1.ppm", 2); /* cid's, once ann joins */
	char *verify[] = {proc_bin("featdb"), "verify", db, NULL};
	assert_int_equal(proc_run(verify, NULL), 1);

	assert_int_equal(mpirun_extract_loud(3, db, log, "--batch", "1", NULL), 0);
	char *out = tu_slurp(log);
	if (!strstr(out, "extract: 2 damaged records will be extracted again") ||
	    !strstr(out, "extracted 5 (2 over damaged records), already present 3, "
		    "skipped 1"))
		print_message("%s", out);
	assert_non_null(strstr(out, "extract: 2 damaged records will be extracted again"));
	assert_non_null(strstr(out, "extracted 5 (2 over damaged records), already "
			       "present 3, skipped 1"));
	free(out);
	assert_int_equal(proc_run(verify, NULL), 0);
	assert_same_as_ref(db);
}

/* A rerun across 2 ranks whose folder only adds a person, an empty
 * folder: nothing to extract, and rank 0 still commits the list a fresh
 * extract of the folder writes, the stored records renumbered. */
static void test_empty_person_across_ranks(void **state)
{
	char faces[4300], db[4300], ref[4300], log[4300], dir[4400];
	e2e_dump_t refdump;
	char why[ERR_LEN];

	need_mpi();
	snprintf(faces, sizeof faces, "%s/ben_cid_empty", g_dir);
	snprintf(db, sizeof db, "%s/empty_person.lmdb", g_dir);
	snprintf(ref, sizeof ref, "%s/empty_person_ref.lmdb", g_dir);
	snprintf(log, sizeof log, "%s/empty_person.log", g_dir);
	assert_int_equal(write_faces(faces, 3), 0);
	assert_int_equal(e2e_extract(faces, db, log, "--batch", "5", NULL), 0);
	snprintf(dir, sizeof dir, "%s/ann", faces);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(mpirun_extract_in(2, faces, db, log, NULL), 0);
	assert_int_equal(e2e_extract(faces, ref, log, NULL), 0);
	if (e2e_dump(ref, &refdump, why))
		fail_msg("%s", why);
	assert_same_as(&refdump, ref, db);
	e2e_dump_free(&refdump);
}

/* An error on rank 0 (here a store of float32 features asked for float16)
 * ends every rank with rank 0's reason, and leaves the store as it was. */
static void test_error_ends_every_rank(void **state)
{
	char log[4300];

	need_mpi();
	snprintf(log, sizeof log, "%s/error.log", g_dir);
	assert_int_not_equal(mpirun_extract(2, g_ref, log, "--dtype", "f16", NULL), 0);
	char *out = tu_slurp(log);
	if (!strstr(out, "extract: error: rank 0 of 2: ") || !strstr(out, "--dtype f32"))
		print_message("%s", out);
	assert_non_null(strstr(out, "extract: error: rank 0 of 2: "));
	assert_non_null(strstr(out, "--dtype f32"));
	free(out);
	assert_same_as_ref(g_ref);
}

/* A weights file that crashes libhdf5 (tests/test_damaged_hdf5.c) under
 * mpirun: every rank reads it in a child process, so the job ends with the
 * error, not with a rank killed by a signal. */
static void test_damaged_weights(void **state)
{
	char db[4300], log[4300];

	need_mpi();
	snprintf(db, sizeof db, "%s/damaged.lmdb", g_dir);
	snprintf(log, sizeof log, "%s/damaged.log", g_dir);
	int st = mpirun_extract(2, db, log, "--weights",
				"tests/hdf5_damaged/weights_sigsegv.h5", NULL);
	char *out = tu_slurp(log);
	assert_non_null(out);
	if (st == 0 || !strstr(out, "weights_sigsegv.h5: damaged HDF5 file") ||
	    strstr(out, "Segmentation fault") || strstr(out, "signal 11"))
		print_message("exit %d:\n%s", st, out ? out : "");
	assert_int_not_equal(st, 0);
	assert_non_null(strstr(out, "weights_sigsegv.h5: damaged HDF5 file"));
	assert_null(strstr(out, "Segmentation fault"));
	assert_null(strstr(out, "signal 11"));
	free(out);
}

/* Ranks on one machine share its CPUs: k ranks on c CPUs run at most
 * max(1, c / k) compute threads each, not c each. */
static void test_ranks_share_the_cpus(void **state)
{
	char db[4300], log[4300], line[64];

	need_mpi();
	int cpus = workers_cpus();
	for (int ranks = 2; ranks <= 3; ranks++) {
		snprintf(db, sizeof db, "%s/share%d.lmdb", g_dir, ranks);
		snprintf(log, sizeof log, "%s/share%d.log", g_dir, ranks);
		assert_int_equal(mpirun_extract_loud(ranks, db, log, NULL), 0);
		char *out = tu_slurp(log);
		int most = cpus / ranks < 1 ? 1 : cpus / ranks;
		for (int r = 0; r < ranks; r++) {
			snprintf(line, sizeof line, "rank %d of %d: ", r, ranks);
			char *at = strstr(out, line);
			int t = 0;
			if (!at || sscanf(at + strlen(line), "%d compute threads", &t) != 1 ||
			    t < 1 || t > most)
				print_error("%d CPUs, %d ranks: want %s1..%d compute threads "
					    "in:\n%s\n", cpus, ranks, line, most, out);
			assert_non_null(at);
			assert_in_range(t, 1, most);
		}
		free(out);
		assert_same_as_ref(db);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ranks_equal_one_process),
		cmocka_unit_test(test_ranks_equal_one_process_direct),
		cmocka_unit_test(test_ranks_equal_one_process_pool_tap),
		cmocka_unit_test(test_killed_rank_then_rerun),
		cmocka_unit_test(test_damaged_records_across_ranks),
		cmocka_unit_test(test_damaged_class_new_people_across_ranks),
		cmocka_unit_test(test_empty_person_across_ranks),
		cmocka_unit_test(test_error_ends_every_rank),
		cmocka_unit_test(test_damaged_weights),
		cmocka_unit_test(test_ranks_share_the_cpus),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
