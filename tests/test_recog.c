/* test_recog.c - the distances verify and nearest share (train/recog/)
 * against numpy's on vectors `featdb export` wrote (tests/golden/
 * recog_golden.h5, tests/ref/recog_ref.py), and on vectors whose distances
 * are known; and verify --calibrate's figures (train/verify/): ROC AUC,
 * equal error rate and thresholds on distances whose answer is worked out
 * by hand, the pairs drawn, LFW's folds.
 * Letters: D vector length, N records, P pairs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "recog/recog.h"
#include "store/featdb.h"
#include "testutil.h"
#include "verify/verify.h"

#define GOLDEN "tests/golden/recog_golden.h5"
/* The bound the issue sets: our distances against numpy's. */
#define TOL 1e-6

static const char *const metric_names[RECOG_NMETRICS] = {"cosine", "euclidean",
							  "euclidean_l2"};

/* ---- the golden file ---- */

typedef struct golden {
	int n, D, P;
	float *x;        /* (N, D) */
	int32_t *pairs;  /* (P, 2) */
} golden_t;

static void *read_all(hid_t f, const char *name, hid_t type, size_t elem, size_t *count)
{
	hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
	if (d < 0)
		fail_msg("%s: no dataset %s", GOLDEN, name);
	hid_t sp = H5Dget_space(d);
	size_t n = (size_t)H5Sget_simple_extent_npoints(sp);
	void *buf = malloc(n * elem);
	assert_non_null(buf);
	assert_true(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
	H5Sclose(sp);
	H5Dclose(d);
	*count = n;
	return buf;
}

static void golden_read(golden_t *g, hid_t *f)
{
	size_t n;
	*f = H5Fopen(GOLDEN, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (*f < 0)
		fail_msg("cannot open %s", GOLDEN);
	hid_t d = H5Dopen2(*f, "features", H5P_DEFAULT), sp = H5Dget_space(d);
	hsize_t dims[2];
	assert_int_equal(H5Sget_simple_extent_ndims(sp), 2);
	H5Sget_simple_extent_dims(sp, dims, NULL);
	H5Sclose(sp);
	H5Dclose(d);
	g->n = (int)dims[0];
	g->D = (int)dims[1];
	g->x = read_all(*f, "features", H5T_NATIVE_FLOAT, sizeof(float), &n);
	g->pairs = read_all(*f, "pairs", H5T_NATIVE_INT32, sizeof(int32_t), &n);
	g->P = (int)(n / 2);
	assert_int_equal(g->P, g->n * (g->n - 1) / 2);
}

/* The golden vectors rounded to float16 and back, as an f16 store holds
 * them. */
static float *as_f16(const golden_t *g)
{
	float *y = malloc((size_t)g->n * g->D * sizeof *y);
	assert_non_null(y);
	for (size_t i = 0; i < (size_t)g->n * g->D; i++)
		y[i] = featdb_f16_to_f32(featdb_f32_to_f16(g->x[i]));
	return y;
}

/* Every pair's distance under each metric, from float32 and from float16
 * vectors, within TOL of numpy's float64 on the same vectors. */
static void test_distances_vs_numpy(void **state)
{
	(void)state;
	golden_t g;
	hid_t f;
	golden_read(&g, &f);
	float *x16 = as_f16(&g);
	for (int dt = 0; dt < 2; dt++)
		for (int m = 0; m < RECOG_NMETRICS; m++) {
			char name[64];
			size_t n;
			snprintf(name, sizeof name, "%s%s", dt ? "f16_" : "", metric_names[m]);
			double *want = read_all(f, name, H5T_NATIVE_DOUBLE, sizeof(double), &n);
			const float *x = dt ? x16 : g.x;
			double worst = 0, biggest = 0;
			assert_int_equal(n, (size_t)g.P);
			for (int p = 0; p < g.P; p++) {
				const float *a = x + (size_t)g.pairs[2 * p] * g.D;
				const float *b = x + (size_t)g.pairs[2 * p + 1] * g.D;
				double d = recog_distance(m, a, b, g.D);
				if (fabs(d - want[p]) > worst)
					worst = fabs(d - want[p]);
				biggest = fmax(biggest, fabs(want[p]));
				if (!(fabs(d - want[p]) <= TOL))
					fail_msg("%s pair %d: %.12g, numpy %.12g", name, p, d, want[p]);
			}
			print_message("%-18s %d pairs: max |ours - numpy| = %.2g (distances up "
				      "to %.4g)\n", name, g.P, worst, biggest);
			free(want);
		}
	free(x16);
	free(g.x);
	free(g.pairs);
	H5Fclose(f);
}

/* Distances worked out by hand, and the cases DeepFace leaves open. */
static void test_metric_definitions(void **state)
{
	(void)state;
	const float a[4] = {3, 4, 0, 0}, b[4] = {4, 3, 0, 0}, zero[4] = {0};
	const float a10[4] = {30, 40, 0, 0};

	assert_true(fabs(recog_distance(RECOG_COSINE, a, b, 4) - 0.04) < 1e-15);
	assert_true(fabs(recog_distance(RECOG_EUCLIDEAN, a, b, 4) - sqrt(2)) < 1e-15);
	/* (0.6, 0.8) - (0.8, 0.6), DeepFace's epsilon aside. */
	assert_true(fabs(recog_distance(RECOG_EUCLIDEAN_L2, a, b, 4) - sqrt(0.08)) < 1e-10);
	/* The same vector: 0, exactly, never -2e-16. */
	for (int m = 0; m < RECOG_NMETRICS; m++)
		assert_true(recog_distance(m, a, a, 4) == 0);
	/* Cosine and euclidean_l2 do not see the length; euclidean does. */
	assert_true(recog_distance(RECOG_COSINE, a, a10, 4) == 0);
	assert_true(recog_distance(RECOG_EUCLIDEAN_L2, a, a10, 4) < 1e-10);
	assert_true(fabs(recog_distance(RECOG_EUCLIDEAN, a, a10, 4) - 45) < 1e-12);
	/* Zeros: no direction.  Cosine 1; l2-normalised, zero stays zero. */
	assert_true(recog_distance(RECOG_COSINE, a, zero, 4) == 1);
	assert_true(recog_distance(RECOG_COSINE, zero, zero, 4) == 1);
	assert_true(fabs(recog_distance(RECOG_EUCLIDEAN_L2, a, zero, 4) - 1) < 1e-10);
	assert_true(recog_distance(RECOG_EUCLIDEAN_L2, zero, zero, 4) == 0);
	assert_true(recog_distance(RECOG_EUCLIDEAN, a, zero, 4) == 5);
	/* Opposite directions: cosine's largest. */
	const float na[4] = {-3, -4, 0, 0};
	assert_true(recog_distance(RECOG_COSINE, a, na, 4) == 2);

	for (int m = 0; m < RECOG_NMETRICS; m++) {
		assert_int_equal(recog_metric_parse(recog_metric_name(m)), m);
		assert_string_equal(recog_metric_name(m), metric_names[m]);
	}
	assert_int_equal(recog_metric_parse("angular"), -1);
	assert_int_equal(recog_metric_parse("Cosine"), -1);
	assert_int_equal(recog_metric_parse(NULL), -1);
}

/* ---- the ROC figures on distances worked out by hand ---- */

static void test_roc_by_hand(void **state)
{
	(void)state;
	/* Shuffled on purpose: vf_roc_compute sorts. */
	double gen[4] = {0.3, 0.1, 0.4, 0.2}, imp[5] = {0.7, 0.35, 0.8, 0.5, 0.6};
	vf_roc_t r;

	/* The three smaller genuine distances are below every impostor's,
	 * 0.4 below four of five: AUC 19 / 20.  The rates meet best after
	 * 0.35: FAR 1/5, FRR 1/4, EER their mean, at a threshold between 0.35
	 * and 0.4. */
	vf_roc_compute(gen, 4, imp, 5, 0.2, &r);
	assert_true(fabs(r.auc - 0.95) < 1e-15);
	assert_true(fabs(r.eer - 0.225) < 1e-15);
	assert_true(r.eer_threshold == 0.375);
	/* FAR 0.2 allows one false accept of five: the cut after 0.4 (0.5 is
	 * the second impostor). */
	assert_true(r.threshold == 0.45);
	assert_int_equal(r.false_accepts, 1);
	assert_int_equal(r.true_accepts, 4);
	assert_true(r.far == 0.2 && r.tar == 1);

	/* FAR 0 allows none: before 0.35. */
	vf_roc_compute(gen, 4, imp, 5, 0, &r);
	assert_true(r.threshold == 0.325);
	assert_true(r.far == 0 && r.tar == 0.75);

	/* Ties count half; a threshold never splits equal distances. */
	double g2[2] = {0.5, 0.5}, i2[2] = {0.5, 0.9};
	vf_roc_compute(g2, 2, i2, 2, 0, &r);
	assert_true(r.auc == 0.75);
	assert_true(r.threshold == 0.25); /* nothing accepted: below 0.5 */
	assert_true(r.tar == 0 && r.far == 0);
	vf_roc_compute(g2, 2, i2, 2, 0.5, &r);
	assert_true(r.threshold == 0.7 && r.tar == 1 && r.far == 0.5);

	/* The best cut classifies the most; the first of equals. */
	size_t right;
	double g3[4] = {0.1, 0.2, 0.3, 0.4}, i3[5] = {0.35, 0.5, 0.6, 0.7, 0.8};
	assert_true(vf_best_cut(g3, 4, i3, 5, &right) == 0.325);
	assert_int_equal(right, 8);
	/* Separable: every pair right, halfway. */
	double g4[2] = {0.1, 0.2}, i4[2] = {0.6, 0.9};
	assert_true(vf_best_cut(g4, 2, i4, 2, &right) == 0.4);
	assert_int_equal(right, 4);

	/* Thresholds read as printed (6 decimals) when that changes nothing. */
	assert_true(vf_threshold_between(0.1, 0.2) == 0.15);
	double t = vf_threshold_between(0.1234561, 0.1234565);
	assert_true(t > 0.1234561 && t < 0.1234565 && t != 0.123456);
	assert_true(vf_threshold_between(0.1, 0.1000002) >= 0.1);
	assert_true(vf_threshold_between(0.1, 0.1000002) < 0.1000002);
}

/* ---- pairs ---- */

/* A records set without vectors: n records of C classes. */
static void fake_records(vf_records_t *r, int n, int C, const int *cls)
{
	memset(r, 0, sizeof *r);
	r->n = (size_t)n;
	r->meta.nclasses = C;
	r->cls = malloc((size_t)n * sizeof *r->cls);
	assert_non_null(r->cls);
	for (int i = 0; i < n; i++)
		r->cls[i] = cls[i];
}

static void check_pairs(const vf_records_t *r, const vf_pairs_t *p, int genuine)
{
	for (size_t k = 0; k < p->n; k++) {
		uint32_t i = p->ij[k][0], j = p->ij[k][1];
		assert_true(i < j && j < r->n);
		assert_int_equal(r->cls[i] == r->cls[j], genuine);
		if (k > 0)	/* sorted, no pair twice */
			assert_true(p->ij[k - 1][0] < i ||
				    (p->ij[k - 1][0] == i && p->ij[k - 1][1] < j));
	}
}

static void test_pairs(void **state)
{
	(void)state;
	/* Classes of 4, 1, 3, 2 records (and one of none), interleaved. */
	const int cls[10] = {0, 2, 0, 3, 1, 0, 2, 3, 0, 2};
	vf_records_t r;
	vf_pairs_t g, i;
	char err[ERR_LEN];

	fake_records(&r, 10, 5, cls);
	assert_int_equal(vf_pairs_genuine(&r, NULL, 0, &g, err), 0);
	assert_int_equal(g.n, 6 + 3 + 1);
	assert_int_equal(g.total, 10);
	check_pairs(&r, &g, 1);
	rng_t rng = rng_stream(1, 0);
	assert_int_equal(vf_pairs_impostor(&r, NULL, 0, 1000, &rng, &i, err), 0);
	assert_int_equal(i.n, 45 - 10);
	assert_int_equal(i.total, 35);
	check_pairs(&r, &i, 0);
	vf_pairs_free(&g);
	vf_pairs_free(&i);

	/* A sample: as many as asked, distinct, of the right kind, the same
	 * for a seed; over many seeds every pair about equally often. */
	int seen[10][10] = {{0}};
	vf_pairs_t first = {0};
	for (int seed = 0; seed < 2000; seed++) {
		rng = rng_stream((uint64_t)seed, 0);
		assert_int_equal(vf_pairs_impostor(&r, NULL, 0, 7, &rng, &i, err), 0);
		assert_int_equal(i.n, 7);
		assert_int_equal(i.total, 35);
		check_pairs(&r, &i, 0);
		for (size_t k = 0; k < i.n; k++)
			seen[i.ij[k][0]][i.ij[k][1]]++;
		if (seed == 0)
			first = i;
		else
			vf_pairs_free(&i);
	}
	rng = rng_stream(0, 0);
	assert_int_equal(vf_pairs_impostor(&r, NULL, 0, 7, &rng, &i, err), 0);
	assert_memory_equal(i.ij, first.ij, 7 * sizeof *i.ij);
	vf_pairs_free(&i);
	vf_pairs_free(&first);
	/* Each of the 35 pairs: 2000 * 7 / 35 = 400 expected, sd about 18. */
	for (int a = 0; a < 10; a++)
		for (int b = a + 1; b < 10; b++)
			if (cls[a] != cls[b] && (seen[a][b] < 320 || seen[a][b] > 480))
				fail_msg("impostor pair (%d, %d) drawn %d times of 14000, "
					 "expected about 400", a, b, seen[a][b]);

	/* Genuine pairs, sampled: weighed by each class's pairs. */
	memset(seen, 0, sizeof seen);
	for (int seed = 0; seed < 2000; seed++) {
		rng = rng_stream((uint64_t)seed, 3);
		assert_int_equal(vf_pairs_genuine_sample(&r, NULL, 0, 5, &rng, &g, err), 0);
		assert_int_equal(g.n, 5);
		check_pairs(&r, &g, 1);
		for (size_t k = 0; k < g.n; k++)
			seen[g.ij[k][0]][g.ij[k][1]]++;
		vf_pairs_free(&g);
	}
	for (int a = 0; a < 10; a++)
		for (int b = a + 1; b < 10; b++)
			if (cls[a] == cls[b] && (seen[a][b] < 850 || seen[a][b] > 1150))
				fail_msg("genuine pair (%d, %d) drawn %d times of 10000, "
					 "expected about 1000", a, b, seen[a][b]);

	/* Among listed records only. */
	const uint32_t idx[4] = {0, 2, 3, 7};
	assert_int_equal(vf_pairs_genuine(&r, idx, 4, &g, err), 0);
	assert_int_equal(g.n, 2); /* (0, 2), (3, 7) */
	assert_true(g.ij[0][0] == 0 && g.ij[0][1] == 2 && g.ij[1][0] == 3 && g.ij[1][1] == 7);
	rng = rng_stream(1, 0);
	assert_int_equal(vf_pairs_impostor(&r, idx, 4, 100, &rng, &i, err), 0);
	assert_int_equal(i.n, 4);
	check_pairs(&r, &i, 0);
	vf_pairs_free(&g);
	vf_pairs_free(&i);
	free(r.cls);
}

/* ---- LFW's folds ---- */

/* Records on orthogonal axes: person p's images are e_p plus t_i along
 * e_(P + i), so that a person's own images are closer (cosine distance
 * under 0.18) than anyone else's (0.8 and more): every fold is 100%
 * right. */
static void axes_records(vf_records_t *r, int P, int per, int D)
{
	memset(r, 0, sizeof *r);
	r->D = D;
	r->n = (size_t)P * per;
	r->meta.nclasses = P;
	r->x = calloc(r->n * D, sizeof *r->x);
	r->norm = malloc(r->n * sizeof *r->norm);
	r->cls = malloc(r->n * sizeof *r->cls);
	assert_true(r->x && r->norm && r->cls);
	for (int p = 0; p < P; p++)
		for (int i = 0; i < per; i++) {
			size_t k = (size_t)p * per + i;
			r->x[k * D + p] = 1;
			r->x[k * D + P + i] = 0.1f * (i + 1);
			r->norm[k] = recog_norm(r->x + k * D, D);
			r->cls[k] = p;
		}
}

static void test_folds(void **state)
{
	(void)state;
	vf_records_t r;
	vf_folds_t f;
	char err[ERR_LEN];

	axes_records(&r, 24, 5, 32);
	assert_int_equal(vf_folds_run(&r, RECOG_COSINE, 7, NULL, &f, err), 0);
	assert_int_equal(f.ran, 1);
	int people = 0;
	for (int k = 0; k < VF_FOLDS; k++) {
		people += f.people[k];
		assert_true(f.people[k] == 2 || f.people[k] == 3);
		/* 2 people: 20 genuine pairs, 25 impostor; 3: 30 and 75. */
		assert_int_equal(f.pairs[k], f.people[k] == 2 ? 20 : 30);
		assert_true(f.acc[k] == 1);
		assert_true(f.threshold[k] > 0.17 && f.threshold[k] < 0.8);
	}
	assert_int_equal(people, 24);
	assert_true(f.mean == 1 && f.std == 0);
	vf_records_free(&r);

	/* Too few people for ten folds of two: said, not run. */
	axes_records(&r, 19, 5, 32);
	assert_int_equal(vf_folds_run(&r, RECOG_COSINE, 7, NULL, &f, err), 0);
	assert_int_equal(f.ran, 0);
	assert_non_null(strstr(f.why, "20 people in all"));
	vf_records_free(&r);
}

/* The threshold a search or a verdict judges by: --threshold, else the
 * store's calibrated one, named with the rates measured on the pairs it
 * was calibrated on; neither is an error that says how to get one. */
static void test_threshold_pick(void **state)
{
	(void)state;
	featdb_meta_t m = {0};
	recog_threshold_t t;
	char err[ERR_LEN];

	m.count = 16;
	m.nthresholds = 1;
	m.thresholds[0] = (featdb_threshold_t){.metric = "cosine", .value = 0.25,
					      .far = 0, .tar = 0.0667,
					      .records = "valid", .count = 15};
	assert_int_equal(recog_threshold_pick(-1, &m, "s.lmdb", RECOG_COSINE, &t, err), 0);
	assert_true(t.value == 0.25 && t.stale && !t.given);
	assert_string_equal(t.from, "calibrated on valid records (far 0 and tar "
			    "0.0667 on their pairs)");
	assert_int_equal(recog_threshold_pick(0.5, &m, "s.lmdb", RECOG_COSINE, &t, err), 0);
	assert_true(t.value == 0.5 && t.given);
	assert_string_equal(t.from, "--threshold");
	assert_int_equal(recog_threshold_pick(-1, &m, "s.lmdb", RECOG_EUCLIDEAN, &t, err),
			 ERR_MISSING);
	assert_non_null(strstr(err, "verify --calibrate --db STORE --metric euclidean"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_distances_vs_numpy),
		cmocka_unit_test(test_metric_definitions),
		cmocka_unit_test(test_roc_by_hand),
		cmocka_unit_test(test_pairs),
		cmocka_unit_test(test_folds),
		cmocka_unit_test(test_threshold_pick),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
