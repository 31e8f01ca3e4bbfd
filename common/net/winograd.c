/* winograd.c - see winograd.h.  Letters as there.  A block of n tiles is
 * transformed into V (n, P, Cs), multiplied into M (n, P, Ks) and
 * transformed back; Cs and Ks are C and K rounded up to the vector and the
 * panel width of the ISA's kernels (kern.h).  Every step computes each tile
 * on its own, in an order that does not depend on the block it is in: a
 * tile's output has the same bits whatever the batch. */
#include "net/winograd.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bigmem.h"
#include "error.h"
#include "kernels/kern.h"

struct wino_layer {
	int C, K, Cs, Ks;
	const kern_t *k; /* the ISA's kernels */
	wino_choice_t choice; /* wino_layer_set_choice's, or automatic */
	wino_tf_t tf;
	float *u;    /* (P, Ks/nr, Cs, nr), nr = k->nr */
	float *bias; /* (K) */
};

/* Two ways to share a layer between the threads, by the size of U:
 *  - up to U_CACHED_BYTES (conv1_2 to conv4_1: 1 to 19 MB): each thread
 *    takes blocks of tiles through all three steps on its own, one panel
 *    of output channels at a time (conv_block), so that a block's V stays
 *    in L2 from the input transform through the products to the output
 *    transform; U is read once per block, from L2 where it fits, else from
 *    L3 (conv2_2 on: 4 to 19 MB) with the next panel asked for ahead.
 *  - past it (conv4_2, conv4_3: 38 MB): U streams from memory once per
 *    block, so blocks are made as large as SHARED_BYTES allows (most
 *    often the whole batch) and the threads do each step together: the
 *    products are split by positions and output channels, so that each
 *    part of U is read by one thread once.
 * The line between them was measured on the AVX-512 Xeon (2 threads,
 * in-process, interleaved): per thread, conv3_2 and conv4_1 took 0.85 and
 * 0.91 of the CPU time they took shared, conv4_2 1.13.
 * Which way, the block sizes and the input transform's prefetch are
 * wino_choice_t's: the tuner (net/tune.h) measures them on the CPU at hand;
 * these are the defaults. */
#define U_CACHED_BYTES ((size_t)24 << 20)
#define SHARED_BYTES ((size_t)64 << 20)
/* Tiles per task in the shared steps' transforms; rows of V per call of
 * the products (their V stays in L2 across the panels of U). */
#define SHARED_TILES 8
#define SHARED_ROWS 96
/* Output channels per task of the shared products. */
#define SHARED_COLS 128

static int round_up(int x, int to)
{
	return (x + to - 1) / to * to;
}

/* Correlation y_i = sum_k g_k d_(i+k) is the transpose of the polynomial
 * product that Toom-Cook evaluates at the points p_j and infinity, so
 *   A' = E_m',  G = E_3,  B' = E_A^-T,
 * where E_n (A, n) evaluates a polynomial of n coefficients: row j is
 * (1, p_j, p_j^2, ...), and the last row (infinity) picks the leading
 * coefficient.  Column j of E_A^-1 is the polynomial that is 1 at p_j, 0 at
 * the other points and of degree < A - 1: prod_(l != j) (x - p_l) / f_j,
 * f_j = prod_(l != j) (p_j - p_l); the last column is prod_l (x - p_l).
 * Moving 1 / f_j into G leaves B' with the products' own coefficients:
 * computed exactly here, and exact in float (dyadic) for these points. */
