/* bench_ceiling - the machine's own ceilings, that the speed figures are
 * judged against (dev-only; `make bench-report` prints them):
 *
 *   fma W T    GFLOP/s of fused multiply-adds alone, W-bit vectors (512,
 *              256, 128: those the CPU has) on T threads.  Each thread
 *              keeps 12 independent sums in registers, more than the FMA
 *              units' latency times their number, so that nothing but the
 *              units bounds it: a convolution's or the head's products can
 *              run no faster.
 *   adam T     ms for one pass of Adam's update, tf.keras' operations
 *              (kern_adam.h's: the two moments, a square root, a
 *              division), over D x K parameters on T threads, each thread
 *              a contiguous share; w, m and v read and written (24 bytes
 *              a parameter, GB/s given), the gradient from L1, as
 *              train-head's fused step has it in registers.  Its
 *              memory's and its divider's bound together.
 *   divide T   the same operations on data in L1: the divider's bound
 *              alone.
 *
 * Every figure is the fastest of 7 runs, the threads started for each: a
 * ceiling is what the machine can do, and other jobs and the clock only
 * ever take from it.
 * D x K defaults to the head of the benchmarks (4096 x 290).
 *
 *   make build/bench/bench_ceiling && build/bench/bench_ceiling [--threads T]
 *       [--d D] [--k K]
 *
 * Lines: `fma 512 2 331.5 GFLOP/s`, `adam 2 0.446 ms 67.0 GB/s`,
 * `divide 2 0.311 ms`.  On x86-64 CPUs with AVX2 and FMA only; elsewhere it
 * says so and exits 1, and bench-report goes on without ceilings. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define ACC 12    /* independent sums per thread */
#define REPS 7
#define L1_FLOATS 1024

enum { FMA512, FMA256, FMA128, ADAM, DIVIDE };

typedef struct job {
	int kind, id, nt;
	long iters;
	float *w, *m, *v; /* (n) the parameters, shared by the threads */
	size_t n;
	float out;        /* keeps the sums alive */
} job_t;

__attribute__((target("avx512f"))) static float fma512(long iters)
{
	__m512 a[ACC], x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-6f);
	for (int i = 0; i < ACC; i++)
		a[i] = _mm512_set1_ps((float)i);
	for (long k = 0; k < iters; k++)
#pragma GCC unroll 12
		for (int i = 0; i < ACC; i++)
			a[i] = _mm512_fmadd_ps(a[i], x, y);
	for (int i = 1; i < ACC; i++)
		a[0] = _mm512_add_ps(a[0], a[i]);
	return _mm512_reduce_add_ps(a[0]);
}

__attribute__((target("avx2,fma"))) static float fma256(long iters)
{
	__m256 a[ACC], x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-6f);
	float o[8];
	for (int i = 0; i < ACC; i++)
		a[i] = _mm256_set1_ps((float)i);
	for (long k = 0; k < iters; k++)
#pragma GCC unroll 12
		for (int i = 0; i < ACC; i++)
			a[i] = _mm256_fmadd_ps(a[i], x, y);
	for (int i = 1; i < ACC; i++)
		a[0] = _mm256_add_ps(a[0], a[i]);
	_mm256_storeu_ps(o, a[0]);
	return o[0];
}

__attribute__((target("avx2,fma"))) static float fma128(long iters)
{
	__m128 a[ACC], x = _mm_set1_ps(0.999999f), y = _mm_set1_ps(1e-6f);
	float o[4];
	for (int i = 0; i < ACC; i++)
		a[i] = _mm_set1_ps((float)i);
	for (long k = 0; k < iters; k++)
#pragma GCC unroll 12
		for (int i = 0; i < ACC; i++)
			a[i] = _mm_fmadd_ps(a[i], x, y);
	for (int i = 1; i < ACC; i++)
		a[0] = _mm_add_ps(a[0], a[i]);
	_mm_storeu_ps(o, a[0]);
	return o[0];
}

