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
	 * (3 input channels: a direct kernel), with m per layer as measured
	 * fastest here, on the ISA's kernels (kern.h), which all give the same
	 * bits; fc2 stays within 1e-4 of max |ref| of a double reference
	 * (measured: about 3e-6). */
	VGG_CONV_WINOGRAD = 0,
	/* The reference: the kernels' direct convolution (kern.h's direct3x3:
	 * each output's terms in (ky, kx, c) order, one fused multiply-add
	 * each) for every layer, plain pools (vgg_maxpool2_ref); the same
	 * bits on every ISA and CPU, as the Winograd path's.  (Before
	 * 2026-12-07: im2col + OpenBLAS sgemm, whose bits depend on the CPU:
	 * a store records which, featdb.h's "conv_sums".) */
	VGG_CONV_DIRECT = 1,
};

/* vgg_conv_name: a convolution path's name, as extract's and predict's
 * --conv, the store's metadata "conv" and a head's vggfeat_conv spell it.
 *   conv  VGG_CONV_WINOGRAD or VGG_CONV_DIRECT
 * Returns "winograd" or "direct" (a static string), or "?" for any other
 * value. */
const char *vgg_conv_name(int conv);

/* vgg_conv_parse: the path a name stands for, vgg_conv_name's inverse.
 *   s  a NUL-terminated name, compared exactly; may be NULL
 * Returns VGG_CONV_WINOGRAD or VGG_CONV_DIRECT, or -1 when s names
 * neither. */
int vgg_conv_parse(const char *s);

/* vgg_conv_choose: the path to compute on so that a vector is, to the
 * bit, the one a record (a store's "conv", a head's vggfeat_conv) says it
 * was made with.
 *   given     the path asked for (--conv), or -1 for the record's
 *   recorded  the record's name for its path, or NULL when there is no
 *             record (the default path, VGG_CONV_WINOGRAD)
 *   path      the record's file, and
 *   whose     what it holds, for the message: "<path> <whose> made with
 *             --conv '<recorded>'; this program computes winograd or
 *             direct" ("holds vectors", "was trained on features")
 *   conv      out: VGG_CONV_WINOGRAD or VGG_CONV_DIRECT
 * Returns 0, or ERR_MISMATCH when given is negative and recorded names a
 * path this program does not compute. */
int vgg_conv_choose(int given, const char *recorded, const char *path,
		    const char *whose, int *conv, char *err);

/* The timed stages of a forward, in order: conv1_1 .. conv5_3 with their
 * pools, fc1, fc2 (see vgg_stage_name). */
#define VGG_NSTAGES (WEIGHTS_NCONV + 5 + 2)

/* By default conv layers 0..VGG_BY_IMAGE-1 (blocks 1 and 2) run one image
 * at a time on the Winograd path: an image's activations there (12.8 MB at
 * most) stay in the caches from one layer to the next, where a batch's
 * would go through memory; their transformed kernels are small enough to
 * be read once per image.  (Measured: blocks 1 and 2 took 27.7 ms per image
 * so, 30.5 ms batched, best of 5 runs each on a busy machine.) */
#define VGG_BY_IMAGE 4
/* Images per batch extract asks for by default: fc1 and fc2 read their
 * 475 MB of weights once per batch (8: 3.1 ms of fc1 per image on the
 * AVX-512 machine). */
#define VGG_GATHER 32

/* How the network runs, in ways that change no bit of any output, only
 * the speed: the tuner (net/tune.h) measures them on the CPU at hand. */
typedef struct vgg_tune {
	/* Conv layers 0..by_image-1 run one image at a time (their activations
	 * stay in the caches), the others over the batch: 0..13.  The direct
	 * path runs every layer over the batch. */
	int by_image;
	/* How each Winograd layer shares its work (conv1_1's is unused). */
	wino_choice_t conv[WEIGHTS_NCONV];
	/* The images per batch extract asks for unless told: fc1 and fc2 read
	 * their 475 MB of weights once per batch (not the network's own). */
	int gather;
} vgg_tune_t;

/* vgg_tune_init fills the defaults: blocks 1 and 2 by image, each layer's
 * choice by the sizes of its transformed kernels and of L2, batches of 32. */
void vgg_tune_init(vgg_tune_t *t);

typedef struct vgg_opts {
	int max_batch; /* images per vgg_forward, 1..4096 */
	int conv;      /* VGG_CONV_WINOGRAD or VGG_CONV_DIRECT */
	int threads;   /* compute threads, 1..256; 0: one per CPU (workers_cpus) */
	int isa;       /* ISA_AUTO or one of isa.h's */
	/* Winograd tile side m (2, 4 or 6) per conv layer; 0 takes the
	 * default; ignored for conv1_1 and on the direct path. */
	int tile[WEIGHTS_NCONV];
	int tap;       /* where the output is taken (net/model.h's MODEL_TAP_*) */
	vgg_tune_t tune;
} vgg_opts_t;

