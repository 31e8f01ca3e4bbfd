/* vgg.c - VGG16 through fc2: the straightforward fp32 path (im2col + OpenBLAS
 * sgemm).  N batch, H height, W width, C input channels, K output channels;
 * activations are NHWC, kernels HWIO, as in Keras. */
#include "vgg.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* The largest activation is block1's (224, 224, 64); two of them per image
 * ping-pong through the network. */
#define VGG_ACT_MAX ((size_t)VGG_IN * VGG_IN * 64)
/* im2col scratch: a band of rows at a time keeps it bounded (32 MB). */
#define VGG_COL_MAX ((size_t)8 << 20)
#define VGG_FLAT (7 * 7 * 512)

struct vgg {
	const weights_t *w;
	int max_batch;
	float *act[2]; /* (max_batch, VGG_ACT_MAX) each */
	float *col;    /* (VGG_COL_MAX) */
	float *fc;     /* (max_batch, VGG_FEATURES): fc1's output */
};

/* col (R * W, 9 * C): row (y, x) holds the 3x3 neighbourhood of in[y0 + y, x]
 * in kernel order (ky, kx, c), zeros outside the image.  in is (H, W, C). */
static void im2col_rows(const float *in, int H, int W, int C, int y0, int R,
			float *col)
{
	size_t cc = (size_t)C * sizeof(float);
	for (int y = y0; y < y0 + R; y++) {
		for (int x = 0; x < W; x++) {
			float *dst = col + ((size_t)(y - y0) * W + x) * 9 * C;
			for (int ky = 0; ky < 3; ky++) {
				int sy = y + ky - 1;
				for (int kx = 0; kx < 3; kx++, dst += C) {
					int sx = x + kx - 1;
					if (sy < 0 || sy >= H || sx < 0 || sx >= W)
						memset(dst, 0, cc);
					else
						memcpy(dst, in + ((size_t)sy * W + sx) * C, cc);
				}
			}
		}
	}
}

/* x (M, K) += bias (K), then ReLU. */
static void bias_relu(float *x, size_t M, int K, const float *bias)
{
	for (size_t i = 0; i < M; i++) {
		float *r = x + i * K;
		for (int k = 0; k < K; k++) {
			float v = r[k] + bias[k];
			r[k] = v > 0.0f ? v : 0.0f;
		}
	}
}

void vgg_conv3x3_relu(const float *in, int N, int H, int W, int C,
		      const float *kernel, const float *bias, int K, float *out,
		      float *col, size_t col_len)
{
	size_t row = (size_t)W * 9 * C;
	int band = (int)(col_len / row);
	if (band > H)
		band = H;
	for (int n = 0; n < N; n++) {
		const float *x = in + (size_t)n * H * W * C;
		float *y = out + (size_t)n * H * W * K;
		for (int y0 = 0; y0 < H; y0 += band) {
			int R = H - y0 < band ? H - y0 : band;
			float *dst = y + (size_t)y0 * W * K;
			im2col_rows(x, H, W, C, y0, R, col);
			/* (R*W, 9C) @ (9C, K) -> (R*W, K) */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
				    R * W, K, 9 * C, 1.0f, col, 9 * C, kernel, K,
				    0.0f, dst, K);
			bias_relu(dst, (size_t)R * W, K, bias);
		}
	}
}

void vgg_maxpool2(const float *in, int N, int H, int W, int C, float *out)
{
	int Ho = H / 2, Wo = W / 2;
	for (int n = 0; n < N; n++) {
		const float *x = in + (size_t)n * H * W * C;
		float *y = out + (size_t)n * Ho * Wo * C;
		for (int oy = 0; oy < Ho; oy++) {
			for (int ox = 0; ox < Wo; ox++) {
				const float *a = x + ((size_t)(2 * oy) * W + 2 * ox) * C;
				const float *b = a + C;
				const float *c = a + (size_t)W * C;
				const float *d = c + C;
				float *o = y + ((size_t)oy * Wo + ox) * C;
				for (int k = 0; k < C; k++) {
					float m = a[k] > b[k] ? a[k] : b[k];
					float m2 = c[k] > d[k] ? c[k] : d[k];
					o[k] = m > m2 ? m : m2;
				}
			}
		}
	}
}

