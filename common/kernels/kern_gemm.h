/* kern_gemm.h - the fixed-order product of one kern.h table (gemm, for fc1
 * and fc2), written once over simd.h's vf_t (the template's vocabulary:
 * kern_impl.h).  KERN_KERN_GEMM_R and KERN_KERN_GEMM_V are the rows of a and the
 * vectors of columns per register tile.
 *
 * Letters as in kern.h.  The kernel goes down the rows of b in blocks of
 * GEMM_CB rows by at most GEMM_KW columns, each copied first into a packed
 * buffer: there the block's rows lie one after the other, so it stays in
 * the caches while every group of KERN_GEMM_R rows of a goes past it (in fc1's
 * kernel, rows 16 KB apart would all fall into the same cache sets).  c
 * holds the partial sums between blocks (a store and a load are exact), so
 * each c[n][k] gets its products in order, one vf_fma each, whatever
 * KERN_GEMM_R, KERN_GEMM_V, the blocks or the column range: the scalar tail does the
 * same with sf_fma. */
#include <stddef.h>
#include <string.h>

/* Block sizes, measured on fc1 at batch 8 (2 threads, AVX2, Zen 3): its
 * kernel is read fastest in long runs of each row (1 KB runs: 8 GB/s; 8 KB
 * runs, half a row: 17 GB/s, with no arithmetic at all), so each thread
 * takes one wide slice of columns (fc.c) and packs up to GEMM_KW of them;
 * GEMM_CB = 16 rows amortise the loads and stores of the partial sums (8
 * and 32 were slower).  The rows are asked for GEMM_AHEAD blocks ahead:
 * the prefetcher does not guess the jump of a whole row. */
#define GEMM_CB 16
#define GEMM_KW 2048
#define GEMM_AHEAD 2

/* R rows by V vectors of c at (n0, k): the products of the cb rows of the
 * packed block.  x is a + n0 * lda + c0, wp the block at column k (rows
 * ldw apart), o is c + n0 * ldc + k, b is bias + k or NULL. */
static inline __attribute__((always_inline)) void
gemm_tile(const int R, const int V, const float *x, size_t lda, const float *wp,
	  int ldw, float *o, size_t ldc, const float *b, int cb, int first,
	  int last, int relu)
{
	vf_t acc[KERN_GEMM_R][KERN_GEMM_V];

#pragma GCC unroll 8
	for (int r = 0; r < R; r++)
#pragma GCC unroll 8
		for (int v = 0; v < V; v++)
			acc[r][v] = first ? vf_zero() : vf_load(o + r * ldc + v * SIMD_LANES);
	for (int c = 0; c < cb; c++) {
		const float *wr = wp + (size_t)c * ldw;
		vf_t wv[KERN_GEMM_V];
#pragma GCC unroll 8
		for (int v = 0; v < V; v++)
			wv[v] = vf_load(wr + v * SIMD_LANES);
#pragma GCC unroll 8
		for (int r = 0; r < R; r++) {
			vf_t xr = vf_bcast(x + r * lda + c);
#pragma GCC unroll 8
			for (int v = 0; v < V; v++)
				acc[r][v] = vf_fma(xr, wv[v], acc[r][v]);
		}
	}
#pragma GCC unroll 8
	for (int r = 0; r < R; r++)
#pragma GCC unroll 8
		for (int v = 0; v < V; v++) {
			vf_t a = acc[r][v];
			if (last && b)
				a = vf_add(a, vf_load(b + v * SIMD_LANES));
			if (last && relu)
				a = vf_relu(a);
			vf_store(o + r * ldc + v * SIMD_LANES, a);
		}
}

/* Rows n0..n0+R-1 (R <= KERN_GEMM_R, known at the call) of one block, its kw
 * columns from kc: whole tiles, then single vectors, then lane by lane. */
