/* bench_store - synthetic fc2-like features for the head benchmark, written
 * both as a feature store (for train-head) and as two .npy files (for the
 * PyTorch side), so that both train on the very same numbers.
 *
 *   bench_store STORE X.npy Y.npy N D K SEED
 *
 * Each class has a sparse non-negative mean; a sample is its class mean
 * plus Gaussian noise, clipped at 0 as fc2's ReLU output is.  All records
 * are tagged train.  Built and run by tests/bench/bench_head.sh. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "net/model.h"
#include "store/featdb.h"
#include "img/img.h"

#define BATCH 512

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy files are written as little-endian, in native order"
#endif

static uint64_t next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double uniform(uint64_t *s)
{
	return (double)(next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* Writes an .npy (format 1.0) header for a C-order array. */
static int npy_header(FILE *f, const char *descr, long rows, long cols)
{
	char dict[128];
	int n = cols ? snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': "
				"False, 'shape': (%ld, %ld), }", descr, rows, cols)
		     : snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': "
				"False, 'shape': (%ld,), }", descr, rows);
	/* magic (6) + version (2) + length (2) + dict + padding + '\n' is a
	 * multiple of 64. */
	int total = (10 + n + 1 + 63) / 64 * 64, pad = total - 10 - n - 1;
	unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
				 (unsigned char)((total - 10) & 0xff),
				 (unsigned char)((total - 10) >> 8)};
	if (fwrite(pre, 1, 10, f) != 10 || fwrite(dict, 1, (size_t)n, f) != (size_t)n)
		return -1;
	for (int i = 0; i < pad; i++)
		fputc(' ', f);
	return fputc('\n', f) == EOF ? -1 : 0;
}

int main(int argc, char **argv)
{
	char err[ERR_LEN];
	featdb_t *db = NULL;
	featdb_meta_t meta = {0};
	FILE *fx = NULL, *fy = NULL;
	float *mean = NULL, *x = NULL;
	uint8_t *recs = NULL;
	char (*keys)[32] = NULL;
	const char **kp = NULL;
	const uint8_t **vp = NULL;
	size_t *lens = NULL, rs;
	int status = 1;

	if (argc != 8) {
		fprintf(stderr, "usage: bench_store STORE X.npy Y.npy N D K SEED\n");
		return 2;
	}
	long N = atol(argv[4]), D = atol(argv[5]), K = atol(argv[6]);
	uint64_t s = strtoull(argv[7], NULL, 10);
	if (N < 1 || D < 1 || K < 2 || D > 1 << 20 || K > 1 << 20 || N > 1L << 30) {
		fprintf(stderr, "bench_store: bad sizes\n");
		return 2;
	}
	rs = featdb_rec_size(FEATDB_F32, (int)D);
	meta.dim = (int)D;
	meta.dtype = FEATDB_F32;
	meta.nclasses = (int)K;
	snprintf(meta.fingerprint, sizeof meta.fingerprint, "bench");
	snprintf(meta.preprocess, sizeof meta.preprocess, "%s",
		 model_info(MODEL_VGG16)->preprocess);
	snprintf(meta.version, sizeof meta.version, "bench_store");
	meta.classes = calloc((size_t)K, sizeof *meta.classes);
	mean = malloc((size_t)K * D * sizeof *mean);
	x = malloc((size_t)BATCH * D * sizeof *x);
	recs = malloc(BATCH * rs);
	keys = malloc(BATCH * sizeof *keys);
	kp = malloc(BATCH * sizeof *kp);
	vp = malloc(BATCH * sizeof *vp);
	lens = malloc(BATCH * sizeof *lens);
	if (!meta.classes || !mean || !x || !recs || !keys || !kp || !vp || !lens) {
		fprintf(stderr, "bench_store: out of memory\n");
		goto out;
	}
	for (long k = 0; k < K; k++) {
		char name[32];
		snprintf(name, sizeof name, "person%05ld", k);
		if (!(meta.classes[k] = strdup(name)))
			goto out;
	}
	for (long i = 0; i < K * D; i++)
		mean[i] = uniform(&s) < 0.3 ? (float)(2.0 * uniform(&s)) : 0.0f;
	if (featdb_open(argv[1], FEATDB_CREATE, &db, err) ||
	    !(fx = fopen(argv[2], "wb")) || !(fy = fopen(argv[3], "wb")) ||
	    npy_header(fx, "<f4", N, D) || npy_header(fy, "<i4", N, 0)) {
		fprintf(stderr, "bench_store: %s\n", db ? "cannot write the .npy files" : err);
		goto out;
	}
	for (long i0 = 0; i0 < N; i0 += BATCH) {
		int n = N - i0 < BATCH ? (int)(N - i0) : BATCH;
		for (int b = 0; b < n; b++) {
			int32_t c = (int32_t)((i0 + b) % K);
			float *v = x + (size_t)b * D;
			for (long j = 0; j < D; j++) {
				/* Box-Muller, one normal per pair of uniforms. */
				double g = sqrt(-2.0 * log(1.0 - uniform(&s))) *
					   cos(6.283185307179586 * uniform(&s));
				double val = mean[(size_t)c * D + j] + 0.7 * g;
				v[j] = val > 0 ? (float)val : 0.0f;
			}
			snprintf(keys[b], sizeof keys[b], "person%05d/%08ld.jpg", (int)c, i0 + b);
			kp[b] = keys[b];
			vp[b] = recs + (size_t)b * rs;
			lens[b] = rs;
			if (featdb_rec_encode(v, (int)D, FEATDB_F32, c, FEATDB_TRAIN,
					      recs + (size_t)b * rs, err) ||
			    fwrite(&c, sizeof c, 1, fy) != 1) {
				fprintf(stderr, "bench_store: %s\n", err);
				goto out;
			}
		}
		if (fwrite(x, sizeof *x, (size_t)n * D, fx) != (size_t)n * D) {
			fprintf(stderr, "bench_store: cannot write %s\n", argv[2]);
			goto out;
		}
		if (featdb_write(db, &meta, n, kp, vp, lens, err)) {
			fprintf(stderr, "bench_store: %s\n", err);
			goto out;
		}
	}
	status = 0;
out:
	if (fx && fclose(fx) != 0)
		status = 1;
	if (fy && fclose(fy) != 0)
		status = 1;
	featdb_close(db);
	featdb_meta_free(&meta);
	free(mean), free(x), free(recs), free(keys), free(kp), free(vp), free(lens);
	return status;
}
