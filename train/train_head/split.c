/* split.c - train-head's training and validation sets (train_head.h), as
 * index lists into the features: the records extract tagged valid, else a
 * share of each class held out by the hash of its key (th_holdout), the
 * same on every machine and stable as records are added. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "train_head.h"

double th_key_unit(const char *key, size_t len)
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

int th_holdout(size_t n, const double *unit, const int32_t *cls, int K,
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

int th_split_make(const th_data_t *d, const th_opts_t *o, th_split_t *s, char *err)
{
	uint8_t *held = NULL;
	size_t *count = NULL;
	int rc = 0;

	memset(s, 0, sizeof *s);
	s->train = malloc(d->n * sizeof *s->train);
	s->valid = malloc(d->n * sizeof *s->valid);
	held = malloc(d->n);
	count = calloc((size_t)d->K * 2, sizeof *count);
	if (!s->train || !s->valid || !held || !count) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (d->ntagged) {
		memcpy(held, d->tagged, d->n);
		snprintf(s->how, sizeof s->how, "tagged valid by extract");
	} else if (o->val_split > 0) {
		if ((rc = th_holdout(d->n, d->unit, d->y, d->K, o->val_split, held, err)))
			goto out;
		snprintf(s->how, sizeof s->how, "held out by --val-split %g", o->val_split);
	} else {
		memset(held, 0, d->n);
		snprintf(s->how, sizeof s->how, "--val-split 0");
	}
	for (size_t i = 0; i < d->n; i++) {
		if (held[i])
			s->valid[s->nvalid++] = i;
		else
			s->train[s->ntrain++] = i;
		count[(size_t)d->y[i] * 2 + held[i]]++;
	}
	/* A class without any record is not the data's fault: an extract
	 * still running or interrupted has not reached it (train_head.c says
	 * so).  One whose records are all held out or tagged test is. */
	for (int k = 0; k < d->K; k++)
		if (count[(size_t)k * 2] == 0 && d->count[k] > 0) {
			rc = err_set(err, ERR_MISSING, "%s: class '%s' has no training "
				     "records (%zu for validation, the rest tagged test or "
				     "absent); give it training images or remove it",
				     o->db, d->meta.classes[k], count[(size_t)k * 2 + 1]);
			goto out;
		}
out:
	free(held);
	free(count);
	return rc;
}

void th_split_free(th_split_t *s)
{
	free(s->train);
	free(s->valid);
	memset(s, 0, sizeof *s);
}
