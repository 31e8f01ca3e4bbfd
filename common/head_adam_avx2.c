/* head_adam_avx2.c - Adam's update (head_adam_kern.h) on AVX2 (compiled with
 * -mavx2 -mfma, run only where isa_cpu_has(ISA_AVX2)). */
#include "head_private.h"

#define SIMD_LANES 8
#define ADAM_KERN head_adam_avx2
#include "simd.h"
#include "head_adam_kern.h"
