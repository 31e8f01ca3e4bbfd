/* test_search.c - nearest's exact search (train/nearest/search.c): on the
 * vectors `featdb export` wrote, the neighbours and distances numpy found
 * (tests/golden/recog_golden.h5, tests/ref/recog_ref.py), from float32 and
 * float16 stores; on seeded random stores of odd sizes, exactly the
 * answer of a plain double-precision search (the reference beside the
 * fast path), whatever the block size and the threads, with ties, zero
 * vectors, duplicates, fewer records than asked for and damaged records.
 * Letters: Q queries, N records, D vector length, K neighbours. */
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

#include "error.h"
#include "kernels/isa.h"
#include "nearest/nearest.h"
#include "net/model.h"
#include "recog/recog.h"
#include "store/featdb.h"
#include "testutil.h"

#define GOLDEN "tests/golden/recog_golden.h5"
#define TOL 1e-6

static const char *const metric_names[RECOG_NMETRICS] = {"cosine", "euclidean",
							  "euclidean_l2"};

/* Writes a store at path: n records keys[i] (sorted, so that record i is
 * the i-th in key order) of vectors x (n, D) and classes cls[i] into
 * classes (C of them, sorted). */
static void write_store(const char *path, int n, int D, int dtype, char **keys,
			const float *x, const int32_t *cls, char **classes, int C)
{
	featdb_t *db;
	featdb_meta_t m = {0};
	char err[ERR_LEN];
	size_t len = featdb_rec_size(dtype, D);
	uint8_t **vals = malloc((size_t)n * sizeof *vals);
	size_t *lens = malloc((size_t)n * sizeof *lens);

	assert_true(vals && lens);
	snprintf(m.model, sizeof m.model, "%s", model_info(MODEL_VGG16)->store_model);
	snprintf(m.fingerprint, sizeof m.fingerprint, "0123456789abcdef");
	snprintf(m.preprocess, sizeof m.preprocess, "%s", model_info(MODEL_VGG16)->preprocess);
	snprintf(m.version, sizeof m.version, "test");
	m.dim = D;
	m.dtype = dtype;
	m.classes = classes;
	m.nclasses = C;
	for (int i = 0; i < n; i++) {
		vals[i] = malloc(len);
		assert_non_null(vals[i]);
		assert_int_equal(featdb_rec_encode(x + (size_t)i * D, D, dtype, cls[i],
						   FEATDB_TRAIN, vals[i], err), 0);
		lens[i] = len;
	}
	assert_int_equal(featdb_open(path, FEATDB_CREATE, &db, err), 0);
	if (featdb_write(db, &m, n, (const char *const *)keys,
			 (const uint8_t *const *)vals, lens, err))
		fail_msg("%s", err);
	featdb_close(db);
	for (int i = 0; i < n; i++)
		free(vals[i]);
	free(vals);
	free(lens);
}

/* The plain search: every distance in double, sorted by distance then
 * index (stable); idx (Q, K) and dist (Q, K) receive the first K. */
static void search_ref(int metric, const float *q, int nq, const float *x, int n,
		       int D, int K, int *idx, double *dist)
{
	double *d = malloc((size_t)n * sizeof *d);
	uint8_t *taken = malloc((size_t)n);
	assert_true(d && taken);
	for (int a = 0; a < nq; a++) {
		const float *qa = q + (size_t)a * D;
		for (int j = 0; j < n; j++)
			d[j] = recog_distance(metric, qa, x + (size_t)j * D, D);
		memset(taken, 0, (size_t)n);
		for (int r = 0; r < K && r < n; r++) {
			int best = -1;
			for (int j = 0; j < n; j++)
				if (!taken[j] && (best < 0 || d[j] < d[best]))
					best = j;
			taken[best] = 1;
			idx[(size_t)a * K + r] = best;
			dist[(size_t)a * K + r] = d[best];
		}
	}
	free(d);
	free(taken);
}

static void search(const char *path, const float *q, int nq, int D, int metric,
		   int K, int threads, int block, nn_result_t *res)
{
	featdb_t *db;
	char err[ERR_LEN];
	nn_opts_t o = {.metric = metric, .k = K, .threads = threads, .block = block};

	assert_int_equal(featdb_open(path, FEATDB_RDONLY, &db, err), 0);
	if (nn_search(db, q, nq, D, &o, res, err))
		fail_msg("nn_search: %s", err);
	featdb_close(db);
}

/* ---- the golden ---- */

