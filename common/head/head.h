/* head.h - the head the Keras user put on top of VGG16's fc2: Dense
 * layers, Dense(K, activation='softmax') last and optionally Dense(H,
 * activation='relu') layers before it, compiled with Adam and
 * categorical_crossentropy, with tf.keras' semantics, and its HDF5 file.
 *
 * Dimension letters used throughout: N samples (a batch or a set), D
 * features (the tap's: 4096 for fc2, 512 for block5_pool pooled;
 * net/model.h), K classes, H a hidden layer's units; a layer maps Fi
 * inputs to Fo outputs (its fan-in and fan-out).  A kernel is (Fi, Fo)
 * row-major, as Keras stores it; a layer's output is x @ kernel + bias,
 * then ReLU for a hidden layer, and the last layer's are the logits of
 * the softmax.
 *
 * Threads: the trainer parallelises itself over base/workers.h, each
 * thread calling single-threaded sgemm (the workers set OpenBLAS to one
 * thread). */
#ifndef COMMON_HEAD_HEAD_H
#define COMMON_HEAD_HEAD_H

#include <stddef.h>
#include <stdint.h>

/* The first layer's name in the Keras file (the others are dense_2, ...),
 * as the user's model called it. */
#define HEAD_LAYER "dense_1"
/* The head file's own format tag (root attribute "vggfeat_format"): "1"
 * for a single Dense layer, the file every version reads; "2" for Dense
 * layers with ReLU between them. */
#define HEAD_FORMAT_1 "vggfeat-head 1"
#define HEAD_FORMAT "vggfeat-head 2"
/* The Keras version whose save_weights layout the file follows. */
#define HEAD_KERAS_VERSION "2.11.0"
/* Dense layers at most: hidden ones, then the softmax's. */
#define HEAD_MAX_LAYERS 4

/* ---- the layers and the loss: head.c ------------------------------------ */

/* One Dense layer, its parameters inside its head's params. */
typedef struct head_layer {
	int in, out;   /* Fi, Fo */
	float *kernel; /* (Fi, Fo) */
	float *bias;   /* (Fo) */
} head_layer_t;

/* A head: layer[0] reads the D features, each next layer the ReLU of the
 * one before, and layer[nlayers - 1] gives the K logits. */
typedef struct head {
	int D, K;
	int nlayers;                         /* 1..HEAD_MAX_LAYERS */
	head_layer_t layer[HEAD_MAX_LAYERS];
	/* One allocation: layer 0's kernel and bias, then layer 1's, ..., so
	 * that Adam sees the parameters as one vector. */
	float *params;                       /* (nparams) */
	size_t nparams;
} head_t;

/* head_create allocates a head of nhidden hidden layers (0 for the single
 * softmax layer; widths hidden[0..nhidden)) from D features to K classes,
 * initialised as Keras does: each kernel glorot_uniform, U(-limit, limit)
 * with limit = sqrt(6 / (Fi + Fo)), drawn from a PRNG seeded with seed
 * (identical on every machine; layer 0's draws are those of a head
 * without hidden layers); biases zeros.  Returns 0, ERR_ARG (a width < 1,
 * or more than HEAD_MAX_LAYERS - 1 hidden layers), ERR_TOO_BIG or
 * ERR_NOMEM. */
int head_create(int D, int nhidden, const int *hidden, int K, uint64_t seed,
		head_t *h, char *err);

/* head_free releases h's memory and zeroes it; accepts NULL. */
void head_free(head_t *h);

/* head_same_shape: 1 when a and b have the same layers. */
int head_same_shape(const head_t *a, const head_t *b);

/* head_copy copies src's parameters into dst (head_same_shape). */
void head_copy(head_t *dst, const head_t *src);

/* head_work_floats: the floats of work head_forward needs for N rows (at
 * least 1). */
size_t head_work_floats(const head_t *h, int N);

/* x (N, D), logits (N, K), work (head_work_floats(h, N)): the logits of
 * every row, layer by layer (one sgemm each, ReLU between). */
void head_forward(const head_t *h, const float *x, int N, float *logits,
		  float *work);

/* How the loss weighs and smooths each sample, as tf.keras' fit(...,
 * class_weight=) and CategoricalCrossentropy(label_smoothing=): the
 * target of a sample of class y is (1 - smoothing) * onehot(y) +
 * smoothing / K (in float32, as Keras makes it), and its loss counts
 * class_weight[y] times. */
