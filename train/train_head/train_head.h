/* train_head.h - train-head's run, in the steps train_head.c's main takes:
 *
 *   load.c      the store read once into one (N, D) float32 array;
 *   split.c     the training and validation sets, index lists into it
 *               (tagged valid by extract, else held out by --val-split);
 *   history.c   the history files, as Keras' CSVLogger writes them;
 *   sweep.c     the runs: every combination of the swept values trained
 *               over the same array and starting weights, Keras' epoch
 *               lines, the history files, the best epoch, a sweep's table;
 *   trace.c     what --trace records of a run, and its file;
 *   min_prob.c  predict's --min-prob suggested from the validation set;
 *   out.c       where the head goes: --out checked before training.
 *
 * Letters: N records (training and validation), D features, K classes.
 * Functions return 0 or a negative ERR_* code with the reason in err
 * (error.h); what they print is progress and notes, never an error. */
#ifndef TRAIN_HEAD_H
#define TRAIN_HEAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store/featdb.h"
#include "head/head.h"

#define PROG "train-head"
#define TH_MAX_VALUES 32 /* values per swept option */
/* Where the head goes without --out: the current folder, where Keras'
 * model.save('head.h5') puts it and where predict --head head.h5 finds it. */
#define TH_DEFAULT_OUT "head.h5"

/* The values of one sweepable option. */
typedef struct th_values {
	double v[TH_MAX_VALUES];
	int n;
} th_values_t;

/* The command line (train_head.c parses it). */
typedef struct th_opts {
	const char *db, *out, *history, *trace; /* out: TH_DEFAULT_OUT unless given */
	long epochs, threads, seed;
	double val_split, keep;
	int val_split_given, quiet;
	th_values_t lr, batch, beta1, beta2, epsilon, l2;
} th_opts_t;

/* ---- load.c: the features ------------------------------------------------- */

/* The store's training and validation records (those tagged test are only
 * counted), in memory; all arrays are owned. */
typedef struct th_data {
	featdb_meta_t meta;
	int D, K;
	float *x;          /* (N, D) the training and validation records */
	int32_t *y;        /* (N) */
	double *unit;      /* (N) th_key_unit of each record's key */
	uint8_t *tagged;   /* (N) 1 when extract tagged the record valid */
	size_t *count;     /* (K) the records of each class, of every split */
	size_t n, cap;     /* N, and the records there is room for */
	size_t ntest, nbad, ntagged;
	const char *path;  /* the store, and err: for the record callback */
	char *err;
} th_data_t;

/* th_data_load reads every record of the store at path once into d.  A
 * class may have no record (an extract still running or interrupted has
 * not reached it): d->count says so.  A
 * damaged record is skipped with a note; ERR_MISSING when the store is
 * empty or holds no training or validation record, ERR_ARG when it has
 * fewer than two classes, ERR_SHAPE or ERR_FORMAT for a record that
 * contradicts the metadata, ERR_MISMATCH when people were added while it
 * was read, ERR_NOMEM, or featdb's errors.  On failure d holds what was
 * read, for th_data_free. */
int th_data_load(const char *path, th_data_t *d, char *err);

/* th_data_free releases d and zeroes it. */
void th_data_free(th_data_t *d);

/* ---- split.c: the training and validation sets ---------------------------- */

/* The training and validation sets, as index lists into the data; the
 * lists are owned. */
typedef struct th_split {
	size_t *train, *valid; /* (ntrain), (nvalid) rows of th_data_t's x */
	size_t ntrain, nvalid;
	char how[64];          /* how the validation set was chosen */
} th_split_t;

/* th_key_unit maps a record key to [0, 1) through FNV-1a 64: the same
 * key gives the same number on every machine, whatever else is stored. */
double th_key_unit(const char *key, size_t len);

/* th_holdout marks which of n records (unit[i] from th_key_unit, class
 * cls[i] in 0..K-1) are held out for validation: those with unit < frac,
 * except that the record with the largest unit of each class always stays
 * in training, so that no class loses all its training records.  Adding
 * records never moves a record between the sets, except in a class whose
 * records all fell below frac before.  held (n) receives 1 or 0. */
