/* winograd.h - 3x3 'same' convolution (stride 1, zero padding 1) + bias +
 * ReLU by Winograd's minimal filtering F(m x m, 3 x 3) (Lavin & Gray 2016).
 *
 * Letters: N batch, H height, W width, C input channels, K output channels,
 * m output tile side, A = m + 2 input tile side, P = A * A transform
 * positions, T tiles.  Activations are NHWC, kernels HWIO, as in vgg.h.
 *
 * An output tile of m x m pixels is computed from an A x A input patch: the
 * patch is transformed (V = B' d B), multiplied position by position with
 * the transformed kernel (U = G g G'), summed over C, and transformed back
 * (Y = A' M A).  The sum over C is, for each of the P positions, one matrix
 * product (T, C) @ (C, K) over a block of tiles.  m * m outputs then cost P
 * multiplications instead of 9 m * m: 2.25x fewer for m = 2, 4x for m = 4,
 * 5.06x for m = 6, with larger rounding errors as m grows (the matrices are
 * built from the points 0, +-1, +-2, +-1/2 and infinity, Toom-Cook style).
 *
 * The ISA (isa.h) is chosen at vgg_create time; its kernels (kern.h)
 * transform across channels and multiply by their own microkernel.  A
 * tile's output is computed on its own, in one order: the same bits
 * whatever the batch, the block of tiles or the threads, and on every
 * ISA. */
#ifndef COMMON_NET_WINOGRAD_H
#define COMMON_NET_WINOGRAD_H

#include <stddef.h>

#include "base/workers.h"
#include "kernels/isa.h"
#include "kernels/kern.h"

#define WINO_MAX_A KERN_MAX_A

/* The transform matrices of F(m x m, 3 x 3), rounded to float (the
 * kernels hold the same numbers as constants: kern_tables_match). */
typedef struct wino_tf {
	int m, a;
	float bt[WINO_MAX_A][WINO_MAX_A]; /* B' (A, A) */
	float at[WINO_MAX_A][WINO_MAX_A]; /* A' (m, A) */
	double g[WINO_MAX_A][3];          /* G (A, 3), kept in double */
} wino_tf_t;

/* wino_tf_make builds the matrices for m = 2, 4 or 6 in double (returns 0),
 * or returns ERR_ARG for another m. */
int wino_tf_make(int m, wino_tf_t *tf, double bt[WINO_MAX_A][WINO_MAX_A],
		 double at[WINO_MAX_A][WINO_MAX_A], char *err);

typedef struct wino_layer wino_layer_t;

/* wino_layer_create transforms kernel (3, 3, C, K) HWIO for tile side m (in
 * double, rounded once to float) and copies bias (K).  isa: ISA_* (isa.h).
 * Returns 0, ERR_ARG (m not 2/4/6, bad sizes), ERR_UNSUPPORTED (the CPU
 * lacks the ISA asked for) or ERR_NOMEM. */
int wino_layer_create(const float *kernel, const float *bias, int C, int K,
		      int m, int isa, wino_layer_t **out, char *err);

/* wino_tile: the layer's m. */
int wino_tile(const wino_layer_t *l);

/* How wino_conv3x3_relu runs a layer: none of it changes a bit of the
 * output, only the speed (the tuner measures them: net/tune.h). */
typedef struct wino_choice {
	/* 1: the threads do each step together over large blocks (U streams
	 * from memory once per block); 0: each thread takes blocks of tiles
	 * through all three steps on its own; -1: by the size of U. */
	int shared;
	/* Tiles per block; 0: by the size of L2. */
	int tiles;
	/* 1: the input transform asks for the next tile's pixels ahead; 0:
	 * not; -1: the default, 1. */
	int prefetch;
} wino_choice_t;

/* wino_layer_set_choice sets how l runs (call before wino_work_floats);
 * wino_layer_choice fills c with the choice in force, the automatic
 * fields resolved. */
void wino_layer_set_choice(wino_layer_t *l, const wino_choice_t *c);
void wino_layer_choice(const wino_layer_t *l, wino_choice_t *c);

/* wino_layer_free accepts NULL. */
void wino_layer_free(wino_layer_t *l);

/* wino_work_floats: the work memory wino_conv3x3_relu needs for layer l
 * with a workers of threads, in floats. */
size_t wino_work_floats(const wino_layer_t *l, int threads);

/* wino_conv3x3_relu: in (N, H, W, C), out (N, H, W, K) or, with pool set,
 * (N, H/2, W/2, K), the 2x2 max-pools of those outputs (Keras' 'valid'
 * pool, as vgg_maxpool2_ref; the same bits, without writing the unpooled
 * outputs); out must not overlap in.  The work is shared among the
 * workers' threads (in blocks of tiles, or step by step for layers with a
 * large U); work holds at least wino_work_floats(l, workers_threads(workers))
 * floats. */
void wino_conv3x3_relu(const wino_layer_t *l, const float *in, int N, int H,
		       int W, int pool, float *out, workers_t *workers,
		       float *work);

#endif
