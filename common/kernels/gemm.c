/* gemm.c - see gemm.h: the choice of kernel. */
#include "kernels/gemm.h"

#include "kernels/isa.h"

void gemm_fixed(int isa, int N, int C, int k0, int k1, const float *a,
		size_t lda, const float *b, size_t ldb, const float *bias,
		int relu, float *c, size_t ldc)
{
	switch (isa) {
	case ISA_AVX2: gemm_avx2(N, C, k0, k1, a, lda, b, ldb, bias, relu, c, ldc); break;
	case ISA_AVX512: gemm_avx512(N, C, k0, k1, a, lda, b, ldb, bias, relu, c, ldc); break;
	case ISA_EMUL512: gemm_emul512(N, C, k0, k1, a, lda, b, ldb, bias, relu, c, ldc); break;
	default: gemm_portable(N, C, k0, k1, a, lda, b, ldb, bias, relu, c, ldc); break;
	}
}
