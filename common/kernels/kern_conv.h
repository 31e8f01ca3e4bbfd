/* kern_conv.h - the convolutions' and pools' kernels of one kern.h table
 * (wino_in, wino_out, wino_gemm, direct3x3, maxpool2), written once over
 * simd.h's vf_t (the template's vocabulary: kern_impl.h).  KERN_CONV_MR
 * and KERN_CONV_NRV are the microkernel's rows and vectors per panel: nr =
 * KERN_CONV_NRV * SIMD_LANES columns.  Letters as in kern.h; vectors run
 * across channels (NHWC). */
#include <stddef.h>

#include "kernels/kern.h"
#include "kernels/kern_impl.h"

#define KERN_CONV_NR (KERN_CONV_NRV * SIMD_LANES)

/* out[i * os] = sum_j c[i][j] in[j * is], i < R, j < A.  Inlined with
 * constant R, A and c, the loops unroll and every entry of c is known: a
 * zero costs nothing, +-1 an addition or a subtraction, any other one
 * multiply-add. */
static inline __attribute__((always_inline)) void
matvec(const int R, const int A, const float c[KERN_MAX_A][KERN_MAX_A],
       const vf_t *in, const int is, vf_t *out, const int os)
{
#pragma GCC unroll 8
	for (int i = 0; i < R; i++) {
		vf_t acc = vf_zero();
#pragma GCC unroll 8
		for (int j = 0; j < A; j++) {
			const float cf = c[i][j];
			if (cf == 1)
				acc = vf_add(acc, in[j * is]);
			else if (cf == -1)
				acc = vf_sub(acc, in[j * is]);
			else if (cf != 0)
				acc = vf_fma(vf_set1(cf), in[j * is], acc);
		}
		out[i * os] = acc;
	}
}

/* wino_in for table w (F(2,3), F(4,3), F(6,3)) and A = m + 2. */
static inline __attribute__((always_inline)) void
in_tile(const int w, const int A, const float *img, int H, int W, int C,
	int y0, int x0, float *V, size_t pstride, int prefetch)
{
	vf_t d[KERN_MAX_A][KERN_MAX_A], t[KERN_MAX_A][KERN_MAX_A], v[KERN_MAX_A];
	const int inside = y0 >= 0 && x0 >= 0 && y0 + A <= H && x0 + A <= W;

	/* The next tile to the right needs m more columns: ask for them now,
	 * the activations come from memory and the prefetcher cannot guess
	 * A rows at once. */
	if (prefetch && y0 >= -1 && y0 + A <= H + 1 && x0 + A + A - 2 <= W) {
		size_t row = (size_t)(A - 2) * C * sizeof(float);
		for (int j = y0 < 0 ? 1 : 0; j < A && y0 + j < H; j++) {
			const char *p = (const char *)(img + ((size_t)(y0 + j) * W + x0 + A) * C);
			for (size_t o = 0; o < row; o += 64)
				simd_prefetch(p + o);
		}
	}
	for (int c0 = 0; c0 < C; c0 += SIMD_LANES) {
		const int n = C - c0 < SIMD_LANES ? C - c0 : SIMD_LANES;
		/* t = B' d (column by column, each column of d loaded as it is
		 * used: a full tile's d does not fit the registers), then V =
		 * t B (row by row). */
		if (inside && n == SIMD_LANES) {
			const float *s0 = img + ((size_t)y0 * W + x0) * C + c0;
#pragma GCC unroll 8
			for (int x = 0; x < A; x++) {
#pragma GCC unroll 8
				for (int j = 0; j < A; j++)
					d[0][j] = vf_load(s0 + ((size_t)j * W + x) * C);
				matvec(A, A, kern_bt[w], d[0], 1, &t[0][x], KERN_MAX_A);
			}
		} else {
			for (int j = 0; j < A; j++) {
				int y = y0 + j;
				for (int x = 0; x < A; x++) {
					int xx = x0 + x;
					if (y < 0 || y >= H || xx < 0 || xx >= W) {
						d[j][x] = vf_zero();
						continue;
					}
					const float *s = img + ((size_t)y * W + xx) * C + c0;
					d[j][x] = n == SIMD_LANES ? vf_load(s) : vf_loadn(s, n);
				}
			}
#pragma GCC unroll 8
			for (int x = 0; x < A; x++)
				matvec(A, A, kern_bt[w], &d[0][x], KERN_MAX_A, &t[0][x], KERN_MAX_A);
		}
#pragma GCC unroll 8
		for (int i = 0; i < A; i++) {
			matvec(A, A, kern_bt[w], t[i], 1, v, 1);
#pragma GCC unroll 8
			for (int k = 0; k < A; k++)
				vf_store(V + (size_t)(i * A + k) * pstride + c0, v[k]);
		}
	}
}

