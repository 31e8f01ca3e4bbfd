/* sweep.c - train-head's runs (train_head.h): every combination of the
 * swept values trained over the same features and starting weights, with
 * Keras' epoch lines, callbacks and history files, each run's best epoch,
 * the best of them all, and a sweep's table of the options that vary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "train_head.h"

/* The swept options' names, as Keras spells the argument (the sweep's
 * table and its Run lines). */
static const char *const opt_names[TH_NOPTS] = {
	"lr", "batch_size", "beta1", "beta2", "epsilon", "l2", "hidden", "dropout",
	"label_smoothing", "class_weight", "lr_schedule", "patience", "monitor",
	"min_delta", "reduce_lr", "reduce_lr_patience", "min_lr",
};

long th_runs_of(const th_opts_t *o)
{
	long n = 1;
	for (int k = 0; k < TH_NOPTS; k++)
		n *= o->v[k].n;
	return n;
}

/* The index of run i's value of each option, the first option's varying
 * fastest. */
static void combination(const th_opts_t *o, int i, int *idx)
{
	for (int k = 0; k < TH_NOPTS; k++) {
		idx[k] = i % o->v[k].n;
		i /= o->v[k].n;
	}
}

th_config_t th_config_of(const th_opts_t *o, int i)
{
	int x[TH_NOPTS];
	th_config_t c = {.hp = HEAD_HPARAMS_DEFAULT};
	combination(o, i, x);
#define V(k) (o->v[k].v[x[k]])
	c.hp.lr = V(TH_LR);
	c.hp.batch = (int)V(TH_BATCH);
	c.hp.beta1 = V(TH_BETA1);
	c.hp.beta2 = V(TH_BETA2);
	c.hp.epsilon = V(TH_EPSILON);
	c.hp.l2 = V(TH_L2);
	c.hp.dropout = V(TH_DROPOUT);
	c.hp.loss.smoothing = V(TH_SMOOTHING);
	c.hidden = (int)V(TH_HIDDEN);
	c.class_weight = o->v[TH_CLASS_WEIGHT].s[x[TH_CLASS_WEIGHT]];
	c.cosine = (int)V(TH_SCHEDULE);
	c.patience = (int)V(TH_PATIENCE);
	c.monitor = (int)V(TH_MONITOR);
	c.min_delta = V(TH_MIN_DELTA);
	c.restore_best = o->restore_best;
	c.reduce_lr = V(TH_REDUCE_LR);
	c.reduce_patience = (int)V(TH_REDUCE_PATIENCE);
	c.min_lr = V(TH_MIN_LR);
#undef V
	return c;
}

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

/* Opens run's history file (--history; one per run in a sweep), with the
 * lr column when ReduceLROnPlateau adds the rate to the logs. */
static int history_open(const th_opts_t *o, int sweep, int run, int lr,
			th_history_t *c, char *err)
{
	char path[4096];
	int rc = sweep ? th_history_run_path(o->history, run + 1, path, sizeof path, err)
		       : (snprintf(path, sizeof path, "%s", o->history) < (int)sizeof path
				  ? 0
				  : err_set(err, ERR_ARG, "--history: too long a path"));
	return rc ? rc : th_history_open(c, path, lr, err);
}

/* The text of option k's value in run i's combination. */
static void value_text(const th_opts_t *o, int k, int i, char *buf, size_t len)
{
	int x[TH_NOPTS];
	combination(o, i, x);
	if (o->v[k].s[x[k]])
		snprintf(buf, len, "%s", o->v[k].s[x[k]]);
	else
		snprintf(buf, len, "%g", o->v[k].v[x[k]]);
}

/* A table column's width: its name's, at least 10. */
static int col_width(int k)
{
	int w = (int)strlen(opt_names[k]);
	return w > 10 ? w : 10;
}

/* print_table prints the nruns results ranked, best first: the options
 * that vary, the best epoch and its metrics. */
static int print_table(const th_opts_t *o, const th_result_t *r, int nruns,
		       int has_val)
{
	int *rank = malloc((size_t)nruns * sizeof *rank), stops = 0;
	char buf[64];

	if (!rank)
		return -1;
	for (int i = 0; i < nruns; i++) {
		rank[i] = i;
		stops |= r[i].c.patience >= 0;
	}
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
	printf("rank ");
	for (int k = 0; k < TH_NOPTS; k++)
		if (o->v[k].n > 1)
			printf(" %*s", col_width(k), opt_names[k]);
	/* run: row N of the "Run N/M" lines, and of the history files
	 * (FILE.runN.csv). */
	printf("  epoch%s      loss  accuracy  %s  %s  s/epoch    run\n",
	       stops ? "  epochs" : "", has_val ? "val_loss" : "        ",
	       has_val ? "val_accuracy" : "            ");
	for (int i = 0; i < nruns; i++) {
		const th_result_t *x = &r[rank[i]];
		printf("%4d ", i + 1);
		for (int k = 0; k < TH_NOPTS; k++)
			if (o->v[k].n > 1) {
				value_text(o, k, rank[i], buf, sizeof buf);
				printf(" %*s", col_width(k), buf);
			}
		printf("  %5d", x->best_epoch);
		if (stops)
			printf("  %6d", x->epochs);
		printf("  %8.4f  %8.4f", x->best_train.loss, x->best_train.accuracy);
		if (has_val)
			printf("  %8.4f  %12.4f", x->best_val.loss, x->best_val.accuracy);
		else
			printf("  %8s  %12s", "", "");
		printf("  %7.3f  %5d\n", x->seconds, rank[i] + 1);
	}
	free(rank);
	return 0;
}

