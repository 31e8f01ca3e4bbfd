/* simd.h - the vector operations the kernels are written in, for one
 * width: a kernel file defines SIMD_LANES (and, for 16, whether to use
 * AVX-512), includes this, and is compiled with the instructions that width
 * needs (see the Makefile).  Writing a kernel once over vf_t lets each width
 * run the same steps in the same order, so that each output element gets
 * the same operations in the same sequence whatever the width, and every
 * width rounds each operation alike: every width gives the same bits.
 *
 *   SIMD_LANES 4:  portable C (GCC's vector extensions: SSE2 on x86-64, NEON
 *                  on AArch64); vf_fma and sf_fma are C99's fmaf, rounded
 *                  once as the FMA instructions round: one instruction
 *                  where the build targets FMA (AArch64 always; on x86-64
 *                  the Makefile's second, -mfma build of kern_portable.c),
 *                  else the C library's exact fmaf (kern.h);
 *   SIMD_LANES 8:  AVX2 + FMA, one __m256;
 *   SIMD_LANES 16: AVX-512F, one __m512, when compiled with -mavx512f;
 *                  else the same 16 lanes as two __m256 (AVX2 + FMA), so
 *                  that the AVX-512 kernels' logic (blocking, tails, the
 *                  order of the sums) runs and is tested on CPUs without
 *                  AVX-512 (ISA_EMUL512).
 * vf_mul, vf_div and vf_sqrt round once, as IEEE 754 says, at every width;
 * sf_fma is the scalar step of a kernel's tail, rounded as vf_fma is;
 * vf_max(a, b) is a > b ? a : b lane by lane (b when either is a NaN, as
 * maxps does); vf_loadn and vf_storen move the first n lanes
 * (0 < n < SIMD_LANES), the others loaded as zeros and left untouched. */

#ifndef COMMON_KERNELS_SIMD_H
#define COMMON_KERNELS_SIMD_H

#define SIMD_INLINE static inline __attribute__((always_inline))

#if SIMD_LANES == 4

#include <math.h>
#include <stddef.h>

typedef float vf_t __attribute__((vector_size(16)));
typedef int vi_t __attribute__((vector_size(16)));

SIMD_INLINE vf_t vf_zero(void) { return (vf_t){0, 0, 0, 0}; }
SIMD_INLINE vf_t vf_load(const float *p)
{
	vf_t a;
	__builtin_memcpy(&a, p, sizeof a);
	return a;
}
SIMD_INLINE void vf_store(float *p, vf_t a) { __builtin_memcpy(p, &a, sizeof a); }
SIMD_INLINE vf_t vf_bcast(const float *p) { return (vf_t){*p, *p, *p, *p}; }
/* a * b + c, rounded once (fmaf). */
SIMD_INLINE vf_t vf_fma(vf_t a, vf_t b, vf_t c)
{
	return (vf_t){fmaf(a[0], b[0], c[0]), fmaf(a[1], b[1], c[1]),
		      fmaf(a[2], b[2], c[2]), fmaf(a[3], b[3], c[3])};
}
SIMD_INLINE vf_t vf_add(vf_t a, vf_t b) { return a + b; }
SIMD_INLINE vf_t vf_max(vf_t a, vf_t b)
{
	vi_t gt = a > b;
	return (vf_t)((gt & (vi_t)a) | (~gt & (vi_t)b));
}
/* max(a, 0), 0 for a NaN (as `a > 0 ? a : 0`). */
SIMD_INLINE vf_t vf_relu(vf_t a) { return vf_max(a, vf_zero()); }
SIMD_INLINE vf_t vf_set1(float x) { return (vf_t){x, x, x, x}; }
SIMD_INLINE vf_t vf_sub(vf_t a, vf_t b) { return a - b; }
SIMD_INLINE vf_t vf_mul(vf_t a, vf_t b) { return a * b; }
SIMD_INLINE vf_t vf_div(vf_t a, vf_t b) { return a / b; }
/* Correctly rounded, as sqrtps is. */
SIMD_INLINE vf_t vf_sqrt(vf_t a)
{
	return (vf_t){__builtin_sqrtf(a[0]), __builtin_sqrtf(a[1]),
		      __builtin_sqrtf(a[2]), __builtin_sqrtf(a[3])};
}
SIMD_INLINE vf_t vf_loadn(const float *p, int n)
{
	vf_t a = vf_zero();
	__builtin_memcpy(&a, p, (size_t)n * sizeof(float));
	return a;
}
SIMD_INLINE void vf_storen(float *p, vf_t a, int n)
{
	__builtin_memcpy(p, &a, (size_t)n * sizeof(float));
}

SIMD_INLINE float sf_fma(float a, float b, float c) { return fmaf(a, b, c); }
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
SIMD_INLINE vf_t vf_set1(float x) { return _mm256_set1_ps(x); }
SIMD_INLINE vf_t vf_sub(vf_t a, vf_t b) { return _mm256_sub_ps(a, b); }
SIMD_INLINE vf_t vf_mul(vf_t a, vf_t b) { return _mm256_mul_ps(a, b); }
SIMD_INLINE vf_t vf_div(vf_t a, vf_t b) { return _mm256_div_ps(a, b); }
SIMD_INLINE vf_t vf_sqrt(vf_t a) { return _mm256_sqrt_ps(a); }
SIMD_INLINE vf_t vf_max(vf_t a, vf_t b) { return _mm256_max_ps(a, b); }
SIMD_INLINE __m256i simd_mask8(int n)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(n),
				  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