typedef struct head_loss {
	double smoothing;          /* 0..1 */
	const float *class_weight; /* (K), or NULL: 1 for every class */
} head_loss_t;

/* head_xent: softmax cross-entropy from logits (N, K) against labels
 * y (N) in 0..K-1, through log-sum-exp (no overflow for any finite logit),
 * each sample's weighed and its target smoothed by lo (NULL: plain).
 * Adds the summed (weighted) loss to *loss_sum and the number of rows whose
 * first largest logit is the label to *correct (unweighted, as Keras'
 * accuracy).  When dlogits (N, K) is non-NULL it receives
 * scale * weight * (softmax - target), the gradient of scale * loss. */
void head_xent(const float *logits, const int32_t *y, int N, int K,
	       const head_loss_t *lo, float scale, float *dlogits,
	       double *loss_sum, long *correct);

/* head_probabilities: the head's probabilities p (N, K) for the vectors
 * x (N, D), in double: each layer's sums in index order (no product
 * kernel: a row's numbers are the same on every machine, whatever the
 * other rows), ReLU between the layers, then the softmax through the
 * largest logit (no overflow for any finite logit).  So p is head.h5's
 * model on x to double precision, not float32's rounding of it: what
 * predict prints and train-head's suggested --min-prob is measured on.
 * The rows go HEAD_PROB_ROWS at a time through each kernel.
 *   work  head_probabilities_doubles(h) doubles, whatever N */
#define HEAD_PROB_ROWS 16
void head_probabilities(const head_t *h, const float *x, int N, double *work, double *p);
size_t head_probabilities_doubles(const head_t *h);

/* head_rank puts into order (K) the indices 0..K-1 with the k largest of p
 * (K) first, largest first, ties lower index first (as argmax): predict's
 * ranks 1..k, and the rank 1 that train-head's suggested --min-prob is
 * measured on.  The rest of order is left in no particular order. */
void head_rank(const double *p, int K, int k, int *order);

/* head_gradient_floats: the floats of work head_gradient needs for N rows. */
size_t head_gradient_floats(const head_t *h, int N);

/* head_gradient: the loss of the batch x (N, D), y (N) -- the mean
 * cross-entropy (lo as head_xent's) plus l2 * the sum of every kernel's
 * squares, Keras' kernel_regularizer on each Dense layer -- into *loss,
 * and its gradient with respect to every parameter into g (nparams, the
 * layout of head_t's params).  work (head_gradient_floats) is scratch.
 * The plain path, layer by layer, without dropout: the trainer computes
 * the same gradient fused with Adam. */
void head_gradient(const head_t *h, const float *x, const int32_t *y, int N,
		   const head_loss_t *lo, double l2, float *work, float *g,
		   double *loss);

/* ---- Adam, as tf.keras: adam.c ------------------------------------- */

/* For update t = 1, 2, ...:
 *   alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
 *   m += (g - m) * (1 - beta1);  v += (g*g - v) * (1 - beta2)
 *   w -= alpha * m / (sqrt(v) + epsilon)
 * in float32, as Keras' variables are.  The hyperparameters are kept as
 * float32 too, as Keras keeps them (0.999 becomes 0.99900001287, which
 * moves alpha in its sixth digit); alpha is computed from them in double
 * and rounded once. */
typedef struct adam {
	float lr, beta1, beta2, epsilon;
	long t; /* updates started */
	size_t n;
	float *m, *v; /* (n) */
	int isa;      /* the update's instructions (isa.h): the same bits on each */
} adam_t;

/* adam_init: state for n parameters, zero moments, the update on
 * isa_best()'s instructions (a caller may set isa to another the CPU has).
 * Returns 0, ERR_ARG (a hyperparameter out of range) or ERR_NOMEM. */
int adam_init(adam_t *a, size_t n, double lr, double beta1, double beta2,
	      double epsilon, char *err);

/* adam_free releases the moments; accepts NULL. */
void adam_free(adam_t *a);

/* adam_next starts the next update (t += 1) and returns its alpha. */
float adam_next(adam_t *a);

