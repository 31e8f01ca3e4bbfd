/* kern_step.h - one Adam step of the head's first Dense layer on a block
 * of its kernel's rows, fused (kern.h's kern_step_t, for head_train.c's
 * stripes): the step of one kern.h table, written once over simd.h's
 * vectors (the template's vocabulary: kern_impl.h; after kern_adam.h,
 * whose adam_vec it shares).
 *
 * Letters: B a batch (nb rows now, nn next), R rows of the kernel, O its
 * columns (the layer's outputs), L = SIMD_LANES, nv = O / L rounded up.
 *
 * The rows, their moments and their update live in panels (kern.h): the
 * columns cut into chunks of up to KERN_STEP_KC vectors, each chunk's
 * R x kc vectors in one run of memory, so that every pass below reads and
 * writes a panel front to back.  Per panel, in column order:
 *   1. its gradient g = x[:, rows]^T @ dz, a tile of STEP_RB rows x kc
 *      vectors at a time in registers, one fused multiply-add per sample
 *      in batch order, from zero, stored to a scratch panel;
 *   2. Adam on the panel (adam_vec, the update's one text);
 *   3. the next batch's partial outputs part = xn[:, rows] @ the updated
 *      panel, STEP_FB samples x kc vectors at a time in registers, one
 *      fused multiply-add per row in row order, from zero.
 * Each sum's order is the batch's or the rows', never the blocking's, and
 * every multiply-add is fused, so every table gives the same bits (the
 * portable one by fmaf), and so does the order of the passes: a panel's
 * Adam runs during the next panel's gradient (STEP_PACE), a vector every
 * few samples, where the divider (a square root and a division per
 * weight) works beside the multiply-adds; its outputs pass follows.
 * (Measured against this on AVX-512, in train-head: the kernel in rows
 * that this file held before, Adam between a tile's gradient and its
 * outputs, 0.88x; that kernel with Adam paced through the rows, slower
 * still: their loads stall the loop, the panels' do not; Adam paced into
 * the outputs pass as well, 0.95x to 0.98x.  On AVX2's 16 registers the
 * pacing spilled the tile: there Adam runs after each gradient pass.) */
#include <stddef.h>
#include <string.h>

/* The gradient's tile, STEP_RB rows x KC vectors, and the outputs' tile,
 * STEP_FB samples x KC vectors: their sums, KC loads and a broadcast in
 * the vector registers (32 on AVX-512, 16 below).  STEP_PACE: Adam paced
 * into the gradient loop (where registers are left for it). */
#if SIMD_LANES == 16
#define STEP_RB 8
#define STEP_FB 8
#define STEP_PACE 1
#else
#define STEP_RB 4
#define STEP_FB 4
#define STEP_PACE 0
#endif
#define STEP_KC KERN_STEP_KC

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
/* The first n lanes (n = SIMD_LANES: the whole vector); the others zero. */
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

/* A panel's Adam, a vector at a time: w, m, v and g from its first
 * vector, k of n done. */
typedef struct step_adam {
	float *w, *m, *v;
	const float *g;
	int k, n;
	/* Pacing: rate vectors per `per` calls of step_pace, spread evenly. */
	int due, per, rate;
} step_adam_t;

SIMD_INLINE void step_adam_one(const adam_vc_t *C, step_adam_t *a)
{
	size_t o = (size_t)a->k++ * SIMD_LANES;
	vf_t M = vf_load(a->m + o), V = vf_load(a->v + o);
	vf_t W = adam_vec(C, vf_load(a->g + o), &M, &V, vf_load(a->w + o));
	vf_store(a->m + o, M);
	vf_store(a->v + o, V);
	vf_store(a->w + o, W);
}

SIMD_INLINE void step_pace(const adam_vc_t *C, step_adam_t *a)
{
	for (a->due += a->rate; a->due >= a->per; a->due -= a->per)
		step_adam_one(C, a);
}