int wino_tf_make(int m, wino_tf_t *tf, double bt[WINO_MAX_A][WINO_MAX_A],
		 double at[WINO_MAX_A][WINO_MAX_A], char *err)
{
	static const double pts[] = {0, 1, -1, 2, -2, 0.5, -0.5};
	const int A = m + 2;

	if (m != 2 && m != 4 && m != 6)
		return err_set(err, ERR_ARG, "winograd: tile side %d, not 2, 4 or 6", m);
	memset(tf, 0, sizeof *tf);
	memset(bt, 0, sizeof(double) * WINO_MAX_A * WINO_MAX_A);
	memset(at, 0, sizeof(double) * WINO_MAX_A * WINO_MAX_A);
	tf->m = m;
	tf->a = A;
	for (int j = 0; j < A; j++) {
		/* poly = prod_(l != j) (x - p_l), coefficients by degree. */
		double poly[WINO_MAX_A] = {1}, f = 1;
		int deg = 0;
		for (int l = 0; l < A - 1; l++) {
			if (l == j)
				continue;
			for (int i = deg + 1; i > 0; i--)
				poly[i] = poly[i - 1] - pts[l] * poly[i];
			poly[0] *= -pts[l];
			deg++;
			if (j < A - 1)
				f *= pts[j] - pts[l];
		}
		for (int i = 0; i < A; i++)
			bt[j][i] = poly[i];
		for (int k = 0; k < 3; k++)
			tf->g[j][k] = (j < A - 1 ? pow(pts[j], k) : k == 2) / f;
		for (int i = 0; i < m; i++)
			at[i][j] = j < A - 1 ? pow(pts[j], i) : i == m - 1;
	}
	for (int i = 0; i < A; i++)
		for (int j = 0; j < A; j++) {
			tf->bt[i][j] = (float)bt[i][j];
			if (i < m)
				tf->at[i][j] = (float)at[i][j];
		}
	return 0;
}

int wino_layer_create(const float *kernel, const float *bias, int C, int K,
		      int m, int isa, wino_layer_t **out, char *err)
{
	wino_layer_t *l = NULL;
	double bt[WINO_MAX_A][WINO_MAX_A], at[WINO_MAX_A][WINO_MAX_A];
	size_t nu;
	int rc;

	*out = NULL;
	if (C < 1 || K < 1 || C > 65536 || K > 65536)
		return err_set(err, ERR_ARG, "winograd: %d input, %d output channels",
			       C, K);
	if (isa == ISA_AUTO)
		isa = isa_best();
	if (isa <= ISA_AUTO || isa >= ISA_COUNT)
		return err_set(err, ERR_ARG, "winograd: unknown ISA %d", isa);
	if (!isa_cpu_has(isa))
		return err_set(err, ERR_UNSUPPORTED, "winograd: this CPU lacks %s",
			       isa_name(isa));
	if (!(l = calloc(1, sizeof *l)))
		goto nomem;
	if ((rc = wino_tf_make(m, &l->tf, bt, at, err)))
		goto fail;
	l->k = kern_for(isa);
	if (!kern_tables_match(m, l->tf.bt, l->tf.at)) {
		rc = err_set(err, ERR_UNSUPPORTED,
			     "winograd: the vector kernels' F(%d,3) matrices differ", m);
		goto fail;
	}
	l->C = C;
	l->K = K;
	l->choice = (wino_choice_t){.shared = -1, .tiles = 0, .prefetch = -1};
	l->Cs = round_up(C, l->k->lanes);
	l->Ks = round_up(K, l->k->nr);
	const int A = l->tf.a, P = A * A;
	if (err_mul3_size((size_t)P, (size_t)l->Cs, (size_t)l->Ks, &nu) ||
	    nu > SIZE_MAX / sizeof(float))
		goto nomem;
	/* 64-byte aligned: the microkernel loads U's panels aligned. */
	l->u = bigmem_alloc(nu * sizeof(float));
	l->bias = malloc((size_t)K * sizeof(float));
	if (!l->u || !l->bias)
		goto nomem;
	memcpy(l->bias, bias, (size_t)K * sizeof(float));
	memset(l->u, 0, nu * sizeof(float));
	/* U = G g G' for each (c, k), in double: first G g (A, 3), then U. */
	const double (*G)[3] = l->tf.g;
	for (int c = 0; c < C; c++)
		for (int k = 0; k < K; k++) {
			double g[3][3], gg[WINO_MAX_A][3];
			for (int ky = 0; ky < 3; ky++)
				for (int kx = 0; kx < 3; kx++)
					g[ky][kx] = kernel[((size_t)(ky * 3 + kx) * C + c) * K + k];
			for (int a = 0; a < A; a++)
				for (int kx = 0; kx < 3; kx++)
					gg[a][kx] = G[a][0] * g[0][kx] + G[a][1] * g[1][kx] +
						    G[a][2] * g[2][kx];
			for (int a = 0; a < A; a++)
				for (int b = 0; b < A; b++) {
					float v = (float)(gg[a][0] * G[b][0] + gg[a][1] * G[b][1] +
							  gg[a][2] * G[b][2]);
					size_t p = (size_t)a * A + b, nr = (size_t)l->k->nr;
					l->u[((p * (l->Ks / nr) + k / nr) * l->Cs + c) * nr + k % nr] = v;
				}
		}
	*out = l;
	return 0;
nomem:
	rc = err_set(err, ERR_NOMEM, "winograd: out of memory for a %dx%d layer",
		     C, K);
fail:
	wino_layer_free(l);
	return rc;
}