static void KERN_FN(wino_in)(int m, const float *img, int H, int W, int C,
			     int y0, int x0, float *V, size_t pstride,
			     int prefetch)
{
	switch (m) {
	case 2: in_tile(0, 4, img, H, W, C, y0, x0, V, pstride, prefetch); break;
	case 4: in_tile(1, 6, img, H, W, C, y0, x0, V, pstride, prefetch); break;
	default: in_tile(2, 8, img, H, W, C, y0, x0, V, pstride, prefetch); break;
	}
}

/* One output vector: relu(y + b), as every row of a tile gets it. */
static inline __attribute__((always_inline)) vf_t
out_px(vf_t y, vf_t b)
{
	return vf_relu(vf_add(y, b));
}

/* wino_out for table w and A. */
static inline __attribute__((always_inline)) void
out_tile(const int w, const int A, const float *M, size_t pstride, int K,
	 const float *bias, float *img, size_t ldo, int H, int W, int y0, int x0,
	 int pool)
{
	const int m = A - 2;
	vf_t mm[KERN_MAX_A][KERN_MAX_A], t[KERN_MAX_A][KERN_MAX_A];
	vf_t y[KERN_MAX_A], y2[KERN_MAX_A];
	int rows = H - y0 < m ? H - y0 : m, cols = W - x0 < m ? W - x0 : m;

	for (int k0 = 0; k0 < K; k0 += SIMD_LANES) {
		const int n = K - k0 < SIMD_LANES ? K - k0 : SIMD_LANES;
		vf_t b = n == SIMD_LANES ? vf_load(bias + k0) : vf_loadn(bias + k0, n);
#pragma GCC unroll 8
		for (int a = 0; a < A; a++)
#pragma GCC unroll 8
			for (int x = 0; x < A; x++)
				mm[a][x] = vf_load(M + (size_t)(a * A + x) * pstride + k0);
		/* t = A' M (column by column), then Y = t A (row by row). */
#pragma GCC unroll 8
		for (int x = 0; x < A; x++)
			matvec(m, A, kern_at[w], &mm[0][x], KERN_MAX_A, &t[0][x], KERN_MAX_A);
		/* Pooled: rows and columns in pairs (y0 and x0 are even), each
		 * output the max of its four; a row or column without its pair
		 * is past the pooled image's edge. */
		for (int u = 0; u + pool < rows; u += 1 + pool) {
			matvec(m, A, kern_at[w], t[u], 1, y, 1);
			if (pool)
				matvec(m, A, kern_at[w], t[u + 1], 1, y2, 1);
			float *o = pool ? img + ((size_t)(y0 + u) / 2 * (W / 2) + x0 / 2) * ldo + k0
					: img + ((size_t)(y0 + u) * W + x0) * ldo + k0;
			for (int v = 0; v + pool < cols; v += 1 + pool, o += ldo) {
				vf_t r = out_px(y[v], b);
				if (pool)
					r = vf_max(vf_max(r, out_px(y[v + 1], b)),
						   vf_max(out_px(y2[v], b), out_px(y2[v + 1], b)));
				if (n == SIMD_LANES)
					vf_store(o, r);
				else
					vf_storen(o, r, n);
			}
		}
	}
}

static void KERN_FN(wino_out)(int m, const float *M, size_t pstride, int K,
			      const float *bias, float *img, size_t ldo, int H,
			      int W, int y0, int x0, int pool)
{
	switch (m * 2 + (pool != 0)) {
	case 4: out_tile(0, 4, M, pstride, K, bias, img, ldo, H, W, y0, x0, 0); break;
	case 5: out_tile(0, 4, M, pstride, K, bias, img, ldo, H, W, y0, x0, 1); break;
	case 8: out_tile(1, 6, M, pstride, K, bias, img, ldo, H, W, y0, x0, 0); break;
	case 9: out_tile(1, 6, M, pstride, K, bias, img, ldo, H, W, y0, x0, 1); break;
	case 12: out_tile(2, 8, M, pstride, K, bias, img, ldo, H, W, y0, x0, 0); break;
	default: out_tile(2, 8, M, pstride, K, bias, img, ldo, H, W, y0, x0, 1); break;
	}
}