/* The Run line of a sweep: the values of the options that vary. */
static void print_run(const th_opts_t *o, int run, int n)
{
	char buf[64];
	printf("%sRun %d/%d:", run ? "\n" : "", run + 1, n);
	for (int k = 0, first = 1; k < TH_NOPTS; k++)
		if (o->v[k].n > 1) {
			value_text(o, k, run, buf, sizeof buf);
			printf("%s %s %s", first ? "" : ",", opt_names[k], buf);
			first = 0;
		}
	putchar('\n');
}

int th_runs_commit_history(th_runs_t *w, char *err)
{
	int first = 0;

	for (int i = 0; w->hist && i < w->n; i++) {
		char why[ERR_LEN];
		int rc = th_history_commit(&w->hist[i], why);
		if (rc && !first) {
			first = rc;
			snprintf(err, ERR_LEN, "%s", why);
		}
	}
	return first;
}

void th_runs_free(th_runs_t *w)
{
	for (int i = 0; w->hist && i < w->n; i++)
		th_history_abandon(&w->hist[i]);
	free(w->hist);
	free(w->order);
	th_trace_free(&w->trc);
	free(w->res);
	head_free(&w->h);
	head_free(&w->keep);
	head_free(&w->best);
}

const head_t *th_runs_chosen(const th_runs_t *w)
{
	return w->sweep ? &w->best : &w->h;
}

/* runs_alloc: room for the results. */
static int runs_alloc(const th_opts_t *o, const th_split_t *s, th_runs_t *w,
		      char *err)
{
	w->n = (int)th_runs_of(o);
	w->sweep = w->n > 1;
	w->has_val = s->nvalid > 0;
	w->best_run = -1;
	if (!(w->res = calloc((size_t)w->n, sizeof *w->res)) ||
	    (o->history && !(w->hist = calloc((size_t)w->n, sizeof *w->hist))))
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

/* A head shaped as h into *dst, when *dst is not already such a head. */
static int head_room(head_t *dst, const head_t *h, char *err)
{
	int hidden[HEAD_MAX_LAYERS];
	if (dst->params && head_same_shape(dst, h))
		return 0;
	head_free(dst);
	for (int l = 0; l + 1 < h->nlayers; l++)
		hidden[l] = h->layer[l].out;
	return head_create(h->D, h->nlayers - 1, hidden, h->K, 0, dst, err);
}

/* keep_epoch records epoch e of run (metrics mt, and mv on the validation
 * set) as the run's best, and as the sweep's best with its weights. */
static int keep_epoch(th_runs_t *w, int run, int e, const head_metrics_t *mt,
		      const head_metrics_t *mv, char *err)
{
	th_result_t *r = &w->res[run];
	int rc;

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
		if ((rc = head_room(&w->best, &w->h, err)))
			return rc;
		head_copy(&w->best, &w->h);
	}
	return 0;
}

/* The Keras line of an epoch (verbose=2), its lr when ReduceLROnPlateau
 * puts it in the logs, and the callbacks' own lines. */
static void print_epoch(const th_config_t *c, int has_val, size_t steps, double dt,
			const head_metrics_t *mt, const head_metrics_t *mv, float lr)
{
	/* Keras' metrics are float32: the line and the history show the same
	 * numbers as Keras would. */
	printf("%zu/%zu - %.0fs - loss: %.4f - accuracy: %.4f", steps, steps, dt,
	       (double)(float)mt->loss, (double)(float)mt->accuracy);
	if (has_val)
		printf(" - val_loss: %.4f - val_accuracy: %.4f", (double)(float)mv->loss,
		       (double)(float)mv->accuracy);
	if (c->reduce_lr > 0)
		printf(lr > 1e-3f ? " - lr: %.4f" : " - lr: %.4e", (double)lr);
	putchar('\n');
}

/* The starting head of a run: the same weights for every combination of
 * the same shape (the seed's), and its trainer. */
