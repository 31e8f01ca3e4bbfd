/* gemm_portable.c - gemm.h's kernel in portable C: gemm_kern.h over GCC's
 * 4-lane vectors (SSE2 on any x86-64), a multiply then an add per term, in
 * the order of the FMA kernels.  A tile of 4 rows by 3 vectors fits SSE2's
 * 16 registers. */
#include "kernels/gemm.h"

#define SIMD_LANES 4
#define GEMM_KERN gemm_portable
#define GEMM_R 4
#define GEMM_V 3
#include "kernels/simd.h"
#include "kernels/gemm_kern.h"
