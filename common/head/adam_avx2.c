/* adam_avx2.c - Adam's update (adam_kern.h) on AVX2 (compiled with
 * -mavx2 -mfma, run only where isa_cpu_has(ISA_AVX2)). */
#include "head/head_impl.h"

#define SIMD_LANES 8
#define ADAM_KERN adam_avx2
#include "kernels/simd.h"
#include "head/adam_kern.h"