int th_holdout(size_t n, const double *unit, const int32_t *cls, int K,
	       double frac, uint8_t *held, char *err);

/* th_split_make splits d: the records extract tagged valid, else those
 * th_holdout holds out by o->val_split, else none.  A class without any
 * record is left to train on nothing (it stays in the head's output layer,
 * as Keras keeps an empty class folder).  ERR_MISSING when a class that
 * has records is left without a training record, ERR_NOMEM. */
int th_split_make(const th_data_t *d, const th_opts_t *o, th_split_t *s, char *err);

/* th_split_free releases s's lists. */
void th_split_free(th_split_t *s);

/* ---- history.c: --history, as Keras' CSVLogger writes it ------------------ */

/* A training history in the file Keras' CSVLogger writes, so
 * that scripts written for Keras logs read ours (tf_keras 2.21's
 * callbacks.CSVLogger, read in its source):
 *
 *   epoch,accuracy,loss,val_accuracy,val_loss\r\n
 *   0,0.27900001406669617,2.4201014041900635,0.30230000615119934,2.2614...\r\n
 *
 * The keys sorted, as CSVLogger sorts the logs' keys; epochs from 0; each
 * value a float32 (Keras' metrics are) written as Python's repr of it as a
 * float; "NA" for the validation values when there is no validation set
 * (CSVLogger adds the val_ columns anyway); lines ended by \r\n (its
 * csv.excel dialect).  Sweeps write one such file per run (train-head). */

typedef struct th_history {
	FILE *f;
	int epochs; /* rows written */
} th_history_t;

/* One epoch's numbers; has_val 0 writes NA for the val_ columns. */
typedef struct th_history_row {
	double loss, accuracy;
	int has_val;
	double val_loss, val_accuracy;
} th_history_row_t;

/* th_history_open creates (truncates) path and writes the header.  Returns 0
 * or ERR_IO (the reason names the file). */
int th_history_open(th_history_t *c, const char *path, char *err);

/* th_history_epoch writes the next epoch's row and flushes it, so that a
 * reader sees each epoch as it ends.  Returns 0 or ERR_IO. */
int th_history_epoch(th_history_t *c, const th_history_row_t *r, const char *path,
		 char *err);

/* th_history_close closes the file: 0, or ERR_IO when a write failed.
 * Accepts a history that was never opened. */
int th_history_close(th_history_t *c, const char *path, char *err);

/* th_py_float writes Python's repr of v (the shortest text that reads
 * back as v: "0.1", "1.0", "1e-05", "2.4201014041900635") into buf. */
void th_py_float(double v, char buf[32]);

/* th_history_run_path: the history file of run `run` (1, 2, ...) of a sweep:
 * path with ".run<run>" before its extension ("h.csv" -> "h.run2.csv";
 * "h" -> "h.run2").  Returns 0, or ERR_ARG when it does not fit len. */
int th_history_run_path(const char *path, int run, char *buf, size_t len,
		    char *err);

/* ---- trace.c: --trace ----------------------------------------------------- */

/* What --trace records of the one run, filled by the sweep; all owned. */
typedef struct th_trace {
	float *kernel0;   /* (D*K + K) the starting weights */
	uint32_t *order;  /* (epochs, ntrain) */
	double *metrics;  /* (epochs, 4) loss, accuracy, val_loss, val_accuracy */
} th_trace_t;

/* The trace file, for tests/ref/torch_head.py and tests/ref/keras_head.py:
 * HDF5, root attribute "format" = TH_TRACE_FORMAT, and the datasets
 *   train_x (ntrain, D) float32, train_y (ntrain) int32, valid_x, valid_y,
 *   kernel0 (D, K), bias0 (K), order (epochs, ntrain) uint32 (positions in
 *   train_x), metrics (epochs, 4) float64 (this program's loss, accuracy,
 *   val_loss, val_accuracy), hparams (8) float64 (lr, beta1, beta2,
 *   epsilon, l2, batch_size, epochs, seed). */
#define TH_TRACE_FORMAT "vggfeat-trace 1"