/* The microkernel: M rows r < mr, one panel (nr columns), = (c0 == 0) or
 * += V (mr, kc) @ U panel (kc, nr).  mr is a constant at each call, so the
 * loops unroll and the mr x KERN_CONV_NRV accumulators stay in registers. */
static inline __attribute__((always_inline)) void
micro(const int mr, int kc, const float *a, size_t lda, const float *b,
     float *c, size_t ldc, int add, const float *pf)
{
	vf_t acc[KERN_CONV_MR][KERN_CONV_NRV];

#pragma GCC unroll 16
	for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
		for (int v = 0; v < KERN_CONV_NRV; v++)
			acc[r][v] = vf_zero();
	for (int k = 0; k < kc; k++, b += KERN_CONV_NR) {
		vf_t bv[KERN_CONV_NRV];
		/* pf: the panel after this one, row k of it, into L2. */
		if (pf)
			for (int v = 0; v < KERN_CONV_NR; v += 16)
				__builtin_prefetch(pf + (size_t)KERN_CONV_NR * k + v, 0, 2);
#pragma GCC unroll 4
		for (int v = 0; v < KERN_CONV_NRV; v++)
			bv[v] = vf_load(b + v * SIMD_LANES);
#pragma GCC unroll 16
		for (int r = 0; r < mr; r++) {
			vf_t ar = vf_bcast(a + r * lda + k);
#pragma GCC unroll 4
			for (int v = 0; v < KERN_CONV_NRV; v++)
				acc[r][v] = vf_fma(ar, bv[v], acc[r][v]);
		}
	}
#pragma GCC unroll 16
	for (int r = 0; r < mr; r++) {
		float *cr = c + r * ldc;
#pragma GCC unroll 4
		for (int v = 0; v < KERN_CONV_NRV; v++) {
			vf_t x = acc[r][v];
			if (add)
				x = vf_add(x, vf_load(cr + v * SIMD_LANES));
			vf_store(cr + v * SIMD_LANES, x);
		}
	}
}

/* Depth per pass: a panel of U (KC, nr) stays in L1 while the rows of V
 * stream past it.  The same in every set: it fixes the order of the sums. */
#define KC 256

#define KERN_CASE(R)                                                       \
	case R:                                                            \
		micro(R, kc, a, ldv, b, c, ldm, c0 > 0, pf);                \
		break;

