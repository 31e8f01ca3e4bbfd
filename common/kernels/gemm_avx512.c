/* gemm_avx512.c - gemm.h's kernel on AVX-512F (gemm_kern.h over 16 lanes);
 * compiled with -mavx512f -mfma, run only where isa_cpu_has(ISA_AVX512).  A
 * tile of 8 rows (a batch of 8 in one pass) by 3 vectors keeps 24 sums, 3
 * vectors of b and a broadcast in the 32 registers (by register count; the
 * development machine has no AVX-512 to measure). */
#include "kernels/gemm.h"

#define SIMD_LANES 16
#define GEMM_KERN gemm_avx512
#define GEMM_R 8
#define GEMM_V 3
#include "kernels/simd.h"
#include "kernels/gemm_kern.h"
