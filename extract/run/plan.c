/* plan.c - what an extract run does (run.h): the folder, the weights, the
 * store and its metadata, the to-do list and this rank's block of it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "cli.h"
#include "dataset/classes.h"
#include "net/model.h"
#include "run.h"
#include "version.h"

void plan_init(plan_t *p)
{
	*p = (plan_t){.lockfd = -1};
}

/* store_outside: 0 when --db lies outside --in.  A store inside the folder
 * of people would be read back as one of them (its folder, or the folder
 * holding it, a person without images; a report's PNG beside it an
 * image), and the class list renumbered, on the next run. */
static int store_outside(const run_opts_t *o, char *err)
{
	char first[256];

	/* --db naming --in itself: featdb_open refuses that folder. */
	if (fsutil_within(o->db, o->in, first, sizeof first) != 1 || !*first)
		return 0;
	return err_set(err, ERR_ARG, "--db %s is inside --in %s (in '%s'): the next "
		       "run would read the store as a person's folder or images; put "
		       "it outside the folder of people", o->db, o->in, first);
}

int plan_scan(const run_opts_t *o, plan_t *p, sink_skipped_t *sk, char *err)
{
	int rc;

	if ((rc = store_outside(o, err)))
		return rc;

	if ((rc = dataset_scan(o->in, o->follow ? DATASET_FOLLOW_LINKS : 0, &p->ds, err)))
		return rc;
	/* Keras does not enter these either: named once, not an error. */
	for (size_t i = 0; i < p->ds.nunfollowed && !o->quiet; i++)
		fprintf(stderr, PROG ": not entering %s, a link to a folder (use "
			"--follow-links to)\n", p->ds.unfollowed[i]);
	for (size_t i = 0; i < p->ds.nproblems; i++) {
		char line[ERR_LEN * 2];
		snprintf(line, sizeof line, "%s: %s", p->ds.problems[i].path,
			 p->ds.problems[i].reason);
		if ((rc = sink_skip(sk, line, o->quiet, o->strict, ERR_FORMAT, err)))
			return rc;
	}
	if (p->ds.n == 0)
		return err_set(err, ERR_MISSING, "%s: %d class folders but no images (%s)",
			       o->in, p->ds.nclasses, DATASET_EXTENSIONS);
	p->total = o->limit >= 0 && (size_t)o->limit < p->ds.n ? (size_t)o->limit
							      : p->ds.n;
	return 0;
}

/* load_weights reads the weights (every rank) and checks that they are
 * --model's, that --layer names a layer of theirs, that they give the tap
 * (not fc1 or fc2 from a _notop file) and that every rank has the same
 * numbers there. */
static int load_weights(const run_opts_t *o, plan_t *p, char *err)
{
	int rc;

	if ((rc = weights_load(p->wpath, &p->w, err)) ||
	    (rc = weights_check_model(&p->w, o->model, p->wpath, err)) ||
	    (rc = weights_check_layer(&p->w, o->tap_model, o->layer, p->wpath, err)) ||
	    (rc = weights_check_tap(&p->w, o->tap, p->wpath, err)))
		return rc;
	return dist_check_weights(weights_fingerprint(&p->w,
					model_tap_info(o->tap)->nlayers), err);
}