static void
gemm(int T, int Cs, int Ks, const float *V, size_t ldv, const float *U, float *M,
     size_t ldm, int ahead, const float *after)
{
	const int calls = (T + KERN_CONV_MR - 1) / KERN_CONV_MR;

	for (int c0 = 0; c0 < Cs; c0 += KC) {
		int kc = Cs - c0 < KC ? Cs - c0 : KC;
		for (int j = 0; j < Ks; j += KERN_CONV_NR) {
			const float *b = U + ((size_t)j * Cs + (size_t)c0 * KERN_CONV_NR);
			/* U streams from memory once per block (the caches do not
			 * hold a large layer's): while the rows of tiles go past this
			 * panel, each call asks for its share of the next panel's kc
			 * rows, which the prefetcher would start late.  Not for a
			 * panel done in one or two calls: U is then the blocks' own,
			 * in L2, and a whole panel asked for at once stalls the
			 * core (measured on a block of conv1_2's products alone,
			 * AVX-512: 10 to 15%). */
			const float *next = !ahead && calls <= 2 ? NULL
				: j + KERN_CONV_NR < Ks ? b + (size_t)KERN_CONV_NR * Cs
				: c0 + KC < Cs ? U + (size_t)(c0 + KC) * KERN_CONV_NR
				: ahead ? after : NULL;
			for (int call = 0; call < calls; call++) {
				/* The rows shared evenly among the calls: a short last
				 * call (15 rows as 14 + 1) would wait on its few sums'
				 * latency, where 8 + 7 keep the units as busy as 14. */
				const int t = (int)((long)T * call / calls);
				const int rows = (int)((long)T * (call + 1) / calls) - t;
				const float *a = V + (size_t)t * ldv + c0;
				float *c = M + (size_t)t * ldm + j;
				/* ahead: the first call asks for all of the next
				 * panel, a row of it with each of its own. */
				const float *pf = ahead && call == 0 ? next : NULL;
				if (next && !ahead)
					for (int k = kc * call / calls; k < kc * (call + 1) / calls; k++)
						for (int v = 0; v < KERN_CONV_NR; v += 16)
							simd_prefetch(next + (size_t)KERN_CONV_NR * k + v);
				switch (rows) {
#if KERN_CONV_MR > 16
#error "kern_conv.h: KERN_CONV_MR above 16"
#endif
#if KERN_CONV_MR >= 16
				KERN_CASE(16)
#endif
#if KERN_CONV_MR >= 15
				KERN_CASE(15)
#endif
#if KERN_CONV_MR >= 14
				KERN_CASE(14)
#endif
#if KERN_CONV_MR >= 13
				KERN_CASE(13)
#endif
#if KERN_CONV_MR >= 12
				KERN_CASE(12)
#endif
#if KERN_CONV_MR >= 11
				KERN_CASE(11)
#endif
#if KERN_CONV_MR >= 10
				KERN_CASE(10)
#endif
#if KERN_CONV_MR >= 9
				KERN_CASE(9)
#endif
#if KERN_CONV_MR >= 8
				KERN_CASE(8)
#endif
#if KERN_CONV_MR >= 7
				KERN_CASE(7)
#endif
#if KERN_CONV_MR >= 6
				KERN_CASE(6)
#endif
#if KERN_CONV_MR >= 5
				KERN_CASE(5)
#endif
#if KERN_CONV_MR >= 4
				KERN_CASE(4)
#endif
#if KERN_CONV_MR >= 3
				KERN_CASE(3)
#endif
#if KERN_CONV_MR >= 2
				KERN_CASE(2)
#endif
				default:
					micro(1, kc, a, ldv, b, c, ldm, c0 > 0, pf);
					break;
				}
			}
		}
	}
}

static void KERN_FN(wino_gemm)(int T, int Cs, int Ks, const float *V, size_t ldv,
			   const float *U, float *M, size_t ldm)
{
	gemm(T, Cs, Ks, V, ldv, U, M, ldm, 0, NULL);
}

static void KERN_FN(wino_gemm_ahead)(int T, int Cs, int Ks, const float *V,
				 size_t ldv, const float *U, float *M, size_t ldm,
				 const float *after)
{
	gemm(T, Cs, Ks, V, ldv, U, M, ldm, 1, after);
}

/* The direct 3x3 convolution: DIRECT_KV vectors of output channels for
 * DIRECT_PX pixels of a row at a time, their sums in registers (AVX-512:
 * 6 x 4 of 32; below, 2 x 4 of 16), each tap's DIRECT_KV vectors of the
 * kernel loaded once for the DIRECT_PX pixels; the pixels at the row's
 * ends, whose taps fall outside the image, one at a time.  Each output
 * gets the same sum either way (kern.h's order: with fewer than
 * KERN_DIRECT_SPLIT_C input channels, bias then every term in (ky, kx, c)
 * order, one fused multiply-add each; with more, each tap's C terms from
 * zero, then added to the sum so far, which starts at the bias), so
 * neither shape nor blocking changes a bit. */
#if SIMD_LANES == 16
#define DIRECT_PX 6
#else
#define DIRECT_PX 2
#endif
#define DIRECT_KV 4
#define DIRECT_KC (DIRECT_KV * SIMD_LANES)
#if 64 % DIRECT_KC
#error "kern_conv.h: DIRECT_KC must divide 64"
#endif

/* Pixels x..x+px-1 of row y, output channels k0..k0+DIRECT_KC-1.  px and
 * split are constants where it is inlined: px 1 (any pixel) or DIRECT_PX
 * (pixels whose three columns of taps are all inside the image); split
 * 1: each tap's sum apart, the running sum kept in out. */