int wino_tile(const wino_layer_t *l)
{
	return l->tf.m;
}

void wino_layer_free(wino_layer_t *l)
{
	if (!l)
		return;
	free(l->u);
	free(l->bias);
	free(l);
}

/* One tile's floats in V or M, P positions of S: padded by a cache line,
 * since the products read and write the rows of a position at this stride,
 * and a multiple of 4 KB would send them all to the same cache sets. */
static size_t row_floats(int P, int S)
{
	return (size_t)P * S + 16;
}

static size_t u_bytes(const wino_layer_t *l)
{
	return (size_t)l->tf.a * l->tf.a * l->Cs * l->Ks * sizeof(float);
}

static int shared_mode(const wino_layer_t *l)
{
	if (l->choice.shared >= 0)
		return l->choice.shared;
	return u_bytes(l) > U_CACHED_BYTES;
}

/* Bytes of V and M per tile: in shared mode M holds all the output
 * channels, in per-thread mode one panel of them at a time (nr). */
static size_t tile_bytes(const wino_layer_t *l)
{
	const int P = l->tf.a * l->tf.a;
	return (row_floats(P, l->Cs) + row_floats(P, shared_mode(l) ? l->Ks : l->k->nr)) *
	       sizeof(float);
}

/* The L2 cache of a core (1 MB when the C library cannot tell). */
static size_t l2_bytes(void)
{
	long b = sysconf(_SC_LEVEL2_CACHE_SIZE);
	return b > 0 ? (size_t)b : (size_t)1 << 20;
}

/* Tiles per block.  Each thread's block of V and M shares L2 with what it
 * reads of U: where U takes at most half of L2, half of what U leaves;
 * else half of L2, but at least BLOCK_MIN tiles, since U then comes from
 * past L2 once per block and each of its panels should serve two calls of
 * the microkernel (measured on 2 MB of L2, 2 threads: conv2_1 to conv3_1
 * fastest at 0.7 to 1.1 MB, 28 tiles; conv3_2 at 28 tiles, 2 MB, 4% less
 * time than at 14). */
#define BLOCK_MIN 28

static int block_max(const wino_layer_t *l)
{
	if (l->choice.tiles > 0)
		return l->choice.tiles;
	size_t l2 = l2_bytes(), u = u_bytes(l), tb;
	if (shared_mode(l))
		tb = SHARED_BYTES / tile_bytes(l);
	else if (u <= l2 / 2)
		tb = (l2 - u) / 2 / tile_bytes(l);
	else if ((tb = l2 / 2 / tile_bytes(l)) < BLOCK_MIN)
		tb = BLOCK_MIN;
	return tb < 6 ? 6 : tb > (1 << 20) ? 1 << 20 : (int)tb;
}

void wino_layer_set_choice(wino_layer_t *l, const wino_choice_t *c)
{
	l->choice = *c;
}

void wino_layer_choice(const wino_layer_t *l, wino_choice_t *c)
{
	c->shared = shared_mode(l);
	c->tiles = block_max(l);
	c->prefetch = l->choice.prefetch >= 0 ? l->choice.prefetch : 1;
}

size_t wino_work_floats(const wino_layer_t *l, int threads)
{
	size_t per = (size_t)block_max(l) * tile_bytes(l) / sizeof(float);
	return shared_mode(l) ? per : per * (size_t)threads;
}

typedef struct conv_job {
	const wino_layer_t *l;
	const float *in;
	float *out;
	int N, H, W, pool, prefetch, tiles_x, tiles_img, T, tb;
	float *work;
	int t0, n; /* the shared steps' block */
} conv_job_t;

/* Tiles t0..t0+n-1 into V (n, P, Cs) (tile-major: each tile's transform
 * writes one contiguous run, and the products take their rows at a stride
 * of one tile). */
