/* product_amx.c - the search's float32 product on Intel AMX (nearest.h):
 * q . x for every query and record of a block, each float32 vector split
 * into two bfloat16 ones, v = v_hi + v_lo + r, and the product taken as
 *   q . x ~ q_hi . x_hi + q_hi . x_lo + q_lo . x_hi
 * by the tile unit's bfloat16 dot products, summed in float32: one product
 * of depth 3 Dp (the records' rows [x_hi | x_lo | x_hi] against the
 * queries' [q_hi | q_hi | q_lo]); the tiles' peak is sixteen times the
 * float32 rate of AVX-512's FMAs.  The product may be taken in two stages,
 * q_hi . x_hi first (search.c stops there when its looser bound lets few
 * records through), the rest added later.  nn_amx_gamma gives each
 * stage's error bound, which is what keeps the search's answer exact.
 *
 * Letters: D the vector's length, Dp it rounded up to 32 (a tile row of
 * bfloat16), S1 = Dp / 32 steps of depth per part, S = 3 S1 in all.
 * Layouts, in bfloat16 (uint16_t):
 *   queries  (Q/16, S, 16, 32): group g's step t is the tile B whose row
 *            r holds, for each of the group's 16 queries n, its values
 *            32t + 2r and 32t + 2r + 1 side by side (AMX's pairs), of
 *            [q_hi | q_hi | q_lo];
 *   records  (R/16, 2 S1, 16, 32): group h's step t is the tile A of the
 *            group's 16 records, 32 values each, of [x_hi | x_lo] (the
 *            third part, x_hi again, is read from the first). */
#include "nearest.h"

#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AVX512F__)
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cpuid.h>

/* Linux' arch_prctl for the tile data's state (arch/x86/include/uapi/asm/prctl.h). */
#define NN_ARCH_REQ_XCOMP_PERM 0x1023
#define NN_XFEATURE_XTILEDATA 18
/* Steps per chunk of depth: a pair of query groups' share of a chunk (32
 * KB) stays in L1 while the task's records (256: 256 KB) go past from L2;
 * 4 to 64 steps measured alike (docs/performance.md). */
#define NN_AMX_KS 16
/* bfloat16's unit roundoff (8 bits of precision). */
#define NN_BF16_U 0x1p-8

/* The tiles' shapes, as LDTILECFG reads them: palette 1, every tile 16
 * rows of 64 bytes (0..3 the sums, 4..5 records, 6..7 queries). */
typedef struct tilecfg {
	uint8_t palette, start_row, reserved[14];
	uint16_t colsb[16];
	uint8_t rows[16];
} __attribute__((packed)) tilecfg_t;

int nn_amx_usable(int D)
{
	unsigned a, b, c, d;

	/* CPUID 7.0: EDX bit 22 AMX-BF16, bit 24 AMX-TILE. */
	if (D < 1 || D > (1 << 20) || !__get_cpuid_count(7, 0, &a, &b, &c, &d) ||
	    !(d >> 22 & 1) || !(d >> 24 & 1) || !__builtin_cpu_supports("avx512f"))
		return 0;
	/* The kernel hands the tiles' 8 KB of state to a process that asks. */
	return syscall(SYS_arch_prctl, NN_ARCH_REQ_XCOMP_PERM, NN_XFEATURE_XTILEDATA) == 0;
}

double nn_amx_gamma(int D, int stage)
{
	/* Sum of the 3 Dp exact products in float32, any order, each addition
	 * rounded once: gamma_n sum |t|, n = 3 Dp, u = 2^-24; sum |t| <= (1 +
	 * u')^2 (1 + 2 u' (1 + u')) sum |q_i x_i|, u' = 2^-8.  The split drops
	 * q_hi r_x + q_lo x_lo + q_lo r_x + r_q x, at most (3 + 4 u' + 2 u'^2)
	 * u'^2 sum |q_i x_i|.  The tiles flush subnormals: at most 2^-124 (1 +
	 * |q| + |x|) per term, below 2^-60 |q| |x| when both norms lie in
	 * [2^-20, 2^60] (the screen measures every other pair in double) and
	 * Dp <= 2^20. */
	double Dp = (D + 31) / 32 * 32, u = NN_BF16_U;
	if (stage == 1) {
		/* q_hi . x_hi alone: Dp terms, sum |t| <= (1 + u')^2 sum
		 * |q_i x_i|; it drops q_hi (x - x_hi) + (q - q_hi) x, at most
		 * (2 + u') u' sum |q_i x_i|. */
		double nu = Dp * 0x1p-24, gn = nu / (1 - nu);
		return gn * (1 + u) * (1 + u) + (2 + u) * u + 0x1p-60;
	}
	double nu = 3 * Dp * 0x1p-24, gn = nu / (1 - nu);
	return gn * (1 + u) * (1 + u) * (1 + 2 * u * (1 + u)) +
	       (3 + 4 * u + 2 * u * u) * u * u + 0x1p-60;
}

