/* vgg.h - VGG16 through fc2, float32, channels-last, batched.
 *
 * Dimension letters used throughout: N batch, H height, W width, C input
 * channels, K output channels, D features.  Activations are NHWC.
 *
 * The network is the Keras one: 13 conv 3x3 'same' + ReLU, 2x2 max-pool after
 * blocks 1..5, flatten in H, W, C order (25088 = 7*7*512), fc1 + ReLU,
 * fc2 + ReLU.  Output: (N, 4096) float32. */
#ifndef COMMON_VGG_H
#define COMMON_VGG_H

#include <stddef.h>

#include "weights.h"

#define VGG_IN 224
#define VGG_FEATURES 4096

typedef struct vgg vgg_t;

/* vgg_create prepares a network over w (which must outlive it) for batches
 * of up to max_batch images.  Work memory is bounded by max_batch, not by
 * the whole network.  Returns 0, ERR_ARG or ERR_NOMEM. */
int vgg_create(const weights_t *w, int max_batch, vgg_t **out, char *err);

/* vgg_forward: in is (n, 224, 224, 3) preprocessed BGR, out is (n, 4096).
 * 1 <= n <= max_batch. */
int vgg_forward(vgg_t *net, const float *in, int n, float *out, char *err);

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

/* in (N, C), kernel (C, K), bias (K), out (N, K): out = in @ kernel + bias,
 * then ReLU when relu is non-zero. */
void vgg_dense(const float *in, int N, int C, const float *kernel,
	       const float *bias, int K, int relu, float *out);

#endif
