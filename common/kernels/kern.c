/* kern.c - see kern.h: which table runs on which ISA. */
#include "kernels/kern.h"

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