static void *read_all(hid_t f, const char *name, hid_t type, size_t elem)
{
	hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
	if (d < 0)
		fail_msg("%s: no dataset %s", GOLDEN, name);
	hid_t sp = H5Dget_space(d);
	void *buf = malloc((size_t)H5Sget_simple_extent_npoints(sp) * elem);
	assert_non_null(buf);
	assert_true(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
	H5Sclose(sp);
	H5Dclose(d);
	return buf;
}

/* numpy's 5 nearest of every golden record among them all, found again
 * through a store: f32 and f16 records, blocks of 3 (the last one
 * short), two threads. */
static void test_golden_neighbours(void **state)
{
	(void)state;
	hid_t f = H5Fopen(GOLDEN, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(f >= 0);
	hid_t d = H5Dopen2(f, "features", H5P_DEFAULT), sp = H5Dget_space(d);
	hsize_t dims[2];
	H5Sget_simple_extent_dims(sp, dims, NULL);
	H5Sclose(sp);
	H5Dclose(d);
	int n = (int)dims[0], D = (int)dims[1], K = 5;
	float *x = read_all(f, "features", H5T_NATIVE_FLOAT, sizeof(float));
	d = H5Dopen2(f, "keys", H5P_DEFAULT);
	hid_t ft = H5Dget_type(d), mt = H5Tcopy(H5T_C_S1);
	size_t klen = H5Tget_size(ft) + 1;
	H5Tset_size(mt, klen);
	char *raw = calloc((size_t)n, klen);
	assert_true(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0);
	H5Tclose(mt), H5Tclose(ft), H5Dclose(d);
	char **keys = malloc((size_t)n * sizeof *keys);
	int32_t *cls = malloc((size_t)n * sizeof *cls);
	char *classes[64];
	int C = 0;
	for (int i = 0; i < n; i++) {
		keys[i] = raw + (size_t)i * klen;
		/* The person is the key's folder. */
		size_t pl = strcspn(keys[i], "/");
		if (C == 0 || strncmp(classes[C - 1], keys[i], pl) != 0)
			classes[C++] = strndup(keys[i], pl);
		cls[i] = C - 1;
	}
	for (int dt = 0; dt < 2; dt++) {
		const char *dir = tu_tmpdir();
		char path[512];
		float *y = malloc((size_t)n * D * sizeof *y);
		for (size_t i = 0; i < (size_t)n * D; i++)
			y[i] = dt ? featdb_f16_to_f32(featdb_f32_to_f16(x[i])) : x[i];
		snprintf(path, sizeof path, "%s/s.lmdb", dir);
		write_store(path, n, D, dt ? FEATDB_F16 : FEATDB_F32, keys, y, cls,
			    classes, C);
		for (int m = 0; m < RECOG_NMETRICS; m++) {
			char name[64];
			snprintf(name, sizeof name, "%snn_%s", dt ? "f16_" : "", metric_names[m]);
			int32_t *want = read_all(f, name, H5T_NATIVE_INT32, sizeof(int32_t));
			strcat(name, "_dist");
			double *wd = read_all(f, name, H5T_NATIVE_DOUBLE, sizeof(double));
			nn_result_t res;
			double worst = 0;
			search(path, y, n, D, m, K, 2, 3, &res);
			assert_int_equal(res.records, n);
			for (int a = 0; a < n; a++) {
				assert_int_equal(res.count[a], K);
				for (int r = 0; r < K; r++) {
					const nn_hit_t *h = &res.hits[(size_t)a * K + r];
					double e = fabs(h->dist - wd[a * K + r]);
					worst = fmax(worst, e);
					if ((int)h->index != want[a * K + r] || !(e <= TOL))
						fail_msg("%s: query %d rank %d: record %d at %.12g, "
							 "numpy %d at %.12g", name, a, r + 1,
							 (int)h->index, h->dist, want[a * K + r],
							 wd[a * K + r]);
					assert_string_equal(h->key, keys[want[a * K + r]]);
				}
			}
			print_message("%-24s %d queries: numpy's neighbours, max |ours - "
				      "numpy| = %.2g\n", name, n, worst);
			nn_result_free(&res);
			free(want);
			free(wd);
		}
		free(y);
		tu_rm_rf(dir);
	}
	for (int c = 0; c < C; c++)
		free(classes[c]);
	free(keys);
	free(cls);
	free(raw);
	free(x);
	H5Fclose(f);
}

/* ---- against the plain search ---- */

/* A seeded store of n records of D values: ReLU-like vectors, some of
 * them zero, some duplicated (exact ties), some negative (a metric
 * should not care). */
static float *random_vectors(rng_t *r, int n, int D)
{
	float *x = tu_rand_floats(r, (size_t)n * D, -1, 3);
	for (int i = 0; i < n; i++) {
		float *v = x + (size_t)i * D;
		if (i % 7 == 0)
			for (int j = 0; j < D; j++)
				v[j] = v[j] < 0 ? 0 : v[j];
		if (i % 31 == 5)
			memset(v, 0, (size_t)D * sizeof *v);
		if (i % 13 == 9)
			memcpy(v, v - (size_t)(i % 5 + 1) * D, (size_t)D * sizeof *v);
	}
	return x;
}

static char **numbered_keys(int n)
{
	char **keys = malloc((size_t)n * sizeof *keys);
	for (int i = 0; i < n; i++) {
		keys[i] = malloc(32);
		snprintf(keys[i], 32, "p%02d/%06d.jpg", i % 11, i);
	}
	return keys;
}

/* Records are in key order: sort "pXX/NNNNNN" keys and carry x along. */
static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check_vs_ref(const char *path, const float *q, int nq, const float *y,
			 char **keys, int n, int D, int K, int threads, int block,
			 int few)
{
	int *idx = malloc((size_t)nq * K * sizeof *idx);
	double *dist = malloc((size_t)nq * K * sizeof *dist);
	for (int m = 0; m < RECOG_NMETRICS; m++) {
		nn_result_t res;
		search_ref(m, q, nq, y, n, D, K, idx, dist);
		search(path, q, nq, D, m, K, threads, block, &res);
		assert_int_equal(res.records, n);
		/* Room for the records there are, when fewer than K. */
		assert_int_equal(res.k, K < n ? K : n);
		for (int a = 0; a < nq; a++) {
			assert_int_equal(res.count[a], K < n ? K : n);
			for (int r = 0; r < res.count[a]; r++) {
				const nn_hit_t *h = &res.hits[(size_t)a * res.k + r];
				/* The same distance function on the same floats: the
				 * same double, to the bit. */
				if ((int)h->index != idx[a * K + r] || h->dist != dist[a * K + r])
					fail_msg("%s, block %d, %d threads: query %d rank %d: "
						 "record %d at %.17g, the plain search %d at %.17g",
						 metric_names[m], block, threads, a, r + 1,
						 (int)h->index, h->dist, idx[a * K + r],
						 dist[a * K + r]);
				assert_string_equal(h->key, keys[h->index]);
			}
		}
		/* Most records are passed over on their float32 distance
		 * (few: when they are not all within its rounding of each
		 * other). */
		if (few && res.exact > (uint64_t)nq * n / 2)
			fail_msg("%s: %llu of %d distances measured again", metric_names[m],
				 (unsigned long long)res.exact, nq * n);
		print_message("%-13s block %4d, %d threads: %llu of %d distances measured "
			      "again in double%s\n", metric_names[m], block, threads,
			      (unsigned long long)res.exact, nq * n, !res.refined ? "" :
			      "; AMX's second stage on some blocks");
		nn_result_free(&res);
	}
	free(idx);
	free(dist);
}

static void test_vs_plain_search(void **state)
{
	(void)state;
	const int n = 523, D = 37, nq = 19;
	rng_t r = {2026};
	char *classes[11];
	for (int c = 0; c < 11; c++) {
		classes[c] = malloc(16);
		snprintf(classes[c], 16, "p%02d", c);
	}
	for (int dt = 0; dt < 2; dt++) {
		const char *dir = tu_tmpdir();
		char path[512];
		char **keys = numbered_keys(n);
		qsort(keys, (size_t)n, sizeof *keys, key_cmp);
		float *x = random_vectors(&r, n, D);
		int32_t *cls = malloc((size_t)n * sizeof *cls);
		for (int i = 0; i < n; i++) {
			cls[i] = (int32_t)atoi(keys[i] + 1);
			if (dt)
				for (int j = 0; j < D; j++)
					x[(size_t)i * D + j] = featdb_f16_to_f32(
						featdb_f32_to_f16(x[(size_t)i * D + j]));
		}
		snprintf(path, sizeof path, "%s/s.lmdb", dir);
		write_store(path, n, D, dt ? FEATDB_F16 : FEATDB_F32, keys, x, cls,
			    classes, 11);
		/* Queries: some records themselves (distance 0, and their
		 * duplicates tie), some new vectors, a zero vector. */
		float *q = random_vectors(&r, nq, D);
		for (int a = 0; a < 6; a++)
			memcpy(q + (size_t)a * D, x + (size_t)(a * 77 + 9) * D, (size_t)D * sizeof *q);
		memset(q + (size_t)7 * D, 0, (size_t)D * sizeof *q);
		static const int blocks[] = {1, 16, 100, 0};
		/* On every instruction set the CPU has, and on AVX-512 with
		 * and without AMX: the products differ (the kernels', AMX's
		 * bfloat16 split, or OpenBLAS' without AVX2), the answer not. */
		for (int isa = ISA_PORTABLE; isa < ISA_COUNT; isa++)
			for (int amx = 0; amx < (isa == ISA_AVX512 ? 2 : 1); amx++) {
				if (!isa_cpu_has(isa)) {
					print_message("%s: not on this CPU, skipped\n",
						      isa_name(isa));
					continue;
				}
				setenv("VGGFEAT_ISA", isa_name(isa), 1);
				if (isa == ISA_AVX512 && !amx)
					setenv("VGGFEAT_AMX", "0", 1);
				print_message("%s%s:\n", isa_name(isa), isa != ISA_AVX512 ? "" :
					      amx ? nn_amx_usable(D) ? " with AMX" :
					      " (no AMX on this CPU)" : " without AMX");
				for (int b = 0; b < 4; b++)
					check_vs_ref(path, q, nq, x, keys, n, D, 7,
						     1 + b % 3, blocks[b], 1);
				unsetenv("VGGFEAT_AMX");
			}
		unsetenv("VGGFEAT_ISA");
		/* More neighbours than records: all of them, in order. */
		check_vs_ref(path, q, 3, x, keys, n, D, 600, 2, 64, 0);
		print_message("%s store: %d queries x %d records, 4 block sizes, 1-3 "
			      "threads, 3 metrics: the plain search's answer\n",
			      dt ? "f16" : "f32", nq, n);
		free(q);
		free(x);
		free(cls);
		for (int i = 0; i < n; i++)
			free(keys[i]);
		free(keys);
		tu_rm_rf(dir);
	}
	for (int c = 0; c < 11; c++)
		free(classes[c]);
}

/* Records a float32 product cannot tell apart: one vector with changes of
 * a few parts in 10^7 (float32's own resolution), so that the products'
 * rounding reorders them; the answer is still the double-precision one. */
static void test_near_ties(void **state)
{
	(void)state;
	const int n = 300, D = 2048, nq = 5;
	rng_t r = {99};
	const char *dir = tu_tmpdir();
	char path[512], *classes[11];
	char **keys = numbered_keys(n);
	qsort(keys, (size_t)n, sizeof *keys, key_cmp);
	float *base = tu_rand_floats(&r, (size_t)D, 0, 4);
	float *x = malloc((size_t)n * D * sizeof *x);
	int32_t *cls = malloc((size_t)n * sizeof *cls);
	for (int c = 0; c < 11; c++) {
		classes[c] = malloc(16);
		snprintf(classes[c], 16, "p%02d", c);
	}
	for (int i = 0; i < n; i++) {
		cls[i] = (int32_t)atoi(keys[i] + 1);
		for (int j = 0; j < D; j++)
			x[(size_t)i * D + j] = base[j] * (float)(1 + 3e-7 * (rng_uniform(&r) - 0.5));
	}
	snprintf(path, sizeof path, "%s/s.lmdb", dir);
	write_store(path, n, D, FEATDB_F32, keys, x, cls, classes, 11);
	float *q = malloc((size_t)nq * D * sizeof *q);
	for (int a = 0; a < nq; a++)
		for (int j = 0; j < D; j++)
			q[(size_t)a * D + j] = base[j] * (float)(1 + 3e-7 * (rng_uniform(&r) - 0.5));
	check_vs_ref(path, q, nq, x, keys, n, D, 10, 2, 50, 0);
	free(q);
	free(base);
	free(x);
	free(cls);
	for (int i = 0; i < n; i++)
		free(keys[i]);
	for (int c = 0; c < 11; c++)
		free(classes[c]);
	free(keys);
	tu_rm_rf(dir);
}

/* ---- AMX's product ---- */

/* nn_amx_product against the products in double, on vectors of odd
 * lengths whose values span 2^-40 .. 2^40 (and zeros, and negatives):
 * every score within nn_amx_gamma |q| |x| of the exact dot product (the
 * bound the screen relies on, for norms in [2^-20, 2^60]), after the
 * first stage alone, after both, and in one go; and the full bound not
 * vacuous (about 3 times float32's own for D of 4096). */
static void test_amx_bound(void **state)
{
	(void)state;
	static const int dims[] = {1, 5, 31, 32, 33, 100, 517, 4103};
	rng_t r = {26};

	if (!nn_amx_usable(32)) {
		print_message("no AMX on this CPU (or the kernel does not grant it): skipped\n");
		skip();
	}
	assert_true(nn_amx_gamma(4096, 2) < 8.0e-4 && nn_amx_gamma(4096, 2) > 3 * 4096 * 0x1p-24);
	assert_true(nn_amx_gamma(4096, 1) < 0x1p-7 + 4e-4);
	for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
		const int D = dims[di], nq = 37, n = 45, nqs = 64, lds = nqs + 16;
		float *q = malloc((size_t)nq * D * sizeof *q), *x = malloc((size_t)n * D * sizeof *x);
		float *s = malloc((size_t)64 * lds * sizeof *s);
		uint16_t *qp = malloc(nn_amx_queries_size(nq, D) * sizeof *qp);
		uint16_t *a = calloc(nn_amx_records_size(n, D), sizeof *a);
		double worst[3] = {0};
		assert_true(q && x && s && qp && a);
		for (int i = 0; i < nq * D; i++)
			q[i] = (float)((rng_uniform(&r) - 0.3) * ldexp(1, (int)(rng_uniform(&r) * 24) - 12));
		for (int i = 0; i < n * D; i++)
			x[i] = i % 11 == 3 ? 0 : (float)((rng_uniform(&r) - 0.3) *
				ldexp(1, (int)(rng_uniform(&r) * 80) - 40));
		nn_amx_pack_queries(q, nq, D, qp);
		for (int j = 0; j < n; j++)
			nn_amx_pack_record(x + (size_t)j * D, D, j, a);
		/* Stage 1, then 2 on top of it, then the whole (0). */
		for (int st = 1; st < 4; st++) {
			int stage = st % 3;
			double gamma = nn_amx_gamma(D, stage == 1 ? 1 : 2);
			nn_amx_product(n, a, D, qp, nqs, s, (size_t)lds, stage);
			for (int j = 0; j < n; j++)
				for (int i = 0; i < nq; i++) {
					const float *qi = q + (size_t)i * D, *xj = x + (size_t)j * D;
					double dot = 0, qn = recog_norm(qi, D), xn = recog_norm(xj, D);
					/* The search measures the others in double. */
					if (!(qn >= 0x1p-20 && qn <= 0x1p60 && xn >= 0x1p-20 && xn <= 0x1p60))
						continue;
					for (int c = 0; c < D; c++)
						dot += (double)qi[c] * xj[c];
					double e = fabs(s[(size_t)j * lds + i] - dot) / (qn * xn);
					if (!(e <= gamma))
						fail_msg("D %d, stage %d, record %d, query %d: AMX %.9g, "
							 "exact %.17g: %.3g |q||x|, above the bound %.3g",
							 D, stage, j, i, s[(size_t)j * lds + i], dot, e, gamma);
					worst[stage] = fmax(worst[stage], e);
				}
		}
		print_message("D %4d: worst error %.2g |q| |x| after stage 1 (bound %.2g), "
			      "%.2g after 2, %.2g in one go (bound %.2g)\n", D, worst[1],
			      nn_amx_gamma(D, 1), worst[2], worst[0], nn_amx_gamma(D, 2));
		free(q);
		free(x);
		free(s);
		free(qp);
		free(a);
	}
}

/* Vectors in well-separated classes (fc2-like: a non-negative mean per
 * class, plus noise): AMX's first stage alone answers most blocks (its
 * looser bound lets few more records through), and the answer is still
 * the plain search's. */
static void test_amx_first_stage(void **state)
{
	(void)state;
	const int n = 3000, D = 96, nq = 40, C = 11, block = 300;
	/* Before anything is allocated: skip() leaves the test here, and what
	 * it had allocated would leak (LeakSanitizer said so on an AMD Zen 4,
	 * the first CPU without AMX to run make test-asan). */
	if (!nn_amx_usable(D)) {
		print_message("no AMX on this CPU (or the kernel does not grant it): skipped\n");
		skip();
	}
	rng_t r = {2612};
	const char *dir = tu_tmpdir();
	char path[512], *classes[11];
	char **keys = numbered_keys(n);
	qsort(keys, (size_t)n, sizeof *keys, key_cmp);
	float *mean = tu_rand_floats(&r, (size_t)(n / 5) * D, 0, 4);
	float *x = malloc((size_t)n * D * sizeof *x), *q = malloc((size_t)nq * D * sizeof *q);
	int32_t *cls = malloc((size_t)n * sizeof *cls);
	for (int c = 0; c < C; c++) {
		classes[c] = malloc(16);
		snprintf(classes[c], 16, "p%02d", c);
	}
	/* n / 5 clusters, about as many records in each as the neighbours
	 * asked for (bench_store's store: 10 a class, top 10). */
	for (int i = 0; i < n + nq; i++) {
		float *v = i < n ? x + (size_t)i * D : q + (size_t)(i - n) * D;
		int k = (int)(rng_uniform(&r) * (n / 5));
		for (int j = 0; j < D; j++) {
			float e = mean[(size_t)k * D + j] + (float)(0.3 * (rng_uniform(&r) - 0.5));
			v[j] = e > 0 ? e : 0;
		}
		if (i < n)
			cls[i] = (int32_t)atoi(keys[i] + 1);
	}
	snprintf(path, sizeof path, "%s/s.lmdb", dir);
	write_store(path, n, D, FEATDB_F32, keys, x, cls, classes, 11);
	check_vs_ref(path, q, nq, x, keys, n, D, 5, 2, block, 1);
	for (int m = 0; m < RECOG_NMETRICS; m++) {
		nn_result_t res;
		search(path, q, nq, D, m, 5, 2, block, &res);
		print_message("%-13s %llu of %d blocks needed AMX's second stage\n",
			      metric_names[m], (unsigned long long)res.refined, n / block);
		assert_true(res.refined < (uint64_t)(n / block));
		nn_result_free(&res);
	}
	free(mean);
	free(q);
	free(x);
	free(cls);
	for (int i = 0; i < n; i++)
		free(keys[i]);
	for (int c = 0; c < C; c++)
		free(classes[c]);
	free(keys);
	tu_rm_rf(dir);
}

/* A damaged record is passed over and counted; the others still answer. */
static void test_damaged_record(void **state)
{
	(void)state;
	const int n = 40, D = 9;
	rng_t r = {7};
	const char *dir = tu_tmpdir();
	char path[512], *classes[11];
	char **keys = numbered_keys(n);
	qsort(keys, (size_t)n, sizeof *keys, key_cmp);
	float *x = random_vectors(&r, n, D);
	int32_t *cls = malloc((size_t)n * sizeof *cls);
	for (int c = 0; c < 11; c++) {
		classes[c] = malloc(16);
		snprintf(classes[c], 16, "p%02d", c);
	}
	for (int i = 0; i < n; i++)
		cls[i] = (int32_t)atoi(keys[i] + 1);
	snprintf(path, sizeof path, "%s/s.lmdb", dir);
	write_store(path, n, D, FEATDB_F32, keys, x, cls, classes, 11);

	/* Record 3's vector, one byte changed: its CRC no longer holds. */
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {strlen(keys[3]), keys[3]}, v;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "features", 0, &dbi), 0);
	assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
	uint8_t *bad = malloc(v.mv_size);
	memcpy(bad, v.mv_data, v.mv_size);
	bad[30] ^= 0x40;
	v.mv_data = bad;
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	free(bad);

	nn_result_t res;
	search(path, x + 3 * D, 1, D, RECOG_EUCLIDEAN, 3, 2, 8, &res);
	assert_int_equal(res.bad, 1);
	assert_int_equal(res.records, n);
	for (int h = 0; h < res.count[0]; h++)
		assert_true(res.hits[h].index != 3);
	nn_result_free(&res);
	for (int i = 0; i < n; i++)
		free(keys[i]);
	for (int c = 0; c < 11; c++)
		free(classes[c]);
	free(keys);
	free(x);
	free(cls);
	tu_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_neighbours),
		cmocka_unit_test(test_vs_plain_search),
		cmocka_unit_test(test_near_ties),
		cmocka_unit_test(test_amx_bound),
		cmocka_unit_test(test_amx_first_stage),
		cmocka_unit_test(test_damaged_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
