/* merge.c - featdb merge (featdb_tool.h). */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dataset/classes.h"
#include "error.h"
#include "version.h"
#include "featdb_tool.h"

typedef struct merge {
	featdb_t *out;
	/* OUT's metadata: the union of classes, in whose numbering OUT's
	 * records are from the start (fdb_merge writes it first). */
	featdb_meta_t *meta;
	const char *inpath;        /* the input being read, as named */
	const featdb_meta_t *in;   /* its metadata */
	const featdb_meta_t *now;  /* its metadata in the snapshot being read */
	int checked;               /* now was compared with in */
	int *cmap;                 /* input class -> union class */
	float *vec, *outvec;       /* (dim) scratch: the input's, OUT's record */
	int n, nreplace;           /* records batched, of which over damaged ones */
	char *key[FEATDB_TOOL_BATCH];
	uint8_t *val[FEATDB_TOOL_BATCH];
	size_t len[FEATDB_TOOL_BATCH];
	uint64_t added, same, conflicts, replaced, passed;
	/* The keys whose record was damaged in OUT and in an input: OUT's
	 * kept, unless a later input holds a sound one. */
	char **kept;
	size_t nkept, capkept;
	/* OUT's records of a class outside its list that the first commit
	 * removed, an input holding a sound one (fdb_strays_find). */
	const fdb_strays_t *strays;
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
	if (rc == 0) {
		m->added += (uint64_t)(m->n - m->nreplace);
		m->replaced += (uint64_t)m->nreplace;
	}
	m->n = 0;
	m->nreplace = 0;
	return rc;
}

/* batch adds the input's record rec, whose vector m->vec holds, under key k
 * (taken) to the batch, in OUT's numbering; replace: over a damaged record
 * of OUT. */
static int batch(merge_t *m, char *k, const featdb_rec_t *rec, int replace)
{
	size_t len = featdb_rec_size(rec->dtype, rec->dim);
	uint8_t *val = malloc(len);
	int rc;

	if (!val) {
		free(k);
		return err_set(m->err, ERR_NOMEM, "out of memory");
	}
	if ((rc = featdb_rec_encode(m->vec, rec->dim, rec->dtype, m->cmap[rec->cls],
				    rec->split, val, m->err))) {
		free(k), free(val);
		return rc;
	}
	m->key[m->n] = k;
	m->val[m->n] = val;
	m->len[m->n] = len;
	m->nreplace += replace;
	if (++m->n == FEATDB_TOOL_BATCH)
		return merge_flush(m);
	return 0;
}

/* keep_damaged notes k (taken), damaged in OUT and in the input. */
static int keep_damaged(merge_t *m, char *k)
{
	for (size_t i = 0; i < m->nkept; i++)
		if (strcmp(m->kept[i], k) == 0) {
			free(k);
			return 0;
		}
	if (m->nkept == m->capkept) {
		size_t cap = m->capkept ? 2 * m->capkept : 16;
		char **l = realloc(m->kept, cap * sizeof *l);
		if (!l) {
			free(k);
			return err_set(m->err, ERR_NOMEM, "out of memory");
		}
		m->kept = l;
		m->capkept = cap;
	}
	m->kept[m->nkept++] = k;
	return 0;
}

/* merge_one takes the input's record of key: into OUT when OUT has none,
 * or over OUT's when OUT's is damaged and the input's sound (each checked
 * as featdb verify does); else OUT's is kept: the same record, a conflict,
 * or a damaged record of the input, each said. */
