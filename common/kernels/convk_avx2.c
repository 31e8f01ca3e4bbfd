/* convk_avx2.c - convk.h's set on AVX2 + FMA (convk_kern.h over 8 lanes);
 * compiled with -mavx2 -mfma, run only where isa_cpu_has(ISA_AVX2).  The
 * microkernel's 6 rows by 2 vectors (16 columns) keep 12 sums, 2 panel
 * vectors and a broadcast in the 16 registers. */
#include "kernels/isa.h"

#define SIMD_LANES 8
#define CONVK_ISA ISA_AVX2
#define CONVK_SET convk_avx2
#define CONVK_MR 6
#define CONVK_NRV 2
#include "kernels/simd.h"
#include "kernels/convk_kern.h"
