/* conv_ref.c - see conv_ref.h. */
#include "conv_ref.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "kernels/kern.h"

void tu_conv3x3_ref(const float *in, int N, int H, int W, int C,
		    const float *kernel, const float *bias, int K, double *out)
{
	for (int n = 0; n < N; n++)
		for (int y = 0; y < H; y++)
			for (int x = 0; x < W; x++)
				for (int k = 0; k < K; k++) {
					double s = bias[k];
					for (int ky = 0; ky < 3; ky++)
						for (int kx = 0; kx < 3; kx++) {
							int sy = y + ky - 1, sx = x + kx - 1;
							if (sy < 0 || sy >= H || sx < 0 || sx >= W)
								continue;
							const float *p = in + (((size_t)n * H + sy) * W + sx) * C;
							const float *g = kernel + (size_t)(ky * 3 + kx) * C * K + k;
							for (int c = 0; c < C; c++)
								s += (double)p[c] * g[(size_t)c * K];
						}
					out[(((size_t)n * H + y) * W + x) * K + k] = s > 0 ? s : 0;
				}
}

/* col (R * W, 9 * C): row (y, x) holds the 3x3 neighbourhood of in[y0 + y, x]
 * in kernel order (ky, kx, c), zeros outside the image.  in is (H, W, C). */
static void im2col_rows(const float *in, int H, int W, int C, int y0, int R,
			float *col)
{
	size_t cc = (size_t)C * sizeof(float);
	for (int y = y0; y < y0 + R; y++)
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

void tu_conv3x3_im2col(const float *in, int N, int H, int W, int C,
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
			/* (R*W, 9C) @ (9C, K) -> (R*W, K), then bias and ReLU. */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R * W, K,
				    9 * C, 1.0f, col, 9 * C, kernel, K, 0.0f, dst, K);
			for (size_t i = 0; i < (size_t)R * W; i++)
				for (int k = 0; k < K; k++) {
					float v = dst[i * K + k] + bias[k];
					dst[i * K + k] = v > 0.0f ? v : 0.0f;
				}
		}
	}
}

void tu_direct3x3_in_order(const float *in, int H, int W, int C,
			   const float *kernel, const float *bias, int K,
			   float *out, int y0, int y1)
{
	const int split = C >= KERN_DIRECT_SPLIT_C;
	for (int y = y0; y < y1; y++)
		for (int x = 0; x < W; x++)
			for (int k = 0; k < K; k++) {
				float a = bias[k];
				for (int ky = 0; ky < 3; ky++)
					for (int kx = 0; kx < 3; kx++) {
						int sy = y + ky - 1, sx = x + kx - 1;
						if (sy < 0 || sy >= H || sx < 0 || sx >= W)
							continue;
						float t = split ? 0.0f : a;
						for (int c = 0; c < C; c++)
							t = fmaf(in[((size_t)sy * W + sx) * C + c],
								 kernel[((size_t)(ky * 3 + kx) * C + c) * K + k], t);
						a = split ? a + t : t;
					}
				out[((size_t)y * W + x) * K + k] = a > 0 ? a : 0;
			}
}
