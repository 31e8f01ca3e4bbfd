/* wino_avx2.c - see wino_avx2.h.  Vectors run across 8 channels. */
#include "wino_avx2.h"

#include <immintrin.h>

/* Lanes 0..n-1 on, for the channels past the last multiple of 8. */
static __m256i lanes(int n)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(n),
				  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* B' and A' of F(2,3), F(4,3) and F(6,3) as wino_tf_make builds them
 * (wino_avx2_tables_match checks that they are the same numbers): as
 * constants, the unrolled transforms below fold away the zeros and turn
 * the +-1 entries into additions. */
static const float bt_tab[3][WINO_MAX_A][WINO_MAX_A] = {
	{
		{-1, 0, 1, 0},
		{0, 1, 1, 0},
		{0, -1, 1, 0},
		{0, -1, 0, 1},
	},
	{
		{4, 0, -5, 0, 1, 0},
		{0, -4, -4, 1, 1, 0},
		{0, 4, -4, -1, 1, 0},
		{0, -2, -1, 2, 1, 0},
		{0, 2, -1, -2, 1, 0},
		{0, 4, 0, -5, 0, 1},
	},
	{
		{-1, 0, 5.25f, 0, -5.25f, 0, 1, 0},
		{0, 1, 1, -4.25f, -4.25f, 1, 1, 0},
		{0, -1, 1, 4.25f, -4.25f, -1, 1, 0},
		{0, 0.5f, 0.25f, -2.5f, -1.25f, 2, 1, 0},
		{0, -0.5f, 0.25f, 2.5f, -1.25f, -2, 1, 0},
		{0, 2, 4, -2.5f, -5, 0.5f, 1, 0},
		{0, -2, 4, 2.5f, -5, -0.5f, 1, 0},
		{0, -1, 0, 5.25f, 0, -5.25f, 0, 1},
	},
};

static const float at_tab[3][WINO_MAX_A][WINO_MAX_A] = {
	{
		{1, 1, 1, 0},
		{0, 1, -1, 1},
	},
	{
		{1, 1, 1, 1, 1, 0},
		{0, 1, -1, 2, -2, 0},
		{0, 1, 1, 4, 4, 0},
		{0, 1, -1, 8, -8, 1},
	},
	{
		{1, 1, 1, 1, 1, 1, 1, 0},
		{0, 1, -1, 2, -2, 0.5f, -0.5f, 0},
		{0, 1, 1, 4, 4, 0.25f, 0.25f, 0},
		{0, 1, -1, 8, -8, 0.125f, -0.125f, 0},
		{0, 1, 1, 16, 16, 0.0625f, 0.0625f, 0},
		{0, 1, -1, 32, -32, 0.03125f, -0.03125f, 1},
	},
};

int wino_avx2_tables_match(const wino_tf_t *tf)
{
	int w = tf->m / 2 - 1;
	for (int i = 0; i < tf->a; i++)
		for (int j = 0; j < tf->a; j++)
			if (bt_tab[w][i][j] != tf->bt[i][j] ||
			    (i < tf->m && at_tab[w][i][j] != tf->at[i][j]))
				return 0;
	return 1;
}

/* out[i * os] = sum_j c[i][j] in[j * is], i < R, j < A.  Inlined with
 * constant R, A and c, the loops unroll and every entry of c is known. */
static inline __attribute__((always_inline)) void
matvec(const int R, const int A, const float c[WINO_MAX_A][WINO_MAX_A],
       const __m256 *in, const int is, __m256 *out, const int os)
{
#pragma GCC unroll 8
	for (int i = 0; i < R; i++) {
		__m256 acc = _mm256_setzero_ps();
#pragma GCC unroll 8
		for (int j = 0; j < A; j++) {
			const float cf = c[i][j];
			if (cf == 1)
				acc = _mm256_add_ps(acc, in[j * is]);
			else if (cf == -1)
				acc = _mm256_sub_ps(acc, in[j * is]);
			else if (cf != 0)
				acc = _mm256_fmadd_ps(_mm256_set1_ps(cf), in[j * is], acc);
		}
		out[i * os] = acc;
	}
}

/* wino_avx2_in_tile for table w (F(2,3), F(4,3), F(6,3)) and A = m + 2:
 * img (H, W, C) -> V (P positions, pstride apart). */