static void step_adam_rest(const adam_vc_t *C, step_adam_t *a)
{
	while (a->k < a->n)
		step_adam_one(C, a);
}

/* The gradient of rows r..r+rb of the panel at vector j0 (kc vectors, the
 * last one `last` lanes) into g (the panel's scratch: rb x kc vectors from
 * row r's), pacing a.  rb and kc are constants where it is inlined, so
 * that the sums live in registers. */
SIMD_INLINE void step_grad(const kern_step_t *s, const adam_vc_t *C, int r, int j0,
			   const int rb, const int kc, int last, float *g, step_adam_t *a)
{
	const int L = SIMD_LANES;
	const size_t ld = s->ldz ? s->ldz : (size_t)s->O;
	vf_t acc[STEP_RB][STEP_KC];
	step_adam_t pa = *a;

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
#if STEP_PACE
		step_pace(C, &pa);
#endif
	}
	*a = pa;
#pragma GCC unroll 8
	for (int i = 0; i < rb; i++)
#pragma GCC unroll 8
		for (int j = 0; j < kc; j++)
			vf_store(g + (size_t)(i * kc + j) * L, acc[i][j]);
}

/* Samples b0..b0+bb of part, the panel's columns (vector j0, kc vectors,
 * the last one `last` lanes): the sums over all its rows, in row order,
 * from zero.  bb and kc are constants where it is inlined. */
SIMD_INLINE void step_outputs(const kern_step_t *s, const float *panel, int b0, int j0,
			      const int bb, const int kc, int last)
{
	const int L = SIMD_LANES;
	const size_t ld = s->ldz ? s->ldz : (size_t)s->O;
	const float *w = panel, *x = s->xn + b0;
	vf_t acc[STEP_FB][STEP_KC];

#pragma GCC unroll 8
	for (int u = 0; u < bb; u++)
#pragma GCC unroll 8
		for (int j = 0; j < kc; j++)
			acc[u][j] = vf_zero();
	for (int r = 0; r < s->R; r++, w += kc * L, x += s->ldx) {
		vf_t wv[STEP_KC];
#pragma GCC unroll 8
		for (int j = 0; j < kc; j++)
			wv[j] = vf_load(w + j * L);
#pragma GCC unroll 8
		for (int u = 0; u < bb; u++) {
			vf_t xb = vf_bcast(x + u);
#pragma GCC unroll 8
			for (int j = 0; j < kc; j++)
				acc[u][j] = vf_fma(xb, wv[j], acc[u][j]);
		}
	}
#pragma GCC unroll 8
	for (int u = 0; u < bb; u++)
#pragma GCC unroll 8
		for (int j = 0; j < kc; j++)
			step_store(s->part + (size_t)(b0 + u) * ld + (size_t)(j0 + j) * L, acc[u][j],
				   j == kc - 1 ? last : L);
}

/* step_grad and step_outputs with the tile's shape made constants: n, the
 * tile's rows or samples, the full tile's FULL or 1 (a panel's last ones),
 * and kc vectors, 1 to KERN_STEP_KC; CALL(N, KC) the call of that shape. */
#if KERN_STEP_KC != 3
#error "kern_step.h: STEP_SHAPES names kc 1 to 3"
#endif
#define STEP_SHAPES(FULL, n, kc, CALL)					\
	do {								\
		if ((n) == (FULL)) {					\
			switch (kc) {					\
			case 1: CALL(FULL, 1); break;			\
			case 2: CALL(FULL, 2); break;			\
			case 3: CALL(FULL, 3); break;			\
			}						\
		} else {						\
			switch (kc) {					\
			case 1: CALL(1, 1); break;			\
			case 2: CALL(1, 2); break;			\
			case 3: CALL(1, 3); break;			\
			}						\
		}							\
	} while (0)

#define STEP_GRAD(RB, KC) step_grad(s, C, r, j0, RB, KC, last, g, a)
static void step_grad_any(const kern_step_t *s, const adam_vc_t *C, int r, int j0,
			  int rb, int kc, int last, float *g, step_adam_t *a)
{
	STEP_SHAPES(STEP_RB, rb, kc, STEP_GRAD);
}

