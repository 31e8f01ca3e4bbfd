/* head_private.h - what the files of the softmax head (head.c, head_adam.c,
 * head_train.c, head_file.c) share and nobody else uses: the size limits,
 * the allocation, the seeded random numbers and Adam's update that consumes
 * its gradient. */
#ifndef COMMON_HEAD_PRIVATE_H
#define COMMON_HEAD_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "head.h"

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

/* splitmix64: tiny, good enough for an initialisation and shuffles, and
 * identical on every machine. */
static inline uint64_t head_rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A uniform integer in [0, n), without modulo bias (Lemire's method). */
static inline uint64_t head_rng_below(uint64_t *s, uint64_t n)
{
	unsigned __int128 m = (unsigned __int128)head_rng_next(s) * n;
	uint64_t lo = (uint64_t)m;
	if (lo < n) {
		uint64_t floor = -n % n;
		while (lo < floor) {
			m = (unsigned __int128)head_rng_next(s) * n;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

/* Independent streams of one seed: the initialisation and the shuffles. */
enum { HEAD_STREAM_INIT = 1, HEAD_STREAM_SHUFFLE = 2 };

static inline uint64_t head_rng_stream(uint64_t seed, int stream)
{
	uint64_t s = seed ^ ((uint64_t)stream * 0xd1b54a32d192ed03ULL);
	head_rng_next(&s);
	return s;
}

#endif
