/* kern_table.h - fills the kern.h table of a kern_<isa>.c file with the
 * functions its templates made (kern_impl.h). */
const kern_t KERN_NAME = {
	.isa = KERN_ISA,
	.name = KERN_LABEL,
	.lanes = SIMD_LANES,
	.nr = KERN_CONV_NR,
	.wino_in = KERN_FN(wino_in),
	.wino_out = KERN_FN(wino_out),
	.wino_gemm = KERN_FN(wino_gemm),
	.wino_gemm_ahead = KERN_FN(wino_gemm_ahead),
	.direct3x3 = KERN_FN(direct3x3),
	.maxpool2 = KERN_FN(maxpool2),
	.gemm = KERN_FN(gemm),
	.adam = KERN_FN(adam),
	.step = KERN_FN(step),
};