/* th_trace_alloc makes room in tr for a run of epochs epochs over ntrain
 * training records of a D-by-K head: 0, or ERR_NOMEM (also when ntrain
 * does not fit the file's uint32 positions) with tr empty. */
int th_trace_alloc(th_trace_t *tr, long epochs, size_t ntrain, int D, int K,
		   char *err);

/* th_trace_start records the run's starting weights h. */
void th_trace_start(th_trace_t *tr, const head_t *h);

/* th_trace_epoch records epoch e (1-based): order (ntrain), the epoch's
 * sample order (positions in the training set), and its metrics mt and,
 * on the validation set, mv. */
void th_trace_epoch(th_trace_t *tr, int e, const size_t *order, size_t ntrain,
		    const head_metrics_t *mt, const head_metrics_t *mv);

/* th_trace_write writes the trace file at path: the sets s of d, what tr
 * recorded, the hyperparameters hp and o's epochs and seed.  ERR_NOMEM or
 * ERR_IO. */
int th_trace_write(const char *path, const th_data_t *d, const th_split_t *s,
		   const head_hparams_t *hp, const th_opts_t *o,
		   const th_trace_t *tr, char *err);

/* th_trace_free releases tr and zeroes it. */
void th_trace_free(th_trace_t *tr);

/* ---- sweep.c: the runs ---------------------------------------------------- */

/* One run's combination and its best epoch. */
typedef struct th_result {
	head_hparams_t hp;
	int best_epoch;                    /* 1-based */
	head_metrics_t best_train, best_val;
	double seconds;                    /* per epoch */
} th_result_t;

/* The runs of a sweep (one run without one): every run's result, the heads,
 * the best epoch of them all.  Zero it before th_sweep. */
typedef struct th_runs {
	int n, sweep, has_val;  /* runs; a sweep (n > 1); a validation set */
	th_result_t *res;       /* (n) */
	head_t h;               /* the run being trained; then the last run's */
	head_t best;            /* a sweep's best epoch's weights (the head
				 * saved, and the threshold's) */
	int best_run, best_epoch;
	head_metrics_t best_mt, best_mv;
	double train_secs;
	th_trace_t trc;         /* --trace */
	size_t *order;          /* (ntrain) an epoch's order, for --trace */
} th_runs_t;

/* th_sweep trains every combination of o's swept values over d's sets s,
 * from the same starting weights, printing Keras' epoch lines (unless
 * quiet) and writing --history, then a sweep's table ranked by the best
 * epoch (validation accuracy, then loss; without validation, the
 * training's).  ERR_NOMEM, ERR_IO (--history), ERR_ARG, or the trainer's
 * errors; w holds what was done, for th_runs_free. */
int th_sweep(const th_opts_t *o, const th_data_t *d, const th_split_t *s,
	     th_runs_t *w, char *err);

/* th_runs_free releases w. */
void th_runs_free(th_runs_t *w);

/* ---- min_prob.c: the suggested --min-prob --------------------------------- */

/* What the validation set says of predict's --min-prob p: rank 1 becomes
 * "unknown" when its probability is below p. */
typedef struct th_min_prob {
	double p;
	size_t right, kept;   /* correct top-1 answers; those at or above p */
	size_t wrong, caught; /* wrong ones; those below p */
} th_min_prob_t;

/* th_min_prob_suggest runs h over the validation set of s as predict runs
 * it on an image and finds into t the p that keeps the share keep of the
 * correct answers (t->right 0: none is correct, no p).  ERR_NOMEM. */
int th_min_prob_suggest(const head_t *h, const th_data_t *d, const th_split_t *s,
			double keep, th_min_prob_t *t, char *err);

/* th_min_prob_print prints t's suggestion (for --keep keep) on stderr. */
void th_min_prob_print(const th_min_prob_t *t, double keep);

/* ---- out.c: where the head goes ------------------------------------------- */

/* th_out_check, before training: 0 when the head can be written at path
 * (its folder takes a new file, and path is free or holds a head that
 * train-head wrote, read as predict reads one).  ERR_IO (the folder is
 * missing, read-only or not ours), ERR_ARG (path is a folder, or a file
 * that is not such a head: the reason says which and what to do). */
int th_out_check(const char *path, char *err);

#endif