static int merge_one(void *ctx, const char *key, size_t keylen,
		     const featdb_rec_t *rec, const char *why)
{
	merge_t *m = ctx;
	char inwhy[ERR_LEN], outwhy[ERR_LEN];
	uint8_t *have = NULL;
	size_t havelen;
	featdb_rec_t hr;
	char *k;
	int rc;

	if (!m->checked) {
		/* The class map was made from the metadata read first. */
		if (!classes_equal(m->now->classes, m->now->nclasses, m->in->classes,
				   m->in->nclasses))
			return err_set(m->err, ERR_MISMATCH, "people were added while "
				       "merging (an extract is writing to it?); try again "
				       "when it is done");
		m->checked = 1;
	}
	int in_bad = rec ? featdb_rec_sound(m->in, rec, m->vec, inwhy) : ERR_FORMAT;
	if (!rec)
		snprintf(inwhy, sizeof inwhy, "%s", why);
	if (!(k = strndup(key, keylen)))
		return err_set(m->err, ERR_NOMEM, "out of memory");
	rc = featdb_get(m->out, k, &have, &havelen, m->err);
	const fdb_stray_t *was = rc == ERR_MISSING ? fdb_stray_replaced(m->strays, k) : NULL;
	if (was && in_bad) {
		/* OUT's stray, removed by the first commit: a later input's
		 * sound record replaces it (fdb_strays_find). */
		m->passed++;
		fprintf(stderr, PROG ": '%s' is damaged in %s (%s); OUT's, damaged too "
			"(%s), is replaced by %s's\n", k, m->inpath, inwhy, was->why,
			was->from);
		free(k);
		return 0;
	}
	if (rc == ERR_MISSING && in_bad) {
		rc = fdb_merge_refusal(m->inpath, k, inwhy, m->err);
		free(k);
		return rc;
	}
	if (rc == ERR_MISSING) {
		if (was)
			fprintf(stderr, PROG ": '%s': OUT's record is damaged (%s); "
				"replaced by %s's\n", k, was->why, m->inpath);
		return batch(m, k, rec, was != NULL);
	}
	if (rc) {
		free(k);
		return rc;
	}
	int out_bad = featdb_rec_check(m->meta, have, havelen, m->outvec, outwhy);
	if (out_bad && !in_bad) {
		fprintf(stderr, PROG ": '%s': OUT's record is damaged (%s); replaced by "
			"%s's\n", k, outwhy, m->inpath);
		free(have);
		return batch(m, k, rec, 1);
	}
	if (out_bad) {
		fprintf(stderr, PROG ": '%s' is damaged in OUT (%s) and in %s (%s); "
			"kept OUT's\n", k, outwhy, m->inpath, inwhy);
		free(have);
		return keep_damaged(m, k);
	}
	if (in_bad) {
		m->passed++;
		fprintf(stderr, PROG ": '%s' is damaged in %s (%s); kept OUT's, which "
			"is sound\n", k, m->inpath, inwhy);
	} else {
		/* The same image extracted twice with the same weights gives the
		 * same record; anything else is a conflict that must not be
		 * papered over.  Both are sound, of one dim and dtype: their
		 * classes are compared by name. */
		featdb_rec_decode(have, havelen, &hr, NULL);
		if (hr.split == rec->split &&
		    strcmp(m->meta->classes[hr.cls], m->in->classes[rec->cls]) == 0 &&
		    memcmp(hr.data, rec->data, havelen - FEATDB_HEADER) == 0) {
			m->same++;
		} else {
			m->conflicts++;
			fprintf(stderr, PROG ": conflict: '%s' differs from the record "
				"OUT holds (OUT's own or an earlier input's); kept that "
				"one\n", k);
		}
	}
	free(have), free(k);
	return 0;
}

/* still_damaged: of the keys kept damaged, those OUT still holds damaged (a
 * later input may have replaced one), or -1 with err set. */
static long long still_damaged(const merge_t *m, char *err)
{
	long long n = 0;

	for (size_t i = 0; i < m->nkept; i++) {
		uint8_t *val = NULL;
		size_t len = 0;
		int rc = featdb_get(m->out, m->kept[i], &val, &len, err);
		if (rc)
			return -1;
		n += featdb_rec_check(m->meta, val, len, m->outvec, NULL) != 0;
		free(val);
	}
	return n;
}

/* report prints the merge's summary: a damaged record replaced, kept (kept
 * of them, damaged in the inputs too) or passed over (an input's, OUT's
 * sound) is counted apart from the records added. */
