/* convk_tables.h - B' and A' of F(2,3), F(4,3) and F(6,3) as wino_tf_make
 * builds them (convk_tables_match checks that they are the same numbers):
 * as constants, the unrolled transforms of convk_kern.h fold away the zeros
 * and turn the +-1 entries into additions and subtractions.  Included by
 * convk.c and convk_kern.h only. */
#ifndef COMMON_KERNELS_CONVK_TABLES_H
#define COMMON_KERNELS_CONVK_TABLES_H

#include "net/winograd.h"

static const float convk_bt[3][WINO_MAX_A][WINO_MAX_A] = {
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

static const float convk_at[3][WINO_MAX_A][WINO_MAX_A] = {
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
