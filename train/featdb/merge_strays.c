/* merge_strays.c - a merge's stray records of OUT: those that decode with
 * a class outside OUT's list, and which input's sound record replaces each
 * (featdb_tool.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "featdb_tool.h"

/* stray notes key (featdb_foreach's fn over OUT) when its record decodes
 * with a class outside OUT's list. */
static int stray(void *ctx, const char *key, size_t keylen, const featdb_rec_t *rec,
		 const char *why)
{
	fdb_strays_t *s = ctx;

	(void)why;
	if (!rec || (rec->cls >= 0 && rec->cls < s->nclasses))
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;
		fdb_stray_t *v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return err_set(s->err, ERR_NOMEM, "out of memory");
		s->v = v;
		s->cap = cap;
	}
	fdb_stray_t *e = &s->v[s->n];
	if (!(e->key = strndup(key, keylen)))
		return err_set(s->err, ERR_NOMEM, "out of memory");
	snprintf(e->why, sizeof e->why, "class %d, the store has %d", (int)rec->cls,
		 s->nclasses);
	e->from = NULL;
	s->n++;
	return 0;
}

void fdb_strays_free(fdb_strays_t *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].key);
	free(s->v);
}

int fdb_strays_find(featdb_t *out, const featdb_meta_t *ometa, int nin, char **in,
		    const featdb_meta_t *ins, float *vec, fdb_strays_t *s, char *err)
{
	int rc;

	s->nclasses = ometa->nclasses;
	if ((rc = featdb_foreach(out, stray, s, err)))
		return s->err[0] ? err_set(err, rc, "%s", s->err) : rc;
	for (int i = 0; i < nin && s->n; i++) {
		featdb_t *db = NULL;
		if ((rc = featdb_open(in[i], FEATDB_RDONLY, &db, err)))
			return rc;
		for (size_t j = 0; j < s->n && rc == 0; j++) {
			uint8_t *val = NULL;
			size_t len = 0;
			if (s->v[j].from)
				continue;
			rc = featdb_get(db, s->v[j].key, &val, &len, err);
			if (rc == ERR_MISSING) {
				rc = 0;
				continue;
			}
			if (rc)
				break;
			if (featdb_rec_check(&ins[i], val, len, vec, NULL) == 0)
				s->v[j].from = in[i];
			free(val);
		}
		featdb_close(db);
		if (rc)
			return rc;
	}
	return 0;
}

const fdb_stray_t *fdb_stray_replaced(const fdb_strays_t *s, const char *key)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (s->v[i].from && strcmp(s->v[i].key, key) == 0)
			return &s->v[i];
	return NULL;
}
