/* kern.h - the compute kernels of the network (the Winograd convolutions,
 * conv1_1, the max-pools, fc1 and fc2) and of the head (Adam's update, the
 * first layer's fused step): one
 * table of functions per instruction set (isa.h), and kern_for, which
 * gives the table of an ISA.
 *
 * Each kernel is written once over simd.h's vectors, in a template:
 * kern_conv.h (the convolutions and pools), kern_gemm.h (the fixed-order
 * product of fc1 and fc2), kern_adam.h (Adam), kern_step.h (the head's
 * fused step).  One file per instruction
 * set sets its lane count and blocking, includes the templates and so
 * fills its table: kern_portable.c (4 lanes of plain C), kern_avx2.c (8
 * lanes, AVX2 + FMA), kern_avx512.c (16 lanes, AVX-512F) and
 * kern_emul512.c (the AVX-512 file's 16-lane code and blocking on two AVX2
 * registers, so that its logic runs where the CPU lacks AVX-512).
 *
 * Every table gives the same bits: each output element gets the same
 * operations in the same order at every width and blocking, and every
 * multiply-add is fused (rounded once): by the FMA instructions, and on the
 * portable table by C99's fmaf.  So a feature store is the same, bit for
 * bit, on every CPU.  On x86-64 the portable table is built twice from
 * kern_portable.c: with FMA instructions (chosen where the CPU has them)
 * and without (fmaf from the C library, exact but a call per term, for
 * x86-64 CPUs without FMA); elsewhere (AArch64) fmaf is one instruction.
 *
 * Letters: N rows (images), H height, W width, C input channels (the
 * summed dimension), K output channels (columns), m the Winograd output
 * tile side, A = m + 2 the input tile side, P = A * A transform positions,
 * T tiles.  Activations are NHWC.  Cs is C rounded up to the table's
 * lanes (the row stride of V); Ks is K rounded up to its panel width nr
 * (the row stride of M and of U's panels). */
#ifndef COMMON_KERNELS_KERN_H
#define COMMON_KERNELS_KERN_H

#include <stddef.h>

/* kern_t's direct3x3 sums each tap apart from this many input channels. */
#define KERN_DIRECT_SPLIT_C 16

/* The largest Winograd input tile side (F(6, 3)). */
#define KERN_MAX_A 8

/* The head's fused step on a block of R rows of its first layer's kernel
 * (for head_train.c's stripes):
 *   g (R, O) = x[:, rows]^T @ dz, each sum from zero in batch order, then
 *   Adam on the rows with g (as the table's adam), then
 *   part (nn, O) = xn[:, rows] @ the rows updated, each sum from zero in
 *   row order (part's old values are not read).
 * With nb 0, no update: part receives the rows' products alone.
 *
 * The rows and their moments are kept in panels, a layout of the table's
 * lanes (kern_step_pack): the O columns as nv = O / lanes vectors
 * (rounded up), cut into chunks of up to KERN_STEP_KC vectors
 * (kern_step_chunk); chunk c, from vector j0, is one run of R x kc
 * vectors at j0 x R x lanes floats, row r's kc vectors from its r x kc-th;
 * the lanes past O are zeros.  So the step reads and writes each panel
 * front to back. */
typedef struct kern_step {
	int O, R;           /* the kernel's columns; the rows of the block */
	int nb, nn;         /* this batch's rows (0: no update), the next's */
	const float *x;     /* this batch, transposed: x[i * ldx + b] for the
			     * block's row i, sample b */
	const float *xn;    /* the next batch, the same way */
	size_t ldx;
	const float *dz;    /* (nb, O) the gradient of the layer's outputs,
			     * rows ldz apart */
	float *w, *m, *v;   /* the rows and their moments, in panels */
	float *g;           /* scratch: kern_step_scratch(R, lanes) floats */
	float *part;        /* (nn, O), rows ldz apart */
	size_t ldz;         /* 0: O.  A multiple of 16 with dz and part
			     * 64-byte aligned keeps the inner loops' vector
			     * loads and stores within cache lines (O = 290
			     * rows put 7 of 8 across two: 13% slower) */
	float alpha, c1, c2, eps, l2x2;
} kern_step_t;

