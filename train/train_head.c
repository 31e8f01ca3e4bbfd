/* train-head - train the head (Dense(n_classes, softmax) on VGG16's fc2,
 * or VGG-Face's fc7, optionally after a hidden Dense(K, relu)) over the
 * features extract stored, with tf.keras' semantics and callbacks (see
 * common/head/head.h), so that changing a hyperparameter and training
 * again costs seconds.  Then the test set's honest score, and from the
 * validation set the --min-prob that lets predict call strangers
 * "unknown".
 *
 * The steps (train_head/train_head.h): the options are read
 * (train_head/options.c); the head's path is checked (a run
 * never trains for nothing); the store is read once into one (N, D)
 * float32 array; the training, validation and test sets are index lists
 * into it; every combination of a sweep trains over the same array; the
 * chosen head is saved and scored once on the test set, and the
 * validation set suggests the --min-prob. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "head/head.h"
#include "train_head/train_head.h"
#include "version.h"

/* ---- the steps of main ---------------------------------------------------- */

/* note_partial names the classes the store lists without any record (a
 * folder without a readable image, or a partial store), which are trained
 * on as they stand. */
static void note_partial(const th_data_t *d)
{
	char names[512];
	int empty = cli_empty_names(d->meta.classes, d->count, d->K, names,
				    sizeof names);

	if (!empty)
		return;
	fprintf(stderr, PROG ": %d of the %d classes the store lists %s no records "
		"(%s): %s no image extract could read, or an extract "
		"still running, interrupted or run with --limit has not reached %s "
		"yet\n", empty, d->K, empty > 1 ? "have" : "has", names,
		empty > 1 ? "their folders held" : "its folder held",
		empty > 1 ? "them" : "it");
	fprintf(stderr, PROG ": %s %s in the head's output layer (as Keras keeps an "
		"empty class folder); the head learns the other %d from the records "
		"there\n", empty > 1 ? "they" : "it", empty > 1 ? "stay" : "stays",
		d->K - empty);
}

/* describe says what was read and how it is split. */
static void describe(const th_opts_t *o, const th_data_t *d, const th_split_t *s,
		     double t0)
{
	if (o->quiet)
		return;
	fprintf(stderr, PROG ": %s: %zu records, %d classes, %d features, read "
		"in %.1f s\n", o->db, d->n, d->K, d->D, cli_now() - t0);
	fprintf(stderr, PROG ": %zu for training, %zu for validation (%s)\n",
		s->ntrain, s->nvalid, s->how);
	if (s->ntest)
		fprintf(stderr, PROG ": %zu for testing (%s), scored once at the end\n",
			s->ntest, s->how_test);
	if (d->ntagged_valid && o->val_split_given)
		fprintf(stderr, PROG ": --val-split is ignored: the store has "
			"records tagged valid\n");
	if (d->ntagged_test && o->test_split_given)
		fprintf(stderr, PROG ": --test-split is ignored: the store has "
			"records tagged test\n");
	note_partial(d);
}

/* plan checks, before any training, that the sets hold what the options
 * need: a validation set for callbacks that watch one, a test set for
 * --confusion, and a place to write --confusion's and --trace's files
 * (written after the training: a missing folder found then was the
 * training's time lost). */
static int plan(const th_opts_t *o, const th_split_t *s, char *err)
{
	if (o->confusion && !s->ntest)
		return err_set(err, ERR_ARG, "--confusion: no test set (no record is "
			       "tagged test; give --test-split)");
	int rc;
	if (o->confusion && (rc = th_output_check("--confusion", o->confusion, err)))
		return rc;
	if (o->trace && (rc = th_output_check("--trace", o->trace, err)))
		return rc;
	for (long i = 0; !s->nvalid && i < th_runs_of(o); i++) {
		th_config_t c = th_config_of(o, (int)i);
		if ((c.patience >= 0 || c.reduce_lr > 0) &&
		    (c.monitor == TH_VAL_LOSS || c.monitor == TH_VAL_ACCURACY))
			return err_set(err, ERR_ARG, "--%s watches %s, but there is no "
				       "validation set (--monitor loss or accuracy "
				       "watches the training's)",
				       c.patience >= 0 ? "patience" : "reduce-lr",
				       th_monitor_name(c.monitor));
	}
	return 0;
}

/* unsaved adds to err, the head's save failure, that the files written
 * only once the head is (they describe it) were not either: an earlier
 * --history or --confusion stays as it was.  Returns rc. */
static int unsaved(const th_opts_t *o, int rc, char *err)
{
	size_t n = strlen(err);

	if (o->history || o->confusion)
		snprintf(err + n, ERR_LEN - n, "; %s written either",
			 !o->history ? "--confusion was not"
			 : o->confusion ? "--history and --confusion were not"
			 : "--history was not");
	return rc;
}

