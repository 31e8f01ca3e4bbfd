/* wino_avx2.h - the AVX2+FMA kernels of winograd.c, in a file of their own
 * so that only it is compiled with -mavx2 -mfma (see the Makefile); they
 * run only where isa_cpu_has(ISA_AVX2).
 *
 * Letters as in winograd.h; Cs is C rounded up to 8 (the row stride of V),
 * Ks is K rounded up to 16 (the row stride of M and of U's panels). */
#ifndef COMMON_WINO_AVX2_H
#define COMMON_WINO_AVX2_H

#include <stddef.h>

#include "winograd.h"

/* wino_avx2_tables_match: 1 when the kernels' own copies of B' and A' for
 * tf->m are tf's (the kernels take them as constants, to unroll). */
int wino_avx2_tables_match(const wino_tf_t *tf);

/* img (H, W, C); the A x A patch at (y0, x0), zero outside the image, is
 * transformed into V: position p's Cs floats at V + p * pstride (the lanes
 * past C are zero). */
void wino_avx2_in_tile(const wino_tf_t *tf, const float *img, int H, int W,
		       int C, int y0, int x0, float *V, size_t pstride);

/* M: position p's Ks floats at M + p * pstride; the m x m outputs at
 * (y0, x0) of img (H, W, K), those inside the image, get A' M A + bias,
 * then ReLU. */
void wino_avx2_out_tile(const wino_tf_t *tf, const float *M, size_t pstride,
			int K, const float *bias, float *img, int H, int W,
			int y0, int x0);

/* V (T, Cs) with rows ldv apart, U (Ks/16, Cs, 16) panels of 16 columns,
 * M (T, Ks) with rows ldm apart: M = V @ U. */
void wino_avx2_gemm(int T, int Cs, int Ks, const float *V, size_t ldv,
		    const float *U, float *M, size_t ldm);

/* img (H, W, C), kernel (3, 3, C, K) HWIO, bias (K), out (H, W, K): rows
 * y0..y1-1 of the 3x3 'same' convolution + bias + ReLU, computed directly,
 * one pixel's 64 outputs at a time; K a multiple of 64.  For conv1_1: with
 * 3 input channels, Winograd's transforms would cost more than they save. */
void wino_avx2_direct3x3(const float *img, int H, int W, int C,
			 const float *kernel, const float *bias, int K,
			 float *out, int y0, int y1);

#endif
