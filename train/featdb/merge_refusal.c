/* merge_refusal.c - the refusal of a merge found before it writes: an
 * input's damaged record of a key that neither OUT nor an earlier input
 * holds, which the merge could neither add nor pass over
 * (featdb_tool.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "featdb_tool.h"

typedef struct refusal {
	featdb_t **held; /* OUT (NULL when it has no store yet), then the
	                    inputs before this one: where a key may be held */
	int nheld;
	const char *inpath;       /* the input read, as named */
	const featdb_meta_t *in;  /* its metadata */
	float *vec;
	char err[ERR_LEN];
} refusal_t;

/* refused (featdb_foreach's fn over an input): non-zero, the reason in
 * r->err, at the first damaged record whose key no store in r->held has. */
static int refused(void *ctx, const char *key, size_t keylen,
		   const featdb_rec_t *rec, const char *why)
{
	refusal_t *r = ctx;
	char inwhy[ERR_LEN];
	char *k;
	int rc = 0;

	if (rec && featdb_rec_sound(r->in, rec, r->vec, inwhy) == 0)
		return 0;
	if (!rec)
		snprintf(inwhy, sizeof inwhy, "%s", why);
	if (!(k = strndup(key, keylen)))
		return err_set(r->err, ERR_NOMEM, "out of memory");
	int held = 0;
	for (int i = 0; i < r->nheld && !held && rc == 0; i++) {
		uint8_t *val = NULL;
		size_t len = 0;
		if (!r->held[i])
			continue;
		rc = featdb_get(r->held[i], k, &val, &len, r->err);
		free(val);
		held = rc == 0;
		if (rc == ERR_MISSING)
			rc = 0;
	}
	if (rc == 0 && !held)
		rc = fdb_merge_refusal(r->inpath, k, inwhy, r->err);
	free(k);
	return rc;
}

int fdb_merge_refusal(const char *inpath, const char *key, const char *why,
		      char *err)
{
	char way[ERR_LEN];

	return err_set(err, ERR_FORMAT, "record '%s': %s; %s", key, why,
		       fdb_damaged_way(inpath, "merge", way, sizeof way));
}

int fdb_merge_refused(const char *outpath, int nin, char **in,
		      const featdb_meta_t *ins, float *vec, char *err)
{
	refusal_t r = {.vec = vec};
	int rc;

	if (!(r.held = calloc((size_t)nin, sizeof *r.held)))
		return err_set(err, ERR_NOMEM, "out of memory");
	rc = featdb_open(outpath, FEATDB_RDONLY, &r.held[0], err);
	if (rc == ERR_MISSING) /* no store yet: it holds no key */
		rc = 0;
	r.nheld = 1;
	for (int i = 0; i < nin && rc == 0; i++) {
		featdb_meta_t now = {0};
		r.inpath = in[i];
		r.in = &ins[i];
		r.err[0] = '\0';
		/* A store named twice: its keys are held by its first. */
		int again = 0;
		for (int j = 0; j < i && !again; j++)
			again = fdb_same_store(in[i], in[j]);
		if (again)
			continue;
		rc = fdb_scan(in[i], &now, refused, &r, err);
		featdb_meta_free(&now);
		if (rc && r.err[0])
			err_set(err, rc, "%s: %s", in[i], r.err);
		else if (rc == 0 && i + 1 < nin)
			rc = featdb_open(in[i], FEATDB_RDONLY, &r.held[r.nheld++], err);
	}
	for (int i = 0; i < r.nheld; i++)
		featdb_close(r.held[i]);
	free(r.held);
	return rc;
}