/* adam_apply updates the n parameters w with gradient g (n) and the
 * moments at off (off + n <= a->n), for the update whose alpha adam_next
 * gave.
 * When l2 is non-zero, 2 * l2 * w is added to the gradient first (Keras'
 * L2 regulariser on these parameters).  Returns the sum of the squares of
 * w before the update when l2 is non-zero (for the reported loss), else 0.
 * One pass over memory, vectorised on a->isa, with results equal to
 * adam_apply_ref's up to float rounding and the same bits on every ISA.
 * (The trainer's first layer runs the same update fused with its
 * gradient: head_impl.h's adam_step_panels.) */
double adam_apply(adam_t *a, float alpha, size_t off, size_t n, float *w,
		  const float *g, float l2);

/* adam_apply_ref: the same, plain scalar code in double, rounded to float
 * when stored: the reference the fast path is tested against. */
double adam_apply_ref(adam_t *a, float alpha, size_t off, size_t n, float *w,
		      const float *g, float l2);

/* ---- training: head_train.c --------------------------------------------- */

typedef struct head_hparams {
	double lr, beta1, beta2, epsilon;
	double l2; /* L2 factor on every kernel (0: none) */
	int batch;
	/* Keras' Dropout(rate) on the features and after each hidden layer
	 * while training (inverted: kept values are scaled by 1 / (1 - rate)),
	 * its masks drawn from the seed's own stream; 0: none. */
	double dropout;
	/* CosineDecay(lr, cosine_steps) as the learning rate (alpha 0): lr *
	 * 0.5 * (1 + cos(pi * min(step, cosine_steps) / cosine_steps)) at step
	 * 0, 1, ...; 0: the constant lr. */
	long cosine_steps;
	head_loss_t loss; /* its class_weight is copied by the trainer */
} head_hparams_t;

/* Keras' defaults for the user's model: Adam(learning_rate=1e-4), batch 32. */
#define HEAD_HPARAMS_DEFAULT {1e-4, 0.9, 0.999, 1e-7, 0.0, 32, 0.0, 0, {0.0, NULL}}

/* A set of samples: sample j is row idx[j] of x (ld floats apart) with
 * label y[idx[j]].  idx NULL means rows 0..n-1.  The rows stay where the
 * caller keeps them; the trainer gathers each batch. */
typedef struct head_set {
	const float *x;
	size_t ld;
	const int32_t *y;
	const size_t *idx;
	size_t n;
} head_set_t;

typedef struct head_metrics {
	double loss;     /* sample-weighted mean, regulariser included */
	double accuracy; /* fraction of samples whose argmax is the label */
} head_metrics_t;

typedef struct head_trainer head_trainer_t;

/* head_trainer_create prepares to train h (which must outlive the trainer)
 * with hp, threads threads (1..64) and the shuffling and dropout streams
 * of seed.  The results depend on seed only, never on the number of
 * threads.  Returns 0, ERR_ARG or ERR_NOMEM (also when a thread cannot
 * start). */
int head_trainer_create(head_t *h, const head_hparams_t *hp, int threads,
			uint64_t seed, head_trainer_t **out, char *err);

/* head_trainer_epoch runs one epoch over set: a fresh shuffle, then
 * ceil(n / batch) Adam steps, the last batch possibly smaller.  m receives
 * the epoch's training loss and accuracy (as Keras shows them: with
 * dropout, weighted by the class weights).  When order is non-NULL it
 * receives the epoch's sample order (n positions into the set).  Returns 0
 * or ERR_ARG (an empty set). */
int head_trainer_epoch(head_trainer_t *t, const head_set_t *set,
		       head_metrics_t *m, size_t *order, char *err);

/* head_trainer_evaluate: loss (regulariser included, no class weights and
 * no dropout, as Keras' val_loss) and accuracy of the current head over
 * set; 0 or ERR_ARG (empty set). */
int head_trainer_evaluate(head_trainer_t *t, const head_set_t *set,
			  head_metrics_t *m, char *err);

/* head_trainer_lr: the learning rate of the next step, the float32 that
 * Keras' optimizer.lr holds (with a schedule, the schedule's value). */
float head_trainer_lr(const head_trainer_t *t);

/* head_trainer_set_lr sets the learning rate of the steps to come, as
 * ReduceLROnPlateau sets Keras' optimizer.lr (not with a schedule).
 * Returns 0 or ERR_ARG (not > 0, or a schedule). */
int head_trainer_set_lr(head_trainer_t *t, float lr, char *err);

