/* convk_avx512.c - convk.h's set on AVX-512F (convk_kern.h over 16 lanes);
 * compiled with -mavx512f -mfma, run only where isa_cpu_has(ISA_AVX512).
 * The microkernel's 14 rows by 2 vectors (32 columns) keep 28 sums, 2
 * panel vectors and a broadcast in the 32 registers.  (Chosen by register
 * count, not measured: the development machine has no AVX-512; see
 * README.md.) */
#include "kernels/isa.h"

#define SIMD_LANES 16
#define CONVK_ISA ISA_AVX512
#define CONVK_SET convk_avx512
#define CONVK_MR 14
#define CONVK_NRV 2
#include "kernels/simd.h"
#include "kernels/convk_kern.h"
