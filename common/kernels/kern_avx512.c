/* kern_avx512.c - kern.h's table on AVX-512F (16 lanes); compiled with
 * -mavx512f -mfma, run only where isa_cpu_has(ISA_AVX512).  The
 * convolutions' microkernel, 14 rows by 2 vectors (32 columns), keeps 28
 * sums, 2 panel vectors and a broadcast in the 32 registers; fc's tile of
 * 8 rows (a batch of 8 in one pass) by 3 vectors keeps 24 sums, 3 vectors
 * of b and a broadcast. */
#include "kernels/isa.h"

#define SIMD_LANES 16
#define KERN_ISA ISA_AVX512
#define KERN_NAME kern_avx512
#define KERN_LABEL "avx512"
#define KERN_CONV_MR 14
#define KERN_CONV_NRV 2
#define KERN_GEMM_R 8
#define KERN_GEMM_V 3
#include "kernels/simd.h"
#include "kernels/kern_conv.h"
#include "kernels/kern_gemm.h"
#include "kernels/kern_adam.h"
#include "kernels/kern_step.h"
#include "kernels/kern_table.h"