static void in_tiles(const conv_job_t *j, int t0, int n, float *V)
{
	const wino_layer_t *l = j->l;
	const int m = l->tf.m, P = l->tf.a * l->tf.a;
	const size_t vrow = row_floats(P, l->Cs);

	for (int i = 0; i < n; i++) {
		int t = t0 + i, img = t / j->tiles_img, r = t % j->tiles_img;
		int y0 = r / j->tiles_x * m - 1, x0 = r % j->tiles_x * m - 1;
		const float *src = j->in + (size_t)img * j->H * j->W * l->C;
		l->k->wino_in(m, src, j->H, j->W, l->C, y0, x0, V + (size_t)i * vrow, l->Cs,
			      j->prefetch);
	}
}

/* M (n, P, Ks) of tiles t0.. into the output (pooled when j->pool). */
static void out_tiles(const conv_job_t *j, int t0, int n, const float *M)
{
	const wino_layer_t *l = j->l;
	const int m = l->tf.m, P = l->tf.a * l->tf.a;
	const size_t mrow = row_floats(P, l->Ks);

	for (int i = 0; i < n; i++) {
		int t = t0 + i, img = t / j->tiles_img, r = t % j->tiles_img;
		int y0 = r / j->tiles_x * m, x0 = r % j->tiles_x * m;
		size_t pixels = j->pool ? (size_t)(j->H / 2) * (j->W / 2)
					: (size_t)j->H * j->W;
		l->k->wino_out(m, M + (size_t)i * mrow, l->Ks, l->K, l->bias,
			       j->out + img * pixels * l->K, (size_t)l->K, j->H, j->W, y0, x0,
			       j->pool);
	}
}

/* M[:, p, k0..k1) = V[:, p, :] @ U_p[:, k0..k1) for n tiles: each tile's
 * row summed in an order of its own (kern.h's wino_gemm, in blocks of 256
 * channels), whatever n and the other tiles. */
static void products(const wino_layer_t *l, int p, int k0, int k1, int n,
		     const float *V, float *M)
{
	const int P = l->tf.a * l->tf.a;
	const size_t vrow = row_floats(P, l->Cs), mrow = row_floats(P, l->Ks);
	const float *vp = V + (size_t)p * l->Cs;
	float *mp = M + (size_t)p * l->Ks + k0;

	l->k->wino_gemm(n, l->Cs, k1 - k0, vp, vrow,
			l->u + ((size_t)p * l->Ks + k0) * l->Cs, mp, mrow);
}

/* Per-thread mode: one block of tiles, all three steps, one panel of
 * output channels (nr) at a time: the products of all the positions into
 * that panel's M, then its output transform (kern.h's wino_out on nr
 * channels of the image's K).  The block's V stays in L2 through all the
 * panels, and M is one panel's, so that a block of tiles fits L2 with a
 * quarter to a ninth of the bytes it took with all of M.  U is read once
 * per block, panel after panel; where it streams from past L2 (conv3_2:
 * 16.8 MB), each call asks for the next panel as it goes
 * (wino_gemm_ahead), which the hardware prefetcher cannot guess: the
 * next position's panel is Ks * Cs floats further on. */
static void conv_block(void *arg, int task, int worker)
{
	const conv_job_t *j = arg;
	const wino_layer_t *l = j->l;
	const int P = l->tf.a * l->tf.a, m = l->tf.m, nr = l->k->nr, t0 = task * j->tb;
	const int n = j->T - t0 < j->tb ? j->T - t0 : j->tb;
	const size_t vrow = row_floats(P, l->Cs), mrow = row_floats(P, nr);
	const size_t pixels = j->pool ? (size_t)(j->H / 2) * (j->W / 2) : (size_t)j->H * j->W;
	float *V = j->work + (size_t)worker * j->tb * tile_bytes(l) / sizeof(float);
	float *M = V + (size_t)j->tb * vrow;

	in_tiles(j, t0, n, V);
	for (int k0 = 0; k0 < l->Ks; k0 += nr) {
		for (int p = 0; p < P; p++) {
			/* The panel after this one: the next position's, after the
			 * last position the next panel's first, after the last
			 * panel the first (the next block's). */
			size_t next = p + 1 < P ? ((size_t)(p + 1) * l->Ks + k0) * l->Cs
				      : k0 + nr < l->Ks ? (size_t)(k0 + nr) * l->Cs : 0;
			l->k->wino_gemm_ahead(n, l->Cs, nr, V + (size_t)p * l->Cs, vrow,
					      l->u + ((size_t)p * l->Ks + k0) * l->Cs,
					      M + (size_t)p * nr, mrow, l->u + next);
		}
		const int kn = l->K - k0 < nr ? l->K - k0 : nr;
		for (int i = 0; i < n; i++) {
			int t = t0 + i, img = t / j->tiles_img, r = t % j->tiles_img;
			l->k->wino_out(m, M + (size_t)i * mrow, nr, kn, l->bias + k0,
				       j->out + img * pixels * l->K + k0, (size_t)l->K, j->H,
				       j->W, r / j->tiles_x * m, r % j->tiles_x * m, j->pool);
		}
	}
}