static int run_start(const th_opts_t *o, const th_data_t *d, const th_split_t *s,
		     th_config_t *c, float *cw, th_runs_t *w, head_trainer_t **tr,
		     char *err)
{
	int rc, used;
	size_t steps = (s->ntrain + (size_t)c->hp.batch - 1) / (size_t)c->hp.batch;

	if ((rc = th_class_weights(c->class_weight, d, s, cw, &used, err)))
		return rc;
	c->hp.loss.class_weight = used ? cw : NULL;
	/* CosineDecay over the run's steps. */
	c->hp.cosine_steps = c->cosine ? o->epochs * (long)steps : 0;
	head_free(&w->h);
	if ((rc = head_create(d->D, c->hidden ? 1 : 0, &c->hidden, d->K,
			      (uint64_t)o->seed, &w->h, err)) ||
	    (rc = head_trainer_create(&w->h, &c->hp, (int)o->threads, (uint64_t)o->seed,
				      tr, err)))
		return rc;
	if (c->restore_best && (rc = head_room(&w->keep, &w->h, err)))
		return rc;
	if (o->trace) {
		if ((rc = th_trace_alloc(&w->trc, o->epochs, s->ntrain, &w->h, err)))
			return rc;
		if (!(w->order = malloc((s->ntrain ? s->ntrain : 1) * sizeof *w->order)))
			return err_set(err, ERR_NOMEM, "--trace: out of memory");
		th_trace_start(&w->trc, &w->h, c->hp.loss.class_weight);
	}
	return 0;
}

/* train_run trains combination run for up to --epochs epochs, printing
 * Keras' lines, writing its history, following its callbacks. */
static int train_run(const th_opts_t *o, const th_data_t *d, const th_split_t *s,
		     th_runs_t *w, int run, char *err)
{
	th_result_t *r = &w->res[run];
	head_set_t train = {d->x, (size_t)d->D, d->y, s->train, s->ntrain};
	head_set_t valid = {d->x, (size_t)d->D, d->y, s->valid, s->nvalid};
	head_trainer_t *tr = NULL;
	th_history_t *hist = w->hist ? &w->hist[run] : NULL;
	th_callbacks_t cb;
	float *cw = malloc((size_t)d->K * sizeof *cw);
	int rc, kept = 0;

	r->c = th_config_of(o, run);
	if (!cw) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = run_start(o, d, s, &r->c, cw, w, &tr, err)))
		goto out;
	if (hist && (rc = history_open(o, w->sweep, run, r->c.reduce_lr > 0, hist, err)))
		goto out;
	if (w->sweep && !o->quiet)
		print_run(o, run, w->n);
	th_callbacks_start(&cb, &r->c);
	size_t steps = (s->ntrain + (size_t)r->c.hp.batch - 1) / (size_t)r->c.hp.batch;
	double run_t0 = cli_now();
	for (int e = 1; e <= o->epochs; e++) {
		head_metrics_t mt, mv = {0};
		th_verdict_t v;
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
		float lr = head_trainer_lr(tr);
		if (!o->quiet)
			print_epoch(&r->c, w->has_val, steps, cli_now() - e0, &mt, &mv, lr);
		th_history_row_t row = {mt.loss, mt.accuracy, w->has_val, mv.loss,
					mv.accuracy, lr};
		if (hist)
			th_history_epoch(hist, &row);
		if (w->trc.order)
			th_trace_epoch(&w->trc, e, w->order, s->ntrain, &mt, &mv, lr);
		if ((rc = keep_epoch(w, run, e, &mt, &mv, err)))
			goto out;
		r->epochs = e;
		w->epochs_run++;
		th_callbacks_epoch(&cb, &r->c, e, &mt, &mv, lr, &v);
		if (v.keep) {
			head_copy(&w->keep, &w->h);
			kept = e;
		}
		if (v.reduced) {
			char lrs[32];
			th_py_float32(v.lr, lrs);
			if (!o->quiet)
				printf("\nEpoch %d: ReduceLROnPlateau reducing learning rate "
				       "to %s.\n", e, lrs);
			if ((rc = head_trainer_set_lr(tr, v.lr, err)))
				goto out;
		}
		if (v.stop) {
			if (!o->quiet)
				printf("Epoch %d: early stopping\n", e);
			break;
		}
	}
	/* EarlyStopping's on_train_end: the best epoch's weights, stopped
	 * early or not. */
	if (kept) {
		if (!o->quiet)
			printf("Restoring model weights from the end of the best epoch: "
			       "%d.\n", kept);
		head_copy(&w->h, &w->keep);
		w->trc.restored = kept;
	}
	r->seconds = (cli_now() - run_t0) / (double)r->epochs;
	w->train_secs += cli_now() - run_t0;
	/* Closed now, put in place once the head is saved: a sweep of
	 * thousands of runs holds no descriptor for each. */
	if (hist)
		th_history_finish(hist);
out:
	head_trainer_free(tr);
	free(cw);
	return rc;
}

int th_sweep(const th_opts_t *o, const th_data_t *d, const th_split_t *s,
	     th_runs_t *w, char *err)
{
	int rc;

	if ((rc = runs_alloc(o, s, w, err)))
		return rc;
	for (int run = 0; run < w->n; run++)
		if ((rc = train_run(o, d, s, w, run, err)))
			return rc;
	if (!w->sweep)
		return 0;
	if (!o->quiet)
		putchar('\n');
	if (print_table(o, w->res, w->n, w->has_val))
		return err_set(err, ERR_NOMEM, "out of memory for the sweep's table");
	return 0;
}