/* save writes the chosen head and --trace. */
static int save(const th_opts_t *o, const th_data_t *d, const th_split_t *s,
		const th_runs_t *w, char *err)
{
	head_meta_t hm = {.nclasses = d->K, .classes = d->meta.classes};
	int rc;

	snprintf(hm.model, sizeof hm.model, "%s", d->meta.model);
	snprintf(hm.fingerprint, sizeof hm.fingerprint, "%s", d->meta.fingerprint);
	snprintf(hm.preprocess, sizeof hm.preprocess, "%s", d->meta.preprocess);
	snprintf(hm.conv, sizeof hm.conv, "%s", d->meta.conv);
	snprintf(hm.version, sizeof hm.version, PROG " " VGGFEAT_VERSION);
	/* Checked again: --out, or the file a link of that name points to,
	 * may have changed while the head trained (a link turned to a photo),
	 * and head_save replaces what is there now. */
	if ((rc = th_out_check(o->out, err))) {
		size_t n = strlen(err);
		snprintf(err + n, ERR_LEN - n, "; it changed during training: the head "
			 "was not saved");
		return unsaved(o, rc, err);
	}
	if ((rc = head_save(o->out, th_runs_chosen(w), &hm, err)))
		return unsaved(o, rc, err);
	if (o->trace)
		return th_trace_write(o->trace, d, s, &w->res[0].c, o, &w->trc, err);
	return 0;
}

/* score rates the chosen head on the test set, once: printed unless
 * quiet, the confusion matrix to --confusion. */
static int score(const th_opts_t *o, const th_data_t *d, const th_split_t *s,
		 const th_runs_t *w, char *err)
{
	th_score_t sc;
	int rc;

	if (!s->ntest)
		return 0;
	if ((rc = th_score_run(th_runs_chosen(w), d, s, &sc, err)))
		return rc;
	if (!o->quiet) {
		if (w->sweep)
			printf("\nThe chosen head: run %d, epoch %d (on validation).\n",
			       w->best_run + 1, w->best_epoch);
		putchar('\n');
		th_score_print(stdout, &sc, d->meta.classes);
	}
	if (o->confusion)
		rc = th_score_csv(o->confusion, &sc, d->meta.classes, err);
	th_score_free(&sc);
	return rc;
}

/* report suggests predict's --min-prob from the validation set and sums
 * the runs up. */
static int report(const th_opts_t *o, const th_data_t *d, const th_split_t *s,
		  const th_runs_t *w, char *err)
{
	int rc;

	if (o->quiet)
		return 0;
	if (w->has_val) {
		th_min_prob_t th;
		if ((rc = th_min_prob_suggest(th_runs_chosen(w), d, s, o->keep,
					       (int)o->threads, &th, err)))
			return rc;
		th_min_prob_print(&th, o->keep);
	}
	/* --history h.csv names no file of a sweep's: said where they are. */
	if (w->sweep && o->history) {
		char first[4200], last[4200];
		if ((rc = th_history_run_path(o->history, 1, first, sizeof first, err)) ||
		    (rc = th_history_run_path(o->history, w->n, last, sizeof last, err)))
			return rc;
		fprintf(stderr, PROG ": the runs' histories are in %s to %s\n", first,
			last);
	}
	/* A sweep's runs may stop early: their epochs are counted together. */
	if (w->sweep)
		fprintf(stderr, PROG ": %d runs, %ld epochs in all", w->n, w->epochs_run);
	else
		fprintf(stderr, PROG ": 1 run of %ld epoch%s", w->epochs_run,
			w->epochs_run > 1 ? "s" : "");
	fprintf(stderr, ", %.3f s per epoch", w->train_secs / (double)w->epochs_run);
	if (w->sweep)
		fprintf(stderr, "; the head (run %d, epoch %d, the best) is in %s\n",
			w->best_run + 1, w->best_epoch, o->out);
	else
		fprintf(stderr, "; the head is in %s\n", o->out);
	return 0;
}

/* saved_but reports err, a failure after the head was saved; returns 1. */
static int saved_but(const th_opts_t *o, const char *err)
{
	cli_error(PROG, "%s; the head is saved in %s", err, o->out);
	return 1;
}

int main(int argc, char **argv)
{
	th_opts_t o;
	th_data_t d = {0};
	th_split_t s = {0};
	th_runs_t w = {0};
	char err[ERR_LEN];
	double t0 = cli_now();
	int status = CLI_ERROR, rc;

	if ((rc = th_parse_args(argc, argv, &o)))
		return rc;
	if ((rc = th_out_check(o.out, err)) || (rc = th_outputs_check(&o, err)) ||
	    (rc = th_data_load(o.db, &d, err)) ||
	    (rc = th_split_make(&d, &o, &s, err)))
		goto fail;
	describe(&o, &d, &s, t0);
	if ((rc = plan(&o, &s, err)) || (rc = th_sweep(&o, &d, &s, &w, err)) ||
	    (rc = save(&o, &d, &s, &w, err)))
		goto fail;
	/* The head is saved: a history or a confusion matrix that cannot be
	 * written fails the run, but says so and lets the rest be done. */
	int lost = th_runs_commit_history(&w, err) ? saved_but(&o, err) : 0;
	if (score(&o, &d, &s, &w, err))
		lost = saved_but(&o, err);
	/* The epochs' lines, a sweep's table and the test's score are the
	 * run's report. */
	if (cli_flush_stdout(PROG))
		goto out;
	if ((rc = report(&o, &d, &s, &w, err)))
		goto fail;
	status = lost ? CLI_ERROR : CLI_OK;
	goto out;
fail:
	cli_error(PROG, "%s", err);
out:
	th_runs_free(&w);
	th_split_free(&s);
	th_data_free(&d);
	return status;
}