/* Shared mode: the block's V and M at the start of work. */
static float *shared_v(const conv_job_t *j)
{
	return j->work;
}

static float *shared_m(const conv_job_t *j)
{
	const int P = j->l->tf.a * j->l->tf.a;
	return j->work + (size_t)j->n * row_floats(P, j->l->Cs);
}

static void shared_in(void *arg, int task, int worker)
{
	const conv_job_t *j = arg;
	int i0 = task * SHARED_TILES, n = j->n - i0 < SHARED_TILES ? j->n - i0 : SHARED_TILES;
	const int P = j->l->tf.a * j->l->tf.a;
	in_tiles(j, j->t0 + i0, n, shared_v(j) + (size_t)i0 * row_floats(P, j->l->Cs));
}

static void shared_out(void *arg, int task, int worker)
{
	const conv_job_t *j = arg;
	int i0 = task * SHARED_TILES, n = j->n - i0 < SHARED_TILES ? j->n - i0 : SHARED_TILES;
	const int P = j->l->tf.a * j->l->tf.a;
	out_tiles(j, j->t0 + i0, n, shared_m(j) + (size_t)i0 * row_floats(P, j->l->Ks));
}

/* Task (p, column range): all the block's tiles, SHARED_ROWS at a time. */
static void shared_products(void *arg, int task, int worker)
{
	const conv_job_t *j = arg;
	const wino_layer_t *l = j->l;
	const int P = l->tf.a * l->tf.a, ncols = (l->Ks + SHARED_COLS - 1) / SHARED_COLS;
	const int p = task / ncols, k0 = task % ncols * SHARED_COLS;
	const int k1 = k0 + SHARED_COLS < l->Ks ? k0 + SHARED_COLS : l->Ks;
	const size_t vrow = row_floats(P, l->Cs), mrow = row_floats(P, l->Ks);

	for (int i0 = 0; i0 < j->n; i0 += SHARED_ROWS) {
		int n = j->n - i0 < SHARED_ROWS ? j->n - i0 : SHARED_ROWS;
		products(l, p, k0, k1, n, shared_v(j) + (size_t)i0 * vrow,
			 shared_m(j) + (size_t)i0 * mrow);
	}
}

void wino_conv3x3_relu(const wino_layer_t *l, const float *in, int N, int H,
		       int W, int pool, float *out, workers_t *workers, float *work)
{
	const int m = l->tf.m, tx = (W + m - 1) / m, ty = (H + m - 1) / m;
	const int T = N * tx * ty, threads = workers_threads(workers), bm = block_max(l);
	wino_choice_t c;
	wino_layer_choice(l, &c);
	conv_job_t j = {l, in, out, N, H, W, pool != 0, c.prefetch, tx, tx * ty, T, 0,
			work, 0, 0};

	if (shared_mode(l)) {
		int nb = (T + bm - 1) / bm, P = l->tf.a * l->tf.a;
		int ncols = (l->Ks + SHARED_COLS - 1) / SHARED_COLS;
		j.tb = (T + nb - 1) / nb;
		for (j.t0 = 0; j.t0 < T; j.t0 += j.tb) {
			j.n = T - j.t0 < j.tb ? T - j.t0 : j.tb;
			workers_run(workers, shared_in, &j, (j.n + SHARED_TILES - 1) / SHARED_TILES);
			workers_run(workers, shared_products, &j, P * ncols);
			workers_run(workers, shared_out, &j, (j.n + SHARED_TILES - 1) / SHARED_TILES);
		}
		return;
	}
	/* Equal blocks, as many as the scratch needs, a multiple of the
	 * threads so that none waits for the others at the end. */
	int nb = (T + bm - 1) / bm;
	nb = round_up(nb, threads);
	if (nb > T)
		nb = T;
	j.tb = (T + nb - 1) / nb;
	workers_run(workers, conv_block, &j, (T + j.tb - 1) / j.tb);
}
