/* vgg.h - VGG16 through fc2, or to another tap, float32, channels-last,
 * batched.
 *
 * Dimension letters used throughout: N batch, H height, W width, C input
 * channels, K output channels, D features.  Activations are NHWC.
 *
 * The network is the Keras one: 13 conv 3x3 'same' + ReLU, 2x2 max-pool after
 * blocks 1..5, flatten in H, W, C order (25088 = 7*7*512), fc1 + ReLU,
 * fc2 + ReLU.  It stops at its tap (net/model.h): fc2, fc1, or block5_pool
 * flattened, averaged or maxed over its 7x7 (Keras' Flatten,
 * GlobalAveragePooling2D, GlobalMaxPooling2D).  Output: (N, D) float32, D
 * the tap's dim (vgg_dim). */
#ifndef COMMON_NET_VGG_H
#define COMMON_NET_VGG_H

#include <stddef.h>

#include "net/model.h"
#include "net/weights.h"
#include "net/winograd.h"

/* The input: VGG_IN x VGG_IN x 3 floats per image (Keras' load_img
 * target_size, then the model's preprocessing: img_load_input). */
#define VGG_IN 224
#define VGG_IN_FLOATS ((size_t)VGG_IN * VGG_IN * 3)
/* The dense layers' width: fc1's and fc2's vectors. */
#define VGG_FEATURES 4096

typedef struct vgg vgg_t;

/* How the 3x3 convolutions are computed. */
enum {
	/* Winograd F(m x m, 3 x 3) (winograd.h) for every layer but conv1_1
	 * (3 input channels: a direct vector kernel, or im2col), with m per
	 * layer as measured fastest here; fc2 stays within 1e-4 of max |ref|
	 * of a double reference (measured: about 3e-6). */
	VGG_CONV_WINOGRAD = 0,
	/* The reference: im2col + sgemm (vgg_conv3x3_relu) for every layer. */
	VGG_CONV_DIRECT = 1,
};

/* The timed stages of a forward, in order: conv1_1 .. conv5_3 with their
 * pools, fc1, fc2 (see vgg_stage_name). */
#define VGG_NSTAGES (WEIGHTS_NCONV + 5 + 2)

typedef struct vgg_opts {
	int max_batch; /* images per vgg_forward, 1..4096 */
	int conv;      /* VGG_CONV_WINOGRAD or VGG_CONV_DIRECT */
	int threads;   /* compute threads, 1..256; 0: one per CPU (workers_cpus) */
	int isa;       /* ISA_AUTO or one of isa.h's */
	/* Winograd tile side m (2, 4 or 6) per conv layer; 0 takes the
	 * default; ignored for conv1_1 and on the direct path. */
	int tile[WEIGHTS_NCONV];
	int tap;       /* where the output is taken (net/model.h's MODEL_TAP_*) */
} vgg_opts_t;

/* vgg_opts_init fills the defaults: fc2, Winograd, every CPU, the best
 * ISA. */
void vgg_opts_init(vgg_opts_t *o, int max_batch);

/* vgg_create_opts prepares a network over w (which must outlive it):
 * transforms the conv kernels for Winograd (194 MB with the default
 * tiles), allocates the work memory (bounded by max_batch and the threads:
 * 2 x 12.8 MB per image of activations, and 64 MB for the Winograd layers,
 * or 32 MB per thread on the direct path) and starts the compute threads.  OpenBLAS is set to
 * one thread: the network runs its own.  Returns 0, ERR_ARG (a field out
 * of range, or a tap that needs layers w lacks: fc1 or fc2 from a _notop
 * file), ERR_UNSUPPORTED (the ISA asked for is not on this CPU) or
 * ERR_NOMEM. */
int vgg_create_opts(const weights_t *w, const vgg_opts_t *o, vgg_t **out,
		    char *err);

/* vgg_create: vgg_create_opts with the defaults for max_batch. */
int vgg_create(const weights_t *w, int max_batch, vgg_t **out, char *err);

/* vgg_forward: in is (n, 224, 224, 3) preprocessed BGR, out is (n, D), D
 * the tap's dim (vgg_dim).
 * 1 <= n <= max_batch.  Returns 0 or ERR_ARG.  An image's output is a
 * function of that image alone, to the bit: no batch size, place in the
 * batch, other image or thread count changes it (each layer sums every
 * output in one fixed order; tests/test_determinism.c).  The ISA and the
 * convolution (conv, tile) do change it, within the bounds above. */
int vgg_forward(vgg_t *net, const float *in, int n, float *out, char *err);

/* vgg_stage_times adds up, since vgg_create, the seconds each stage took
 * (wall clock) into sec[VGG_NSTAGES]. */
void vgg_stage_times(const vgg_t *net, double sec[VGG_NSTAGES]);

/* vgg_stage_name: "conv1_1", "conv1_2", "pool1", ..., "fc2" (each conv
 * with its ReLU, each fc with its ReLU); the Winograd tile
 * side of conv layer i (0 for im2col) by vgg_conv_tile. */
const char *vgg_stage_name(int stage);
int vgg_conv_tile(const vgg_t *net, int layer);

/* vgg_threads: the compute threads the network runs on; vgg_isa: the ISA
 * its kernels run (isa.h), never ISA_AUTO; vgg_dim: the length of its
 * output vectors, its tap's dim (net/model.h). */
int vgg_threads(const vgg_t *net);
int vgg_isa(const vgg_t *net);
int vgg_dim(const vgg_t *net);

void vgg_free(vgg_t *net);

/* The layers, exposed for tests. */

/* in (N, H, W, C), kernel (3, 3, C, K) HWIO, bias (K), out (N, H, W, K):
 * 3x3 'same' convolution (zero padding 1), stride 1, then ReLU, as im2col
 * plus one sgemm per band of rows.  col is scratch of col_len floats, at
 * least W * 9 * C (one row); more rows per band when there is room. */
void vgg_conv3x3_relu(const float *in, int N, int H, int W, int C,
		      const float *kernel, const float *bias, int K, float *out,
		      float *col, size_t col_len);

/* in (N, H, W, C), out (N, H/2, W/2, C): 2x2 max-pool, stride 2 ('valid',
 * odd trailing row/column dropped, as Keras does). */
void vgg_maxpool2(const float *in, int N, int H, int W, int C, float *out);

/* in (N, P, C), P positions (block5_pool's 7 * 7, in H, W order), out
 * (N, C): each channel's mean over the P positions (max: its maximum), as
 * Keras' GlobalAveragePooling2D (GlobalMaxPooling2D).  The mean sums the
 * positions in their order in double and rounds once, so an image's bits
 * are its own whatever the batch. */
void vgg_global_pool(const float *in, int N, int P, int C, int max, float *out);

#endif
