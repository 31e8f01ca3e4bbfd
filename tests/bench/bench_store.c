/* bench_store - synthetic fc2-like features for the benchmarks, written
 * both as a feature store (for train-head, nearest) and as .npy files (for
 * PyTorch, faiss), so that both sides work on the very same numbers.
 *
 *   bench_store STORE X.npy Y.npy N D K SEED [QSTORE QX.npy NQ]
 *
 * Each class has a sparse non-negative mean; a sample is its class mean
 * plus Gaussian noise, clipped at 0 as fc2's ReLU output is.  All records
 * are tagged train; record i is of class i % K, its key
 * "personCCCCC/IIIIIIII.jpg" (I its row in X.npy).  With QSTORE, NQ more
 * samples of the same classes follow, as queries: a store of their own
 * (keys "personCCCCC/qIIIIIII.jpg", I the row in QX.npy) and QX.npy.
 * Run by tests/bench/bench_head.py and tests/bench/bench_nearest.py. */
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

/* What a run writes one set of samples with. */
typedef struct gen {
	featdb_meta_t meta;
	long D, K;
	uint64_t s;      /* the stream, continued from set to set */
	float *mean;     /* (K, D) */
	float *x;        /* (BATCH, D) */
	uint8_t *recs;
	char (*keys)[32];
	const char **kp;
	const uint8_t **vp;
	size_t *lens, rs;
} gen_t;

/* Writes n samples, numbered first.., into the store at path and the .npy
 * files xpath and ypath (NULL: none); key_fmt names a sample by its class
 * and number. */
static int write_set(gen_t *g, const char *path, const char *xpath,
		     const char *ypath, long first, long n, const char *key_fmt)
{
	char err[ERR_LEN];
	featdb_t *db = NULL;
	FILE *fx = NULL, *fy = NULL;
	const long D = g->D;
	int status = 1;

	if (featdb_open(path, FEATDB_CREATE, &db, err) ||
	    !(fx = fopen(xpath, "wb")) || (ypath && !(fy = fopen(ypath, "wb"))) ||
	    npy_header(fx, "<f4", n, D) || (fy && npy_header(fy, "<i4", n, 0))) {
		fprintf(stderr, "bench_store: %s\n", db ? "cannot write the .npy files" : err);
		goto out;
	}
	for (long i0 = 0; i0 < n; i0 += BATCH) {
		int m = n - i0 < BATCH ? (int)(n - i0) : BATCH;
		for (int b = 0; b < m; b++) {
			int32_t c = (int32_t)((first + i0 + b) % g->K);
			float *v = g->x + (size_t)b * D;
			for (long j = 0; j < D; j++) {
				/* Box-Muller, one normal per pair of uniforms. */
				double u = sqrt(-2.0 * log(1.0 - uniform(&g->s))) *
					   cos(6.283185307179586 * uniform(&g->s));
				double val = g->mean[(size_t)c * D + j] + 0.7 * u;
				v[j] = val > 0 ? (float)val : 0.0f;
			}
			snprintf(g->keys[b], sizeof g->keys[b], key_fmt, (int)c, i0 + b);
			g->kp[b] = g->keys[b];
			g->vp[b] = g->recs + (size_t)b * g->rs;
			g->lens[b] = g->rs;
			if (featdb_rec_encode(v, (int)D, FEATDB_F32, c, FEATDB_TRAIN,
					      g->recs + (size_t)b * g->rs, err) ||
			    (fy && fwrite(&c, sizeof c, 1, fy) != 1)) {
				fprintf(stderr, "bench_store: %s\n", err);
				goto out;
			}
		}
		if (fwrite(g->x, sizeof *g->x, (size_t)m * D, fx) != (size_t)m * D) {
			fprintf(stderr, "bench_store: cannot write %s\n", xpath);
			goto out;
		}
		if (featdb_write(db, &g->meta, m, g->kp, g->vp, g->lens, err)) {
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
	return status;
}

int main(int argc, char **argv)
{
	gen_t g;
	int status = 1;

	memset(&g, 0, sizeof g);
	if (argc != 8 && argc != 11) {
		fprintf(stderr, "usage: bench_store STORE X.npy Y.npy N D K SEED "
			"[QSTORE QX.npy NQ]\n");
		return 2;
	}
	long N = atol(argv[4]), NQ = argc == 11 ? atol(argv[10]) : 0;
	g.D = atol(argv[5]);
	g.K = atol(argv[6]);
	g.s = strtoull(argv[7], NULL, 10);
	if (N < 1 || g.D < 1 || g.K < 2 || g.D > 1 << 20 || g.K > 1 << 20 ||
	    N > 1L << 30 || NQ < 0 || NQ > 1L << 30 || (argc == 11 && NQ < 1)) {
		fprintf(stderr, "bench_store: bad sizes\n");
		return 2;
	}
	const long D = g.D, K = g.K;
	g.rs = featdb_rec_size(FEATDB_F32, (int)D);
	g.meta.dim = (int)D;
	g.meta.dtype = FEATDB_F32;
	g.meta.nclasses = (int)K;
	snprintf(g.meta.fingerprint, sizeof g.meta.fingerprint, "bench");
	snprintf(g.meta.preprocess, sizeof g.meta.preprocess, "%s",
		 model_info(MODEL_VGG16)->preprocess);
	snprintf(g.meta.version, sizeof g.meta.version, "bench_store");
	g.meta.classes = calloc((size_t)K, sizeof *g.meta.classes);
	g.mean = malloc((size_t)K * D * sizeof *g.mean);
	g.x = malloc((size_t)BATCH * D * sizeof *g.x);
	g.recs = malloc(BATCH * g.rs);
	g.keys = malloc(BATCH * sizeof *g.keys);
	g.kp = malloc(BATCH * sizeof *g.kp);
	g.vp = malloc(BATCH * sizeof *g.vp);
	g.lens = malloc(BATCH * sizeof *g.lens);
	if (!g.meta.classes || !g.mean || !g.x || !g.recs || !g.keys || !g.kp || !g.vp ||
	    !g.lens) {
		fprintf(stderr, "bench_store: out of memory\n");
		goto out;
	}
	for (long k = 0; k < K; k++) {
		char name[32];
		snprintf(name, sizeof name, "person%05ld", k);
		if (!(g.meta.classes[k] = strdup(name)))
			goto out;
	}
	for (long i = 0; i < K * D; i++)
		g.mean[i] = uniform(&g.s) < 0.3 ? (float)(2.0 * uniform(&g.s)) : 0.0f;
	status = write_set(&g, argv[1], argv[2], argv[3], 0, N, "person%05d/%08ld.jpg");
	if (status == 0 && NQ)
		status = write_set(&g, argv[8], argv[9], NULL, N, NQ, "person%05d/q%07ld.jpg");
out:
	featdb_meta_free(&g.meta);
	free(g.mean), free(g.x), free(g.recs), free(g.keys), free(g.kp), free(g.vp),
		free(g.lens);
	return status;
}
