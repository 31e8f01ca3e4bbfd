/* kern_emul512.c - kern_avx512.c's table, the same 16-lane code with the
 * same blocking, compiled for AVX2 + FMA (each vector two __m256): the
 * AVX-512 table's logic, run and tested where the CPU lacks AVX-512.  Slow
 * (28 sums of two registers each do not fit 16 registers); for tests and
 * VGGFEAT_ISA=emul512 only, never chosen by itself. */
#include "kernels/isa.h"

#define SIMD_LANES 16
#define KERN_ISA ISA_EMUL512
#define KERN_NAME kern_emul512
#define KERN_LABEL "emul512"
#define KERN_CONV_MR 14
#define KERN_CONV_NRV 2
#define KERN_GEMM_R 8
#define KERN_GEMM_V 3
#include "kernels/simd.h"
#include "kernels/kern_conv.h"
#include "kernels/kern_gemm.h"
#include "kernels/kern_adam.h"
#include "kernels/kern_step.h"
#include "kernels/kern_table.h"
