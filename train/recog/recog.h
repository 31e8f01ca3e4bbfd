/* recog.h - what verify and nearest share: the distances, with DeepFace's
 * definitions, and the store, the weights and the threshold checked
 * together.
 *
 *   metric.c  the three metrics, in double: the one definition of a
 *             distance that verify prints, calibrate ranks and nearest
 *             returns;
 *   store.c   the store opened and its metadata checked against the
 *             weights that make the queries' vectors; the threshold a
 *             verdict is judged by.
 *
 * Letters: D the vector's length.  Functions return 0 or a negative ERR_*
 * code with the reason in err (error.h); none prints. */
#ifndef TRAIN_RECOG_H
#define TRAIN_RECOG_H

#include <stddef.h>

#include "net/weights.h"
#include "store/featdb.h"

/* ---- metric.c ------------------------------------------------------------ */

/* The metrics, as DeepFace 0.0.9x defines them (deepface/modules/
 * verification.py, find_distance), for vectors a and b:
 *   cosine        1 - a.b / (|a| |b|)
 *   euclidean     |a - b|
 *   euclidean_l2  |a / (|a| + 1e-10) - b / (|b| + 1e-10)|  (its
 *                 l2_normalize, epsilon included)
 * each summed in double over float32 inputs.  One case DeepFace leaves
 * undefined is defined here: a vector of zeros (no ReLU fired) has no
 * direction, so its cosine distance to anything is 1, as DeepFace's
 * batch form (1 - the dot product of l2_normalize'd rows) gives; its
 * euclidean_l2 form is itself, zero, as DeepFace's is.  The same vector
 * twice gives 0 under every metric: the cosine distance is clamped to
 * [0, 2] (not -2e-16) and is 0 when the norms are equal and the dot
 * product's root is that norm (not the 2.2e-16 DeepFace's formula gives
 * a vector and itself about one time in four). */
enum recog_metric { RECOG_COSINE = 0, RECOG_EUCLIDEAN, RECOG_EUCLIDEAN_L2 };
#define RECOG_NMETRICS 3
#define RECOG_L2_EPS 1e-10

/* recog_metric_parse: the metric named s ("cosine", "euclidean",
 * "euclidean_l2"), or -1 (s may be NULL).  recog_metric_name: the name
 * (static text). */
int recog_metric_parse(const char *s);
const char *recog_metric_name(int metric);

/* recog_norm: |a|, summed in double.  a (D). */
double recog_norm(const float *a, int D);

/* recog_distance_n: metric's distance between a (D) and b (D) whose norms
 * (recog_norm) are na and nb. */
double recog_distance_n(int metric, const float *a, double na, const float *b,
			double nb, int D);

/* recog_distance: the same, the norms computed. */
double recog_distance(int metric, const float *a, const float *b, int D);

/* ---- store.c ------------------------------------------------------------- */

/* recog_store_open opens the store at path read-only into *db with its
 * metadata *meta (the caller's to featdb_close and featdb_meta_free; on
 * failure *db is NULL and *meta empty), and says which model's vectors it
 * holds (*model).  Returns 0, ERR_MISSING (no store there, or an empty
 * one: "run extract first"), ERR_MISMATCH (a model this program does not
 * make) or featdb's errors. */
int recog_store_open(const char *path, featdb_t **db, featdb_meta_t *meta,
		     int *model, char *err);

/* recog_store_tap: the tap the store's vectors were taken at (net/model.h;
 * its "model" says it), where the network must stop for a query; fc2's
 * when meta is NULL (no store). */
int recog_store_tap(const featdb_meta_t *meta);

/* recog_store_conv: the path the queries' 3x3 convolutions are computed
 * on (net/vgg.h's VGG_CONV_*), so that an image's vector is, bit for bit,
 * the one extract stored for it: given (--conv) when it is not negative,
 * else the store's (meta's "conv", at path), winograd when meta is NULL
 * (no store).  Returns 0 and *conv, or ERR_MISMATCH when the store
 * records a path this program does not compute. */
int recog_store_conv(const char *path, const featdb_meta_t *meta, int given,
		     int *conv, char *err);

/* recog_check_weights: the weights w (read from wpath) make the vectors
 * of the store at path (metadata meta, model's, at its tap): the same
 * model, weights that give the tap (not fc2 from a _notop file), the same
 * fingerprint over the layers the tap needs, the same preprocessing, and
 * dim, the network's vector length, is the store's.  Returns 0,
 * ERR_MISMATCH naming both sides, ERR_MISSING (the tap) or ERR_SHAPE. */
int recog_check_weights(const char *path, const featdb_meta_t *meta, int model,
			const weights_t *w, const char *wpath, int dim,
			char *err);

/* The threshold a verdict is judged by, and where it came from. */
typedef struct recog_threshold {
	double value;
	int given;       /* 1: --threshold; 0: the store's calibration */
	int stale;       /* the store has grown since its calibration */
	uint64_t count;  /* the records it was calibrated at */
	char from[160];  /* for messages: "--threshold", "calibrated on ..." */
} recog_threshold_t;

/* recog_threshold_pick: the threshold for metric: given when it is not
 * negative (--threshold), else meta's calibrated one (meta may be NULL:
 * no store).  Returns 0, or ERR_MISSING when there is neither (err says
 * how to get one). */
int recog_threshold_pick(double given, const featdb_meta_t *meta,
			 const char *path, int metric, recog_threshold_t *t,
			 char *err);

#endif