/* vgg_opts_init fills the defaults: fc2, Winograd, every CPU, the best
 * ISA, vgg_tune_init's choices. */
void vgg_opts_init(vgg_opts_t *o, int max_batch);

/* vgg_create_opts prepares a network over w (which must outlive it):
 * transforms the conv kernels for Winograd (194 MB with the default
 * tiles), allocates the work memory (bounded by max_batch and the threads:
 * with the default tune, 2 x 12.8 MB for the layers run by image and 2 x
 * 3.2 MB per image of the batch, and up to 64 MB for the Winograd layers;
 * on the direct path 2 x 12.8 MB per image and 32 MB per thread) and
 * starts the compute threads.  OpenBLAS is set to one thread: the network
 * runs its own.  Returns 0, ERR_ARG (a field out of range, or a tap that
 * needs layers w lacks: fc1 or fc2 from a _notop file), ERR_UNSUPPORTED
 * (the ISA asked for is not on this CPU) or ERR_NOMEM. */
int vgg_create_opts(const weights_t *w, const vgg_opts_t *o, vgg_t **out,
		    char *err);

/* vgg_create: vgg_create_opts with the defaults for max_batch. */
int vgg_create(const weights_t *w, int max_batch, vgg_t **out, char *err);

/* vgg_forward: in is (n, 224, 224, 3) preprocessed BGR, out is (n, D), D
 * the tap's dim (vgg_dim).
 * 1 <= n <= max_batch.  Returns 0 or ERR_ARG.  An image's output is a
 * function of that image alone, to the bit: no batch size, place in the
 * batch, other image or thread count changes it (each layer sums every
 * output in one fixed order; tests/test_determinism.c), nor the ISA (every
 * ISA's kernels give the same bits).  The convolution (conv, tile) does
 * change it, within the bounds above. */
int vgg_forward(vgg_t *net, const float *in, int n, float *out, char *err);

/* vgg_stage_times gives, added up since vgg_create, the seconds each
 * stage took: sec[VGG_NSTAGES] of the wall clock and, unless cpu is NULL,
 * cpu[VGG_NSTAGES] of the process' CPU time (every thread's: the measure
 * that other jobs on the machine move least).  A pool done by its conv
 * layer's output transform (the Winograd layers') counts in that layer's
 * time, and its own stays 0. */
void vgg_stage_times(const vgg_t *net, double sec[VGG_NSTAGES],
		     double cpu[VGG_NSTAGES]);

/* vgg_stage_name: "conv1_1", "conv1_2", "pool1", ..., "fc2" (each conv
 * with its ReLU, each fc with its ReLU); the Winograd tile
 * side of conv layer i (0 for the direct kernel) by vgg_conv_tile. */
const char *vgg_stage_name(int stage);
int vgg_conv_tile(const vgg_t *net, int layer);

/* vgg_default_tile: the Winograd tile side m of conv layer i by default
 * (0 for conv1_1, computed directly). */
int vgg_default_tile(int layer);

/* vgg_tuning fills t with the choices in force, automatic ones resolved
 * (gather: the default's). */
void vgg_tuning(const vgg_t *net, vgg_tune_t *t);

/* vgg_threads: the compute threads the network runs on; vgg_isa: the ISA
 * its kernels run (isa.h), never ISA_AUTO; vgg_kernels: those kernels;
 * vgg_dim: the length of its output vectors, its tap's dim (net/model.h). */
int vgg_threads(const vgg_t *net);
int vgg_isa(const vgg_t *net);
const kern_t *vgg_kernels(const vgg_t *net);
int vgg_dim(const vgg_t *net);

void vgg_free(vgg_t *net);

/* in (N, H, W, C), out (N, H/2, W/2, C): 2x2 max-pool, stride 2 ('valid',
 * odd trailing row/column dropped, as Keras does), in plain C: the direct
 * path's pool, and the tests' reference for the kernels' maxpool2. */
void vgg_maxpool2_ref(const float *in, int N, int H, int W, int C, float *out);

/* in (N, P, C), P positions (block5_pool's 7 * 7, in H, W order), out
 * (N, C): each channel's mean over the P positions (max: its maximum), as
 * Keras' GlobalAveragePooling2D (GlobalMaxPooling2D).  The mean sums the
 * positions in their order in double and rounds once, so an image's bits
 * are its own whatever the batch. */
void vgg_global_pool(const float *in, int N, int P, int C, int max, float *out);

#endif
