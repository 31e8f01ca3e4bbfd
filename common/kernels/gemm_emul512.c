/* gemm_emul512.c - gemm_avx512.c's kernel, the same 16-lane code and
 * blocking compiled for AVX2 + FMA (ISA_EMUL512): its logic, run and tested
 * where the CPU lacks AVX-512. */
#include "kernels/gemm.h"

#define SIMD_LANES 16
#define GEMM_KERN gemm_emul512
#define GEMM_R 8
#define GEMM_V 3
#include "kernels/simd.h"
#include "kernels/gemm_kern.h"