/* Adam's update of w, m, v [i0, i1) (kern_adam.h's operations, without the
 * regulariser), the gradient g (L1_FLOATS) cycled from L1.  With window
 * set, the vectors of w, m, v cycle through the first window floats from
 * i0 (in L1), for as many updates: the divider alone. */
__attribute__((target("avx512f"))) static void adam512(float *w, float *m, float *v,
							  const float *g, size_t i0, size_t i1,
							  size_t window)
{
	const __m512 c1 = _mm512_set1_ps(0.1f), c2 = _mm512_set1_ps(0.001f);
	const __m512 al = _mm512_set1_ps(1e-4f), ep = _mm512_set1_ps(1e-7f);
	for (size_t i = i0, k = 0; i + 16 <= i1; i += 16, k = (k + 16) % L1_FLOATS) {
		size_t o = i0 + (window ? (i - i0) % window : i - i0);
		__m512 G = _mm512_loadu_ps(g + k), M = _mm512_loadu_ps(m + o);
		__m512 V = _mm512_loadu_ps(v + o), W = _mm512_loadu_ps(w + o);
		M = _mm512_add_ps(M, _mm512_mul_ps(_mm512_sub_ps(G, M), c1));
		V = _mm512_add_ps(V, _mm512_mul_ps(_mm512_sub_ps(_mm512_mul_ps(G, G), V), c2));
		W = _mm512_sub_ps(W, _mm512_div_ps(_mm512_mul_ps(al, M),
						   _mm512_add_ps(_mm512_sqrt_ps(V), ep)));
		_mm512_storeu_ps(m + o, M);
		_mm512_storeu_ps(v + o, V);
		_mm512_storeu_ps(w + o, W);
	}
}

__attribute__((target("avx2,fma"))) static void adam256(float *w, float *m, float *v,
							   const float *g, size_t i0, size_t i1,
							   size_t window)
{
	const __m256 c1 = _mm256_set1_ps(0.1f), c2 = _mm256_set1_ps(0.001f);
	const __m256 al = _mm256_set1_ps(1e-4f), ep = _mm256_set1_ps(1e-7f);
	for (size_t i = i0, k = 0; i + 8 <= i1; i += 8, k = (k + 8) % L1_FLOATS) {
		size_t o = i0 + (window ? (i - i0) % window : i - i0);
		__m256 G = _mm256_loadu_ps(g + k), M = _mm256_loadu_ps(m + o);
		__m256 V = _mm256_loadu_ps(v + o), W = _mm256_loadu_ps(w + o);
		M = _mm256_add_ps(M, _mm256_mul_ps(_mm256_sub_ps(G, M), c1));
		V = _mm256_add_ps(V, _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(G, G), V), c2));
		W = _mm256_sub_ps(W, _mm256_div_ps(_mm256_mul_ps(al, M),
						   _mm256_add_ps(_mm256_sqrt_ps(V), ep)));
		_mm256_storeu_ps(m + o, M);
		_mm256_storeu_ps(v + o, V);
		_mm256_storeu_ps(w + o, W);
	}
}

static float g_l1[L1_FLOATS];

static void adam_share(job_t *j, size_t window)
{
	size_t per = (j->n / j->nt) & ~(size_t)15;
	size_t i0 = per * (size_t)j->id, i1 = j->id == j->nt - 1 ? j->n & ~(size_t)15 : i0 + per;

	for (long r = 0; r < j->iters; r++) {
		if (__builtin_cpu_supports("avx512f"))
			adam512(j->w, j->m, j->v, g_l1, i0, i1, window);
		else
			adam256(j->w, j->m, j->v, g_l1, i0, i1, window);
	}
}

