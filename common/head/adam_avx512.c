/* adam_avx512.c - Adam's update (adam_kern.h) and the first layer's
 * fused step (step_kern.h) on AVX-512F (compiled with -mavx512f, run only
 * where isa_cpu_has(ISA_AVX512)). */
#include "head/head_impl.h"

#define SIMD_LANES 16
#define ADAM_KERN adam_avx512
#define STEP_KERN step_avx512
#include "kernels/simd.h"
#include "head/adam_kern.h"
#include "head/step_kern.h"