/* head_trainer_free stops the threads and releases the trainer; accepts
 * NULL. */
void head_trainer_free(head_trainer_t *t);

/* ---- the head file: head_file.c ----------------------------------------- */

/* Layout (HDF5), Keras 2's save_weights for a model whose layers with
 * weights are the head's Dense layers, dense_1, dense_2, ... in order
 * (dense_1 alone for a head without hidden layers), so that Keras'
 * load_weights reads it into that Sequential model:
 *   /                attributes layer_names = ["dense_1", ...],
 *                    backend = "tensorflow", keras_version
 *   /dense_1         attribute weight_names =
 *                    ["dense_1/kernel:0", "dense_1/bias:0"]
 *   /dense_1/dense_1/kernel:0   (Fi, Fo) float32
 *   /dense_1/dense_1/bias:0     (Fo) float32
 *   /dense_2 ...                the same for the next layer
 * plus root attributes that Keras ignores and predict checks:
 *   vggfeat_format      HEAD_FORMAT_1 for one layer, else HEAD_FORMAT
 *   vggfeat_classes     the K class names (index order)
 *   vggfeat_model       the features' model and tap (the store's
 *                       "model": "vgg16-fc2", "vgg16-block5_pool-avg"...,
 *                       net/model.h's model_store_name): predict runs
 *                       the network to that tap
 *   vggfeat_fingerprint the weights' fingerprint over the layers the tap
 *                       needs (the store's, weights_fingerprint)
 *   vggfeat_preprocess  the preprocessing of the features
 *   vggfeat_conv        how the features' 3x3 convolutions were computed
 *                       (the store's "conv": "winograd" or "direct"):
 *                       predict runs that path, so that its vectors are
 *                       extract's to the bit; a file without it (written
 *                       before it existed) is read as "winograd"
 *   vggfeat_version     the program that wrote the file
 * Strings are fixed-length, NUL-padded, as h5py writes numpy bytes. */
typedef struct head_meta {
	int nclasses;
	char **classes; /* nclasses names, owned; NULL when the file has none */
	char model[64];
	char fingerprint[64];
	char preprocess[256];
	char conv[16];  /* written as HEAD_CONV_OLD when empty */
	char version[64];
} head_meta_t;

/* The vggfeat_conv of a head file without it. */
#define HEAD_CONV_OLD "winograd"

/* head_save writes h and meta (meta->classes must hold h->K names) to path
 * atomically: a temporary file in the same folder, flushed to disk, then
 * renamed over path, so path is either the old file or the complete new
 * one (fsutil_dest_t: a link at path is kept and the file it names
 * written).  Returns 0, ERR_ARG, or ERR_IO "PATH: writing failed: REASON"
 * (fsutil_dest_failed: " (the earlier PATH is unchanged)" added when a
 * file was there). */
int head_save(const char *path, const head_t *h, const head_meta_t *meta,
	      char *err);

/* head_load reads a head file written by head_save, or by Keras'
 * save_weights for a model whose layers with weights are Dense layers
 * (read as this head's: ReLU after each but the last; then meta has no
 * classes and empty strings), in a child process (h5child.h): a file that
 * crashes or hangs libhdf5 gives ERR_FORMAT "PATH: damaged HDF5 file
 * (...)".  The layers are walked as Keras does (keras_h5.h): a layer
 * without weight_names has no weights.  Errors: ERR_MISSING (no such
 * file, no layer with weights, a layer listed in layer_names without its
 * group), ERR_FORMAT (not HDF5, unreadable attributes or datasets),
 * ERR_UNSUPPORTED (another vggfeat_format; the whole model's,
 * net/model_file.h, said to be that), ERR_SHAPE (a kernel not 2-d, a
 * bias not (Fo), a layer whose inputs are not the previous one's outputs,
 * class names not K, a layer with other than two weights, more than
 * HEAD_MAX_LAYERS layers), ERR_NOMEM.  On failure h and meta are left
 * empty. */
int head_load(const char *path, head_t *h, head_meta_t *meta, char *err);

/* head_read: head_load in this process (the fuzz target's: it must see
 * libhdf5's crashes). */
int head_read(const char *path, head_t *h, head_meta_t *meta, char *err);

/* head_meta_free releases meta's class names and zeroes it; accepts NULL. */
void head_meta_free(head_meta_t *meta);

#endif
