/* head_adam_emul512.c - Adam's update (head_adam_kern.h) on AVX-512's 16
 * lanes as two AVX2 registers (ISA_EMUL512): its logic, run and tested where
 * the CPU lacks AVX-512. */
#include "head_private.h"

#define SIMD_LANES 16
#define ADAM_KERN head_adam_emul512
#include "simd.h"
#include "head_adam_kern.h"
