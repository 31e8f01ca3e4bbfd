/* gemm_avx2.c - gemm.h's kernel on AVX2 + FMA (gemm_kern.h over 8 lanes);
 * compiled with -mavx2 -mfma, run only where isa_cpu_has(ISA_AVX2).  A
 * tile of 4 rows by 3 vectors keeps 12 sums, 3 vectors of b and a
 * broadcast in the 16 registers. */
#include "kernels/gemm.h"

#define SIMD_LANES 8
#define GEMM_KERN gemm_avx2
#define GEMM_R 4
#define GEMM_V 3
#include "kernels/simd.h"
#include "kernels/gemm_kern.h"