size_t nn_amx_group_size(int D)
{
	return 3 * (((size_t)D + 31) / 32) * 16 * 32;
}

size_t nn_amx_queries_size(int nq, int D)
{
	return ((size_t)nq + 31) / 32 * 2 * nn_amx_group_size(D);
}

/* v rounded to bfloat16, to nearest even (v finite: the norms the screen
 * accepts keep every value far below bfloat16's largest). */
static uint16_t bf16(float v)
{
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	return (uint16_t)((u + 0x7fff + (u >> 16 & 1)) >> 16);
}

static float bf16_float(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float v;
	memcpy(&v, &u, sizeof v);
	return v;
}

/* v[i]'s bfloat16 high half (lo 0) or low one (lo 1); zero past D. */
static uint16_t split_value(const float *v, int D, int i, int lo)
{
	if (i >= D)
		return 0;
	uint16_t h = bf16(v[i]);
	return lo ? bf16(v[i] - bf16_float(h)) : h;
}

void nn_amx_pack_queries(const float *q, int nq, int D, uint16_t *out)
{
	const int Dp = (D + 31) / 32 * 32, S = 3 * Dp / 32;
	const int groups = (nq + 31) / 32 * 2;

	for (int g = 0; g < groups; g++)
		for (int t = 0; t < S; t++) {
			uint16_t *tile = out + ((size_t)g * S + t) * 16 * 32;
			int seg = 32 * t / Dp, d0 = 32 * t - seg * Dp;
			for (int n = 0; n < 16; n++) {
				int i = g * 16 + n;
				for (int e = 0; e < 32; e++)
					tile[(e / 2) * 32 + 2 * n + e % 2] = i >= nq ? 0 :
						split_value(q + (size_t)i * D, D, d0 + e, seg == 2);
			}
		}
}

/* 16 values of x from x + i (fewer past D, zeros in their place): their
 * bfloat16 high halves (lo 0) or low ones (lo 1), to nearest even. */
static inline __attribute__((always_inline)) __m256i split16(const float *x, int i,
							     int D, int lo)
{
	__mmask16 m = D - i >= 16 ? 0xffff : D - i <= 0 ? 0 : (__mmask16)((1u << (D - i)) - 1);
	__m512 v = _mm512_maskz_loadu_ps(m, x + (i < D ? i : 0));
	__m512i u = _mm512_castps_si512(v);
	const __m512i bias = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
	__m512i h = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, bias),
		_mm512_and_si512(_mm512_srli_epi32(u, 16), one)), 16);
	if (lo) {
		/* v - hi is exact in float32 (they share their leading bits). */
		__m512 r = _mm512_sub_ps(v, _mm512_castsi512_ps(_mm512_slli_epi32(h, 16)));
		u = _mm512_castps_si512(r);
		h = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, bias),
			_mm512_and_si512(_mm512_srli_epi32(u, 16), one)), 16);
	}
	return _mm512_cvtepi32_epi16(h);
}

size_t nn_amx_records_size(int nrows, int D)
{
	return ((size_t)nrows + 31) / 32 * 32 * 2 * (((size_t)D + 31) / 32 * 32);
}

void nn_amx_pack_record(const float *x, int D, int m, uint16_t *a)
{
	const int S1 = (D + 31) / 32;
	uint16_t *row = a + ((size_t)(m / 16) * 2 * S1 * 16 + m % 16) * 32;

	for (int part = 0; part < 2; part++)
		for (int t = 0; t < S1; t++, row += 16 * 32) {
			_mm256_storeu_si256((__m256i *)row, split16(x, 32 * t, D, part));
			_mm256_storeu_si256((__m256i *)(row + 16), split16(x, 32 * t + 16, D, part));
		}
}