SIMD_INLINE void direct_pixels(const float *img, int H, int W, int C,
			       const float *kernel, const float *bias, int K,
			       float *out, int y, int x, int k0, const int px,
			       const int split)
{
	vf_t acc[DIRECT_PX][DIRECT_KV];
	float *o = out + ((size_t)y * W + x) * K + k0;
#pragma GCC unroll 8
	for (int p = 0; p < px; p++)
#pragma GCC unroll 8
		for (int v = 0; v < DIRECT_KV; v++) {
			vf_t b = vf_load(bias + k0 + SIMD_LANES * v);
			if (split)
				vf_store(o + (size_t)p * K + SIMD_LANES * v, b);
			else
				acc[p][v] = b;
		}
	for (int ky = 0; ky < 3; ky++) {
		int sy = y + ky - 1;
		if (sy < 0 || sy >= H)
			continue;
		for (int kx = 0; kx < 3; kx++) {
			int sx = x + kx - 1;
			if (px == 1 && (sx < 0 || sx >= W))
				continue;
			const float *s = img + ((size_t)sy * W + sx) * C;
			const float *g = kernel + (size_t)(ky * 3 + kx) * C * K + k0;
			if (split)
#pragma GCC unroll 8
				for (int p = 0; p < px; p++)
#pragma GCC unroll 8
					for (int v = 0; v < DIRECT_KV; v++)
						acc[p][v] = vf_zero();
			for (int c = 0; c < C; c++, g += K) {
				vf_t gv[DIRECT_KV];
#pragma GCC unroll 8
				for (int v = 0; v < DIRECT_KV; v++)
					gv[v] = vf_load(g + SIMD_LANES * v);
#pragma GCC unroll 8
				for (int p = 0; p < px; p++) {
					vf_t a = vf_bcast(s + (size_t)p * C + c);
#pragma GCC unroll 8
					for (int v = 0; v < DIRECT_KV; v++)
						acc[p][v] = vf_fma(a, gv[v], acc[p][v]);
				}
			}
			if (split)
#pragma GCC unroll 8
				for (int p = 0; p < px; p++)
#pragma GCC unroll 8
					for (int v = 0; v < DIRECT_KV; v++) {
						float *q = o + (size_t)p * K + SIMD_LANES * v;
						vf_store(q, vf_add(vf_load(q), acc[p][v]));
					}
		}
	}
#pragma GCC unroll 8
	for (int p = 0; p < px; p++)
#pragma GCC unroll 8
		for (int v = 0; v < DIRECT_KV; v++) {
			float *q = o + (size_t)p * K + SIMD_LANES * v;
			vf_store(q, vf_relu(split ? vf_load(q) : acc[p][v]));
		}
}

/* PX pixels from x, with direct_pixels' px and split made constants. */
#define DIRECT_STEP(PX)                                                         \
	do {                                                                    \
		if (split)                                                      \
			direct_pixels(img, H, W, C, kernel, bias, K, out, y, x, \
				      k0, PX, 1);                               \
		else                                                            \
			direct_pixels(img, H, W, C, kernel, bias, K, out, y, x, \
				      k0, PX, 0);                               \
		x += PX;                                                        \
	} while (0)

static void KERN_FN(direct3x3)(const float *img, int H, int W, int C,
				const float *kernel, const float *bias, int K,
				float *out, int y0, int y1)
{
	const int split = C >= KERN_DIRECT_SPLIT_C;
	for (int k0 = 0; k0 < K; k0 += DIRECT_KC)
		for (int y = y0; y < y1; y++)
			for (int x = 0; x < W;) {
				if (x >= 1 && x + DIRECT_PX < W)
					DIRECT_STEP(DIRECT_PX);
				else
					DIRECT_STEP(1);
			}
}

/* The 2x2 max-pool (a max is exact: any width gives the same bits). */
static void KERN_FN(maxpool2)(const float *in, int H, int W, int C,
			       float *out, int r0, int r1)
{
	const int Wo = W / 2;
	for (int oy = r0; oy < r1; oy++)
		for (int ox = 0; ox < Wo; ox++) {
			const float *a = in + ((size_t)(2 * oy) * W + 2 * ox) * C;
			const float *b = a + C, *c = a + (size_t)W * C, *d = c + C;
			float *o = out + ((size_t)oy * Wo + ox) * C;
			int k = 0;
			for (; k + SIMD_LANES <= C; k += SIMD_LANES)
				vf_store(o + k, vf_max(vf_max(vf_load(a + k), vf_load(b + k)),
						       vf_max(vf_load(c + k), vf_load(d + k))));
			for (; k < C; k++) {
				float m = a[k] > b[k] ? a[k] : b[k], m2 = c[k] > d[k] ? c[k] : d[k];
				o[k] = m > m2 ? m : m2;
			}
		}
}
