/* head_impl.h - what the files of the softmax head (head.c, adam.c,
 * head_train.c, head_file.c) share and nobody else uses: the size limits,
 * the allocation, the random streams and Adam's update that consumes
 * its gradient. */
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

/* head_alloc makes h a zeroed D-by-K head: 0, ERR_ARG (D or K out of
 * 1..HEAD_MAX_DIM), ERR_TOO_BIG or ERR_NOMEM. */
int head_alloc(int D, int K, head_t *h, char *err);

/* adam_apply_clear is adam_apply that zeroes g (n) as it consumes it, so
 * that the trainer's gradient block is zeros again for the next sgemm to
 * accumulate into. */
double adam_apply_clear(adam_t *a, float alpha, size_t off, size_t n,
			float *w, float *g, float l2);

/* Independent streams of one seed (rng_stream): the initialisation and the
 * shuffles. */
enum { HEAD_STREAM_INIT = 1, HEAD_STREAM_SHUFFLE = 2 };

#endif
