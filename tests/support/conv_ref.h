/* conv_ref.h - the tests' references for a 3x3 convolution (stride 1,
 * zero padding 1, then ReLU), each independent of the kernels under test.
 * Letters: N batch, H height, W width, C input channels, K output
 * channels; in (N, H, W, C) or (H, W, C), kernel (3, 3, C, K) HWIO, bias
 * (K), out as in with K channels. */
#ifndef TESTS_CONV_REF_H
#define TESTS_CONV_REF_H

#include <stddef.h>

/* tu_conv3x3_ref: every sum in double, the one the fast paths' rounding is
 * measured against. */
void tu_conv3x3_ref(const float *in, int N, int H, int W, int C,
		    const float *kernel, const float *bias, int K, double *out);

/* tu_conv3x3_im2col: float32, im2col plus one OpenBLAS sgemm per band of
 * rows, then bias and ReLU: a second float32 implementation to set beside
 * ours (its bits depend on the CPU's OpenBLAS kernel, so only its error is
 * compared).  col is scratch of col_len floats, at least W * 9 * C (one
 * row); more rows per band when there is room. */
void tu_conv3x3_im2col(const float *in, int N, int H, int W, int C,
		       const float *kernel, const float *bias, int K, float *out,
		       float *col, size_t col_len);

/* tu_direct3x3_in_order: kern.h's direct3x3 promise in plain C, rows
 * y0..y1 of one image: bias first, then the taps inside the image in (ky,
 * kx, c) order, one fmaf each; with KERN_DIRECT_SPLIT_C or more channels,
 * each tap's terms summed from zero and then added.  The kernels must give
 * its bits. */
void tu_direct3x3_in_order(const float *in, int H, int W, int C,
			   const float *kernel, const float *bias, int K,
			   float *out, int y0, int y1);

#endif
