/* train_head.h - train-head's run, in the steps train_head.c's main takes:
 *
 *   load.c          the store read once into one (N, D) float32 array;
 *   split.c         the training, validation and test sets, index lists
 *                   into it (tagged by extract, else held out by
 *                   --val-split and --test-split);
 *   class_weight.c  the class weights of a run (--class-weight);
 *   history.c       the history files, as Keras' CSVLogger writes them;
 *   callbacks.c     Keras' EarlyStopping and ReduceLROnPlateau, epoch by
 *                   epoch;
 *   sweep.c         the runs: every combination of the swept values trained
 *                   over the same array and starting weights, Keras' epoch
 *                   lines, the history files, the best epoch, a sweep's
 *                   table;
 *   trace.c         what --trace records of a run, and its file;
 *   score.c         the chosen head's score on the test set;
 *   min_prob.c      predict's --min-prob suggested from the validation set;
 *   out.c           where the head goes: --out checked before training;
 *                   the outputs checked against each other, and opened.
 *
 * Letters: N records, D features, K classes.
 * Functions return 0 or a negative ERR_* code with the reason in err
 * (error.h); what they print is progress and notes, never an error. */
#ifndef TRAIN_HEAD_H
#define TRAIN_HEAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/fsutil.h"
#include "store/featdb.h"
#include "head/head.h"

#define PROG "train-head"
#define TH_MAX_VALUES 32 /* values per swept option */
/* Where the head goes without --out: the current folder, where Keras'
 * model.save('head.h5') puts it and where predict --head head.h5 finds it. */
#define TH_DEFAULT_OUT "head.h5"

/* The options a sweep varies, in the order of its combinations (the first
 * varies fastest). */
enum th_opt {
	TH_LR, TH_BATCH, TH_BETA1, TH_BETA2, TH_EPSILON, TH_L2, TH_HIDDEN,
	TH_DROPOUT, TH_SMOOTHING, TH_CLASS_WEIGHT, TH_SCHEDULE, TH_PATIENCE,
	TH_MONITOR, TH_MIN_DELTA, TH_REDUCE_LR, TH_REDUCE_PATIENCE, TH_MIN_LR,
	TH_NOPTS
};

/* The values of one sweepable option: numbers, or for the options that
 * take words (--monitor, --lr-schedule, --class-weight) the words too. */
typedef struct th_values {
	double v[TH_MAX_VALUES];
	const char *s[TH_MAX_VALUES];
	int n;
} th_values_t;

/* What the callbacks watch (--monitor), as Keras names the logs. */
enum th_monitor { TH_VAL_LOSS, TH_VAL_ACCURACY, TH_LOSS, TH_ACCURACY };

/* The command line (train_head.c parses it). */
typedef struct th_opts {
	const char *db, *history, *trace, *confusion;
	const char *out; /* TH_DEFAULT_OUT unless given */
	long epochs, threads, seed;
	double val_split, test_split, keep;
	int val_split_given, test_split_given, quiet;
	int restore_best; /* --restore-best */
	th_values_t v[TH_NOPTS];
} th_opts_t;

/* th_parse_args reads the command line into o (options.c): 0, or a
 * usage error's exit status, the error printed with the Try line.
 * --help, --help-dev and --version print their text and exit. */
int th_parse_args(int argc, char **argv, th_opts_t *o);

/* One run's combination: its hyperparameters and callbacks. */
typedef struct th_config {
	head_hparams_t hp;        /* the class weights are the run's (sweep.c) */
	int hidden;               /* the hidden layer's units; 0: none */
	int cosine;               /* --lr-schedule cosine */
	const char *class_weight; /* "none", "balanced" or a file */
	int patience;             /* EarlyStopping's; -1: no EarlyStopping */
	int monitor;              /* th_monitor, for both callbacks */
	double min_delta;         /* EarlyStopping's */
	int restore_best;
	double reduce_lr;         /* ReduceLROnPlateau's factor; 0: none */
	int reduce_patience;
	double min_lr;
} th_config_t;

/* th_config_of: the combination of run i of o's sweep. */
th_config_t th_config_of(const th_opts_t *o, int i);

/* th_runs_of: the number of combinations of o's sweep. */
long th_runs_of(const th_opts_t *o);

/* th_monitor_name: "val_loss", "val_accuracy", "loss" or "accuracy". */
const char *th_monitor_name(int monitor);

/* ---- load.c: the features ------------------------------------------------- */