static inline __attribute__((always_inline)) void
in_tile(const int w, const int A, const float *img, int H, int W, int C,
	int y0, int x0, float *V, size_t pstride)
{
	__m256 d[WINO_MAX_A][WINO_MAX_A], t[WINO_MAX_A][WINO_MAX_A], v[WINO_MAX_A];
	const int inside = y0 >= 0 && x0 >= 0 && y0 + A <= H && x0 + A <= W;

	/* The next tile to the right needs m more columns: ask for them now,
	 * the activations come from memory and the prefetcher cannot guess
	 * A rows at once. */
	if (y0 >= -1 && y0 + A <= H + 1 && x0 + A + A - 2 <= W) {
		size_t row = (size_t)(A - 2) * C * sizeof(float);
		for (int j = y0 < 0 ? 1 : 0; j < A && y0 + j < H; j++) {
			const char *p = (const char *)(img + ((size_t)(y0 + j) * W + x0 + A) * C);
			for (size_t o = 0; o < row; o += 64)
				_mm_prefetch(p + o, _MM_HINT_T0);
		}
	}
	for (int c0 = 0; c0 < C; c0 += 8) {
		__m256i mask = lanes(C - c0);
		int full = C - c0 >= 8;
		for (int j = 0; j < A; j++) {
			int y = y0 + j;
			for (int x = 0; x < A; x++) {
				int xx = x0 + x;
				if (!inside && (y < 0 || y >= H || xx < 0 || xx >= W)) {
					d[j][x] = _mm256_setzero_ps();
					continue;
				}
				const float *s = img + ((size_t)y * W + xx) * C + c0;
				d[j][x] = full ? _mm256_loadu_ps(s) : _mm256_maskload_ps(s, mask);
			}
		}
		/* t = B' d (column by column), then V = t B (row by row). */
#pragma GCC unroll 8
		for (int x = 0; x < A; x++)
			matvec(A, A, bt_tab[w], &d[0][x], WINO_MAX_A, &t[0][x], WINO_MAX_A);
#pragma GCC unroll 8
		for (int i = 0; i < A; i++) {
			matvec(A, A, bt_tab[w], t[i], 1, v, 1);
#pragma GCC unroll 8
			for (int k = 0; k < A; k++)
				_mm256_storeu_ps(V + (size_t)(i * A + k) * pstride + c0, v[k]);
		}
	}
}

void wino_avx2_in_tile(const wino_tf_t *tf, const float *img, int H, int W,
		       int C, int y0, int x0, float *V, size_t pstride)
{
	switch (tf->m) {
	case 2: in_tile(0, 4, img, H, W, C, y0, x0, V, pstride); break;
	case 4: in_tile(1, 6, img, H, W, C, y0, x0, V, pstride); break;
	default: in_tile(2, 8, img, H, W, C, y0, x0, V, pstride); break;
	}
}

/* wino_avx2_out_tile for table w and A: M (P positions, pstride apart)
 * -> img (H, W, K). */
static inline __attribute__((always_inline)) void
out_tile(const int w, const int A, const float *M, size_t pstride, int K,
	 const float *bias, float *img, int H, int W, int y0, int x0)
{
	const int m = A - 2;
	__m256 mm[WINO_MAX_A][WINO_MAX_A], t[WINO_MAX_A][WINO_MAX_A], y[WINO_MAX_A];
	int rows = H - y0 < m ? H - y0 : m, cols = W - x0 < m ? W - x0 : m;

	for (int k0 = 0; k0 < K; k0 += 8) {
		__m256i mask = lanes(K - k0);
		int full = K - k0 >= 8;
		__m256 b = full ? _mm256_loadu_ps(bias + k0)
				: _mm256_maskload_ps(bias + k0, mask);
#pragma GCC unroll 8
		for (int a = 0; a < A; a++)
#pragma GCC unroll 8
			for (int x = 0; x < A; x++)
				mm[a][x] = _mm256_loadu_ps(M + (size_t)(a * A + x) * pstride + k0);
		/* t = A' M (column by column), then Y = t A (row by row). */
#pragma GCC unroll 8
		for (int x = 0; x < A; x++)
			matvec(m, A, at_tab[w], &mm[0][x], WINO_MAX_A, &t[0][x], WINO_MAX_A);
		for (int u = 0; u < rows; u++) {
			matvec(m, A, at_tab[w], t[u], 1, y, 1);
			float *o = img + ((size_t)(y0 + u) * W + x0) * K + k0;
			for (int v = 0; v < cols; v++, o += K) {
				__m256 r = _mm256_max_ps(_mm256_add_ps(y[v], b),
							 _mm256_setzero_ps());
				if (full)
					_mm256_storeu_ps(o, r);
				else
					_mm256_maskstore_ps(o, mask, r);
			}
		}
	}
}

void wino_avx2_out_tile(const wino_tf_t *tf, const float *M, size_t pstride,
			int K, const float *bias, float *img, int H, int W,
			int y0, int x0)
{
	switch (tf->m) {
	case 2: out_tile(0, 4, M, pstride, K, bias, img, H, W, y0, x0); break;
	case 4: out_tile(1, 6, M, pstride, K, bias, img, H, W, y0, x0); break;
	default: out_tile(2, 8, M, pstride, K, bias, img, H, W, y0, x0); break;
	}
}

