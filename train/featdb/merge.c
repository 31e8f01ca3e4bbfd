/* merge.c - featdb merge (featdb_tool.h). */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "dataset/classes.h"
#include "error.h"
#include "version.h"
#include "featdb_tool.h"

typedef struct merge {
	featdb_t *out;
	featdb_meta_t *meta;       /* OUT's metadata: the union of classes */
	const featdb_meta_t *in;   /* the input being read */
	const featdb_meta_t *now;  /* its metadata in the snapshot being read */
	int checked;               /* now was compared with in */
	int *cmap;                 /* input class -> union class */
	int n;
	char *key[FEATDB_TOOL_BATCH];
	uint8_t *val[FEATDB_TOOL_BATCH];
	size_t len[FEATDB_TOOL_BATCH];
	uint64_t added, same, conflicts;
	char err[ERR_LEN];
} merge_t;

static int merge_flush(merge_t *m)
{
	int rc = 0;
	if (m->n)
		rc = featdb_write(m->out, m->meta, m->n, (const char *const *)m->key,
				  (const uint8_t *const *)m->val, m->len, m->err);
	for (int i = 0; i < m->n; i++) {
		free(m->key[i]);
		free(m->val[i]);
	}
	if (rc == 0)
		m->added += (uint64_t)m->n;
	m->n = 0;
	return rc;
}

static int merge_one(void *ctx, const char *key, size_t keylen,
		     const featdb_rec_t *rec, const char *why)
{
	merge_t *m = ctx;
	size_t len;
	uint8_t *have = NULL, *val;
	size_t havelen;
	char *k;

	if (!m->checked) {
		/* The class map was made from the metadata read first. */
		if (!classes_equal(m->now->classes, m->now->nclasses, m->in->classes,
				   m->in->nclasses))
			return err_set(m->err, ERR_MISMATCH, "people were added while "
				       "merging (an extract is writing to it?); try again "
				       "when it is done");
		m->checked = 1;
	}
	if (!rec)
		return err_set(m->err, ERR_FORMAT, "record '%.*s': %s (run featdb verify)",
			       (int)keylen, key, why);
	if (rec->cls < 0 || rec->cls >= m->in->nclasses)
		return err_set(m->err, ERR_FORMAT, "record '%.*s' has class %d of %d",
			       (int)keylen, key, (int)rec->cls, m->in->nclasses);
	len = featdb_rec_size(rec->dtype, rec->dim);
	k = strndup(key, keylen);
	val = malloc(len);
	float *vec = malloc((size_t)rec->dim * sizeof *vec);
	if (!k || !val || !vec) {
		free(k), free(val), free(vec);
		return err_set(m->err, ERR_NOMEM, "out of memory");
	}
	featdb_rec_vector(rec, vec);
	int rc = featdb_rec_encode(vec, rec->dim, rec->dtype, m->cmap[rec->cls],
				   rec->split, val, m->err);
	free(vec);
	/* The same image extracted twice with the same weights gives the same
	 * record; anything else is a conflict that must not be papered over. */
	int has = rc ? rc : featdb_get(m->out, k, &have, &havelen, m->err);
	if (has == 0) {
		/* A record already in OUT has OUT's class numbering, which may
		 * change when this merge adds people: compare names, not numbers. */
		featdb_rec_t hr;
		int same = featdb_rec_decode(have, havelen, &hr, NULL) == 0 &&
			   hr.split == rec->split && hr.dim == rec->dim &&
			   hr.dtype == rec->dtype && hr.cls >= 0 &&
			   hr.cls < m->meta->nclasses &&
			   strcmp(m->meta->classes[hr.cls],
				  m->in->classes[rec->cls]) == 0 &&
			   memcmp(hr.data, val + FEATDB_HEADER, len - FEATDB_HEADER) == 0;
		if (same) {
			m->same++;
		} else {
			m->conflicts++;
			fprintf(stderr, PROG ": conflict: '%s' differs from the record "
				"OUT holds (OUT's own or an earlier input's); kept that "
				"one\n", k);
		}
		free(have), free(k), free(val);
		return 0;
	}
	if (has != ERR_MISSING) {
		free(k), free(val);
		return has;
	}
	m->key[m->n] = k;
	m->val[m->n] = val;
	m->len[m->n] = len;
	if (++m->n == FEATDB_TOOL_BATCH)
		return merge_flush(m);
	return 0;
}

/* union_into adds the people of from to meta's (classes_union). */
static int union_into(featdb_meta_t *meta, const featdb_meta_t *from, char *err)
{
	char **u;
	int n, rc = classes_union(meta->classes, meta->nclasses, from->classes,
				  from->nclasses, &u, &n, err);

	if (rc)
		return rc;
	featdb_meta_free(meta);
	meta->classes = u;
	meta->nclasses = n;
	return 0;
}

static int same_settings(const featdb_meta_t *a, const char *an,
			 const featdb_meta_t *b, const char *bn)
{
	const char *what = featdb_meta_differ(a, b);

	/* Records are copied as they are: their dtype must agree too. */
	if (!what && a->dtype == b->dtype)
		return 1;
	if (!what)
		what = "dtype";
	cli_error(PROG, "%s and %s differ in %s (%s %s/%s/%s/%s/%d/%s vs "
		  "%s/%s/%s/%s/%d/%s); only stores made the same way can be merged",
		  an, bn, what, "model/fingerprint/preprocess/conv/dim/dtype", a->model,
		  a->fingerprint, a->preprocess, featdb_meta_conv_name(a), a->dim,
		  featdb_dtype_name(a->dtype), b->model, b->fingerprint, b->preprocess,
		  featdb_meta_conv_name(b), b->dim, featdb_dtype_name(b->dtype));
	return 0;
}

