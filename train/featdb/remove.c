/* remove.c - featdb remove (featdb_tool.h): records taken out of a store in
 * one commit, named or the damaged ones, so that the store verifies again;
 * the metadata's count rewritten, the class list kept.
 *
 * The store's writer lock is taken before anything is read, as merge takes
 * it: no extract or merge writes between the look and the commit, so the
 * keys found are the keys removed. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "version.h"
#include "featdb_tool.h"

/* The records to remove: their keys and, for --damaged, why each is bad
 * (featdb_rec_check's words, as featdb verify prints them). */
typedef struct doomed {
	const featdb_meta_t *meta; /* the store's, for the checks */
	float *vec;                /* (meta->dim) scratch for a vector */
	char **keys, **why;        /* (n) owned; why NULL for named keys */
	size_t n, cap;
	uint64_t total;            /* records seen by the scan */
	char err[ERR_LEN];
} doomed_t;

/* doomed_add adds the key k (klen bytes, copied) and why (may be NULL). */
static int doomed_add(doomed_t *d, const char *k, size_t klen, const char *why)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 16;
		char **keys = realloc(d->keys, cap * sizeof *keys);
		if (keys)
			d->keys = keys;
		char **whys = keys ? realloc(d->why, cap * sizeof *whys) : NULL;
		if (!whys)
			return err_set(d->err, ERR_NOMEM, "out of memory");
		d->why = whys;
		d->cap = cap;
	}
	d->keys[d->n] = strndup(k, klen);
	d->why[d->n] = why ? strdup(why) : NULL;
	if (!d->keys[d->n] || (why && !d->why[d->n])) {
		free(d->keys[d->n]);
		free(d->why[d->n]);
		return err_set(d->err, ERR_NOMEM, "out of memory");
	}
	d->n++;
	return 0;
}

static void doomed_free(doomed_t *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->keys[i]), free(d->why[i]);
	free(d->keys);
	free(d->why);
	free(d->vec);
}

/* featdb_scan's callback: a record featdb verify reports bad is doomed (the
 * same check: featdb_rec_decode's, then featdb_rec_sound's). */
