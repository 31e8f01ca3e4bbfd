/* kern_portable.c - kern.h's table in portable C: GCC's 4-lane vectors
 * (SSE2 on any x86-64, NEON on AArch64), every multiply-add by C99's fmaf,
 * so that it gives the FMA tables' bits.  The convolutions' microkernel, 6
 * rows by 2 vectors (8 columns), and fc's tile of 4 rows by 3 vectors fit
 * SSE2's 16 registers.
 *
 * On x86-64 the Makefile builds this file twice: kern_portable, plain
 * (fmaf is then the C library's, exact on any CPU but a call per term),
 * and kern_portable_fma, with -mfma and KERN_PORTABLE_FMA defined (fmaf
 * becomes one instruction), which kern_for chooses where the CPU has FMA.
 * On AArch64 fmaf is always one instruction. */
#include "kernels/isa.h"

#define SIMD_LANES 4
#define KERN_ISA ISA_PORTABLE
#if defined(KERN_PORTABLE_FMA)
#define KERN_NAME kern_portable_fma
#define KERN_LABEL "portable (fma instructions)"
#elif defined(__x86_64__)
#define KERN_NAME kern_portable
#define KERN_LABEL "portable (the C library's fmaf)"
#else
#define KERN_NAME kern_portable
#define KERN_LABEL "portable"
#endif
#define KERN_CONV_MR 6
#define KERN_CONV_NRV 2
#define KERN_GEMM_R 4
#define KERN_GEMM_V 3
#include "kernels/simd.h"
#include "kernels/kern_conv.h"
#include "kernels/kern_gemm.h"
#include "kernels/kern_adam.h"
#include "kernels/kern_step.h"
#include "kernels/kern_table.h"
