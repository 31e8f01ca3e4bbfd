/* adam_avx2.c - Adam's update (adam_kern.h) and the first layer's
 * fused step (step_kern.h) on AVX2 (compiled with -mavx2 -mfma, run only where
 * isa_cpu_has(ISA_AVX2)). */
#include "head/head_impl.h"

#define SIMD_LANES 8
#define ADAM_KERN adam_avx2
#define STEP_KERN step_avx2
#include "kernels/simd.h"
#include "head/adam_kern.h"
#include "head/step_kern.h"
