/* kern_avx2.c - kern.h's table on AVX2 + FMA (8 lanes); compiled with
 * -mavx2 -mfma, run only where isa_cpu_has(ISA_AVX2).  The convolutions'
 * microkernel, 6 rows by 2 vectors (16 columns), keeps 12 sums, 2 panel
 * vectors and a broadcast in the 16 registers; fc's tile of 4 rows by 3
 * vectors keeps 12 sums, 3 vectors of b and a broadcast. */
#include "kernels/isa.h"

#define SIMD_LANES 8
#define KERN_ISA ISA_AVX2
#define KERN_NAME kern_avx2
#define KERN_LABEL "avx2"
#define KERN_CONV_MR 6
#define KERN_CONV_NRV 2
#define KERN_GEMM_R 4
#define KERN_GEMM_V 3
#include "kernels/simd.h"
#include "kernels/kern_conv.h"
#include "kernels/kern_gemm.h"
#include "kernels/kern_adam.h"
#include "kernels/kern_step.h"
#include "kernels/kern_table.h"
