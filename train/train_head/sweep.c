/* sweep.c - train-head's runs (train_head.h): every combination of the
 * swept values trained over the same features and starting weights, with
 * Keras' epoch lines and history files, each run's best epoch, the best of
 * them all, and a sweep's table. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "error.h"
#include "train_head.h"

/* better: whether metrics (train a, valid av) beat (b, bv): the higher
 * validation accuracy, then the lower validation loss; without validation,
 * the same on the training metrics. */
static int better(int has_val, const head_metrics_t *a, const head_metrics_t *av,
		  const head_metrics_t *b, const head_metrics_t *bv)
{
	const head_metrics_t *x = has_val ? av : a, *y = has_val ? bv : b;
	if (x->accuracy != y->accuracy)
		return x->accuracy > y->accuracy;
	return x->loss < y->loss;
}

/* combination: the hyperparameters of run i, the first option's values
 * varying fastest. */
static head_hparams_t combination(const th_opts_t *o, int i)
{
	head_hparams_t hp;
	hp.lr = o->lr.v[i % o->lr.n];
	i /= o->lr.n;
	hp.batch = (int)o->batch.v[i % o->batch.n];
	i /= o->batch.n;
	hp.beta1 = o->beta1.v[i % o->beta1.n];
	i /= o->beta1.n;
	hp.beta2 = o->beta2.v[i % o->beta2.n];
	i /= o->beta2.n;
	hp.epsilon = o->epsilon.v[i % o->epsilon.n];
	i /= o->epsilon.n;
	hp.l2 = o->l2.v[i % o->l2.n];
	return hp;
}

/* Opens run's history file (--history; one per run in a sweep). */
static int history_open(const th_opts_t *o, int sweep, int run, th_history_t *c,
			char *path, size_t len, char *err)
{
	int rc = sweep ? th_history_run_path(o->history, run + 1, path, len, err)
		       : (snprintf(path, len, "%s", o->history) < (int)len
				  ? 0
				  : err_set(err, ERR_ARG, "--history: too long a path"));
	return rc ? rc : th_history_open(c, path, err);
}

/* print_table prints the nruns results r ranked, best first. */
static int print_table(const th_result_t *r, int nruns, int has_val)
{
	int *rank = malloc((size_t)nruns * sizeof *rank);
	if (!rank)
		return -1;
	for (int i = 0; i < nruns; i++)
		rank[i] = i;
	/* Insertion sort: stable, so equal results keep the command line's
	 * order. */
	for (int i = 1; i < nruns; i++)
		for (int j = i; j > 0 && better(has_val, &r[rank[j]].best_train,
						 &r[rank[j]].best_val,
						 &r[rank[j - 1]].best_train,
						 &r[rank[j - 1]].best_val); j--) {
			int t = rank[j];
			rank[j] = rank[j - 1];
			rank[j - 1] = t;
		}
	printf("rank  %10s %10s %7s %7s %9s %9s  epoch  %s  %s  %s  %s  s/epoch\n",
	       "lr", "batch_size", "beta1", "beta2", "epsilon", "l2",
	       "    loss", "accuracy", has_val ? "val_loss" : "", has_val ? "val_accuracy" : "");
	for (int i = 0; i < nruns; i++) {
		const th_result_t *x = &r[rank[i]];
		printf("%4d  %10.3g %10d %7.4g %7.5g %9.3g %9.3g  %5d  %8.4f  %8.4f", i + 1,
		       x->hp.lr, x->hp.batch, x->hp.beta1, x->hp.beta2, x->hp.epsilon,
		       x->hp.l2, x->best_epoch, x->best_train.loss, x->best_train.accuracy);
		if (has_val)
			printf("  %8.4f  %12.4f", x->best_val.loss, x->best_val.accuracy);
		else
			printf("  %8s  %12s", "", "");
		printf("  %7.3f\n", x->seconds);
	}
	free(rank);
	return 0;
}

void th_runs_free(th_runs_t *w)
{
	free(w->order);
	th_trace_free(&w->trc);
	free(w->res);
	head_free(&w->h);
	head_free(&w->best);
}

/* runs_alloc: room for the results and for what --trace records. */
static int runs_alloc(const th_opts_t *o, const th_data_t *d, const th_split_t *s,
		      th_runs_t *w, char *err)
{
	int rc;

	w->n = o->lr.n * o->batch.n * o->beta1.n * o->beta2.n * o->epsilon.n * o->l2.n;
	w->sweep = w->n > 1;
	w->has_val = s->nvalid > 0;
	w->best_run = -1;
	if (!(w->res = calloc((size_t)w->n, sizeof *w->res)))
		return err_set(err, ERR_NOMEM, "out of memory");
	if (!o->trace)
		return 0;
	if ((rc = th_trace_alloc(&w->trc, o->epochs, s->ntrain, d->D, d->K, err)))
		return rc;
	if (!(w->order = malloc(s->ntrain * sizeof *w->order)))
		return err_set(err, ERR_NOMEM, "--trace: out of memory");
	return 0;
}

/* keep_epoch records epoch e of run (metrics mt, and mv on the validation
 * set) for --trace, as the run's best, and as the sweep's best with its
 * weights. */
