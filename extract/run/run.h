/* run.h - extract's pipeline, in the three stages extract.c's main runs:
 *
 *   plan.c  what to do: the folder scanned, the weights loaded and
 *           checked against the store's metadata, the store opened and
 *           locked, the class lists merged, the to-do list (rank 0), shared
 *           with the other ranks under MPI, and this rank's block of it;
 *   ring.c  the decode ring: decoder threads load and preprocess the
 *           block's images, in order, into a ring of RING batches that the
 *           network takes one batch at a time;
 *   sink.c  where the vectors go: rank 0 commits each batch in one
 *           transaction, its own and the other ranks' (dist/dist.h), notes
 *           the images skipped and shows the progress.
 *
 * Functions return 0 or a negative ERR_* code with the reason in err
 * (error.h); what they print is progress and notes, never an error. */
#ifndef EXTRACT_RUN_H
#define EXTRACT_RUN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "dataset/dataset.h"
#include "../dist/dist.h"
#include "error.h"
#include "net/model.h"
#include "net/vgg.h"
#include "store/featdb.h"
#include "net/weights.h"

#define PROG "extract"

/* The command line (extract.c parses it), and this CPU's tuning. */
typedef struct run_opts {
	const char *in, *db, *weights;
	long batch, limit;   /* batch 0: the tuning's gather */
	long threads;        /* compute threads; 0: one per CPU (vgg.h) */
	long decode_threads; /* image decoding threads (the ring's) */
	int dtype, strict, quiet, conv, follow;
	int model;      /* weights.h's; MODEL_AUTO: the file's */
	/* The tap (--layer, --pooling: net/model.h's MODEL_TAP_*), and the
	 * model whose layer name --layer gave (MODEL_AUTO without --layer). */
	const char *layer;
	int tap, tap_model;
	double tune;    /* --tune's seconds; 0: not asked */
	vgg_tune_t vtune; /* net/tune.h's choices, or the defaults */
	int tuned;      /* vtune was read from tune_path */
	char tune_path[4096];
} run_opts_t;

/* ---- sink.c: skips, progress, commits ------------------------------------- */

/* The images skipped, in the order they were met, for the summary. */
typedef struct sink_skipped {
	char **lines;
	size_t n, cap;
} sink_skipped_t;

/* sink_skip notes an image that cannot be stored, for reason why.  With
 * strict, that is the run's error: code, "--strict: why", and nothing
 * printed here.  Else the image is skipped: printed now unless quiet (a
 * quiet run lists them at the end), kept in s, and 0 returned. */
int sink_skip(sink_skipped_t *s, const char *why, int quiet, int strict,
	      int code, char *err);

typedef struct sink {
	sink_skipped_t skipped; /* filled from the plan on */
	featdb_t *db;           /* rank 0's store (the plan's) */
	featdb_meta_t *meta;
	const int *cmap;        /* the folder's class index -> meta's */
	int dtype, strict, quiet, batch;
	int dim;                /* the tap's */
	size_t recsize;
	float *feats;           /* (batch, dim) the network's output */
	uint8_t *recs;          /* (batch, recsize) */
	const char **keys;      /* (batch) */
	const uint8_t **vals;   /* (batch) */
	size_t *lens;           /* (batch) */
	dataset_item_t **items; /* (batch) */
	dataset_item_t **all;   /* the whole to-do list, which batches index */
	size_t nall;
	const unsigned char *damaged; /* (nall) the plan's, NULL off rank 0 */
	size_t left;            /* images other ranks have still to send */
	size_t done, extracted;
	size_t replaced;        /* of extracted, over damaged records */
	size_t replaced_removed; /* of replaced, over those the plan removed */
	int pr_quiet, pr_redraw; /* the progress line */
	double pr_t0, pr_last;
} sink_t;

struct plan;

/* sink_init sets s up for the plan p (its skipped list is kept). */
int sink_init(sink_t *s, const run_opts_t *o, struct plan *p, char *err);

/* sink_skips (rank 0) notes the images of b that were skipped: with
 * --strict, ERR_FORMAT at the first. */
int sink_skips(sink_t *s, const dist_batch_t *b, char *err);

/* sink_write (rank 0) commits the images of b that were extracted, their
 * vectors b->feats, in one transaction. */
int sink_write(sink_t *s, const dist_batch_t *b, char *err);

/* sink_take_remote (rank 0 under MPI) commits the batches other ranks sent:
 * those already arrived, or, when wait is set, the next one, waiting for
 * it. */
int sink_take_remote(sink_t *s, int wait, char *err);

