/* verify.h - verify's steps, in the order train/verify.c's main takes
 * them.  Two images:
 *
 *   answer.c    the verdict printed: a line of text, or DeepFace's keys in
 *               JSON.
 *
 * --calibrate, on the store's own records:
 *
 *   records.c   the records read once into memory: the ones extract tagged
 *               valid, or all when none is;
 *   pairs.c     pairs of records: every genuine pair (two records of one
 *               person), a seeded sample of impostor pairs (two people),
 *               and their distances (recog.h's, in double);
 *   roc.c       what the distances say: ROC AUC, the equal error rate, the
 *               threshold for a false-accept rate and its true-accept rate;
 *   folds.c     LFW's protocol: ten folds of people, pairs drawn per fold,
 *               each fold judged at the threshold the other nine choose.
 *
 * Letters: N records, D the vector's length, G genuine pairs, I impostor
 * pairs.  Functions return 0 or a negative ERR_* code with the reason in
 * err (error.h); what they print is the answer, never an error. */
#ifndef TRAIN_VERIFY_H
#define TRAIN_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "base/rng.h"
#include "base/workers.h"
#include "store/featdb.h"

#define PROG "verify"

/* The command line (verify.c parses it). */
typedef struct vf_opts {
	const char *a, *b;          /* the two images */
	const char *db, *weights;
	int model;                  /* net/model.h's; MODEL_AUTO: the file's */
	/* --layer and --pooling (NULL: not given), the tap they ask for and
	 * the model whose layer name --layer is (cli_tap) */
	const char *layer, *pooling;
	int tap, tap_model;
	int conv;                   /* --conv: net/vgg.h's VGG_CONV_*; -1:
				     * the store's (winograd without one) */
	int metric;                 /* recog.h's */
	double threshold;           /* < 0: the store's */
	int json, calibrate, quiet;
	double far;                 /* --calibrate's false-accept rate */
	int records;                /* --records: VF_RECORDS_* */
	long impostors, seed, threads;
} vf_opts_t;

/* ---- answer.c: two images' verdict -------------------------------------- */

/* What verify answers about two images. */
typedef struct vf_answer {
	const char *a, *b;
	double distance, threshold;
	int same;                  /* distance <= threshold */
	const char *model;         /* DeepFace's "model": the model's title */
	const char *metric;
	double seconds;
} vf_answer_t;

/* vf_answer_print writes the answer on the standard output: one line,
 *   A<TAB>B<TAB>distance<TAB>threshold<TAB>same|different
 * (the paths escaped as cli_put_tsv does, the numbers to 6 decimals), or,
 * json, one object with DeepFace.verify's keys, as json.dumps writes
 * DeepFace's dictionary: verified, distance (rounded to 6 decimals, as
 * DeepFace rounds it), threshold, model, detector_backend ("skip": no
 * face is detected, the image is the face), similarity_metric, time (to
 * 2 decimals).  Returns 0, or jsonw_finish's errors (a name that is not
 * UTF-8). */
int vf_answer_print(const vf_answer_t *ans, int json, char *err);

/* ---- records.c: the records calibrated on ------------------------------- */

/* Which records a calibration takes: those tagged valid when there are
 * any, else all (auto); only those tagged valid; all. */
enum { VF_RECORDS_AUTO = 0, VF_RECORDS_VALID, VF_RECORDS_ALL };

/* The records of the store, in key order, as vf_records_load chose them. */
typedef struct vf_records {
	featdb_meta_t meta;
	int D;
	float *x;          /* (N, D) */
	double *norm;      /* (N) recog_norm of each */
	int32_t *cls;      /* (N) */
	size_t n, cap;
	size_t nvalid;     /* of them, tagged valid */
	size_t bad;        /* damaged records passed over */
	int valid_only;    /* 1: only the valid ones were kept */
	int npeople;       /* classes with at least one record kept */
} vf_records_t;

/* vf_records_load reads the store db (one snapshot) into r, the records
 * which says (VF_RECORDS_*).  ERR_MISSING (an empty store, none tagged
 * valid when only those were asked for, or fewer than two people with
 * records), ERR_NOMEM, or featdb's errors; r is the caller's to free
 * either way. */
int vf_records_load(featdb_t *db, const char *path, int which, vf_records_t *r,
		    char *err);

/* vf_records_free releases r and zeroes it. */
void vf_records_free(vf_records_t *r);

