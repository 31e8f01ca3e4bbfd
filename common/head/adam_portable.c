/* adam_portable.c - Adam's update (adam_kern.h) and the first layer's
 * fused step (step_kern.h) on portable C: GCC's 4-lane vectors (SSE2 on
 * any x86-64). */
#include "head/head_impl.h"

#define SIMD_LANES 4
#define ADAM_KERN adam_portable
#define STEP_KERN step_portable
#include "kernels/simd.h"
#include "head/adam_kern.h"
#include "head/step_kern.h"