/* sink_progress_start starts the progress line's clock (nothing is shown
 * when quiet); sink_progress shows done images of s->nall, final at the
 * end. */
void sink_progress_start(sink_t *s, int quiet);
void sink_progress(sink_t *s, size_t done, int final);

void sink_free(sink_t *s);

/* ---- plan.c: the folder, the weights, the store, the to-do list ---------- */

typedef struct plan {
	dataset_t ds;           /* the folder (rank 0) or the to-do list's images */
	char wpath[4096];       /* the weights file */
	weights_t w;
	featdb_t *db;           /* rank 0 */
	int lockfd;             /* DB/extract.lock, -1 when not held */
	featdb_meta_t old, meta; /* the store's metadata, the one to write */
	int have_old;
	int *cmap;              /* the folder's class index -> meta's */
	size_t total, present;  /* images taken (--limit), those already stored */
	dataset_item_t **all;   /* the whole to-do list (every rank) */
	size_t nall;
	/* (nall, rank 0) 1 where all[i]'s stored record is damaged: extracted
	 * again, the record replaced; ndamaged of them.  2 where the commit
	 * that renumbered the classes (plan_todo) removed it, nremoved of
	 * them. */
	unsigned char *damaged;
	size_t ndamaged, nremoved;
	dataset_item_t **todo;  /* this rank's block: all[first, first + n) */
	size_t first, n;
} plan_t;

void plan_init(plan_t *p);

/* plan_scan (rank 0) scans the folder as Keras does, noting its problems
 * as skipped images; ERR_MISSING when it holds no image. */
int plan_scan(const run_opts_t *o, plan_t *p, sink_skipped_t *sk, char *err);

/* plan_store (rank 0, p->wpath set) loads the weights, checks that they
 * give the tap and that every rank's are the same, opens and locks the
 * store, checks its metadata against the weights and options, the tap
 * included (ERR_MISMATCH), and makes the metadata to write: the union of
 * the store's and the folder's people. */
int plan_store(const run_opts_t *o, plan_t *p, char *err);

/* plan_todo (rank 0) lists the images not yet stored, and those whose
 * stored record is damaged (featdb_rec_check: what featdb verify reports),
 * which are extracted again; gives a new store its metadata, renumbers the
 * stored classes when people join (before any image is extracted: a
 * record that stops it stops the run here), and sends the list to the
 * other ranks. */
int plan_todo(const run_opts_t *o, plan_t *p, sink_skipped_t *sk, char *err);

/* plan_worker (a rank other than 0, p->wpath set) loads the weights,
 * checks them with every rank's, and takes the to-do list from rank 0:
 * the images FACES_DIR/key. */
int plan_worker(const run_opts_t *o, plan_t *p, char *err);

/* plan_block takes this rank's block of the to-do list (dist_block). */
int plan_block(plan_t *p, char *err);

void plan_free(plan_t *p);

/* ---- ring.c: the decoders ------------------------------------------------- */

typedef struct ring {
	dataset_item_t **todo; /* the images, in order */
	size_t n;
	int batch;
	const float *mean_bgr; /* the model's (weights_model_info) */
	float *slots;          /* (RING * batch, 224, 224, 3) */
	int *state;            /* per slot */
	char (*why)[ERR_LEN];  /* per slot: "" when decoded, else the reason */
	size_t next;           /* next image a decoder takes */
	size_t done_upto;      /* images before this are consumed by the network */
	int stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t *threads;    /* (want) */
	int want, nthreads;    /* decoders wanted, started */
	int ready;             /* mu and cv exist */
} ring_t;

/* One batch of the ring, decoded: n images from index b0 of the list, the
 * good ones packed at the start of x ((good, 224, 224, 3)); why (n) as
 * dist_batch_t's. */
typedef struct ring_batch {
	size_t b0;
	int n, good;
	float *x;
	char (*why)[ERR_LEN];
} ring_batch_t;

/* ring_init makes a ring for the n images todo, in batches of batch, for
 * threads decoders; ring_start starts them (none when there is nothing to
 * decode). */
int ring_init(ring_t *r, dataset_item_t **todo, size_t n, int batch,
	      const float *mean_bgr, int threads, char *err);
int ring_start(ring_t *r, char *err);

/* ring_wait waits for the batch that starts at image b0 and packs its good
 * images; ring_release gives its slots back to the decoders. */
void ring_wait(ring_t *r, size_t b0, ring_batch_t *b);
void ring_release(ring_t *r, const ring_batch_t *b);

/* ring_stop stops the decoders and waits for them; ring_free frees r. */
void ring_stop(ring_t *r);
void ring_free(ring_t *r);

#endif