/* ---- pairs.c: pairs and their distances --------------------------------- */

/* Pairs of records (indices into vf_records_t, i < j) and their
 * distances. */
typedef struct vf_pairs {
	uint32_t (*ij)[2];  /* (n) */
	double *dist;       /* (n) */
	size_t n;
	uint64_t total;     /* how many such pairs there are */
} vf_pairs_t;

/* vf_pairs_genuine: every pair of two records of one person among the
 * records listed in idx (n of them; NULL: all of r's), in order.
 * vf_pairs_impostor: at most want pairs of two people's records among
 * them: all when there are no more than want, else a seeded sample drawn
 * uniformly without replacement, sorted.  vf_pairs_genuine_sample: the
 * same for genuine pairs.  ERR_NOMEM. */
int vf_pairs_genuine(const vf_records_t *r, const uint32_t *idx, size_t n,
		     vf_pairs_t *p, char *err);
int vf_pairs_genuine_sample(const vf_records_t *r, const uint32_t *idx,
			    size_t n, uint64_t want, rng_t *rng, vf_pairs_t *p,
			    char *err);
int vf_pairs_impostor(const vf_records_t *r, const uint32_t *idx, size_t n,
		      uint64_t want, rng_t *rng, vf_pairs_t *p, char *err);

/* vf_pairs_measure fills p->dist with metric's distances, on the workers
 * (NULL: this thread). */
void vf_pairs_measure(const vf_records_t *r, int metric, workers_t *pool,
		      vf_pairs_t *p);

/* vf_pairs_free releases p and zeroes it. */
void vf_pairs_free(vf_pairs_t *p);

/* ---- roc.c: what the distances say -------------------------------------- */

/* A pair is called genuine when its distance is <= the threshold. */
typedef struct vf_roc {
	double auc;          /* P(impostor's distance > genuine's), ties half */
	double eer;          /* where the false-accept and false-reject rates
			      * meet: their mean at the threshold where they
			      * are closest */
	double eer_threshold;
	double far_asked;
	double threshold;    /* the largest whose false-accept rate is
			      * <= far_asked, halfway to the next distance */
	double far, tar;     /* at threshold */
	uint64_t false_accepts, true_accepts;
} vf_roc_t;

/* vf_threshold_between: a threshold in [lo, hi) (lo < hi, distances
 * around a cut): their midpoint rounded to 6 decimals, as distances are
 * printed, when that stays in [lo, hi), else the midpoint. */
double vf_threshold_between(double lo, double hi);

/* vf_roc_compute: the ROC figures of genuine distances gen (ng) and
 * impostor ones imp (ni), both sorted ascending here (in place), at the
 * false-accept rate far.  ng, ni >= 1. */
void vf_roc_compute(double *gen, size_t ng, double *imp, size_t ni, double far,
		    vf_roc_t *roc);

/* vf_best_cut: the threshold that classifies the most of gen (ng) and
 * imp (ni), both sorted ascending, right (the first such, halfway to the
 * next distance), and how many it classifies right. */
double vf_best_cut(const double *gen, size_t ng, const double *imp, size_t ni,
		   size_t *right);

/* ---- folds.c: LFW's 10-fold accuracy ------------------------------------ */

#define VF_FOLDS 10
#define VF_FOLD_PAIRS 300 /* genuine pairs, and impostor pairs, per fold */

typedef struct vf_folds {
	int ran;                 /* 0: too few people (why says so) */
	char why[128];
	int people[VF_FOLDS];    /* people per fold */
	size_t pairs[VF_FOLDS];  /* genuine pairs per fold (as many impostor) */
	double acc[VF_FOLDS];    /* each fold's accuracy */
	double threshold[VF_FOLDS];
	double mean, std;        /* over the folds (std: population's) */
} vf_folds_t;

/* vf_folds_run: LFW's View 2 protocol on r: the people with two records
 * or more shuffled by the seed into VF_FOLDS folds (needs 2 per fold);
 * in each fold, n = min(VF_FOLD_PAIRS, its genuine pairs, its impostor
 * pairs) of each, drawn within the fold's people; each fold's accuracy at
 * the threshold that is best on the other nine (vf_best_cut).  ERR_NOMEM. */
int vf_folds_run(const vf_records_t *r, int metric, uint64_t seed,
		 workers_t *pool, vf_folds_t *f, char *err);

#endif