static inline __attribute__((always_inline)) void
gemm_rows(const int R, int C, const float *a, size_t lda, const float *pk,
	  int kw, const float *bias, int relu, int kc, int n0, int c0, int cb,
	  float *c, size_t ldc)
{
	const int span = KERN_GEMM_V * SIMD_LANES, first = c0 == 0, last = c0 + cb == C;
	const float *x = a + n0 * lda + c0, *b = bias ? bias + kc : NULL;
	float *o = c + n0 * ldc + kc;
	int k = 0;

	for (; k + span <= kw; k += span)
		gemm_tile(R, KERN_GEMM_V, x, lda, pk + k, kw, o + k, ldc, b ? b + k : NULL, cb,
			  first, last, relu);
	for (; k + SIMD_LANES <= kw; k += SIMD_LANES)
		gemm_tile(R, 1, x, lda, pk + k, kw, o + k, ldc, b ? b + k : NULL, cb,
			  first, last, relu);
	for (; k < kw; k++)
		for (int r = 0; r < R; r++) {
			float *or = o + r * ldc + k;
			float s = first ? 0.0f : *or;
			for (int i = 0; i < cb; i++)
				s = sf_fma(x[r * lda + i], pk[(size_t)i * kw + k], s);
			if (last && b)
				s = s + b[k];
			if (last && relu)
				s = s > 0.0f ? s : 0.0f;
			*or = s;
		}
}

#define KERN_GEMM_ROWS_CASE(R)                                                    \
	case R:                                                              \
		gemm_rows(R, C, a, lda, pk, kw, bias, relu, kc, n0, c0, cb, c, \
			  ldc);                                              \
		break;

static void KERN_FN(gemm)(int N, int C, int k0, int k1, const float *a,
			  size_t lda, const float *b, size_t ldb,
			  const float *bias, int relu, float *c, size_t ldc)
{
	/* 128 KB: the threads' stacks are the C library's default (8 MB). */
	float pk[GEMM_CB * GEMM_KW] __attribute__((aligned(64)));

	for (int kc = k0; kc < k1; kc += GEMM_KW) {
		const int kw = k1 - kc < GEMM_KW ? k1 - kc : GEMM_KW;
		for (int c0 = 0; c0 < C; c0 += GEMM_CB) {
			const int cb = C - c0 < GEMM_CB ? C - c0 : GEMM_CB;
			const int pf = c0 + GEMM_AHEAD * GEMM_CB;
			for (int i = 0; i < cb; i++) {
				memcpy(pk + (size_t)i * kw, b + (c0 + i) * ldb + kc,
				       (size_t)kw * sizeof(float));
				if (pf + i >= C)
					continue;
				const char *row = (const char *)(b + (pf + i) * ldb + kc);
				for (size_t off = 0; off < (size_t)kw * sizeof(float); off += 64)
					simd_prefetch(row + off);
			}
			for (int n0 = 0; n0 < N; n0 += KERN_GEMM_R) {
				switch (N - n0 < KERN_GEMM_R ? N - n0 : KERN_GEMM_R) {
#if KERN_GEMM_R > 8
#error "kern_gemm.h: KERN_GEMM_R above 8"
#endif
#if KERN_GEMM_R >= 8
				KERN_GEMM_ROWS_CASE(8)
#endif
#if KERN_GEMM_R >= 7
				KERN_GEMM_ROWS_CASE(7)
#endif
#if KERN_GEMM_R >= 6
				KERN_GEMM_ROWS_CASE(6)
#endif
#if KERN_GEMM_R >= 5
				KERN_GEMM_ROWS_CASE(5)
#endif
#if KERN_GEMM_R >= 4
				KERN_GEMM_ROWS_CASE(4)
#endif
#if KERN_GEMM_R >= 3
				KERN_GEMM_ROWS_CASE(3)
#endif
#if KERN_GEMM_R >= 2
				KERN_GEMM_ROWS_CASE(2)
#endif
				default:
					gemm_rows(1, C, a, lda, pk, kw, bias, relu, kc, n0, c0, cb,
						  c, ldc);
					break;
				}
			}
		}
	}
}
