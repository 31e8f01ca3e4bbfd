/* csvlog.h - a training history in the file Keras' CSVLogger writes, so
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
#ifndef COMMON_CSVLOG_H
#define COMMON_CSVLOG_H

#include <stdio.h>

typedef struct csvlog {
	FILE *f;
	int epochs; /* rows written */
} csvlog_t;

/* One epoch's numbers; has_val 0 writes NA for the val_ columns. */
typedef struct csvlog_row {
	double loss, accuracy;
	int has_val;
	double val_loss, val_accuracy;
} csvlog_row_t;

/* csvlog_open creates (truncates) path and writes the header.  Returns 0
 * or ERR_IO (the reason names the file). */
int csvlog_open(csvlog_t *c, const char *path, char *err);

/* csvlog_epoch writes the next epoch's row and flushes it, so that a
 * reader sees each epoch as it ends.  Returns 0 or ERR_IO. */
int csvlog_epoch(csvlog_t *c, const csvlog_row_t *r, const char *path,
		 char *err);

/* csvlog_close closes the file: 0, or ERR_IO when a write failed.
 * Accepts a csvlog that was never opened. */
int csvlog_close(csvlog_t *c, const char *path, char *err);

/* csvlog_float writes Python's repr of v (the shortest text that reads
 * back as v: "0.1", "1.0", "1e-05", "2.4201014041900635") into buf. */
void csvlog_float(double v, char buf[32]);

/* csvlog_run_path: the history file of run `run` (1, 2, ...) of a sweep:
 * path with ".run<run>" before its extension ("h.csv" -> "h.run2.csv";
 * "h" -> "h.run2").  Returns 0, or ERR_ARG when it does not fit len. */
int csvlog_run_path(const char *path, int run, char *buf, size_t len,
		    char *err);

#endif
