/* convk_emul512.c - convk_avx512.c's kernels, the same 16-lane code with
 * the same blocking, compiled for AVX2 + FMA (each vector two __m256): the
 * AVX-512 set's logic, run and tested where the CPU lacks AVX-512.  Slow
 * (28 sums of two registers each do not fit 16 registers); for tests and
 * VGGFEAT_ISA=emul512 only, never chosen by itself. */
#include "kernels/isa.h"

#define SIMD_LANES 16
#define CONVK_ISA ISA_EMUL512
#define CONVK_SET convk_emul512
#define CONVK_MR 14
#define CONVK_NRV 2
#include "kernels/simd.h"
#include "kernels/convk_kern.h"