/* The microkernel: M rows r < mr, 16 columns, += or = V (mr, kc) @ U panel
 * (kc, 16).  mr is a constant at each call, so the loops over rows unroll
 * and the 12 accumulators stay in registers. */
static inline __attribute__((always_inline)) void
kern(const int mr, int kc, const float *a, size_t lda, const float *b,
     float *c, size_t ldc, int add)
{
	__m256 acc[6][2];

	/* -O2 does not unroll by itself, and rolled loops would keep acc in
	 * memory. */
#pragma GCC unroll 6
	for (int r = 0; r < mr; r++)
		acc[r][0] = acc[r][1] = _mm256_setzero_ps();
	for (int k = 0; k < kc; k++, b += 16) {
		__m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
		for (int r = 0; r < mr; r++) {
			__m256 ar = _mm256_broadcast_ss(a + r * lda + k);
			acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);
			acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);
		}
	}
#pragma GCC unroll 6
	for (int r = 0; r < mr; r++) {
		float *cr = c + r * ldc;
		if (add) {
			acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_loadu_ps(cr));
			acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_loadu_ps(cr + 8));
		}
		_mm256_storeu_ps(cr, acc[r][0]);
		_mm256_storeu_ps(cr + 8, acc[r][1]);
	}
}

/* Depth per pass: a panel of U (KC, 16) stays in L1 while the rows of V
 * stream past it. */
#define KC 256

void wino_avx2_gemm(int T, int Cs, int Ks, const float *V, size_t ldv,
		    const float *U, float *M, size_t ldm)
{
	const int calls = (T + 5) / 6;

	for (int c0 = 0; c0 < Cs; c0 += KC) {
		int kc = Cs - c0 < KC ? Cs - c0 : KC;
		for (int j = 0; j < Ks; j += 16) {
			const float *b = U + ((size_t)j * Cs + (size_t)c0 * 16);
			/* U streams from memory once per block (the caches do not
			 * hold a large layer's): while the rows of tiles go past this
			 * panel, each call asks for its share of the next panel's kc
			 * lines, which the prefetcher would start late. */
			const float *next = j + 16 < Ks ? b + (size_t)16 * Cs
				: c0 + KC < Cs ? U + (size_t)(c0 + KC) * 16 : NULL;
			for (int t = 0, call = 0; t < T; t += 6, call++) {
				const float *a = V + (size_t)t * ldv + c0;
				float *c = M + (size_t)t * ldm + j;
				if (next)
					for (int k = kc * call / calls; k < kc * (call + 1) / calls; k++)
						_mm_prefetch((const char *)(next + 16 * k), _MM_HINT_T0);
				switch (T - t < 6 ? T - t : 6) {
				case 6: kern(6, kc, a, ldv, b, c, ldm, c0 > 0); break;
				case 5: kern(5, kc, a, ldv, b, c, ldm, c0 > 0); break;
				case 4: kern(4, kc, a, ldv, b, c, ldm, c0 > 0); break;
				case 3: kern(3, kc, a, ldv, b, c, ldm, c0 > 0); break;
				case 2: kern(2, kc, a, ldv, b, c, ldm, c0 > 0); break;
				default: kern(1, kc, a, ldv, b, c, ldm, c0 > 0); break;
				}
			}
		}
	}
}

void wino_avx2_direct3x3(const float *img, int H, int W, int C,
			 const float *kernel, const float *bias, int K,
			 float *out, int y0, int y1)
{
	for (int k0 = 0; k0 < K; k0 += 64)
		for (int y = y0; y < y1; y++)
			for (int x = 0; x < W; x++) {
				__m256 acc[8];
#pragma GCC unroll 8
				for (int v = 0; v < 8; v++)
					acc[v] = _mm256_loadu_ps(bias + k0 + 8 * v);
				for (int ky = 0; ky < 3; ky++) {
					int sy = y + ky - 1;
					if (sy < 0 || sy >= H)
						continue;
					for (int kx = 0; kx < 3; kx++) {
						int sx = x + kx - 1;
						if (sx < 0 || sx >= W)
							continue;
						const float *s = img + ((size_t)sy * W + sx) * C;
						const float *g = kernel + (size_t)(ky * 3 + kx) * C * K + k0;
						for (int c = 0; c < C; c++, g += K) {
							__m256 a = _mm256_broadcast_ss(s + c);
#pragma GCC unroll 8
							for (int v = 0; v < 8; v++)
								acc[v] = _mm256_fmadd_ps(a, _mm256_loadu_ps(g + 8 * v),
											 acc[v]);
						}
					}
				}
				float *o = out + ((size_t)y * W + x) * K + k0;
#pragma GCC unroll 8
				for (int v = 0; v < 8; v++)
					_mm256_storeu_ps(o + 8 * v,
							 _mm256_max_ps(acc[v], _mm256_setzero_ps()));
			}
}