void vgg_dense(const float *in, int N, int C, const float *kernel,
	       const float *bias, int K, int relu, float *out)
{
	/* (N, C) @ (C, K): the kernel is streamed once for the whole batch. */
	for (int n = 0; n < N; n++)
		memcpy(out + (size_t)n * K, bias, (size_t)K * sizeof(float));
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, K, C, 1.0f,
		    in, C, kernel, K, 1.0f, out, K);
	if (relu)
		for (size_t i = 0; i < (size_t)N * K; i++)
			out[i] = out[i] > 0.0f ? out[i] : 0.0f;
}

int vgg_create(const weights_t *w, int max_batch, vgg_t **out, char *err)
{
	vgg_t *net = NULL;
	size_t act;

	*out = NULL;
	if (!w || max_batch < 1 || max_batch > 4096)
		return err_set(err, ERR_ARG, "vgg: batch size %d out of range 1..4096",
			       max_batch);
	if (err_mul_size(VGG_ACT_MAX * sizeof(float), (size_t)max_batch, &act))
		return err_set(err, ERR_NOMEM, "vgg: batch %d too large", max_batch);
	net = calloc(1, sizeof *net);
	if (!net)
		goto nomem;
	net->w = w;
	net->max_batch = max_batch;
	net->act[0] = malloc(act);
	net->act[1] = malloc(act);
	net->col = malloc(VGG_COL_MAX * sizeof(float));
	net->fc = malloc((size_t)max_batch * VGG_FEATURES * sizeof(float));
	if (!net->act[0] || !net->act[1] || !net->col || !net->fc)
		goto nomem;
	*out = net;
	return 0;
nomem:
	vgg_free(net);
	return err_set(err, ERR_NOMEM,
		       "vgg: out of memory for a batch of %d (%zu MB of activations)",
		       max_batch, 2 * act >> 20);
}

int vgg_forward(vgg_t *net, const float *in, int n, float *out, char *err)
{
	const weights_t *w = net->w;
	const float *x = in;
	int H = VGG_IN, W = VGG_IN, C = 3, cur = 0;

	if (n < 1 || n > net->max_batch)
		return err_set(err, ERR_ARG, "vgg: batch of %d, network made for 1..%d",
			       n, net->max_batch);
	for (int i = 0; i < WEIGHTS_NCONV; i++) {
		const weights_layer_spec_t *s = &weights_spec[i];
		float *y = net->act[cur];
		vgg_conv3x3_relu(x, n, H, W, C, w->kernel[i], w->bias[i], s->cout,
				 y, net->col, VGG_COL_MAX);
		C = s->cout;
		x = y;
		cur ^= 1;
		if (s->pool_after) {
			y = net->act[cur];
			vgg_maxpool2(x, n, H, W, C, y);
			H /= 2;
			W /= 2;
			x = y;
			cur ^= 1;
		}
	}
	/* x is (n, 7, 7, 512) NHWC, so each image is already flattened in Keras'
	 * H, W, C order: (n, 25088). */
	vgg_dense(x, n, VGG_FLAT, w->kernel[13], w->bias[13], VGG_FEATURES, 1,
		  net->fc);
	vgg_dense(net->fc, n, VGG_FEATURES, w->kernel[14], w->bias[14],
		  VGG_FEATURES, 1, out);
	return 0;
}

void vgg_free(vgg_t *net)
{
	if (!net)
		return;
	free(net->act[0]);
	free(net->act[1]);
	free(net->col);
	free(net->fc);
	free(net);
}
