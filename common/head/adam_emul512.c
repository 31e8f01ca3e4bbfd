/* adam_emul512.c - Adam's update (adam_kern.h) and the first layer's
 * fused step (step_kern.h) on AVX-512's 16 lanes as two AVX2 registers
 * (ISA_EMUL512): its logic, run and tested where the CPU lacks AVX-512. */
#include "head/head_impl.h"

#define SIMD_LANES 16
#define ADAM_KERN adam_emul512
#define STEP_KERN step_emul512
#include "kernels/simd.h"
#include "head/adam_kern.h"
#include "head/step_kern.h"