static void *run(void *arg)
{
	job_t *j = arg;

	switch (j->kind) {
	case FMA512: j->out = fma512(j->iters); break;
	case FMA256: j->out = fma256(j->iters); break;
	case FMA128: j->out = fma128(j->iters); break;
	case ADAM: adam_share(j, 0); break;
	case DIVIDE: adam_share(j, L1_FLOATS); break;
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The fewest wall seconds, of REPS runs, that nt threads take, each
 * running proto's job. */
static double timed(job_t proto, int nt)
{
	double t[REPS];
	pthread_t tid[64];
	job_t j[64];

	for (int r = 0; r < REPS; r++) {
		double t0 = cli_now();
		for (int i = 0; i < nt; i++) {
			j[i] = proto;
			j[i].id = i;
			j[i].nt = nt;
			if (i && pthread_create(&tid[i], NULL, run, &j[i]) != 0) {
				fprintf(stderr, "bench_ceiling: cannot start a thread\n");
				exit(1);
			}
		}
		run(&j[0]);
		for (int i = 1; i < nt; i++)
			pthread_join(tid[i], NULL);
		t[r] = cli_now() - t0;
	}
	qsort(t, REPS, sizeof *t, cmp_double);
	return t[0];
}

static void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: bench_ceiling [--threads T] [--d D] [--k K]\n");
	exit(status);
}

int main(int argc, char **argv)
{
	int nt = 2;
	size_t d = 4096, k = 290;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help"))
			usage(0);
		if (i + 1 >= argc)
			usage(2);
		if (!strcmp(argv[i], "--threads"))
			nt = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--d"))
			d = (size_t)atol(argv[++i]);
		else if (!strcmp(argv[i], "--k"))
			k = (size_t)atol(argv[++i]);
		else
			usage(2);
	}
	if (nt < 1 || nt > 64 || d < 1 || k < 1)
		usage(2);
	if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
		fprintf(stderr, "bench_ceiling: this CPU has no AVX2 and FMA; no ceilings\n");
		return 1;
	}

	const long fma_iters = 20000000;
	struct { int kind, bits, have; } fmas[] = {
		{FMA512, 512, __builtin_cpu_supports("avx512f")}, {FMA256, 256, 1},
		{FMA128, 128, 1}};
	for (size_t f = 0; f < sizeof fmas / sizeof *fmas; f++) {
		if (!fmas[f].have)
			continue;
		for (int t = 1; t <= nt; t = t < nt && t * 2 > nt ? nt : t * 2) {
			double s = timed((job_t){.kind = fmas[f].kind, .iters = fma_iters}, t);
			printf("fma %d %d %.1f GFLOP/s\n", fmas[f].bits, t,
			       (double)fma_iters * ACC * (fmas[f].bits / 32) * 2 * t / s / 1e9);
			if (t == nt)
				break;
		}
	}

	size_t n = d * k;
	float *w = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);
	float *m = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);
	float *v = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);
	if (!w || !m || !v) {
		fprintf(stderr, "bench_ceiling: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		w[i] = 0.01f;
		m[i] = 0;
		v[i] = 1e-6f;
	}
	for (int i = 0; i < L1_FLOATS; i++)
		g_l1[i] = 1e-3f * (float)(1 + i % 7);
	const long passes = 50;
	job_t a = {.kind = ADAM, .iters = passes, .w = w, .m = m, .v = v, .n = n};
	double s = timed(a, nt) / passes;
	printf("adam %d %.3f ms %.1f GB/s (%zu parameters)\n", nt, s * 1e3,
	       (double)n * 24 / s / 1e9, n);
	a.kind = DIVIDE;
	s = timed(a, nt) / passes;
	printf("divide %d %.3f ms (%zu parameters)\n", nt, s * 1e3, n);
	free(w);
	free(m);
	free(v);
	return 0;
}

#else
/* The ceilings are measured by x86's own instructions; elsewhere (an ARM
 * server's portable path) the report goes on without them. */
int main(void)
{
	fprintf(stderr, "bench_ceiling: its ceilings are measured on x86-64 only\n");
	return 1;
}
#endif