static int find_damaged(void *ctx, const char *key, size_t keylen,
			const featdb_rec_t *rec, const char *why)
{
	doomed_t *d = ctx;
	char fault[ERR_LEN];

	if (!d->vec && !(d->vec = malloc((size_t)d->meta->dim * sizeof *d->vec)))
		return err_set(d->err, ERR_NOMEM, "out of memory");
	d->total++;
	if (rec && featdb_rec_sound(d->meta, rec, d->vec, fault) == 0)
		return 0;
	return doomed_add(d, key, keylen, rec ? fault : why);
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* named_keys dooms the nkeys keys, each once, when the store db holds
 * every one; else prints which it lacks (the first, and how many others)
 * and returns non-zero. */
static int named_keys(featdb_t *db, const char *path, int nkeys, char **keys,
		      doomed_t *d)
{
	char err[ERR_LEN];
	const char *first = NULL;
	size_t missing = 0;

	for (int i = 0; i < nkeys; i++) {
		int rc = featdb_has(db, keys[i], err);
		if (rc < 0 && rc != ERR_ARG) {
			cli_error(PROG, "%s", err);
			return rc;
		}
		/* A key no store could hold (empty, too long) is one it lacks. */
		if (rc <= 0) {
			if (!missing++)
				first = keys[i];
		} else if (doomed_add(d, keys[i], strlen(keys[i]), NULL)) {
			cli_error(PROG, "%s", d->err);
			return ERR_NOMEM;
		}
	}
	if (missing > 1)
		cli_error(PROG, "%s holds no record '%s' (%zu other %s named %s "
			  "missing too); nothing was removed", path, first, missing - 1,
			  cli_noun(missing - 1, "key", "keys"),
			  cli_noun(missing - 1, "is", "are"));
	else if (missing)
		cli_error(PROG, "%s holds no record '%s'; nothing was removed", path,
			  first);
	if (missing)
		return ERR_MISSING;
	/* A key named twice is removed once. */
	qsort(d->keys, d->n, sizeof *d->keys, cmp_key);
	size_t n = 0;
	for (size_t i = 0; i < d->n; i++) {
		if (n && strcmp(d->keys[n - 1], d->keys[i]) == 0)
			free(d->keys[i]);
		else
			d->keys[n++] = d->keys[i];
	}
	d->n = n;
	return 0;
}

/* say_sound: --damaged found nothing to remove in the n records of path. */
static void say_sound(const char *path, uint64_t n)
{
	fprintf(stderr, PROG ": %s holds no damaged record; %llu %s, nothing "
		"removed\n", path, (unsigned long long)n, cli_noun(n, "record", "records"));
}

int fdb_remove(const char *path, int nkeys, char **keys, int damaged)
{
	featdb_t *db = NULL;
	featdb_meta_t meta = {0};
	doomed_t d = {.meta = &meta};
	const uint8_t **none = NULL; /* (d.n) NULL each: removed */
	size_t *lens = NULL;
	char err[ERR_LEN];
	int status = CLI_ERROR, lockfd = -1, rc;

	/* The writer lock first, held to the end: an extract or a merge into
	 * the store must not meet the removal there. */
	if (featdb_open(path, FEATDB_WRITE, &db, err) ||
	    featdb_lock_writer(path, &lockfd, err)) {
		cli_error(PROG, "%s", err);
		goto out;
	}
	if (damaged) {
		rc = fdb_empty_why(featdb_scan(db, &meta, find_damaged, &d, err), path, err);
		if (rc) {
			cli_error(PROG, "%s", d.err[0] ? d.err : err);
			goto out;
		}
	} else {
		if (fdb_empty_why(featdb_meta_get(db, &meta, err), path, err)) {
			cli_error(PROG, "%s", err);
			goto out;
		}
		if (named_keys(db, path, nkeys, keys, &d))
			goto out;
	}
	uint64_t counted = meta.count;
	if (d.n == 0 && d.total == counted) {
		say_sound(path, d.total);
		status = CLI_OK;
		goto out;
	}
	/* featdb_write counts its keys in an int. */
	if (d.n > INT_MAX) {
		cli_error(PROG, "%zu records to remove, more than %d in one commit",
			  d.n, INT_MAX);
		goto out;
	}
	if (!(none = calloc(d.n ? d.n : 1, sizeof *none)) ||
	    !(lens = calloc(d.n ? d.n : 1, sizeof *lens))) {
		cli_error(PROG, "out of memory");
		goto out;
	}
	/* The class list as it is: a person keeps their name, as when their
	 * folder is removed (the head keeps an empty class). */
	snprintf(meta.version, sizeof meta.version, PROG " " VGGFEAT_VERSION);
	if (featdb_write(db, &meta, (int)d.n, (const char *const *)d.keys, none, lens,
			 err)) {
		cli_error(PROG, "%s; nothing was removed", err);
		goto out;
	}
	for (size_t i = 0; damaged && i < d.n; i++)
		printf("removed\t%s\t%s\n", d.keys[i], d.why[i]);
	if (!damaged)
		d.total = meta.count + d.n;
	if (d.total != counted)
		fprintf(stderr, PROG ": %s: the metadata counted %llu records, the "
			"store held %llu: count rewritten\n", path,
			(unsigned long long)counted, (unsigned long long)d.total);
	if (damaged && d.n == 0)
		say_sound(path, meta.count);
	else
		fprintf(stderr, PROG ": removed %zu %s%s from %s; %llu %s\n", d.n,
			damaged ? "damaged " : "", cli_noun(d.n, "record", "records"),
			path, (unsigned long long)meta.count,
			cli_noun(meta.count, "remains", "remain"));
	status = CLI_OK;
out:
	free(none);
	free(lens);
	doomed_free(&d);
	featdb_meta_free(&meta);
	if (lockfd >= 0)
		close(lockfd);
	featdb_close(db);
	return status;
}