static int check_meta(const featdb_meta_t *old, const weights_t *w,
		      const run_opts_t *o, const char *wpath, char *err)
{
	const model_info_t *m = model_info(w->model);
	const char *store = model_store_name(w->model, o->tap);
	const char *fp = weights_fingerprint(w, model_tap_info(o->tap)->nlayers);
	char has[96], asked[96];
	int old_model, old_tap, rc;

	/* First: two models' vectors may even share a fingerprint (the same
	 * numbers under other names), never a store; nor two taps'. */
	if (model_store_parse(old->model, &old_model, &old_tap) == 0 &&
	    old_model == w->model && old_tap != o->tap) {
		model_tap_options(old_model, old_tap, has, sizeof has);
		model_tap_options(w->model, o->tap, asked, sizeof asked);
		return err_set(err, ERR_MISMATCH,
			       "%s holds %s vectors (%s), this run asks for %s (%s): "
			       "a store holds one tap's; use another --db or %s",
			       o->db, old->model, has, store, asked, has);
	}
	if (strcmp(old->model, store) != 0)
		return err_set(err, ERR_MISMATCH,
			       "%s holds %s features (%s), but %s is %s weights (%s): "
			       "a store holds one model's; use another --db", o->db,
			       old->model,
			       model_info(model_of_store(old->model))->title,
			       wpath, m->title, store);
	if (strcmp(old->fingerprint, fp) != 0)
		return err_set(err, ERR_MISMATCH,
			       "%s holds features of weights %s, but %s has fingerprint "
			       "%s; use another --db or the same weights",
			       o->db, old->fingerprint, wpath, fp);
	if ((rc = model_check_preprocess(w->model, old->preprocess, o->db,
					 "holds features", err)))
		return rc;
	if (old->dim != model_tap_info(o->tap)->dim)
		return err_set(err, ERR_MISMATCH, "%s holds %d-d features, not %d",
			       o->db, old->dim, model_tap_info(o->tap)->dim);
	if (old->dtype != o->dtype)
		return err_set(err, ERR_MISMATCH,
			       "%s stores %s features; rerun with --dtype %s",
			       o->db, featdb_dtype_name(old->dtype),
			       featdb_dtype_name(old->dtype));
	/* The two paths agree to about 3e-6, not to the bit: an image's bits
	 * would depend on which run stored it. */
	if (strcmp(old->conv, vgg_conv_name(o->conv)) != 0)
		return err_set(err, ERR_MISMATCH,
			       "%s was made with --conv %s, this run uses --conv %s: "
			       "their vectors differ in the last bits, and a store "
			       "holds one function of the images; rerun with --conv "
			       "%s or use another --db", o->db, old->conv,
			       vgg_conv_name(o->conv), old->conv);
	/* The old direct path's bits are the CPU's OpenBLAS kernel's: not this
	 * direct path's, nor the same from one machine to another. */
	if (featdb_meta_cpu_bound(old))
		return err_set(err, ERR_MISMATCH,
			       "%s holds --conv direct vectors made before 2026-12-07 "
			       "by OpenBLAS' sgemm, whose last bits depend on the CPU; "
			       "this extract computes the direct path in one order on "
			       "every CPU, and a store holds one function of the "
			       "images: use another --db (or --conv winograd in a new "
			       "store)", o->db);
	return 0;
}

/* Merges the store's people (if any) with the folder's into p->meta, in
 * Keras' order, and maps the folder's class indices to meta's. */
static int merge_classes(plan_t *p, char *err)
{
	const featdb_meta_t *old = p->have_old ? &p->old : NULL;
	/* The stored list may hold up to INT_MAX names: add in size_t. */
	size_t cap = (size_t)p->ds.nclasses + (old ? (size_t)old->nclasses : 0);
	int rc;

	if (cap > INT_MAX)
		return err_set(err, ERR_TOO_BIG, "%zu people in the store and the "
			       "folder, more than %d", cap, INT_MAX);
	if ((rc = classes_union(old ? old->classes : NULL, old ? old->nclasses : 0,
				p->ds.classes, p->ds.nclasses, &p->meta.classes,
				&p->meta.nclasses, err)))
		return rc;
	if (!(p->cmap = calloc((size_t)p->ds.nclasses + 1, sizeof *p->cmap)))
		return err_set(err, ERR_NOMEM, "out of memory");
	return classes_map(p->ds.classes, p->ds.nclasses, p->meta.classes,
			   p->meta.nclasses, p->cmap, err);
}

