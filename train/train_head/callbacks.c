/* callbacks.c - Keras' EarlyStopping and ReduceLROnPlateau (train_head.h),
 * decided at each epoch's end as tf_keras 2.21's callbacks decide. */
#include <math.h>

#include "train_head.h"

/* ReduceLROnPlateau's min_delta, Keras' default (not an option here). */
#define TH_REDUCE_MIN_DELTA 1e-4

const char *th_monitor_name(int monitor)
{
	static const char *const names[] = {"val_loss", "val_accuracy", "loss",
					    "accuracy"};
	return names[monitor];
}

/* The value Keras' logs hold for the monitored metric: the float32
 * metric, widened. */
static double monitored(int monitor, const head_metrics_t *mt, const head_metrics_t *mv)
{
	const head_metrics_t *m = monitor == TH_VAL_LOSS || monitor == TH_VAL_ACCURACY ? mv : mt;
	double v = monitor == TH_VAL_ACCURACY || monitor == TH_ACCURACY ? m->accuracy : m->loss;
	return (double)(float)v;
}

void th_callbacks_start(th_callbacks_t *cb, const th_config_t *c)
{
	/* Mode 'auto': the accuracies are to be raised, the losses lowered. */
	int max = c->monitor == TH_VAL_ACCURACY || c->monitor == TH_ACCURACY;
	cb->es_max = cb->rl_max = max;
	cb->es_best = cb->rl_best = max ? -INFINITY : INFINITY;
	cb->es_wait = cb->rl_wait = 0;
	cb->es_best_epoch = 0;
}

/* EarlyStopping's on_epoch_end for epoch e (1-based). */
static void early_stopping(th_callbacks_t *cb, const th_config_t *c, int e,
			   double current, th_verdict_t *v)
{
	if (c->restore_best && cb->es_best_epoch == 0) {
		/* The first epoch's weights, should none improve. */
		v->keep = 1;
		cb->es_best_epoch = e;
	}
	cb->es_wait++;
	int better = cb->es_max ? current - c->min_delta > cb->es_best
				: current + c->min_delta < cb->es_best;
	if (better) {
		cb->es_best = current;
		cb->es_best_epoch = e;
		v->keep = c->restore_best;
		cb->es_wait = 0;
		return;
	}
	if (cb->es_wait >= c->patience && e > 1)
		v->stop = 1;
}

/* ReduceLROnPlateau's on_epoch_end, at rate lr. */
static void reduce_on_plateau(th_callbacks_t *cb, const th_config_t *c, double current,
			      float lr, th_verdict_t *v)
{
	int better = cb->rl_max ? current > cb->rl_best + TH_REDUCE_MIN_DELTA
				: current < cb->rl_best - TH_REDUCE_MIN_DELTA;
	if (better) {
		cb->rl_best = current;
		cb->rl_wait = 0;
		return;
	}
	if (++cb->rl_wait < c->reduce_patience)
		return;
	if (lr > (float)c->min_lr) {
		/* numpy 2 (NEP 50): a float32 and a Python float meet as two
		 * float32s, in the product and in max(). */
		float next = lr * (float)c->reduce_lr;
		v->lr = next < (float)c->min_lr ? (float)c->min_lr : next;
		v->reduced = 1;
		cb->rl_wait = 0;
	}
}

void th_callbacks_epoch(th_callbacks_t *cb, const th_config_t *c, int e,
			const head_metrics_t *mt, const head_metrics_t *mv,
			float lr, th_verdict_t *v)
{
	double current = monitored(c->monitor, mt, mv);

	*v = (th_verdict_t){.lr = lr};
	if (c->patience >= 0)
		early_stopping(cb, c, e, current, v);
	if (c->reduce_lr > 0)
		reduce_on_plateau(cb, c, current, lr, v);
}
