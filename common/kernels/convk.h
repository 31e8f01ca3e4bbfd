/* convk.h - the vector kernels of the network's convolutions and pools,
 * one set per ISA (isa.h), each written once over simd.h's vectors
 * (convk_kern.h) and compiled for its width: convk_avx2.c (8 lanes),
 * convk_avx512.c (16 lanes, AVX-512F) and convk_emul512.c (the same 16-lane
 * code on two AVX2 registers, to run the AVX-512 kernels' logic where the
 * CPU lacks AVX-512).  Every output element gets the same operations in
 * the same order in every set, so the sets give the same bits.
 *
 * Letters as in winograd.h: N batch, H height, W width, C input channels,
 * K output channels, A = m + 2 the Winograd input tile side, P = A * A.
 * Cs is C rounded up to the set's lanes (the row stride of V); Ks is K
 * rounded up to its panel width nr (the row stride of M and of U's
 * panels). */
#ifndef COMMON_KERNELS_CONVK_H
#define COMMON_KERNELS_CONVK_H

#include <stddef.h>

#include "net/winograd.h"

typedef struct convk {
	int isa;   /* ISA_AVX2, ISA_AVX512 or ISA_EMUL512 */
	int lanes; /* floats per vector */
	int nr;    /* columns per panel of U: Ks is K rounded up to it */

	/* img (H, W, C); the A x A patch at (y0, x0), zero outside the image,
	 * transformed into V: position p's Cs floats at V + p * pstride (the
	 * lanes past C are zero). */
	void (*in_tile)(const wino_tf_t *tf, const float *img, int H, int W, int C,
			int y0, int x0, float *V, size_t pstride);

	/* M: position p's Ks floats at M + p * pstride; the m x m outputs at
	 * (y0, x0) of img (H, W, K), those inside the image, get A' M A + bias,
	 * then ReLU. */
	void (*out_tile)(const wino_tf_t *tf, const float *M, size_t pstride, int K,
			 const float *bias, float *img, int H, int W, int y0, int x0);

	/* V (T, Cs) with rows ldv apart, U (Ks/nr, Cs, nr) panels, M (T, Ks)
	 * with rows ldm apart: M = V @ U, each element summed over c in blocks
	 * of 256 (each block from zero, then added to the sum so far). */
	void (*gemm)(int T, int Cs, int Ks, const float *V, size_t ldv,
		     const float *U, float *M, size_t ldm);

	/* img (H, W, C), kernel (3, 3, C, K) HWIO, bias (K), out (H, W, K): rows
	 * y0..y1-1 of the 3x3 'same' convolution + bias + ReLU, computed
	 * directly, bias first then the taps in (ky, kx, c) order; K a multiple
	 * of 64.  For conv1_1: with 3 input channels, Winograd's transforms
	 * would cost more than they save. */
	void (*direct3x3)(const float *img, int H, int W, int C, const float *kernel,
			  const float *bias, int K, float *out, int y0, int y1);

	/* in (H, W, C), out (H/2, W/2, C): output rows r0..r1-1 of the 2x2
	 * max-pool, stride 2 (Keras' 'valid': an odd last row or column is
	 * dropped). */
	void (*maxpool2)(const float *in, int H, int W, int C, float *out, int r0,
			 int r1);
} convk_t;

/* convk_for: the set of isa, or NULL (ISA_PORTABLE, or an ISA this build
 * or CPU cannot run). */
const convk_t *convk_for(int isa);

/* convk_tables_match: 1 when the kernels' own copies of B' and A' for
 * tf->m are tf's (the kernels take them as constants, to unroll). */
int convk_tables_match(const wino_tf_t *tf);

extern const convk_t convk_avx2, convk_avx512, convk_emul512;

#endif
