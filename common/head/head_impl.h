/* head_impl.h - what the files of the head (head.c, adam.c, head_train.c,
 * head_file.c) share and nobody else uses: the size limits, the
 * allocation, the random streams, dropout, and the first layer's fused
 * step through Adam (its kernels: kern.h). */
#ifndef COMMON_HEAD_HEAD_IMPL_H
#define COMMON_HEAD_HEAD_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "base/rng.h"
#include "head/head.h"
#include "kernels/kern.h"

/* Largest D or K accepted: far above any real head, and D * K stays
 * addressable with int sgemm arguments. */
#define HEAD_MAX_DIM (1 << 20)
#define HEAD_MAX_PARAMS ((size_t)1 << 31)

/* head_alloc makes h a zeroed head of layers with widths w[0] (the
 * features D), w[1], ..., w[nlayers] (the classes K): 0, ERR_ARG (a width
 * out of 1..HEAD_MAX_DIM, nlayers out of 1..HEAD_MAX_LAYERS), ERR_TOO_BIG
 * or ERR_NOMEM. */
int head_alloc(int nlayers, const int *w, head_t *h, char *err);

/* adam_step_panels runs the fused step s (kern.h's kern_step_t: its
 * rows and moments in panels of the lanes of a->isa's table, whose
 * kernels run it; s names all but Adam's constants) for the update whose
 * alpha adam_next gave, l2 on the rows, with a's hyperparameters (not its
 * moments).  Returns the squares as the table's step does. */
double adam_step_panels(adam_t *a, float alpha, kern_step_t *s, float l2);

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
