/* convk.c - see convk.h: which set runs on which ISA. */
#include "kernels/convk.h"

#include "kernels/convk_tables.h"
#include "kernels/isa.h"

const convk_t *convk_for(int isa)
{
	if (!isa_cpu_has(isa))
		return NULL;
	switch (isa) {
	case ISA_AVX2: return &convk_avx2;
	case ISA_AVX512: return &convk_avx512;
	case ISA_EMUL512: return &convk_emul512;
	default: return NULL;
	}
}

int convk_tables_match(const wino_tf_t *tf)
{
	int w = tf->m / 2 - 1;
	for (int i = 0; i < tf->a; i++)
		for (int j = 0; j < tf->a; j++)
			if (convk_bt[w][i][j] != tf->bt[i][j] ||
			    (i < tf->m && convk_at[w][i][j] != tf->at[i][j]))
				return 0;
	return 1;
}
