/* head_split.c - the validation split: which records are held out, told
 * by a hash of each record's key (head.h), so that the split is the same on
 * every machine and survives adding records. */
#include "head.h"

#include <stdlib.h>

#include "error.h"

double head_key_unit(const char *key, size_t len)
{
	uint64_t x = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		x ^= (unsigned char)key[i];
		x *= 0x100000001b3ULL;
	}
	/* FNV-1a moves a change in the last bytes little into the top bits,
	 * which become the fraction: murmur3's finaliser spreads it. */
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

int head_holdout(size_t n, const double *unit, const int32_t *cls, int K,
		 double frac, uint8_t *held, char *err)
{
	size_t *keep = NULL;

	if (K < 1 || !(frac >= 0 && frac < 1))
		return err_set(err, ERR_ARG, "holdout: need K >= 1 and 0 <= fraction "
			       "< 1 (got %d, %g)", K, frac);
	if (!(keep = malloc((size_t)K * sizeof *keep)))
		return err_set(err, ERR_NOMEM, "out of memory");
	for (int k = 0; k < K; k++)
		keep[k] = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		if (cls[i] < 0 || cls[i] >= K) {
			free(keep);
			return err_set(err, ERR_ARG, "holdout: class %d out of range "
				       "0..%d", (int)cls[i], K - 1);
		}
		size_t *k = &keep[cls[i]];
		if (*k == SIZE_MAX || unit[i] > unit[*k])
			*k = i;
	}
	for (size_t i = 0; i < n; i++)
		held[i] = unit[i] < frac && keep[cls[i]] != i;
	free(keep);
	return 0;
}
