/* head_adam_portable.c - Adam's update (head_adam_kern.h) on portable C:
 * GCC's 4-lane vectors (SSE2 on any x86-64). */
#include "head_private.h"

#define SIMD_LANES 4
#define ADAM_KERN head_adam_portable
#include "simd.h"
#include "head_adam_kern.h"