/* The store's records, in memory; all arrays are owned. */
typedef struct th_data {
	featdb_meta_t meta;
	int D, K;
	float *x;          /* (N, D) the records */
	int32_t *y;        /* (N) */
	double *unit;      /* (N) th_key_unit of each record's key */
	uint8_t *split;    /* (N) FEATDB_TRAIN, FEATDB_VALID or FEATDB_TEST, as
			    * extract tagged the record */
	size_t *count;     /* (K) the records of each class, of every split */
	size_t n, cap;     /* N, and the records there is room for */
	size_t nbad;
	size_t ntagged_valid, ntagged_test;
	const char *path;  /* the store, and err: for the record callback */
	char *err;
} th_data_t;

/* th_data_load reads every record of the store at path once into d.  A
 * class may have no record (an extract still running or interrupted has
 * not reached it): d->count says so.  A damaged record is skipped with a
 * note; ERR_MISSING when the store is
 * empty or holds no record, ERR_ARG when it has fewer than two classes,
 * ERR_SHAPE or ERR_FORMAT for a record that contradicts the metadata,
 * ERR_MISMATCH when people were added while it was read, ERR_NOMEM, or
 * featdb's errors.  On failure d holds what was read, for th_data_free. */
int th_data_load(const char *path, th_data_t *d, char *err);

/* th_data_free releases d and zeroes it. */
void th_data_free(th_data_t *d);

/* ---- split.c: the training, validation and test sets ---------------------- */

/* The sets, as index lists into the data; the lists are owned. */
typedef struct th_split {
	size_t *train, *valid, *test; /* (ntrain), (nvalid), (ntest) rows of x */
	size_t ntrain, nvalid, ntest;
	char how[64];                 /* how the validation set was chosen */
	char how_test[64];            /* how the test set was chosen */
} th_split_t;

/* th_key_unit maps a record key to [0, 1) through FNV-1a 64: the same
 * key gives the same number on every machine, whatever else is stored. */
double th_key_unit(const char *key, size_t len);

/* th_holdout sorts n records (unit[i] from th_key_unit, class cls[i] in
 * 0..K-1) into held[i]: 1 (validation) for unit < val, 2 (test) for unit
 * >= 1 - test, else 0 (training); except that in each class the record
 * with the largest unit below 1 - test (failing one, the smallest unit)
 * always stays in training, so that no class loses all its training
 * records.  The test set depends on test alone, whatever val is.  Adding
 * records never moves a record between the sets, except in a class whose
 * records all fell in the held-out ranges before.  val and test in
 * [0, 1) with val + test < 1, else ERR_ARG. */
int th_holdout(size_t n, const double *unit, const int32_t *cls, int K,
	       double val, double test, uint8_t *held, char *err);

/* th_split_make splits d: the records extract tagged valid (else those
 * th_holdout holds out by o->val_split) for validation, those it tagged
 * test (else those held out by o->test_split) for testing, the rest for
 * training.  A class without any record is left to train on nothing (it
 * stays in the head's output layer, as Keras keeps an empty class
 * folder).  ERR_MISSING when a class that has records is left without a
 * training record, ERR_NOMEM. */
int th_split_make(const th_data_t *d, const th_opts_t *o, th_split_t *s, char *err);

/* th_split_free releases s's lists. */
void th_split_free(th_split_t *s);

/* ---- class_weight.c: --class-weight ---------------------------------------- */

/* th_class_weights: the weights w (K) of a run's --class-weight spec:
 *   "none"      *used = 0 (every class weighs 1);
 *   "balanced"  n_samples / (n_classes * count_c) over the training set,
 *               as sklearn's compute_class_weight('balanced');
 *   a file      one line "NAME,WEIGHT" per class of the store (the name
 *               is what precedes the last comma; blank lines and lines
 *               starting with # are skipped), each weight a finite
 *               number >= 0.
 * ERR_IO (the file unreadable), ERR_FORMAT (a line that is not a class
 * and a weight), ERR_MISSING (a class not listed, or a name that is not a
 * class), ERR_ARG (a class listed twice), each naming the file and line. */
int th_class_weights(const char *spec, const th_data_t *d, const th_split_t *s,
		     float *w, int *used, char *err);

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
 * csv.excel dialect).  With ReduceLROnPlateau (before CSVLogger among the
 * callbacks), the logs hold the learning rate too: a column "lr" between
 * loss and val_accuracy, the float32 as str() writes a numpy float32 (its
 * shortest text: "0.0001").  Sweeps write one such file per run
 * (train-head). */

typedef struct th_history {
	fsutil_whole_t w; /* written whole or not at all (fsutil.h) */
	int opened;
	int epochs;       /* rows written */
	int lr;           /* the lr column */
} th_history_t;