int plan_store(const run_opts_t *o, plan_t *p, char *err)
{
	int rc;

	if ((rc = load_weights(o, p, err)))
		return rc;
	const model_info_t *model = model_info(p->w.model);

	if ((rc = featdb_open(o->db, FEATDB_CREATE, &p->db, err)) ||
	    (rc = featdb_lock_writer(o->db, &p->lockfd, err)))
		return rc;
	rc = featdb_meta_get(p->db, &p->old, err);
	if (rc == 0)
		p->have_old = 1;
	else if (rc != ERR_MISSING)
		return rc;
	if ((p->have_old && (rc = check_meta(&p->old, &p->w, o, p->wpath, err))) ||
	    (rc = merge_classes(p, err)))
		return rc;
	snprintf(p->meta.model, sizeof p->meta.model, "%s",
		 model_store_name(p->w.model, o->tap));
	snprintf(p->meta.fingerprint, sizeof p->meta.fingerprint, "%s",
		 weights_fingerprint(&p->w, model_tap_info(o->tap)->nlayers));
	snprintf(p->meta.preprocess, sizeof p->meta.preprocess, "%s", model->preprocess);
	snprintf(p->meta.conv, sizeof p->meta.conv, "%s", vgg_conv_name(o->conv));
	snprintf(p->meta.conv_sums, sizeof p->meta.conv_sums, "%s", FEATDB_SUMS_FIXED);
	snprintf(p->meta.version, sizeof p->meta.version, PROG " " VGGFEAT_VERSION);
	p->meta.dim = model_tap_info(o->tap)->dim;
	p->meta.dtype = o->dtype;
	return 0;
}

/* share_todo (rank 0 under MPI) sends the keys of the to-do list to the
 * other ranks. */
static int share_todo(const plan_t *p, char *err)
{
	char **keys = malloc((p->nall ? p->nall : 1) * sizeof *keys), **none;
	size_t n;

	if (!keys)
		return err_set(err, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < p->nall; i++)
		keys[i] = p->all[i]->key;
	int rc = dist_share_keys(keys, p->nall, &none, &n, err);
	free(keys);
	return rc;
}

/* stored_state: whether key's record is in the store and sound (1), absent
 * (0), or there and damaged (2, the fault in why): featdb verify's check,
 * against meta.  vec (meta->dim) is scratch.  <0 on error. */
static int stored_state(featdb_t *db, const char *key, const featdb_meta_t *meta,
			float *vec, char why[ERR_LEN], char *err)
{
	uint8_t *val = NULL;
	size_t len = 0;
	int rc = featdb_get(db, key, &val, &len, err);

	if (rc == ERR_MISSING)
		return 0;
	if (rc)
		return rc;
	rc = featdb_rec_check(meta, val, len, vec, why) ? 2 : 1;
	free(val);
	return rc;
}

/* renumber_first (rank 0; people join a store that has records to renumber)
 * commits the class list with the new people before any image is
 * extracted, or when there is none to extract (people who joined with an
 * empty folder, which Keras lists too), the stored records renumbered
 * (featdb_write): a record that
 * stops that, one of a class outside the stored list, stops the run here,
 * not after the work.  Such a record of an image this run extracts again is
 * removed in that commit: its new record may come in a later one, and left
 * as it is until then it would pass for one of the new people. */