#define STEP_OUT(BB, KC) step_outputs(s, panel, b0, j0, BB, KC, last)
static void step_outputs_any(const kern_step_t *s, const float *panel, int b0, int j0,
			     int bb, int kc, int last)
{
	STEP_SHAPES(STEP_FB, bb, kc, STEP_OUT);
}

/* The lanes of a chunk's last vector: its own, or O's last ones in the
 * panels' last chunk. */
static int step_last(const kern_step_t *s, int nv, int j0, int kc)
{
	return j0 + kc == nv ? s->O - (nv - 1) * SIMD_LANES : SIMD_LANES;
}

/* The regulariser's squares of the rows before the step, in row order
 * (each row's columns in order): the same sum on every ISA and as the
 * rows' own order would give. */
static double step_squares(const kern_step_t *s)
{
	const int L = SIMD_LANES, nv = (s->O + L - 1) / L;
	double sq = 0;

	for (int r = 0; r < s->R; r++)
		for (int c = 0, j0 = 0; j0 < nv; c++) {
			int kc = kern_step_chunk(nv, c);
			const float *p = s->w + (size_t)j0 * s->R * L + (size_t)r * kc * L;
			int n = (kc - 1) * L + step_last(s, nv, j0, kc);
			for (int i = 0; i < n; i++)
				sq += (double)p[i] * p[i];
			j0 += kc;
		}
	return sq;
}

static double KERN_FN(step)(const kern_step_t *s)
{
	/* x, xn (R, ldx) from the block's first row, a sample per column; dz
	 * (nb, O) and part (nn, O), rows ldz apart; w, m, v panels of (R, O);
	 * g the scratch of two panels' gradients */
	const int L = SIMD_LANES, nv = (s->O + L - 1) / L, R = s->R;
	const adam_vc_t C = adam_vc(s->alpha, s->c1, s->c2, s->eps, s->l2x2);
	const int tiles = R / STEP_RB + R % STEP_RB;
	step_adam_t ad[2] = {{0}};
	int cur = 0, pj0 = 0, pkc = 0;
	double sq = s->nb && s->l2x2 != 0 ? step_squares(s) : 0;

	/* Panel c's gradient, with the previous panel's Adam paced into it,
	 * then that panel's outputs; one pass more for the last's. */
	for (int c = 0, j0 = 0; j0 < nv || pkc; c++) {
		int kc = j0 < nv ? kern_step_chunk(nv, c) : 0;
		int last = step_last(s, nv, j0, kc);
		step_adam_t *A = &ad[cur], *P = &ad[cur ^ 1];
		memset(A, 0, sizeof *A);
		if (kc && s->nb) {
			size_t base = (size_t)j0 * R * L;
			float *g = s->g + (size_t)cur * R * STEP_KC * L;
			*A = (step_adam_t){.w = s->w + base, .m = s->m + base, .v = s->v + base,
					   .g = g, .n = R * kc};
			P->due = 0;
			P->per = tiles * s->nb;
			P->rate = P->n - P->k;
			for (int r = 0; r < R;) {
				int rb = R - r < STEP_RB ? 1 : STEP_RB;
				step_grad_any(s, &C, r, j0, rb, kc, last, g + (size_t)r * kc * L, P);
				r += rb;
			}
		}
		step_adam_rest(&C, P);
		if (pkc) {
			const float *panel = s->w + (size_t)pj0 * R * L;
			int plast = step_last(s, nv, pj0, pkc);
			for (int b0 = 0; b0 < s->nn;) {
				int bb = s->nn - b0 < STEP_FB ? 1 : STEP_FB;
				step_outputs_any(s, panel, b0, pj0, bb, pkc, plast);
				b0 += bb;
			}
		}
		pj0 = j0;
		pkc = kc;
		cur ^= 1;
		j0 += kc;
	}
	return sq;
}