/* One epoch's numbers; has_val 0 writes NA for the val_ columns. */
typedef struct th_history_row {
	double loss, accuracy;
	int has_val;
	double val_loss, val_accuracy;
	float lr;
} th_history_row_t;

/* th_history_open starts the history of path, in its temporary file (an
 * earlier history at path stays until th_history_commit), and writes the
 * header, with the lr column when lr is set.  Returns 0 or ERR_IO (the
 * reason names the file). */
int th_history_open(th_history_t *c, const char *path, int lr, char *err);

/* th_history_epoch writes the next epoch's row and flushes it.  A write
 * that fails (a full disk) does not stop the training: the history is
 * dropped at once, freeing its space for the head, and the failure kept
 * for th_history_commit to report. */
void th_history_epoch(th_history_t *c, const th_history_row_t *r);

/* th_history_finish closes the history of a run that ended, to be put in
 * place by th_history_commit (a failure kept for it to report). */
void th_history_finish(th_history_t *c);

/* th_history_commit puts the history at its path, once the head it
 * describes is saved: 0, or ERR_IO "PATH: writing failed: REASON" (the
 * file at path as it was).  th_history_abandon drops it, path as it was.
 * Both accept a history never opened, or already ended. */
int th_history_commit(th_history_t *c, char *err);
void th_history_abandon(th_history_t *c);

/* th_py_float writes Python's repr of v (the shortest text that reads
 * back as v: "0.1", "1.0", "1e-05", "2.4201014041900635") into buf. */
void th_py_float(double v, char buf[32]);

/* th_py_float32 writes numpy's str() of the float32 v (the shortest text
 * that reads back as that float32: "0.0001", "5e-05") into buf. */
void th_py_float32(float v, char buf[32]);

/* th_history_run_path: the history file of run `run` (1, 2, ...) of a sweep:
 * path with ".run<run>" before its extension ("h.csv" -> "h.run2.csv";
 * "h" -> "h.run2").  Returns 0, or ERR_ARG when it does not fit len. */
int th_history_run_path(const char *path, int run, char *buf, size_t len,
		    char *err);

/* ---- callbacks.c: EarlyStopping and ReduceLROnPlateau --------------------- */

/* The two callbacks' state, as tf_keras 2.21's (read in its source):
 *
 *   EarlyStopping(monitor, min_delta, patience, restore_best_weights):
 *   mode 'auto' (max for an accuracy, else min); at each epoch's end,
 *   wait += 1; an improvement (current - min_delta > best, or current +
 *   min_delta < best) makes it the best and wait 0; else training stops
 *   when wait >= patience, after the first epoch; with
 *   restore_best_weights, the weights of the best epoch (the first epoch's
 *   when none improved) are the model's when training ends, stopped early
 *   or not.
 *
 *   ReduceLROnPlateau(monitor, factor, patience, min_lr) with Keras'
 *   min_delta 1e-4 and cooldown 0: an improvement (current < best - 1e-4,
 *   or > best + 1e-4) makes it the best and wait 0; else wait += 1, and at
 *   wait >= patience the rate, when above min_lr, becomes max(lr * factor,
 *   min_lr) (the product in float32, as numpy's float32 times a Python
 *   float) and wait 0.
 *
 * The monitored values are Keras' logs: the float32 metric, compared in
 * double. */
typedef struct th_callbacks {
	int es_wait, es_best_epoch, es_max;
	double es_best;
	int rl_wait, rl_max;
	double rl_best;
} th_callbacks_t;

/* What the callbacks decide at an epoch's end. */
typedef struct th_verdict {
	int keep;     /* restore_best: these are the weights to restore */
	int stop;     /* EarlyStopping stops the training */
	int reduced;  /* ReduceLROnPlateau set the rate to lr */
	float lr;
} th_verdict_t;

/* th_callbacks_start: the state of c's callbacks before the first epoch. */
void th_callbacks_start(th_callbacks_t *cb, const th_config_t *c);

/* th_callbacks_epoch: the verdict v on epoch e (1-based), whose training
 * and validation metrics are mt and mv, trained at rate lr. */
void th_callbacks_epoch(th_callbacks_t *cb, const th_config_t *c, int e,
			const head_metrics_t *mt, const head_metrics_t *mv,
			float lr, th_verdict_t *v);

/* ---- trace.c: --trace ----------------------------------------------------- */

/* What --trace records of the one run, filled by the sweep; all owned. */
typedef struct th_trace {
	head_t h0;          /* the starting weights */
	uint32_t *order;    /* (epochs, ntrain) */
	double *metrics;    /* (epochs, 4) loss, accuracy, val_loss, val_accuracy */
	double *lr;         /* (epochs) the rate at each epoch's end */
	float *class_weight; /* (K) the run's, or NULL */
	int epochs;         /* the epochs run (fewer when stopped early) */
	int restored;       /* the epoch restore_best restored (0: none) */
} th_trace_t;