SIMD_INLINE vf_t vf_loadn(const float *p, int n) { return _mm256_maskload_ps(p, simd_mask8(n)); }
SIMD_INLINE void vf_storen(float *p, vf_t a, int n) { _mm256_maskstore_ps(p, simd_mask8(n), a); }
SIMD_INLINE float sf_fma(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
SIMD_INLINE void simd_prefetch(const void *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }

#elif SIMD_LANES == 16 && defined(__AVX512F__)

#include <immintrin.h>

typedef __m512 vf_t;

SIMD_INLINE vf_t vf_zero(void) { return _mm512_setzero_ps(); }
SIMD_INLINE vf_t vf_load(const float *p) { return _mm512_loadu_ps(p); }
SIMD_INLINE void vf_store(float *p, vf_t a) { _mm512_storeu_ps(p, a); }
SIMD_INLINE vf_t vf_bcast(const float *p) { return _mm512_set1_ps(*p); }
SIMD_INLINE vf_t vf_fma(vf_t a, vf_t b, vf_t c) { return _mm512_fmadd_ps(a, b, c); }
SIMD_INLINE vf_t vf_add(vf_t a, vf_t b) { return _mm512_add_ps(a, b); }
SIMD_INLINE vf_t vf_sub(vf_t a, vf_t b) { return _mm512_sub_ps(a, b); }
SIMD_INLINE vf_t vf_mul(vf_t a, vf_t b) { return _mm512_mul_ps(a, b); }
SIMD_INLINE vf_t vf_div(vf_t a, vf_t b) { return _mm512_div_ps(a, b); }
SIMD_INLINE vf_t vf_sqrt(vf_t a) { return _mm512_sqrt_ps(a); }
SIMD_INLINE vf_t vf_max(vf_t a, vf_t b) { return _mm512_max_ps(a, b); }
SIMD_INLINE vf_t vf_relu(vf_t a) { return _mm512_max_ps(a, _mm512_setzero_ps()); }
SIMD_INLINE vf_t vf_set1(float x) { return _mm512_set1_ps(x); }
SIMD_INLINE vf_t vf_loadn(const float *p, int n)
{
	return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
}
SIMD_INLINE void vf_storen(float *p, vf_t a, int n)
{
	_mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), a);
}
SIMD_INLINE float sf_fma(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
SIMD_INLINE void simd_prefetch(const void *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }

#elif SIMD_LANES == 16

#include <immintrin.h>

/* AVX-512's 16 lanes as two AVX2 registers: every operation lane by lane
 * as _mm512_* does it (max returns its second operand for a NaN, as
 * vmaxps does at both widths). */
typedef struct vf_t {
	__m256 lo, hi;
} vf_t;

SIMD_INLINE vf_t vf_zero(void) { return (vf_t){_mm256_setzero_ps(), _mm256_setzero_ps()}; }
SIMD_INLINE vf_t vf_load(const float *p) { return (vf_t){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
SIMD_INLINE void vf_store(float *p, vf_t a) { _mm256_storeu_ps(p, a.lo), _mm256_storeu_ps(p + 8, a.hi); }
SIMD_INLINE vf_t vf_bcast(const float *p)
{
	__m256 x = _mm256_broadcast_ss(p);
	return (vf_t){x, x};
}
SIMD_INLINE vf_t vf_fma(vf_t a, vf_t b, vf_t c)
{
	return (vf_t){_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}
SIMD_INLINE vf_t vf_add(vf_t a, vf_t b) { return (vf_t){_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
SIMD_INLINE vf_t vf_sub(vf_t a, vf_t b) { return (vf_t){_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
SIMD_INLINE vf_t vf_mul(vf_t a, vf_t b) { return (vf_t){_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
SIMD_INLINE vf_t vf_div(vf_t a, vf_t b) { return (vf_t){_mm256_div_ps(a.lo, b.lo), _mm256_div_ps(a.hi, b.hi)}; }
SIMD_INLINE vf_t vf_sqrt(vf_t a) { return (vf_t){_mm256_sqrt_ps(a.lo), _mm256_sqrt_ps(a.hi)}; }
SIMD_INLINE vf_t vf_max(vf_t a, vf_t b) { return (vf_t){_mm256_max_ps(a.lo, b.lo), _mm256_max_ps(a.hi, b.hi)}; }
SIMD_INLINE vf_t vf_relu(vf_t a) { return vf_max(a, vf_zero()); }
SIMD_INLINE vf_t vf_set1(float x) { return (vf_t){_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
SIMD_INLINE __m256i simd_mask8(int n)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(n),
				  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
SIMD_INLINE vf_t vf_loadn(const float *p, int n)
{
	return (vf_t){_mm256_maskload_ps(p, simd_mask8(n)),
		      _mm256_maskload_ps(p + 8, simd_mask8(n - 8))};
}
SIMD_INLINE void vf_storen(float *p, vf_t a, int n)
{
	_mm256_maskstore_ps(p, simd_mask8(n), a.lo);
	_mm256_maskstore_ps(p + 8, simd_mask8(n - 8), a.hi);
}
SIMD_INLINE float sf_fma(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
SIMD_INLINE void simd_prefetch(const void *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }

#else
#error "simd.h: define SIMD_LANES (4, 8 or 16)"
#endif

#endif
