/* rng.h - the project's one seeded random stream: splitmix64.
 *
 * Tiny, good enough for a weight initialisation, shuffles and synthetic
 * data, and identical on every machine, so that a seed names the same
 * numbers everywhere.  The head's initialisation and shuffles, the demo's
 * generated weights and faces, and the tests all draw from it: the
 * generated weights file, and so the golden vectors computed from it, are
 * functions of this stream, so it must never change. */
#ifndef COMMON_BASE_RNG_H
#define COMMON_BASE_RNG_H

#include <stdint.h>

typedef struct rng { uint64_t s; } rng_t; /* the state: any value is a seed */

static inline uint64_t rng_next(rng_t *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1): the top 53 bits. */
static inline double rng_uniform(rng_t *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* A uniform integer in [0, n), n > 0, without modulo bias (Lemire's
 * method). */
static inline uint64_t rng_below(rng_t *r, uint64_t n)
{
	unsigned __int128 m = (unsigned __int128)rng_next(r) * n;
	uint64_t lo = (uint64_t)m;
	if (lo < n) {
		uint64_t floor = -n % n;
		while (lo < floor) {
			m = (unsigned __int128)rng_next(r) * n;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

/* Independent streams of one seed (the head's initialisation and its
 * shuffles, say): the seed mixed with the stream's number, one step on. */
static inline rng_t rng_stream(uint64_t seed, int stream)
{
	rng_t r = { seed ^ ((uint64_t)stream * 0xd1b54a32d192ed03ULL) };
	rng_next(&r);
	return r;
}

#endif