static void report(const merge_t *m, int nin, const char *outpath, long long kept)
{
	fprintf(stderr, PROG ": merged %d %s into %s: %llu records added, %llu "
		"already there, %llu conflicts", nin, cli_noun(nin, "store", "stores"),
		outpath, (unsigned long long)m->added, (unsigned long long)m->same,
		(unsigned long long)m->conflicts);
	if (m->replaced)
		fprintf(stderr, ", %llu damaged %s replaced",
			(unsigned long long)m->replaced,
			cli_noun(m->replaced, "record", "records"));
	if (kept)
		fprintf(stderr, ", %lld damaged %s kept", kept,
			cli_noun((unsigned long long)kept, "record", "records"));
	if (m->passed)
		fprintf(stderr, ", %llu damaged %s of the inputs passed over",
			(unsigned long long)m->passed,
			cli_noun(m->passed, "record", "records"));
	fprintf(stderr, "; %d people\n", m->meta->nclasses);
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

int fdb_merge(const char *outpath, int nin, char **in)
{
	featdb_t *out = NULL;
	featdb_meta_t *ins = NULL, ometa = {0}, meta = {0};
	merge_t m = {0};
	fdb_strays_t strays = {0};
	const char **gone = NULL;      /* the strays the first commit removes */
	const uint8_t **gone_val = NULL; /* NULL each: removed */
	size_t *gone_len = NULL;
	int ngone = 0;
	char err[ERR_LEN];
	int status = CLI_ERROR, have_out = 0, lockfd = -1;
	size_t total = 0; /* class names of every list: may pass INT_MAX */

	ins = calloc((size_t)nin, sizeof *ins);
	if (!ins)
		goto nomem;
	/* Every input's metadata first: refuse before writing anything. */
	for (int i = 0; i < nin; i++) {
		featdb_t *db = NULL;
		if (fdb_same_store(in[i], outpath)) {
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
	/* An input's damaged record that the merge could neither add nor pass
	 * over stops it here, before OUT is written (merge_one checks again as
	 * it goes). */
	if (!(m.vec = malloc((size_t)ins[0].dim * sizeof *m.vec)))
		goto nomem;
	if (fdb_merge_refused(outpath, nin, in, ins, m.vec, err)) {
		cli_error(PROG, "%s", err);
		goto out;
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
	if (!(m.outvec = malloc((size_t)meta.dim * sizeof *m.outvec)))
		goto nomem;
	/* OUT's records of a class outside its list, when the merge adds
	 * people: those an input replaces with a sound record are removed in
	 * the first commit (the records of that input come in a later one). */
	if (have_out && !classes_equal(ometa.classes, ometa.nclasses, meta.classes,
				       meta.nclasses)) {
		if ((rc = fdb_strays_find(out, &ometa, nin, in, ins, m.vec, &strays, err))) {
			cli_error(PROG, "%s", err);
			goto out;
		}
		if (!(gone = calloc(strays.n ? strays.n : 1, sizeof *gone)) ||
		    !(gone_val = calloc(strays.n ? strays.n : 1, sizeof *gone_val)) ||
		    !(gone_len = calloc(strays.n ? strays.n : 1, sizeof *gone_len)))
			goto nomem;
		for (size_t i = 0; i < strays.n; i++)
			if (strays.v[i].from)
				gone[ngone++] = strays.v[i].key;
	}
	/* The union first, OUT's records renumbered to it: OUT's records are
	 * then compared with the inputs' in one numbering, and a record that
	 * stops the renumbering stops the merge before any is read. */
	if ((rc = featdb_write(out, &meta, ngone, gone, gone_val, gone_len, err))) {
		cli_error(PROG, "%s%s", err, rc != ERR_FORMAT ? "" :
			  "; extract its image into OUT again (extract replaces a "
			  "damaged record), then merge");
		goto out;
	}
	m.out = out;
	m.meta = &meta;
	m.strays = &strays;
	for (int i = 0; i < nin; i++) {
		featdb_t *db = NULL;
		featdb_meta_t now = {0};
		m.inpath = in[i];
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
	long long kept = still_damaged(&m, err);
	if (kept < 0) {
		cli_error(PROG, "%s", err);
		goto out;
	}
	report(&m, nin, outpath, kept);
	if (m.conflicts)
		cli_error(PROG, "%llu %s from those OUT held (listed above): "
			  "OUT's were kept", (unsigned long long)m.conflicts,
			  cli_noun(m.conflicts, "record differs", "records differ"));
	if (kept)
		cli_error(PROG, "%lld %s damaged in OUT and in the inputs that hold "
			  "%s (listed above): OUT's kept; extract %s into OUT again "
			  "(extract replaces a damaged record)", kept,
			  cli_noun((unsigned long long)kept, "record is", "records are"),
			  cli_noun((unsigned long long)kept, "it", "them"),
			  cli_noun((unsigned long long)kept, "its image", "their images"));
	if (!m.conflicts && !kept)
		status = CLI_OK;
	goto out;
nomem:
	cli_error(PROG, "out of memory");
out:
	for (int i = 0; i < m.n; i++)
		free(m.key[i]), free(m.val[i]);
	for (size_t i = 0; i < m.nkept; i++)
		free(m.kept[i]);
	free(m.kept);
	fdb_strays_free(&strays);
	free(gone);
	free(gone_val);
	free(gone_len);
	free(m.vec);
	free(m.outvec);
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