static void keep_epoch(th_runs_t *w, int run, int e, const head_metrics_t *mt,
		       const head_metrics_t *mv, size_t ntrain)
{
	th_result_t *r = &w->res[run];

	if (w->trc.order)
		th_trace_epoch(&w->trc, e, w->order, ntrain, mt, mv);
	if (e == 1 || better(w->has_val, mt, mv, &r->best_train, &r->best_val)) {
		r->best_epoch = e;
		r->best_train = *mt;
		r->best_val = *mv;
	}
	if (w->sweep && (w->best_run < 0 ||
			 better(w->has_val, mt, mv, &w->best_mt, &w->best_mv))) {
		w->best_run = run;
		w->best_epoch = e;
		w->best_mt = *mt;
		w->best_mv = *mv;
		if (w->best.params)
			head_copy(&w->best, &w->h);
	}
}

/* train_run trains combination run for --epochs epochs, printing Keras'
 * lines and writing its history. */
static int train_run(const th_opts_t *o, const th_data_t *d, const th_split_t *s,
		     th_runs_t *w, int run, char *err)
{
	th_result_t *r = &w->res[run];
	head_set_t train = {d->x, (size_t)d->D, d->y, s->train, s->ntrain};
	head_set_t valid = {d->x, (size_t)d->D, d->y, s->valid, s->nvalid};
	head_trainer_t *tr = NULL;
	th_history_t hist = {0};
	char hist_path[4096] = "";
	int rc;

	r->hp = combination(o, run);
	/* Every combination starts from the same weights and sees the
	 * same shuffles: the sweep compares hyperparameters only. */
	if ((rc = head_create(d->D, 0, NULL, d->K, (uint64_t)o->seed, &w->h, err)) ||
	    (rc = head_trainer_create(&w->h, &r->hp, (int)o->threads, (uint64_t)o->seed,
				      &tr, err)))
		goto out;
	/* Room for the best weights seen so far (its initial values are
	 * overwritten at the first epoch). */
	if (w->sweep && (o->out || w->has_val) && !w->best.params &&
	    (rc = head_create(d->D, 0, NULL, d->K, 0, &w->best, err)))
		goto out;
	if (w->trc.kernel0)
		th_trace_start(&w->trc, &w->h);
	if (o->history && (rc = history_open(o, w->sweep, run, &hist, hist_path,
					     sizeof hist_path, err)))
		goto out;
	if (w->sweep && !o->quiet)
		printf("%sRun %d/%d: lr %g, batch_size %d, beta1 %g, beta2 %g, "
		       "epsilon %g, l2 %g\n", run ? "\n" : "", run + 1, w->n,
		       r->hp.lr, r->hp.batch, r->hp.beta1, r->hp.beta2,
		       r->hp.epsilon, r->hp.l2);
	size_t steps = (s->ntrain + (size_t)r->hp.batch - 1) / (size_t)r->hp.batch;
	double run_t0 = cli_now();
	for (int e = 1; e <= o->epochs; e++) {
		head_metrics_t mt, mv = {0};
		/* As Keras: the header when the epoch starts, the line
		 * when it ends (so a reader can time it). */
		if (!o->quiet) {
			printf("Epoch %d/%ld\n", e, o->epochs);
			fflush(stdout);
		}
		double e0 = cli_now();
		if ((rc = head_trainer_epoch(tr, &train, &mt, w->order, err)) ||
		    (w->has_val && (rc = head_trainer_evaluate(tr, &valid, &mv, err))))
			goto out;
		double dt = cli_now() - e0;
		/* Keras' metrics are float32: the line and the history
		 * show the same numbers as Keras would. */
		if (!o->quiet) {
			printf("%zu/%zu - %.0fs - loss: %.4f - accuracy: %.4f",
			       steps, steps, dt, (double)(float)mt.loss,
			       (double)(float)mt.accuracy);
			if (w->has_val)
				printf(" - val_loss: %.4f - val_accuracy: %.4f",
				       (double)(float)mv.loss, (double)(float)mv.accuracy);
			putchar('\n');
			fflush(stdout);
		}
		th_history_row_t row = {mt.loss, mt.accuracy, w->has_val, mv.loss, mv.accuracy};
		if (hist.f && (rc = th_history_epoch(&hist, &row, hist_path, err)))
			goto out;
		keep_epoch(w, run, e, &mt, &mv, s->ntrain);
	}
	r->seconds = (cli_now() - run_t0) / (double)o->epochs;
	w->train_secs += cli_now() - run_t0;
	rc = th_history_close(&hist, hist_path, err);
out:
	/* After a failure, the history written so far (closed: a no-op). */
	th_history_close(&hist, hist_path, NULL);
	head_trainer_free(tr);
	return rc;
}

int th_sweep(const th_opts_t *o, const th_data_t *d, const th_split_t *s,
	     th_runs_t *w, char *err)
{
	int rc;

	if ((rc = runs_alloc(o, d, s, w, err)))
		return rc;
	for (int run = 0; run < w->n; run++) {
		if ((rc = train_run(o, d, s, w, run, err)))
			return rc;
		if (run + 1 < w->n)
			head_free(&w->h);
	}
	if (!w->sweep)
		return 0;
	if (!o->quiet)
		putchar('\n');
	if (print_table(w->res, w->n, w->has_val))
		return err_set(err, ERR_NOMEM, "out of memory for the sweep's table");
	return 0;
}