/* Whether the paths a and b name one store, however they are spelled
 * (./s.lmdb, s.lmdb/, a link to it). */
static int same_folder(const char *a, const char *b)
{
	struct stat sa, sb;

	if (strcmp(a, b) == 0)
		return 1;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

int fdb_merge(const char *outpath, int nin, char **in)
{
	featdb_t *out = NULL;
	featdb_meta_t *ins = NULL, ometa = {0}, meta = {0};
	merge_t m = {0};
	char err[ERR_LEN];
	int status = CLI_ERROR, have_out = 0, lockfd = -1;
	size_t total = 0; /* class names of every list: may pass INT_MAX */

	ins = calloc((size_t)nin, sizeof *ins);
	if (!ins)
		goto nomem;
	/* Every input's metadata first: refuse before writing anything. */
	for (int i = 0; i < nin; i++) {
		featdb_t *db = NULL;
		if (same_folder(in[i], outpath)) {
			cli_error(PROG, "%s is both OUT and IN (as %s)", outpath, in[i]);
			goto out;
		}
		if (fdb_open_store(in[i], &db, &ins[i]))
			goto out;
		featdb_close(db);
		if (i && !same_settings(&ins[0], in[0], &ins[i], in[i]))
			goto out;
		total += (size_t)ins[i].nclasses;
	}
	/* OUT's writer lock, as extract takes it, held to the end: an extract
	 * into OUT must not meet the merge there. */
	if (featdb_open(outpath, FEATDB_CREATE, &out, err) ||
	    featdb_lock_writer(outpath, &lockfd, err)) {
		cli_error(PROG, "%s", err);
		goto out;
	}
	int rc = featdb_meta_get(out, &ometa, err);
	if (rc == 0) {
		have_out = 1;
		if (!same_settings(&ometa, outpath, &ins[0], in[0]))
			goto out;
		total += (size_t)ometa.nclasses;
	} else if (rc != ERR_MISSING) {
		cli_error(PROG, "%s", err);
		goto out;
	}
	/* The union is counted in an int, as every class list. */
	if (total > INT_MAX) {
		cli_error(PROG, "%zu class names in all, more than %d", total, INT_MAX);
		goto out;
	}
	/* The union of every class list, sorted: Keras' indices. */
	meta = ins[0];
	meta.classes = NULL;
	meta.nclasses = 0;
	rc = have_out ? union_into(&meta, &ometa, err) : 0;
	for (int i = 0; i < nin && rc == 0; i++)
		rc = union_into(&meta, &ins[i], err);
	if (rc) {
		cli_error(PROG, "%s", err);
		goto out;
	}
	snprintf(meta.version, sizeof meta.version, PROG " " VGGFEAT_VERSION);
	m.out = out;
	m.meta = &meta;
	for (int i = 0; i < nin; i++) {
		featdb_t *db = NULL;
		featdb_meta_t now = {0};
		m.in = &ins[i];
		m.now = &now;
		m.checked = 0;
		free(m.cmap);
		m.cmap = calloc((size_t)ins[i].nclasses + 1, sizeof *m.cmap);
		if (!m.cmap)
			goto nomem;
		/* Every input's people are in the union. */
		classes_map(ins[i].classes, ins[i].nclasses, meta.classes, meta.nclasses,
			    m.cmap, NULL);
		if ((rc = featdb_open(in[i], FEATDB_RDONLY, &db, err)) == 0)
			rc = featdb_scan(db, &now, merge_one, &m, err);
		featdb_close(db);
		featdb_meta_free(&now);
		if (rc == 0)
			rc = merge_flush(&m);
		else if (rc > 0 || m.err[0])
			snprintf(err, sizeof err, "%s", m.err);
		if (rc) {
			cli_error(PROG, "%s: %s", in[i], m.err[0] ? m.err : err);
			goto out;
		}
	}
	/* An OUT with nothing new still gets the union of the class lists. */
	if (m.added == 0 && featdb_write(out, &meta, 0, NULL, NULL, NULL, err)) {
		cli_error(PROG, "%s", err);
		goto out;
	}
	fprintf(stderr, PROG ": merged %d %s into %s: %llu records added, %llu "
		"already there, %llu conflicts; %d people\n", nin,
		cli_noun(nin, "store", "stores"), outpath, (unsigned long long)m.added,
		(unsigned long long)m.same, (unsigned long long)m.conflicts, meta.nclasses);
	if (m.conflicts)
		cli_error(PROG, "%llu %s from those OUT held (listed above): "
			  "OUT's were kept", (unsigned long long)m.conflicts,
			  cli_noun(m.conflicts, "record differs", "records differ"));
	else
		status = CLI_OK;
	goto out;
nomem:
	cli_error(PROG, "out of memory");
out:
	for (int i = 0; i < m.n; i++)
		free(m.key[i]), free(m.val[i]);
	free(m.cmap);
	featdb_meta_free(&meta);
	featdb_meta_free(&ometa);
	for (int i = 0; ins && i < nin; i++)
		featdb_meta_free(&ins[i]);
	free(ins);
	if (lockfd >= 0)
		close(lockfd);
	featdb_close(out);
	return status;
}
