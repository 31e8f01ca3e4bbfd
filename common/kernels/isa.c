/* isa.c - see isa.h. */
#include "kernels/isa.h"

#include <stdlib.h>
#include <string.h>

int isa_cpu_has(int isa)
{
	if (isa == ISA_PORTABLE)
		return 1;
#if defined(__x86_64__)
	__builtin_cpu_init();
	switch (isa) {
	case ISA_AVX2:
	case ISA_EMUL512:
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	case ISA_AVX512:
		/* libgcc also checks that the OS saves the ZMM registers. */
		return __builtin_cpu_supports("avx512f");
	}
#endif
	/* Elsewhere (AArch64...) the portable kernels alone are built. */
	return 0;
}

static int widest(void)
{
	return isa_cpu_has(ISA_AVX512) ? ISA_AVX512
	       : isa_cpu_has(ISA_AVX2) ? ISA_AVX2 : ISA_PORTABLE;
}

const char *isa_env_error(void)
{
	const char *s = getenv("VGGFEAT_ISA");
	if (!s || !*s)
		return NULL;
	int isa = isa_parse(s);
	if (isa < 0 || isa == ISA_AUTO)
		return "$VGGFEAT_ISA is not portable, avx2, avx512 or emul512; ignored";
	if (!isa_cpu_has(isa))
		return "$VGGFEAT_ISA names an ISA this CPU lacks; ignored";
	return NULL;
}

int isa_best(void)
{
	const char *s = getenv("VGGFEAT_ISA");
	int isa = s ? isa_parse(s) : -1;
	if (isa > ISA_AUTO && isa_cpu_has(isa))
		return isa;
	return widest();
}

const char *isa_name(int isa)
{
	switch (isa) {
	case ISA_AUTO: return "auto";
	case ISA_PORTABLE: return "portable";
	case ISA_AVX2: return "avx2";
	case ISA_AVX512: return "avx512";
	case ISA_EMUL512: return "emul512";
	default: return "?";
	}
}

int isa_parse(const char *name)
{
	for (int isa = ISA_AUTO; isa < ISA_COUNT; isa++)
		if (strcmp(name, isa_name(isa)) == 0)
			return isa;
	return -1;
}
