/* head_impl.h - what the files of the head (head.c, adam.c, head_train.c,
 * head_file.c) share and nobody else uses: the size limits, the
 * allocation, the random streams, dropout, and Adam's kernels per ISA:
 * the update, and the first layer's fused step. */
#ifndef COMMON_HEAD_HEAD_IMPL_H
#define COMMON_HEAD_HEAD_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "head/head.h"
#include "base/rng.h"

/* Largest D or K accepted: far above any real head, and D * K stays
 * addressable with int sgemm arguments. */
#define HEAD_MAX_DIM (1 << 20)
#define HEAD_MAX_PARAMS ((size_t)1 << 31)

/* head_alloc makes h a zeroed head of layers with widths w[0] (the
 * features D), w[1], ..., w[nlayers] (the classes K): 0, ERR_ARG (a width
 * out of 1..HEAD_MAX_DIM, nlayers out of 1..HEAD_MAX_LAYERS), ERR_TOO_BIG
 * or ERR_NOMEM. */
int head_alloc(int nlayers, const int *w, head_t *h, char *err);

/* Adam's float32 update per ISA (adam_kern.h): w, m, v, g (n); g' =
 * g + l2x2 * w, then the moments c1 = 1 - beta1 and c2 = 1 - beta2, then w.
 * Returns the sum of the squares of w before the update when l2x2 != 0,
 * else 0.  The same bits on every ISA. */
double adam_portable(float *w, float *m, float *v, const float *g, size_t n,
		     float alpha, float c1, float c2, float eps, float l2x2);
double adam_avx2(float *w, float *m, float *v, const float *g, size_t n,
		 float alpha, float c1, float c2, float eps, float l2x2);
double adam_avx512(float *w, float *m, float *v, const float *g, size_t n,
		   float alpha, float c1, float c2, float eps, float l2x2);
double adam_emul512(float *w, float *m, float *v, const float *g, size_t n,
		    float alpha, float c1, float c2, float eps, float l2x2);

/* One Adam step of the first Dense layer on a block of R rows of its
 * kernel (step_kern.h, for head_train.c's stripes):
 *   g (R, O) = x[:, rows]^T @ dz, then Adam on the rows with g, then
 *   part (nn, O) = xn[:, rows] @ the rows updated (part's old values are
 *   not read).
 * With nb 0, no update: part receives the rows' products alone. */
typedef struct head_step {
	int O, R;           /* the kernel's columns; the rows of the block */
	int nb, nn;         /* this batch's rows (0: no update), the next's */
	const float *x;     /* this batch, transposed: x[i * ldx + b] for the
			     * block's row i, sample b */
	const float *xn;    /* the next batch, the same way */
	size_t ldx;
	const float *dz;    /* (nb, O) the gradient of the layer's outputs */
	float *w, *m, *v;   /* (R, O) the rows and their moments */
	float *part;        /* (nn, O) */
	float alpha, c1, c2, eps, l2x2;
} head_step_t;

/* The step per ISA: returns the sum of the squares of the rows before
 * the update when l2x2 != 0 (in row order), else 0.  The same bits on
 * avx2, avx512 and emul512 (FMA); portable rounds each product. */
double step_portable(const head_step_t *s);
double step_avx2(const head_step_t *s);
double step_avx512(const head_step_t *s);
double step_emul512(const head_step_t *s);

/* adam_step_rows runs head_step_t s on rows off/O.. of a's parameters (s
 * names x, xn, ldx, dz, part, O, R, nb and nn; Adam fills the rest) for
 * the update whose alpha adam_next gave, l2 on the rows; a->isa's
 * instructions.  Returns the squares as head_step_t's. */
double adam_step_rows(adam_t *a, float alpha, size_t off, head_step_t *s, float l2);

/* Independent streams of one seed (rng_stream): the initialisation of
 * layer 0, the shuffles, the dropout masks, and the initialisation of
 * layer l >= 1 (HEAD_STREAM_LAYER + l). */
enum { HEAD_STREAM_INIT = 1, HEAD_STREAM_SHUFFLE = 2, HEAD_STREAM_DROPOUT = 3,
       HEAD_STREAM_LAYER = 16 };

/* head_dropout: Keras' Dropout(rate) while training, on units j0..j0+n
 * of row `row` of the batch of step `step` at dropout site `site` (0: the
 * features, l + 1: after hidden layer l): out[k] = x[k] / (1 - rate) (x
 * times the float32 scale) when unit j0 + k is kept, else 0; a unit is
 * kept with probability 1 - rate, its draw a function of (seed, step,
 * site, row, unit) alone.  out may be x.  Dropout is linear: the same call
 * on the gradient of the outputs gives the gradient of the inputs. */
void head_dropout(uint64_t seed, long step, int site, int row, double rate,
		  const float *x, float *out, size_t j0, size_t n);

#endif
