/* kern_panels.c - see kern.h: the head step's panels (kern_step_t), their
 * sizes, and packing rows into them and back. */
#include "kernels/kern.h"

#include <string.h>

size_t kern_step_panels(int R, int O, int lanes)
{
	return (size_t)R * (size_t)((O + lanes - 1) / lanes) * (size_t)lanes;
}

size_t kern_step_scratch(int R, int lanes)
{
	return (size_t)2 * (size_t)R * KERN_STEP_KC * (size_t)lanes;
}

/* Rows (R, O), ld apart, into panels (pack) or back: each row's columns
 * of each chunk, the panel's padding zeros. */
static void copy(int R, int O, int lanes, const float *src, size_t ld, float *dst,
		 int pack)
{
	int nv = (O + lanes - 1) / lanes;
	for (int c = 0, j0 = 0; j0 < nv; j0 += kern_step_chunk(nv, c), c++) {
		int kc = kern_step_chunk(nv, c), n = j0 + kc == nv ? O - j0 * lanes : kc * lanes;
		for (int r = 0; r < R; r++) {
			/* Row r's kc vectors of the chunk from vector j0 in the
			 * panels; its columns from j0 * lanes in the rows. */
			size_t p = (size_t)j0 * R * lanes + (size_t)r * kc * lanes;
			size_t q = (size_t)r * ld + (size_t)j0 * lanes;
			if (pack) {
				memcpy(dst + p, src + q, (size_t)n * sizeof *dst);
				memset(dst + p + n, 0, (size_t)(kc * lanes - n) * sizeof *dst);
			} else
				memcpy(dst + q, src + p, (size_t)n * sizeof *dst);
		}
	}
}

void kern_step_pack(int R, int O, int lanes, const float *rows, size_t ld,
		    float *panels)
{
	copy(R, O, lanes, rows, ld, panels, 1);
}

void kern_step_unpack(int R, int O, int lanes, const float *panels, float *rows,
		      size_t ld)
{
	copy(R, O, lanes, panels, ld, rows, 0);
}
