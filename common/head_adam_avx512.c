/* head_adam_avx512.c - Adam's update (head_adam_kern.h) on AVX-512F
 * (compiled with -mavx512f, run only where isa_cpu_has(ISA_AVX512)). */
#include "head_private.h"

#define SIMD_LANES 16
#define ADAM_KERN head_adam_avx512
#include "simd.h"
#include "head_adam_kern.h"