void nn_amx_product(int nrows, const uint16_t *a, int D, const uint16_t *qp,
		    int nqs, float *s, size_t lds, int stage)
{
	const int S1 = (D + 31) / 32, S = 3 * S1;
	const int t1 = stage == 1 ? 0 : stage == 2 ? S1 : 0, t2 = stage == 1 ? S1 : S;
	const int rows = (nrows + 31) / 32 * 32;
	const size_t tile = 16 * 32, qgroup = (size_t)S * tile, agroup = 2 * (size_t)S1 * tile;
	const size_t ldb = lds * sizeof(float);
	tilecfg_t cfg = {.palette = 1};
	size_t at[NN_AMX_KS];

	for (int i = 0; i < 8; i++) {
		cfg.colsb[i] = 64;
		cfg.rows[i] = 16;
	}
	_tile_loadconfig(&cfg);
	for (int t0 = t1; t0 < t2; t0 += NN_AMX_KS) {
		const int ks = t2 - t0 < NN_AMX_KS ? t2 - t0 : NN_AMX_KS;
		/* The records' tiles of each step: [x_hi | x_lo | x_hi]. */
		for (int t = 0; t < ks; t++) {
			int tg = t0 + t;
			at[t] = (tg < 2 * S1 ? tg : tg - 2 * S1) * tile;
		}
		for (int g = 0; g < nqs / 16; g += 2) {
			const uint16_t *b0 = qp + (size_t)g * qgroup + (size_t)t0 * tile;
			const uint16_t *b1 = b0 + qgroup;
			for (int h = 0; h < rows / 16; h += 2) {
				const uint16_t *a0 = a + (size_t)h * agroup, *a1 = a0 + agroup;
				float *c = s + (size_t)h * 16 * lds + (size_t)g * 16;
				if (t0 == 0) {
					_tile_zero(0);
					_tile_zero(1);
					_tile_zero(2);
					_tile_zero(3);
				} else {
					_tile_loadd(0, c, ldb);
					_tile_loadd(1, c + 16, ldb);
					_tile_loadd(2, c + 16 * lds, ldb);
					_tile_loadd(3, c + 16 * lds + 16, ldb);
				}
				/* Each tile loaded just before its first use. */
				for (int t = 0; t < ks; t++) {
					_tile_loadd(4, a0 + at[t], 64);
					_tile_loadd(6, b0 + (size_t)t * tile, 64);
					_tile_dpbf16ps(0, 4, 6);
					_tile_loadd(7, b1 + (size_t)t * tile, 64);
					_tile_dpbf16ps(1, 4, 7);
					_tile_loadd(5, a1 + at[t], 64);
					_tile_dpbf16ps(2, 5, 6);
					_tile_dpbf16ps(3, 5, 7);
				}
				_tile_stored(0, c, ldb);
				_tile_stored(1, c + 16, ldb);
				_tile_stored(2, c + 16 * lds, ldb);
				_tile_stored(3, c + 16 * lds + 16, ldb);
			}
		}
	}
	_tile_release();
}

#else

/* Built for a CPU without AMX (off x86-64): never usable, so search.c
 * never calls the others. */
int nn_amx_usable(int D)
{
	(void)D;
	return 0;
}

double nn_amx_gamma(int D, int stage)
{
	(void)D;
	(void)stage;
	return 1;
}

size_t nn_amx_group_size(int D)
{
	(void)D;
	return 0;
}

size_t nn_amx_queries_size(int nq, int D)
{
	(void)nq;
	(void)D;
	return 0;
}

size_t nn_amx_records_size(int nrows, int D)
{
	(void)nrows;
	(void)D;
	return 0;
}

void nn_amx_pack_queries(const float *q, int nq, int D, uint16_t *out)
{
	(void)q;
	(void)nq;
	(void)D;
	(void)out;
}

void nn_amx_pack_record(const float *x, int D, int m, uint16_t *a)
{
	(void)x;
	(void)D;
	(void)m;
	(void)a;
}

void nn_amx_product(int nrows, const uint16_t *a, int D, const uint16_t *qp,
		    int nqs, float *s, size_t lds, int stage)
{
	(void)nrows;
	(void)a;
	(void)D;
	(void)qp;
	(void)nqs;
	(void)s;
	(void)lds;
	(void)stage;
}

#endif
