/* split.c - train-head's training, validation and test sets
 * (train_head.h), as index lists into the features: the records extract
 * tagged valid or test, else a share of each class held out by the hash
 * of its key (th_holdout), the same on every machine and stable as
 * records are added. */
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

/* The rank of a record's unit when choosing the one that stays in
 * training: the largest below 1 - test first, then the smallest above. */
static double keep_rank(double unit, double test)
{
	return unit < 1 - test ? unit : -unit;
}

int th_holdout(size_t n, const double *unit, const int32_t *cls, int K,
	       double val, double test, uint8_t *held, char *err)
{
	size_t *keep = NULL;

	if (K < 1 || !(val >= 0 && val < 1) || !(test >= 0 && test < 1) ||
	    !(val + test < 1))
		return err_set(err, ERR_ARG, "holdout: need K >= 1, fractions in [0, 1) "
			       "and below 1 together (got %d, %g, %g)", K, val, test);
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
		if (*k == SIZE_MAX || keep_rank(unit[i], test) > keep_rank(unit[*k], test))
			*k = i;
	}
	for (size_t i = 0; i < n; i++)
		held[i] = keep[cls[i]] == i ? 0 : unit[i] >= 1 - test ? 2 : unit[i] < val;
	free(keep);
	return 0;
}

/* hash_split sorts the records extract tagged train (held[i] is their tag
 * on entry) by th_holdout: validation by val, test by test. */
static int hash_split(const th_data_t *d, double val, double test, uint8_t *held,
		      char *err)
{
	size_t m = 0, *rows = malloc((d->n ? d->n : 1) * sizeof *rows);
	double *unit = calloc(d->n ? d->n : 1, sizeof *unit);
	int32_t *cls = calloc(d->n ? d->n : 1, sizeof *cls);
	uint8_t *sub = malloc(d->n ? d->n : 1);
	int rc = 0;

	if (!rows || !unit || !cls || !sub) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < d->n; i++)
		if (held[i] == FEATDB_TRAIN) {
			rows[m] = i;
			unit[m] = d->unit[i];
			cls[m++] = d->y[i];
		}
	if ((rc = th_holdout(m, unit, cls, d->K, val, test, sub, err)))
		goto out;
	for (size_t j = 0; j < m; j++)
		held[rows[j]] = sub[j];
out:
	free(rows), free(unit), free(cls), free(sub);
	return rc;
}

int th_split_make(const th_data_t *d, const th_opts_t *o, th_split_t *s, char *err)
{
	uint8_t *held = NULL;
	size_t *count = NULL;
	double val = 0, test = 0;
	int rc = 0;

	memset(s, 0, sizeof *s);
	s->train = malloc((d->n ? d->n : 1) * sizeof *s->train);
	s->valid = malloc((d->n ? d->n : 1) * sizeof *s->valid);
	s->test = malloc((d->n ? d->n : 1) * sizeof *s->test);
	held = malloc(d->n ? d->n : 1);
	count = calloc((size_t)d->K * 3, sizeof *count);
	if (!s->train || !s->valid || !s->test || !held || !count) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	/* What extract tagged stays so; the hash holds out what is missing
	 * from the records tagged train. */
	memcpy(held, d->split, d->n);
	if (d->ntagged_valid)
		snprintf(s->how, sizeof s->how, "tagged valid by extract");
	else if ((val = o->val_split) > 0)
		snprintf(s->how, sizeof s->how, "held out by --val-split %g", val);
	else
		snprintf(s->how, sizeof s->how, "--val-split 0");
	if (d->ntagged_test)
		snprintf(s->how_test, sizeof s->how_test, "tagged test by extract");
	else if ((test = o->test_split) > 0)
		snprintf(s->how_test, sizeof s->how_test, "held out by --test-split %g", test);
	if ((val > 0 || test > 0) && (rc = hash_split(d, val, test, held, err)))
		goto out;
	for (size_t i = 0; i < d->n; i++) {
		if (held[i] == FEATDB_VALID)
			s->valid[s->nvalid++] = i;
		else if (held[i] == FEATDB_TEST)
			s->test[s->ntest++] = i;
		else
			s->train[s->ntrain++] = i;
		count[(size_t)d->y[i] * 3 + held[i]]++;
	}
	/* A class without any record is not the data's fault: an extract
	 * still running or interrupted has not reached it (train_head.c says
	 * so).  One whose records are all held out or tagged test is. */
	for (int k = 0; k < d->K; k++)
		if (count[(size_t)k * 3] == 0 && d->count[k] > 0) {
			rc = err_set(err, ERR_MISSING, "%s: class '%s' has no training "
				     "records (%zu for validation, %zu for testing); give it "
				     "training images or remove it", o->db,
				     d->meta.classes[k], count[(size_t)k * 3 + 1],
				     count[(size_t)k * 3 + 2]);
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
	free(s->test);
	memset(s, 0, sizeof *s);
}
