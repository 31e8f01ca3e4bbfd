/* kern_step.h - one Adam step of the head's first Dense layer on a block
 * of its kernel's rows, fused (kern.h's kern_step_t, for head_train.c's
 * stripes): the step of one kern.h table, written once over simd.h's
 * vectors (the template's vocabulary: kern_impl.h; after kern_adam.h,
 * whose adam_vec it shares).
 *
 * Letters: B a batch (nb rows now, nn next), R rows of the kernel, O its
 * columns (the layer's outputs), L = SIMD_LANES.
 *
 * The rows are taken RB at a time, and their columns in chunks of up to
 * KC vectors: a tile of RB x KC vectors, held in registers.  Per tile:
 *   g = x[:, rows]^T @ dz    the tile's gradient, one fused multiply-add
 *                            per sample in batch order, from zero;
 *   Adam on the tile         adam_vec, the update's one text;
 *   part += xn[:, rows] @ w  the next batch's partial outputs through the
 *                            updated tile, one fused multiply-add per row
 *                            in row order, from zero at the block's first
 *                            row.
 * So the kernel and its moments are read and written once per step, and
 * the gradient exists a tile at a time.  Each sum's order is the batch's
 * or the rows', never the blocking's, and every multiply-add is fused, so
 * every table gives the same bits (the portable one by fmaf).  (Adam is
 * a square root and a division per weight, on the divider; running a
 * tile's Adam inside the multiply-adds around it, so that the two
 * overlap, measured no faster, in registers (4 x 6 tiles) or through L1
 * (a pipeline of 4 x 5 tiles, chunk by chunk down the rows).) */
#include <stddef.h>
#include <string.h>

/* Rows per tile, vectors per chunk: RB x KC accumulators, KC loads and a
 * broadcast within the vector registers (32 for AVX-512, 16 below).  The
 * more rows, the more multiply-adds per load and store of part: on
 * AVX-512, 8 x 3 and 6 x 4 ran 7% faster than 4 x 6 (4 x 5 chunks of
 * O = 290), 9 x 3 and 12 x 2 spilled. */
#if SIMD_LANES == 16
#define STEP_RB 8
#else
#define STEP_RB 4
#endif
#define STEP_KC 3

#if SIMD_LANES == 4
SIMD_INLINE vf_t step_load(const float *p, int n)
{
	vf_t a = vf_zero();
	if (n == SIMD_LANES)
		return vf_load(p);
	__builtin_memcpy(&a, p, (size_t)n * sizeof(float));
	return a;
}
SIMD_INLINE void step_store(float *p, vf_t a, int n)
{
	if (n == SIMD_LANES)
		vf_store(p, a);
	else
		__builtin_memcpy(p, &a, (size_t)n * sizeof(float));
}
#else
/* The first n lanes (n = SIMD_LANES: the whole vector). */
SIMD_INLINE vf_t step_load(const float *p, int n)
{
	return n == SIMD_LANES ? vf_load(p) : vf_loadn(p, n);
}
SIMD_INLINE void step_store(float *p, vf_t a, int n)
{
	if (n == SIMD_LANES)
		vf_store(p, a);
	else
		vf_storen(p, a, n);
}
#endif

/* A tile: rows r..r+rb, vectors j0..j0+kc of O, the chunk's last vector
 * holding last lanes.  rb and kc are constants where it is inlined, so
 * that the accumulators live in registers. */
