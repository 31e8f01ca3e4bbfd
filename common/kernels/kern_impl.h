/* kern_impl.h - what the kernel files share (kern.c, the templates and the
 * kern_<isa>.c files) and nobody else uses.
 *
 * B' and A' of F(2,3), F(4,3) and F(6,3) as wino_tf_make builds them
 * (kern_tables_match checks that they are the same numbers): as constants,
 * the unrolled transforms of kern_conv.h fold away the zeros and turn the
 * +-1 entries into additions and subtractions.
 *
 * The templates' vocabulary: a kern_<isa>.c file defines SIMD_LANES (and
 * includes simd.h), KERN_ISA, KERN_NAME (its table's name, which prefixes
 * its functions: KERN_FN(x) is KERN_NAME_x), KERN_LABEL (the table's
 * name field), the blocking (KERN_CONV_MR, KERN_CONV_NRV for the
 * convolutions' microkernel, KERN_GEMM_R, KERN_GEMM_V for fc's), then
 * includes the templates kern_conv.h, kern_gemm.h, kern_adam.h and
 * kern_step.h, and kern_table.h, which fills the table. */
#ifndef COMMON_KERNELS_KERN_IMPL_H
#define COMMON_KERNELS_KERN_IMPL_H

#include "kernels/kern.h"

#define KERN_CAT2(a, b) a##_##b
#define KERN_CAT(a, b) KERN_CAT2(a, b)
#define KERN_FN(x) KERN_CAT(KERN_NAME, x)

static const float kern_bt[3][KERN_MAX_A][KERN_MAX_A] = {
	{
		{-1, 0, 1, 0},
		{0, 1, 1, 0},
		{0, -1, 1, 0},
		{0, -1, 0, 1},
	},
	{
		{4, 0, -5, 0, 1, 0},
		{0, -4, -4, 1, 1, 0},
		{0, 4, -4, -1, 1, 0},
		{0, -2, -1, 2, 1, 0},
		{0, 2, -1, -2, 1, 0},
		{0, 4, 0, -5, 0, 1},
	},
	{
		{-1, 0, 5.25f, 0, -5.25f, 0, 1, 0},
		{0, 1, 1, -4.25f, -4.25f, 1, 1, 0},
		{0, -1, 1, 4.25f, -4.25f, -1, 1, 0},
		{0, 0.5f, 0.25f, -2.5f, -1.25f, 2, 1, 0},
		{0, -0.5f, 0.25f, 2.5f, -1.25f, -2, 1, 0},
		{0, 2, 4, -2.5f, -5, 0.5f, 1, 0},
		{0, -2, 4, 2.5f, -5, -0.5f, 1, 0},
		{0, -1, 0, 5.25f, 0, -5.25f, 0, 1},
	},
};

static const float kern_at[3][KERN_MAX_A][KERN_MAX_A] = {
	{
		{1, 1, 1, 0},
		{0, 1, -1, 1},
	},
	{
		{1, 1, 1, 1, 1, 0},
		{0, 1, -1, 2, -2, 0},
		{0, 1, 1, 4, 4, 0},
		{0, 1, -1, 8, -8, 1},
	},
	{
		{1, 1, 1, 1, 1, 1, 1, 0},
		{0, 1, -1, 2, -2, 0.5f, -0.5f, 0},
		{0, 1, 1, 4, 4, 0.25f, 0.25f, 0},
		{0, 1, -1, 8, -8, 0.125f, -0.125f, 0},
		{0, 1, 1, 16, 16, 0.0625f, 0.0625f, 0},
		{0, 1, -1, 32, -32, 0.03125f, -0.03125f, 1},
	},
};

#endif