static int renumber_first(plan_t *p, char *err)
{
	size_t cap = p->ndamaged ? p->ndamaged : 1;
	const char **keys = malloc(cap * sizeof *keys);
	const uint8_t **none = calloc(cap, sizeof *none); /* NULL: removed */
	size_t *lens = calloc(cap, sizeof *lens);
	int n = 0, rc = 0;

	if (!keys || !none || !lens || p->ndamaged > INT_MAX) {
		rc = err_set(err, ERR_NOMEM, "out of memory for %zu damaged records",
			     p->ndamaged);
		goto out;
	}
	for (size_t i = 0; i < p->nall; i++) {
		uint8_t *val = NULL;
		size_t len = 0;
		featdb_rec_t rec;
		if (!p->damaged[i])
			continue;
		if ((rc = featdb_get(p->db, p->all[i]->key, &val, &len, err)))
			goto out;
		if (featdb_rec_decode(val, len, &rec, NULL) == 0 &&
		    (rec.cls < 0 || rec.cls >= p->old.nclasses)) {
			keys[n++] = p->all[i]->key;
			p->damaged[i] = 2;
			p->nremoved++;
		}
		free(val);
	}
	rc = featdb_write(p->db, &p->meta, n, keys, none, lens, err);
	if (rc == ERR_FORMAT) {
		char why[ERR_LEN], past[80] = "";
		/* The folder may hold it past --limit, which this run leaves. */
		if (p->total < p->ds.n)
			snprintf(past, sizeof past, " (one without --limit, its image "
				 "past the first %zu)", p->total);
		snprintf(why, sizeof why, "%s", err);
		err_set(err, rc, "%s; an extract whose folder holds its image at that "
			"path replaces it%s, or use another --db", why, past);
	}
out:
	free(keys);
	free(none);
	free(lens);
	return rc;
}

/* note_empty_classes names the class folders without an image: each is a
 * class all the same, as flow_from_directory lists it, and train-head
 * keeps it in the head with no records. */
static void note_empty_classes(const dataset_t *ds)
{
	char names[512];
	size_t *count;
	int empty;

	if (!(count = calloc((size_t)ds->nclasses + 1, sizeof *count)))
		return;
	for (size_t i = 0; i < ds->n; i++)
		count[ds->items[i].cls]++;
	empty = cli_empty_names(ds->classes, count, ds->nclasses, names, sizeof names);
	free(count);
	if (empty)
		fprintf(stderr, PROG ": %d of the %d class folders %s no images (%s): "
			"%s in the class list, as in Keras' flow_from_directory, with "
			"no records\n", empty, ds->nclasses, empty > 1 ? "hold" : "holds",
			names, empty > 1 ? "they stay" : "it stays");
}

int plan_todo(const run_opts_t *o, plan_t *p, sink_skipped_t *sk, char *err)
{
	/* The records were written against the stored metadata; a store that
	 * has none yet is checked against the one this run writes. */
	const featdb_meta_t *meta = p->have_old ? &p->old : &p->meta;
	int rc, maxkey = featdb_max_key(p->db);
	char why[ERR_LEN], first[ERR_LEN * 2] = "";
	float *vec = NULL;

	/* Each stored record of the folder's images is read and checked once,
	 * which lets a rerun replace a damaged record (docs/reliability.md).
	 * It costs about one image's extraction: a rerun over 12,000 stored
	 * records (196 MB) took 0.75 to 0.83 s, against 0.66 to 0.71 s when
	 * the plan only looked the keys up, warm or with data.mdb evicted from
	 * the page cache (2026-12-07, docs/reliability.md). */
	p->all = malloc((p->total ? p->total : 1) * sizeof *p->all);
	p->damaged = calloc(p->total ? p->total : 1, 1);
	vec = malloc((meta->dim > 0 ? (size_t)meta->dim : 1) * sizeof *vec);
	if (!p->all || !p->damaged || !vec) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < p->total; i++) {
		dataset_item_t *it = &p->ds.items[i];
		if (strlen(it->key) > (size_t)maxkey) {
			char line[ERR_LEN * 2];
			snprintf(line, sizeof line, "%s: path longer than %d bytes, too "
				 "long for a store key", it->path, maxkey);
			if ((rc = sink_skip(sk, line, o->quiet, o->strict, ERR_ARG, err)))
				goto out;
			continue;
		}
		int state = stored_state(p->db, it->key, meta, vec, why, err);
		if (state < 0) {
			rc = state;
			goto out;
		}
		if (state == 1) {
			p->present++;
			continue;
		}
		if (state == 2 && p->ndamaged++ == 0)
			snprintf(first, sizeof first, "%s: %s", it->key, why);
		p->damaged[p->nall] = state == 2;
		p->all[p->nall++] = it;
	}
	if (!o->quiet) {
		/* The entries the walk skipped (a FIFO, a link loop: printed
		 * above) are no images, but the summary's "skipped" counts them:
		 * said here, the two lines add up. */
		size_t other = p->ds.nproblems;
		fprintf(stderr, PROG ": %zu %s in %d %s", p->total,
			cli_noun(p->total, "image", "images"), p->ds.nclasses,
			cli_noun(p->ds.nclasses, "class", "classes"));
		if (other)
			fprintf(stderr, " (and %zu other %s skipped above)", other,
				cli_noun(other, "entry", "entries"));
		fprintf(stderr, "; %zu already stored, %zu to extract\n", p->present,
			p->nall);
		if (p->ndamaged)
			fprintf(stderr, PROG ": %zu damaged %s will be extracted again "
				"(the first, %s)\n", p->ndamaged,
				cli_noun(p->ndamaged, "record", "records"), first);
		note_empty_classes(&p->ds);
	}
	/* A store written for the first time gets its metadata even when there
	 * is nothing to extract, so that it is a valid (empty) store. */
	if (p->nall == 0 && !p->have_old &&
	    (rc = featdb_write(p->db, &p->meta, 0, NULL, NULL, NULL, err)))
		goto out;
	/* The store is a function of the images: a rerun whose folder only
	 * adds people commits the list a fresh extract of it writes. */
	if (p->have_old &&
	    !classes_equal(p->old.classes, p->old.nclasses, p->meta.classes,
			   p->meta.nclasses) &&
	    (rc = renumber_first(p, err)))
		goto out;
	/* Under MPI a damaged record's key is one more key of the list: the
	 * ranks extract it, rank 0 commits it over the damaged one. */
	rc = dist_size() > 1 ? share_todo(p, err) : 0;
