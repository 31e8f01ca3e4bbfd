/* sink.c - where an extract run's vectors go (run.h): rank 0 commits each
 * batch, its own or another rank's, in one transaction, notes the images
 * skipped, and shows the progress. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "run.h"

int sink_skip(sink_skipped_t *s, const char *why, int quiet, int strict,
	      int code, char *err)
{
	int kept = 0;

	if (strict)
		return err_set(err, code, "--strict: %s", why);

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		char **l = realloc(s->lines, cap * sizeof *l);
		if (l) {
			s->lines = l;
			s->cap = cap;
		}
	}
	if (s->n < s->cap && (s->lines[s->n] = strdup(why))) {
		s->n++;
		kept = 1;
	}
	/* Quiet runs list the skipped files at the end: one that could not be
	 * kept for that (no memory) is shown now. */
	if (!quiet || !kept)
		fprintf(stderr, "%s" PROG ": skipped %s\n",
			cli_stderr_redraws() ? "\r\033[K" : "", why);
	return 0;
}

int sink_init(sink_t *s, const run_opts_t *o, plan_t *p, char *err)
{
	size_t B = (size_t)o->batch;

	s->db = p->db;
	s->meta = &p->meta;
	s->cmap = p->cmap;
	s->dtype = o->dtype;
	s->strict = o->strict;
	s->quiet = o->quiet;
	s->batch = (int)o->batch;
	s->dim = model_tap_info(o->tap)->dim;
	s->recsize = featdb_rec_size(o->dtype, s->dim);
	s->all = p->all;
	s->nall = p->nall;
	s->damaged = p->damaged;
	s->left = dist_rank() == 0 ? p->nall - p->n : 0;
	s->feats = malloc(B * (size_t)s->dim * sizeof *s->feats);
	s->recs = malloc(B * s->recsize);
	s->keys = malloc(B * sizeof *s->keys);
	s->vals = malloc(B * sizeof *s->vals);
	s->lens = malloc(B * sizeof *s->lens);
	s->items = malloc(B * sizeof *s->items);
	if (!s->feats || !s->recs || !s->keys || !s->vals || !s->lens || !s->items)
		return err_set(err, ERR_NOMEM, "out of memory for a batch of %d", s->batch);
	return 0;
}

int sink_skips(sink_t *s, const dist_batch_t *b, char *err)
{
	for (int k = 0; k < b->n; k++) {
		int rc = b->why[k][0] ? sink_skip(&s->skipped, b->why[k], s->quiet,
						  s->strict, ERR_FORMAT, err) : 0;
		if (rc)
			return rc;
	}
	return 0;
}

int sink_write(sink_t *s, const dist_batch_t *b, char *err)
{
	size_t replaced = 0, removed = 0;
	int n = 0, rc;

	for (int k = 0; k < b->n; k++)
		if (!b->why[k][0]) {
			unsigned char was = s->damaged ? s->damaged[b->first + (size_t)k] : 0;
			s->items[n++] = s->all[b->first + (size_t)k];
			replaced += was != 0;
			removed += was == 2;
		}
	if (n == 0)
		return 0;
	for (int g = 0; g < n; g++) {
		dataset_item_t *it = s->items[g];
		s->keys[g] = it->key;
		s->vals[g] = s->recs + (size_t)g * s->recsize;
		s->lens[g] = s->recsize;
		rc = featdb_rec_encode(b->feats + (size_t)g * s->dim, s->dim,
				       s->dtype, s->cmap[it->cls], it->split,
				       s->recs + (size_t)g * s->recsize, err);
		if (rc)
			return rc;
	}
	if ((rc = featdb_write(s->db, s->meta, n, s->keys, s->vals, s->lens, err)))
		return rc;
	s->extracted += (size_t)n;
	s->replaced += replaced;
	s->replaced_removed += removed;
	return 0;
}

int sink_take_remote(sink_t *s, int wait, char *err)
{
	while (s->left) {
		dist_batch_t b;
		int got, rc;

		if ((rc = dist_recv_batch(wait, s->dim, &b, &got, err)) || !got)
			return rc;
		if (b.n < 1 || b.n > s->batch || (size_t)b.n > s->left ||
		    b.first > s->nall - (size_t)b.n)
			return err_set(err, ERR_FORMAT, "a rank sent a batch of %d images "
				       "from %llu, outside the to-do list", b.n,
				       (unsigned long long)b.first);
		if ((rc = sink_skips(s, &b, err)) || (rc = sink_write(s, &b, err)))
			return rc;
		s->left -= (size_t)b.n;
		s->done += (size_t)b.n;
		if (wait)
			break;
	}
	return 0;
}

void sink_progress_start(sink_t *s, int quiet)
{
	s->pr_quiet = quiet;
	s->pr_redraw = cli_stderr_redraws();
	s->pr_t0 = cli_now();
	s->pr_last = cli_now();
}

void sink_progress(sink_t *s, size_t done, int final)
{
	double now = cli_now(), dt = now - s->pr_t0;
	double rate = dt > 0 ? done / dt : 0;
	double eta = rate > 0 ? (s->nall - done) / rate : 0;

	if (s->pr_quiet)
		return;
	if (s->pr_redraw) {
		int width = 30, fill = s->nall ? (int)(width * done / s->nall) : width;
		fprintf(stderr, "\r[%.*s%*s] %zu/%zu  %.1f img/s  ETA %.0fs ",
			fill, "##############################", width - fill, "",
			done, s->nall, rate, eta);
		if (final)
			fputc('\n', stderr);
	} else if (final || now - s->pr_last >= 10) {
		fprintf(stderr, PROG ": %zu/%zu images, %.1f img/s, ETA %.0f s\n",
			done, s->nall, rate, eta);
		s->pr_last = now;
	}
}

void sink_free(sink_t *s)
{
	for (size_t i = 0; i < s->skipped.n; i++)
		free(s->skipped.lines[i]);
	free(s->skipped.lines);
	free(s->feats);
	free(s->recs);
	free(s->keys);
	free(s->vals);
	free(s->lens);
	free(s->items);
	*s = (sink_t){0};
}
