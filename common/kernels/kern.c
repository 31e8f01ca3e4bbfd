/* kern.c - see kern.h: which table runs on which ISA. */
#include "kernels/kern.h"

#include <string.h>

#include "kernels/isa.h"
#include "kernels/kern_impl.h"

/* The tables, one per file kern_<isa>.c; kern_portable_fma is
 * kern_portable.c built with FMA instructions (x86-64 only). */
extern const kern_t kern_portable;
#if defined(__x86_64__)
extern const kern_t kern_portable_fma, kern_avx2, kern_avx512, kern_emul512;
#endif

const kern_t *kern_for(int isa)
{
	if (isa == ISA_AUTO)
		isa = isa_best();
	if (!isa_cpu_has(isa))
		isa = ISA_PORTABLE;
#if defined(__x86_64__)
	switch (isa) {
	case ISA_AVX2: return &kern_avx2;
	case ISA_AVX512: return &kern_avx512;
	case ISA_EMUL512: return &kern_emul512;
	default:
		__builtin_cpu_init();
		return __builtin_cpu_supports("fma") ? &kern_portable_fma
						     : &kern_portable;
	}
#else
	return &kern_portable;
#endif
}

const kern_t *kern_portable_libm(void)
{
	return &kern_portable;
}

int kern_tables_match(int m, const float bt[KERN_MAX_A][KERN_MAX_A],
		      const float at[KERN_MAX_A][KERN_MAX_A])
{
	int w = m / 2 - 1;
	if (m != 2 && m != 4 && m != 6)
		return 0;
	for (int i = 0; i < m + 2; i++)
		for (int j = 0; j < m + 2; j++)
			if (kern_bt[w][i][j] != bt[i][j] ||
			    (i < m && kern_at[w][i][j] != at[i][j]))
				return 0;
	return 1;
}

size_t kern_step_panels(int R, int O, int lanes)
{
	return (size_t)R * (size_t)((O + lanes - 1) / lanes) * (size_t)lanes;
}

size_t kern_step_scratch(int R, int lanes)
{
	return (size_t)2 * (size_t)R * KERN_STEP_KC * (size_t)lanes;
}

/* Where row r's kc vectors of the chunk from vector j0 start in panels
 * of R rows. */
static size_t panel_at(int R, int lanes, int j0, int kc, int r)
{
	return (size_t)j0 * R * lanes + (size_t)r * kc * lanes;
}

void kern_step_pack(int R, int O, int lanes, const float *rows, size_t ld,
		    float *panels)
{
	int nv = (O + lanes - 1) / lanes;
	for (int c = 0, j0 = 0; j0 < nv; j0 += kern_step_chunk(nv, c), c++) {
		int kc = kern_step_chunk(nv, c), n = j0 + kc == nv ? O - j0 * lanes : kc * lanes;
		for (int r = 0; r < R; r++) {
			float *p = panels + panel_at(R, lanes, j0, kc, r);
			memcpy(p, rows + (size_t)r * ld + (size_t)j0 * lanes, (size_t)n * sizeof *p);
			memset(p + n, 0, (size_t)(kc * lanes - n) * sizeof *p);
		}
	}
}

void kern_step_unpack(int R, int O, int lanes, const float *panels, float *rows,
		      size_t ld)
{
	int nv = (O + lanes - 1) / lanes;
	for (int c = 0, j0 = 0; j0 < nv; j0 += kern_step_chunk(nv, c), c++) {
		int kc = kern_step_chunk(nv, c), n = j0 + kc == nv ? O - j0 * lanes : kc * lanes;
		for (int r = 0; r < R; r++)
			memcpy(rows + (size_t)r * ld + (size_t)j0 * lanes,
			       panels + panel_at(R, lanes, j0, kc, r),
			       (size_t)n * sizeof *rows);
	}
}
