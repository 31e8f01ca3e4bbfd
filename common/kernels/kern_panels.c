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
