/* class_weight.c - a run's class weights (train_head.h): none, sklearn's
 * 'balanced' over the training set, or a file naming each class's. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/infile.h"
#include "error.h"
#include "train_head.h"

/* balanced: n_samples / (n_classes * count_c) over the training set, as
 * sklearn.utils.class_weight.compute_class_weight('balanced'); split.c
 * leaves every class that has records a training record. */
static int balanced(const th_data_t *d, const th_split_t *s, float *w, char *err)
{
	size_t *count = calloc((size_t)d->K, sizeof *count);

	if (!count)
		return err_set(err, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < s->ntrain; i++)
		count[d->y[s->train[i]]]++;
	/* A class without records (a partial store) weighs nothing on any
	 * sample: 1, rather than sklearn's error. */
	for (int k = 0; k < d->K; k++)
		w[k] = count[k] ? (float)((double)s->ntrain / ((double)d->K * (double)count[k]))
				: 1.0f;
	free(count);
	return 0;
}

/* class_of: the index of the class named name (len bytes), or -1. */
static int class_of(const th_data_t *d, const char *name, size_t len)
{
	for (int k = 0; k < d->K; k++)
		if (strlen(d->meta.classes[k]) == len && !memcmp(d->meta.classes[k], name, len))
			return k;
	return -1;
}

/* from_file reads "NAME,WEIGHT" lines, one per class. */
static int from_file(const char *path, const th_data_t *d, float *w, char *err)
{
	FILE *f;
	struct stat st;
	char why[ERR_LEN];
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int *seen = NULL, rc;
	long no = 0;

	if ((rc = infile_fopen(path, &f, &st, why)))
		return err_set(err, rc, "--class-weight %s", why);
	if (!(seen = calloc((size_t)d->K, sizeof *seen))) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		no++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		char *comma = strrchr(line, ','), *end;
		if (!comma) {
			rc = err_set(err, ERR_FORMAT, "--class-weight %s line %ld: not "
				     "NAME,WEIGHT", path, no);
			goto out;
		}
		errno = 0;
		double v = strtod(comma + 1, &end);
		if (comma[1] == '\0' || *end || errno || !isfinite(v) || v < 0) {
			rc = err_set(err, ERR_FORMAT, "--class-weight %s line %ld: '%s' is "
				     "not a weight (a finite number >= 0)", path, no, comma + 1);
			goto out;
		}
		int k = class_of(d, line, (size_t)(comma - line));
		if (k < 0) {
			rc = err_set(err, ERR_MISSING, "--class-weight %s line %ld: '%.*s' "
				     "is not a class of the store", path, no,
				     (int)(comma - line), line);
			goto out;
		}
		if (seen[k]++) {
			rc = err_set(err, ERR_ARG, "--class-weight %s line %ld: class '%s' "
				     "is listed twice", path, no, d->meta.classes[k]);
			goto out;
		}
		w[k] = (float)v;
	}
	if (ferror(f)) {
		rc = err_set(err, ERR_IO, "--class-weight %s: %s", path, strerror(errno));
		goto out;
	}
	if (no == 0 && (rc = infile_empty(path, &st, why))) {
		rc = err_set(err, rc, "--class-weight %s", why);
		goto out;
	}
	for (int k = 0; k < d->K; k++)
		if (!seen[k]) {
			rc = err_set(err, ERR_MISSING, "--class-weight %s: class '%s' has "
				     "no weight (every class needs one, as in Keras)", path,
				     d->meta.classes[k]);
			goto out;
		}
out:
	free(line);
	free(seen);
	fclose(f);
	return rc;
}

int th_class_weights(const char *spec, const th_data_t *d, const th_split_t *s,
		     float *w, int *used, char *err)
{
	*used = strcmp(spec, "none") != 0;
	if (!*used)
		return 0;
	if (!strcmp(spec, "balanced"))
		return balanced(d, s, w, err);
	return from_file(spec, d, w, err);
}