SIMD_INLINE void step_tile(const kern_step_t *s, const adam_vc_t *C, int r, int j0,
			   const int rb, const int kc, int last)
{
	const int O = s->O, L = SIMD_LANES;
	const size_t ld = s->ldz ? s->ldz : (size_t)O;
	vf_t acc[STEP_RB][STEP_KC];

#pragma GCC unroll 8
	for (int i = 0; i < rb; i++)
#pragma GCC unroll 8
		for (int j = 0; j < kc; j++)
			acc[i][j] = vf_zero();
	for (int b = 0; b < s->nb; b++) {
		const float *d = s->dz + (size_t)b * ld + (size_t)j0 * L;
		const float *x = s->x + (size_t)r * s->ldx + b;
		vf_t dv[STEP_KC];
#pragma GCC unroll 8
		for (int j = 0; j < kc; j++)
			dv[j] = step_load(d + j * L, j == kc - 1 ? last : L);
#pragma GCC unroll 8
		for (int i = 0; i < rb; i++) {
			vf_t xb = vf_bcast(x + (size_t)i * s->ldx);
#pragma GCC unroll 8
			for (int j = 0; j < kc; j++)
				acc[i][j] = vf_fma(xb, dv[j], acc[i][j]);
		}
	}
	/* The update; the weights after it stay in the accumulators. */
#pragma GCC unroll 8
	for (int i = 0; i < rb; i++)
#pragma GCC unroll 8
		for (int j = 0; j < kc; j++) {
			size_t o = (size_t)(r + i) * O + (size_t)(j0 + j) * L;
			int n = j == kc - 1 ? last : L;
			vf_t W = step_load(s->w + o, n);
			if (!s->nb) {
				acc[i][j] = W;
				continue;
			}
			vf_t M = step_load(s->m + o, n), V = step_load(s->v + o, n);
			W = adam_vec(C, acc[i][j], &M, &V, W);
			step_store(s->m + o, M, n);
			step_store(s->v + o, V, n);
			step_store(s->w + o, W, n);
			acc[i][j] = W;
		}
	for (int b = 0; b < s->nn; b++) {
		float *p = s->part + (size_t)b * ld + (size_t)j0 * L;
		const float *x = s->xn + (size_t)r * s->ldx + b;
		vf_t pv[STEP_KC];
		/* The block's first rows start the sums. */
#pragma GCC unroll 8
		for (int j = 0; j < kc; j++)
			pv[j] = r ? step_load(p + j * L, j == kc - 1 ? last : L) : vf_zero();
#pragma GCC unroll 8
		for (int i = 0; i < rb; i++) {
			vf_t xb = vf_bcast(x + (size_t)i * s->ldx);
#pragma GCC unroll 8
			for (int j = 0; j < kc; j++)
				pv[j] = vf_fma(xb, acc[i][j], pv[j]);
		}
#pragma GCC unroll 8
		for (int j = 0; j < kc; j++)
			step_store(p + j * L, pv[j], j == kc - 1 ? last : L);
	}
}

/* step_tile with rb (STEP_RB, or 1 for a block's last rows) and kc made
 * constants. */
#define STEP_CASE(RB, KC) case KC: step_tile(s, C, r, j0, RB, KC, last); break;
static void step_tile_any(const kern_step_t *s, const adam_vc_t *C, int r, int j0,
			  int rb, int kc, int last)
{
	if (rb == STEP_RB) {
		switch (kc) {
		STEP_CASE(STEP_RB, 1)
		STEP_CASE(STEP_RB, 2)
		STEP_CASE(STEP_RB, 3)
		}
		return;
	}
	switch (kc) {
	STEP_CASE(1, 1)
	STEP_CASE(1, 2)
	STEP_CASE(1, 3)
	}
}

static double KERN_FN(step)(const kern_step_t *s)
{
	/* x, xn (R, ldx) from the block's first row, a sample per column; dz
	 * (nb, O) and part (nn, O), rows ldz apart; w, m, v (R, O) */
	const int L = SIMD_LANES, nv = (s->O + L - 1) / L;
	const int nchunks = (nv + STEP_KC - 1) / STEP_KC;
	const adam_vc_t C = adam_vc(s->alpha, s->c1, s->c2, s->eps, s->l2x2);
	double sq = 0;

	/* Tiles of RB rows (a block's last rows one at a time), their chunks
	 * as even as they can be, at most KC vectors each. */
	for (int r = 0; r < s->R;) {
		int rb = s->R - r < STEP_RB ? 1 : STEP_RB;
		/* The regulariser's squares, of the weights before the step, in
		 * row order: the same sum on every ISA. */
		if (s->nb && s->l2x2 != 0)
			for (size_t i = (size_t)r * s->O; i < (size_t)(r + rb) * s->O; i++)
				sq += (double)s->w[i] * s->w[i];
		for (int c = 0, j0 = 0; c < nchunks; c++) {
			int kc = (nv - j0) / (nchunks - c);
			step_tile_any(s, &C, r, j0, rb, kc,
				      j0 + kc == nv ? s->O - (nv - 1) * L : L);
			j0 += kc;
		}
		r += rb;
	}
	return sq;
}