/* The trace file, for tests/ref/torch_head.py and tests/ref/keras_head.py:
 * HDF5, root attribute "format" = TH_TRACE_FORMAT, and the datasets
 *   train_x (ntrain, D) float32, train_y (ntrain) int32, valid_x, valid_y,
 *   kernel0 (D, O), bias0 (O) the first Dense layer's starting weights (O
 *   = K, or the hidden layer's units), kernel0_out (H, K), bias0_out (K)
 *   the output layer's with --hidden, order (epochs, ntrain) uint32
 *   (positions in train_x), metrics (epochs, 4) float64 (this program's
 *   loss, accuracy, val_loss, val_accuracy), lr (epochs) float64 (the
 *   rate at each epoch's end), class_weight (K) float32 when weighed,
 *   hparams (8) float64 (lr, beta1, beta2, epsilon, l2, batch_size,
 *   epochs asked for, seed);
 * and the run's other settings as float64 root attributes: hidden,
 * dropout, label_smoothing, cosine_steps, patience (-1: none), monitor
 * (th_monitor), min_delta, restore_best, reduce_lr (0: none),
 * reduce_patience, min_lr, restored (the epoch restored, 0: none). */
#define TH_TRACE_FORMAT "vggfeat-trace 2"

/* th_trace_alloc makes room in tr for a run of up to epochs epochs over
 * ntrain training records of a head shaped as h: 0, or ERR_NOMEM (also
 * when ntrain does not fit the file's uint32 positions) with tr empty. */
int th_trace_alloc(th_trace_t *tr, long epochs, size_t ntrain, const head_t *h,
		   char *err);

/* th_trace_start records the run's starting weights h and class weights
 * cw (K, or NULL). */
void th_trace_start(th_trace_t *tr, const head_t *h, const float *cw);

/* th_trace_epoch records epoch e (1-based): order (ntrain), the epoch's
 * sample order (positions in the training set), its metrics mt and, on
 * the validation set, mv, and its rate lr. */
void th_trace_epoch(th_trace_t *tr, int e, const size_t *order, size_t ntrain,
		    const head_metrics_t *mt, const head_metrics_t *mv, double lr);

/* th_trace_write writes the trace file at path: the sets s of d, what tr
 * recorded, the run's combination c and o's epochs and seed.  ERR_NOMEM or
 * ERR_IO. */
int th_trace_write(const char *path, const th_data_t *d, const th_split_t *s,
		   const th_config_t *c, const th_opts_t *o, const th_trace_t *tr,
		   char *err);

/* th_trace_free releases tr and zeroes it. */
void th_trace_free(th_trace_t *tr);

/* ---- sweep.c: the runs ---------------------------------------------------- */

/* One run's combination and its best epoch. */
typedef struct th_result {
	th_config_t c;
	int best_epoch;                    /* 1-based */
	head_metrics_t best_train, best_val;
	int epochs;                        /* run (fewer when stopped early) */
	double seconds;                    /* per epoch */
} th_result_t;

/* The runs of a sweep (one run without one): every run's result, the heads,
 * the best epoch of them all.  Zero it before th_sweep. */
typedef struct th_runs {
	int n, sweep, has_val;  /* runs; a sweep (n > 1); a validation set */
	th_result_t *res;       /* (n) */
	head_t h;               /* the run being trained; then the last run's
				 * (its best epoch's with --restore-best) */
	head_t keep;            /* --restore-best: the best epoch's so far */
	head_t best;            /* a sweep's best epoch's weights (the head
				 * saved, the threshold's and the test
				 * score's) */
	int best_run, best_epoch;
	head_metrics_t best_mt, best_mv;
	double train_secs;
	long epochs_run;        /* over all the runs */
	th_trace_t trc;         /* --trace */
	size_t *order;          /* (ntrain) an epoch's order, for --trace */
	th_history_t *hist;     /* (n) --history: each run's, put in place
				 * once the head is saved */
} th_runs_t;

/* th_sweep trains every combination of o's swept values over d's sets s,
 * from the same starting weights, printing Keras' epoch lines (unless
 * quiet) and writing --history, then a sweep's table ranked by the best
 * epoch (validation accuracy, then loss; without validation, the
 * training's), showing the options that vary.  ERR_NOMEM, ERR_IO
 * (--history), ERR_ARG, the class weights' errors, or the trainer's; w
 * holds what was done, for th_runs_free. */
