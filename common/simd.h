/* simd.h - the vector operations the fast kernels are written in, for one
 * width: a kernel file defines SIMD_LANES, includes this, and is compiled
 * with the instructions that width needs (see the Makefile).  Writing a
 * kernel once over vf_t lets each width run the same steps in the same
 * order, so that each output element gets the same fused multiply-adds in
 * the same sequence whatever the width.
 *
 *   SIMD_LANES 4: portable C (GCC's vector extensions: SSE2 on x86-64), no
 *                 FMA: vf_fma and sf_fma round the product, then the sum;
 *   SIMD_LANES 8: AVX2 + FMA, one __m256.
 * sf_fma is the scalar step of a kernel's tail, rounded as vf_fma is. */
#ifndef COMMON_SIMD_H
#define COMMON_SIMD_H

#define SIMD_INLINE static inline __attribute__((always_inline))

#if SIMD_LANES == 4

typedef float vf_t __attribute__((vector_size(16)));

SIMD_INLINE vf_t vf_zero(void) { return (vf_t){0, 0, 0, 0}; }
SIMD_INLINE vf_t vf_load(const float *p)
{
	vf_t a;
	__builtin_memcpy(&a, p, sizeof a);
	return a;
}
SIMD_INLINE void vf_store(float *p, vf_t a) { __builtin_memcpy(p, &a, sizeof a); }
SIMD_INLINE vf_t vf_bcast(const float *p) { return (vf_t){*p, *p, *p, *p}; }
/* a * b + c, rounded twice (the build keeps them apart: -ffp-contract=off). */
SIMD_INLINE vf_t vf_fma(vf_t a, vf_t b, vf_t c) { return a * b + c; }
SIMD_INLINE vf_t vf_add(vf_t a, vf_t b) { return a + b; }
/* max(a, 0), 0 for a NaN (as `a > 0 ? a : 0`). */
SIMD_INLINE vf_t vf_relu(vf_t a)
{
	vf_t z = vf_zero();
	return (vf_t)((__typeof__(a > z))(a > z) & (__typeof__(a > z))a);
}
SIMD_INLINE float sf_fma(float a, float b, float c) { return a * b + c; }
SIMD_INLINE void simd_prefetch(const void *p) { __builtin_prefetch(p); }

#elif SIMD_LANES == 8

#include <immintrin.h>

typedef __m256 vf_t;

SIMD_INLINE vf_t vf_zero(void) { return _mm256_setzero_ps(); }
SIMD_INLINE vf_t vf_load(const float *p) { return _mm256_loadu_ps(p); }
SIMD_INLINE void vf_store(float *p, vf_t a) { _mm256_storeu_ps(p, a); }
SIMD_INLINE vf_t vf_bcast(const float *p) { return _mm256_broadcast_ss(p); }
/* a * b + c, rounded once. */
SIMD_INLINE vf_t vf_fma(vf_t a, vf_t b, vf_t c) { return _mm256_fmadd_ps(a, b, c); }
SIMD_INLINE vf_t vf_add(vf_t a, vf_t b) { return _mm256_add_ps(a, b); }
/* max(a, 0), 0 for a NaN (as `a > 0 ? a : 0`). */
SIMD_INLINE vf_t vf_relu(vf_t a) { return _mm256_max_ps(a, _mm256_setzero_ps()); }
SIMD_INLINE float sf_fma(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
SIMD_INLINE void simd_prefetch(const void *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }

#else
#error "simd.h: define SIMD_LANES (4 or 8)"
#endif

#endif
