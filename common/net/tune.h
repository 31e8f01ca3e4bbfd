/* tune.h - the tuner: on the CPU at hand, measures the network's choices
 * that change no bit of any output (vgg.h's vgg_tune_t: how each Winograd
 * layer shares its work among the threads, its block of tiles, its input
 * transform's prefetch; the batch fc1 and fc2 are run on), and keeps them
 * in a file per CPU, which later runs read.  As FFTW and ATLAS do: the
 * project's users' CPUs differ more than its developers' do.
 *
 * The file: $XDG_CACHE_HOME/vggfeat/tune-<key hash>.txt (~/.cache when
 * XDG_CACHE_HOME is unset), text, defined in docs/format.md:
 *
 *   vggfeat-tune 1
 *   key <the CPU's name, family, model, stepping, L2, the ISA, threads, version>
 *   seconds <how long the measurement took>
 *   gather <images per batch>
 *   layer <name> shared <0|1> tiles <n> prefetch <0|1>    (one per Winograd layer)
 *
 * Any other line, a missing layer or a value out of range makes the file
 * unreadable (ERR_FORMAT); a file of another key is not this CPU's
 * (ERR_MISSING). */
#ifndef COMMON_NET_TUNE_H
#define COMMON_NET_TUNE_H

#include <stddef.h>

#include "net/vgg.h"

#define TUNE_MAGIC "vggfeat-tune 1"
/* The default bound on a measurement, in seconds. */
#define TUNE_SECONDS 45
/* Candidates per Winograd layer, at most. */
#define TUNE_MAX_CANDIDATES 16

/* tune_key writes the line naming this CPU (/proc/cpuinfo's model name,
 * family, model and stepping, its L2), the ISA, the compute threads and
 * this version into key (len bytes). */
void tune_key(int isa, int threads, char *key, size_t len);

/* tune_path writes the cache file's path for key into path (len bytes).
 * Returns 0, or ERR_MISSING when neither XDG_CACHE_HOME nor HOME is set,
 * or ERR_ARG when the path does not fit. */
int tune_path(const char *key, char *path, size_t len, char *err);

/* tune_load reads the choices of path into t when its key is key.
 * Returns 0, ERR_MISSING (no file, or another CPU's), ERR_IO or
 * ERR_FORMAT; t is untouched unless 0. */
int tune_load(const char *path, const char *key, vgg_tune_t *t, char *err);

/* tune_save writes t (measured in seconds) under key to path, making its
 * folder, through a temporary file renamed over it.  Returns 0 or
 * ERR_IO. */
int tune_save(const char *path, const char *key, const vgg_tune_t *t,
	      double seconds, char *err);

/* tune_candidates fills c (TUNE_MAX_CANDIDATES) with the choices the tuner
 * tries for layer l, its default first.  Returns how many. */
int tune_candidates(const wino_layer_t *l, wino_choice_t *c);

/* tune_measure measures, for at most about `seconds`, each Winograd layer
 * of VGG16 on random data of its shapes with each candidate, in rounds that
 * interleave them, and the per-image time of fc1 and fc2 for batches of 8,
 * 16 and 32, on isa (isa.h, one the CPU runs) and `threads` compute
 * threads (0: one per CPU); it fills t with the fastest (the median of the
 * rounds).  A layer (or fc) whose TUNE_MIN_ROUNDS rounds, judged by one
 * run, would not end within its share of the time keeps the default,
 * unmeasured, so that the bound holds on a slow CPU too, past it by at
 * most that one run;
 * *measured says how many of the TUNE_ITEMS (the Winograd layers, then fc1
 * and fc2 as one) were measured.  Uses about 700 MB at its peak.  Returns
 * 0, ERR_ARG or ERR_NOMEM. */
int tune_measure(int isa, int threads, double seconds, vgg_tune_t *t,
		 int *measured, char *err);

/* What tune_measure measures: the Winograd layers (all but conv1_1), and
 * fc1 and fc2 together; and the rounds an item needs to be measured. */
#define TUNE_ITEMS WEIGHTS_NCONV
#define TUNE_MIN_ROUNDS 3

/* tune_describe writes t as lines of text (one per layer, then the
 * batch) into buf (len bytes). */
void tune_describe(const vgg_tune_t *t, char *buf, size_t len);

#endif