out:
	free(vec);
	return rc;
}

int plan_worker(const run_opts_t *o, plan_t *p, char *err)
{
	char **keys = NULL;
	size_t n = 0;
	int rc;

	if ((rc = load_weights(o, p, err)) ||
	    (rc = dist_share_keys(NULL, 0, &keys, &n, err)))
		return rc;
	/* The images go into p->ds, so that dataset_free frees them. */
	p->ds.items = calloc(n ? n : 1, sizeof *p->ds.items);
	p->all = malloc((n ? n : 1) * sizeof *p->all);
	if (!p->ds.items || !p->all) {
		rc = err_set(err, ERR_NOMEM, "out of memory for the to-do list");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		dataset_item_t *it = &p->ds.items[p->ds.n];
		if (asprintf(&it->path, "%s/%s", o->in, keys[i]) < 0) {
			rc = err_set(err, ERR_NOMEM, "out of memory for the to-do list");
			goto out;
		}
		it->key = keys[i];
		keys[i] = NULL;
		p->all[p->nall++] = &p->ds.items[p->ds.n++];
	}
out:
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	return rc;
}

int plan_block(plan_t *p, char *err)
{
	/* Each rank keeps its block of the to-do list; every rank the whole
	 * list too, rank 0 to find the images the others send back. */
	dist_block(p->nall, dist_rank(), dist_size(), &p->first, &p->n);
	if (!(p->todo = malloc((p->n ? p->n : 1) * sizeof *p->todo)))
		return err_set(err, ERR_NOMEM, "out of memory");
	if (p->n)
		memcpy(p->todo, p->all + p->first, p->n * sizeof *p->todo);
	return 0;
}

void plan_free(plan_t *p)
{
	free(p->all);
	free(p->damaged);
	free(p->todo);
	free(p->cmap);
	featdb_meta_free(&p->meta);
	featdb_meta_free(&p->old);
	if (p->lockfd >= 0)
		close(p->lockfd);
	featdb_close(p->db);
	weights_free(&p->w);
	dataset_free(&p->ds);
	plan_init(p);
}
