/* gemm.h - a matrix product whose every element is summed in one fixed
 * order, so that a row's result never depends on the other rows, on how
 * the work is split or on how many threads do it.
 *
 * Letters: N rows, C the summed dimension, K columns.  a (N, C) with rows
 * lda apart, b (C, K) with rows ldb apart, bias (K) or NULL, c (N, K) with
 * rows ldc apart; for the columns k0 <= k < k1:
 *
 *   c[n][k] = relu?((((0 + a[n][0] b[0][k]) + a[n][1] b[1][k]) + ...
 *                     + a[n][C-1] b[C-1][k]) + bias[k])
 *
 * each term added in increasing c by one fused multiply-add (rounded once)
 * on the FMA ISAs, by a multiply then an add on the portable one.  No
 * blocking, row count, position, column range or thread changes that
 * sequence: every element gets the same bits whatever they are, and the
 * FMA ISAs (AVX2, AVX-512 and its emulation) give the same bits as each
 * other.  (OpenBLAS' sgemm changes its
 * kernel with N: a row got other bits among 4 rows than alone.)
 *
 * The kernels (gemm_kern.h over each ISA's vectors) read b in long runs of
 * its rows, packed block by block: fc1's b is 411 MB, read once per call. */
#ifndef COMMON_KERNELS_GEMM_H
#define COMMON_KERNELS_GEMM_H

#include <stddef.h>

/* gemm_fixed runs the product on isa (isa.h; one the CPU has, not
 * ISA_AUTO).  c must not overlap a or b.  Uses 128 KB of stack. */
void gemm_fixed(int isa, int N, int C, int k0, int k1, const float *a,
		size_t lda, const float *b, size_t ldb, const float *bias,
		int relu, float *c, size_t ldc);

/* The per-ISA kernels behind gemm_fixed (same arguments but isa). */
void gemm_portable(int N, int C, int k0, int k1, const float *a, size_t lda,
		   const float *b, size_t ldb, const float *bias, int relu,
		   float *c, size_t ldc);
void gemm_avx2(int N, int C, int k0, int k1, const float *a, size_t lda,
	       const float *b, size_t ldb, const float *bias, int relu,
	       float *c, size_t ldc);
void gemm_avx512(int N, int C, int k0, int k1, const float *a, size_t lda,
		 const float *b, size_t ldb, const float *bias, int relu,
		 float *c, size_t ldc);
void gemm_emul512(int N, int C, int k0, int k1, const float *a, size_t lda,
		  const float *b, size_t ldb, const float *bias, int relu,
		  float *c, size_t ldc);

#endif