/* Vectors per panel at most (kern_step_t). */
#define KERN_STEP_KC 3

/* The width in vectors of chunk c of nv vectors: nv cut into
 * ceil(nv / KERN_STEP_KC) chunks as even as they can be, the narrower
 * first. */
static inline int kern_step_chunk(int nv, int c)
{
	int n = (nv + KERN_STEP_KC - 1) / KERN_STEP_KC;
	return nv / n + (c >= n - nv % n);
}

/* Floats of R rows of O columns in panels of `lanes`; of the step's
 * scratch for R rows. */
size_t kern_step_panels(int R, int O, int lanes);
size_t kern_step_scratch(int R, int lanes);

/* kern_step_pack: rows (R, O), rows ld apart, into panels (R, O) of
 * `lanes` (their padding zeros); kern_step_unpack the other way. */
void kern_step_pack(int R, int O, int lanes, const float *rows, size_t ld,
		    float *panels);
void kern_step_unpack(int R, int O, int lanes, const float *panels, float *rows,
		      size_t ld);

typedef struct kern {
	int isa;          /* ISA_PORTABLE, ISA_AVX2, ISA_AVX512 or ISA_EMUL512 */
	const char *name; /* "avx2", ...; the portable tables say how fmaf runs */
	int lanes;        /* floats per vector */
	int nr;           /* columns per panel of U: Ks is K rounded up to it */

	/* Winograd F(m x m, 3 x 3), m = 2, 4 or 6, with the matrices of
	 * kern_impl.h.  img (H, W, C); the A x A patch at (y0, x0), zero
	 * outside the image, transformed into V = B' d B: position p's Cs
	 * floats at V + p * pstride (the lanes past C are zero).  prefetch:
	 * ask for the pixels of the next tile to the right first. */
	void (*wino_in)(int m, const float *img, int H, int W, int C, int y0,
			int x0, float *V, size_t pstride, int prefetch);

	/* M: position p's Ks floats at M + p * pstride; the m x m outputs at
	 * (y0, x0) of an image (H, W, K), those inside it, are
	 * relu(A' M A + bias).  pool 0: they are written to img (H, W, K);
	 * pool 1: img is (H/2, W/2, K) and gets their 2x2 max-pools (y0 and x0
	 * even; an odd last row or column dropped, as Keras' 'valid' pool
	 * does): the bits maxpool2 gives over the outputs, without writing
	 * them.  img's pixels are ldo floats apart (ldo >= K): K channels of
	 * a wider image, each computed on its own (the same bits as when
	 * written with all the others). */
	void (*wino_out)(int m, const float *M, size_t pstride, int K,
			 const float *bias, float *img, size_t ldo, int H, int W,
			 int y0, int x0, int pool);

	/* V (T, Cs) with rows ldv apart, U (Ks/nr, Cs, nr) panels, M (T, Ks)
	 * with rows ldm apart: M = V @ U, each element summed over c in blocks
	 * of 256 (each block from zero, one fused multiply-add per term in c
	 * order, then added to the sum so far). */
	void (*wino_gemm)(int T, int Cs, int Ks, const float *V, size_t ldv,
			  const float *U, float *M, size_t ldm);
	/* wino_gemm, the same bits, asking L2 for the panel of U it will
	 * need next as it goes, a row of that panel with each of its own:
	 * where U streams from past L2.  The next panel is the call's own
	 * next one, and after its last, `after` (Cs x nr floats, or NULL). */
	void (*wino_gemm_ahead)(int T, int Cs, int Ks, const float *V, size_t ldv,
				const float *U, float *M, size_t ldm,
				const float *after);

	/* img (H, W, C), kernel (3, 3, C, K) HWIO, bias (K), out (H, W, K): rows
	 * y0..y1-1 of the 3x3 'same' convolution + bias + ReLU, computed
	 * directly, each output in one order, one fused multiply-add per term:
	 * with C < KERN_DIRECT_SPLIT_C, bias first then the taps inside the
	 * image in (ky, kx, c) order; with more, each tap's C terms summed from
	 * zero in c order, then added to the sum so far, which starts at the
	 * bias (closer to the exact sum: 9 sums of C terms, not one of 9C).  K
	 * a multiple of 64.  For conv1_1 (3 input channels: Winograd's
	 * transforms would cost more than they save), and every layer of the
	 * reference path. */
	void (*direct3x3)(const float *img, int H, int W, int C,
			  const float *kernel, const float *bias, int K,
			  float *out, int y0, int y1);

	/* in (H, W, C), out (H/2, W/2, C): output rows r0..r1-1 of the 2x2
	 * max-pool, stride 2 (Keras' 'valid': an odd last row or column is
	 * dropped).  A max is exact: the bits of any other order. */
	void (*maxpool2)(const float *in, int H, int W, int C, float *out,
			 int r0, int r1);

	/* The product of fc1 and fc2, each element summed in one fixed order,
	 * so that a row's result never depends on the other rows, on how the
	 * work is split or on how many threads do it.  a (N, C) with rows lda
	 * apart, b (C, K) with rows ldb apart, bias (K) or NULL, c (N, K) with
	 * rows ldc apart (not overlapping a or b); for k0 <= k < k1:
	 *
	 *   c[n][k] = relu?((((0 + a[n][0] b[0][k]) + a[n][1] b[1][k]) + ...
	 *                     + a[n][C-1] b[C-1][k]) + bias[k])
	 *
	 * each term added in increasing c by one fused multiply-add.  (OpenBLAS'
	 * sgemm changes its kernel with N: a row got other bits among 4 rows
	 * than alone.)  b is read in long runs of its rows, packed block by
	 * block (fc1's is 411 MB, read once per call).  Uses 128 KB of stack. */
	void (*gemm)(int N, int C, int k0, int k1, const float *a, size_t lda,
		     const float *b, size_t ldb, const float *bias, int relu,
		     float *c, size_t ldc);

	/* Adam's float32 update (head.h's adam_apply): w, m, v, g (n); g' = g +
	 * l2x2 * w, then the moments with c1 = 1 - beta1 and c2 = 1 - beta2,
	 * then w.  Returns the sum of the squares of w before the update when
	 * l2x2 != 0, else 0. */
	double (*adam)(float *w, float *m, float *v, const float *g, size_t n,
		       float alpha, float c1, float c2, float eps, float l2x2);

	/* One Adam step of the head's first Dense layer on a block of its
	 * kernel's rows, fused (kern_step_t, below).  Returns the sum of the
	 * squares of the rows before the update when l2x2 != 0 (in row
	 * order), else 0. */
	double (*step)(const struct kern_step *s);
} kern_t;

/* kern_for: the table of isa (ISA_AUTO: isa_best()'s).  Never NULL: an
 * ISA this CPU cannot run, or no ISA, gives the portable table (whose isa
 * field says so); callers that must refuse such an ISA ask isa_cpu_has
 * first. */
const kern_t *kern_for(int isa);

/* kern_portable_libm: the portable table whose fmaf is the C library's
 * (what x86-64 CPUs without FMA run), for the tests to show that it gives
 * the same bits; on other machines the one portable table. */
const kern_t *kern_portable_libm(void);

/* kern_tables_match: 1 when the kernels' own copies of B' (A, A) and A'
 * (m, A) for m are bt and at (the kernels take them as constants, to
 * unroll). */
int kern_tables_match(int m, const float bt[KERN_MAX_A][KERN_MAX_A],
		      const float at[KERN_MAX_A][KERN_MAX_A]);

#endif