int th_sweep(const th_opts_t *o, const th_data_t *d, const th_split_t *s,
	     th_runs_t *w, char *err);

/* th_runs_chosen: the head the runs chose: a sweep's best epoch's, else
 * the run's (after --restore-best's restoring). */
const head_t *th_runs_chosen(const th_runs_t *w);

/* th_runs_commit_history puts each run's --history in place (after the
 * head is saved: a history never describes a head that is not): 0, or
 * the first failure (th_history_commit's), the others still put. */
int th_runs_commit_history(th_runs_t *w, char *err);

/* th_runs_free releases w; a history not put in place is dropped. */
void th_runs_free(th_runs_t *w);

/* ---- score.c: the test set's score ----------------------------------------- */

/* The chosen head's answers on the test set: rows the true class,
 * columns the predicted one (the first largest logit, as the accuracy). */
typedef struct th_score {
	int K;
	size_t n, correct, top5; /* top5: the true class among the 5 largest
				  * (ties counted in, as Keras' in_top_k) */
	long *confusion;         /* (K, K) */
} th_score_t;

/* th_score_run scores h on the test set of s.  ERR_NOMEM, ERR_ARG (no
 * test set). */
int th_score_run(const head_t *h, const th_data_t *d, const th_split_t *s,
		 th_score_t *sc, char *err);

/* th_score_print prints the score on f: accuracy and top-5 accuracy, the
 * per-class precision, recall and F1 as sklearn's classification_report
 * prints them (digits=2), and the ten most-confused pairs of people. */
void th_score_print(FILE *f, const th_score_t *sc, char *const *classes);

/* th_score_report writes sklearn's classification_report(y_true, y_pred,
 * labels=range(K), target_names=classes, digits=2, zero_division=0) of
 * sc into f. */
void th_score_report(FILE *f, const th_score_t *sc, char *const *classes);

/* th_score_csv writes the confusion matrix to path as CSV: a header
 * "true\predicted" then the names, then a row per true class, its name
 * then its counts (RFC 4180 quoting, \r\n).  ERR_IO. */
int th_score_csv(const char *path, const th_score_t *sc, char *const *classes,
		 char *err);


/* th_score_free releases sc. */
void th_score_free(th_score_t *sc);

/* ---- min_prob.c: the suggested --min-prob --------------------------------- */

/* What the validation set says of predict's --min-prob p: rank 1 becomes
 * "unknown" when its probability is below p. */
typedef struct th_min_prob {
	double p;
	size_t right, kept;   /* correct top-1 answers; those at or above p */
	size_t wrong, caught; /* wrong ones; those below p */
} th_min_prob_t;

/* th_min_prob_suggest runs h over the validation set of s as predict runs
 * it on an image, on threads threads, and finds into t the p that keeps
 * the share keep of the correct answers (t->right 0: none is correct, no
 * p).  ERR_NOMEM. */
int th_min_prob_suggest(const head_t *h, const th_data_t *d, const th_split_t *s,
			double keep, int threads, th_min_prob_t *t, char *err);

/* th_min_prob_print prints t's suggestion (for --keep keep) on stderr. */
void th_min_prob_print(const th_min_prob_t *t, double keep);

/* ---- out.c: where the head goes ------------------------------------------- */

/* th_out_check, before training and again at the save: 0 when the head
 * can be written at path (its folder takes a new file, and path is free or
 * holds a head that train-head wrote, read as predict reads one).  ERR_IO
 * (the folder is missing, read-only or not ours), ERR_ARG (path is a
 * folder, or a file that is not such a head: the reason says which and
 * what to do). */
int th_out_check(const char *path, char *err);

/* th_outputs_check, before training: 0 when no two of --out, --history,
 * --confusion and --trace are one file (links followed; a stream or a
 * device may be shared) and none replaces a file of the store's folder;
 * else ERR_ARG, the reason naming both. */
int th_outputs_check(const th_opts_t *o, char *err);

/* th_output_error: ERR_IO, err saying that the file of option opt at path
 * failed with errno e ("--confusion out/c.csv: No such file or
 * directory"), as fsutil_path_error words it.  th_output_check, before
 * training: 0 when that file can be made at path (fsutil_dest_writable),
 * else th_output_error's. */
int th_output_error(const char *opt, const char *path, int e, char *err);
int th_output_check(const char *opt, const char *path, char *err);

/* th_output_open opens w for the file of option opt (--history,
 * --confusion) at path, as fsutil_whole_open does; a FIFO that no process
 * reads yet is said, --quiet or not, before the wait for its reader.  0,
 * or -1 with errno set. */
int th_output_open(fsutil_whole_t *w, const char *opt, const char *path);

#endif
