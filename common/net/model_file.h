/* model_file.h - the whole model, the backbone and the head, as the HDF5
 * file that tf.keras' model.save('x.h5') writes (tf-keras 2.21's legacy
 * H5 format), so that tf.keras.models.load_model opens it and its
 * predict() gives predict's probabilities.
 *
 * The model is the seed's Sequential: the backbone's layers as its Keras
 * code builds them (net/model.h, the registry, names them; the weights
 * give their sizes), frozen, then the head's layers:
 *   VGG16:    input_1, block1_conv1 .. block5_conv3 with block1_pool ..
 *             block5_pool, flatten, fc1, fc2 (Dense, activation='relu'),
 *             then the head (dense_1, softmax);
 *   VGG-Face: input_1, conv1_1 .. conv5_3 with pool1 .. pool5, flatten,
 *             fc6, fc6/relu, fc7, fc7/relu (keras-vggface's Dense then
 *             Activation('relu')), then the head.
 *
 * Layout, as tf-keras 2.21 writes it (strings variable-length, as h5py 3
 * stores Python's str and bytes):
 *   /  attributes  keras_version "2.21.0" (UTF-8), backend "tensorflow"
 *                  (UTF-8), model_config (ASCII): the JSON of
 *                  {"class_name": "Sequential", "config": {"name":
 *                  "sequential_1", "layers": [InputLayer, each layer]}},
 *                  each layer's config with the keys, order and values of
 *                  tf-keras 2.21's get_config (trainable false in the
 *                  backbone, true in the head); no training_config (the
 *                  seed's model before compile: load_model returns it
 *                  uncompiled, and says so);
 *      ours:       vggfeat_format MODEL_FILE_FORMAT, vggfeat_classes (the
 *                  last layer's outputs' names, index order),
 *                  vggfeat_model (the store's name of the backbone's
 *                  vectors), vggfeat_fingerprint (the backbone's weights),
 *                  vggfeat_preprocess, vggfeat_version (UTF-8; Keras
 *                  ignores them);
 *   /model_weights  attributes layer_names (every layer but the input, in
 *                  model order), backend, keras_version (ASCII);
 *   /model_weights/<layer>  attribute weight_names: ["<layer>/kernel:0",
 *                  "<layer>/bias:0"] for a layer with weights, else an
 *                  empty float64 list (as np.asarray([]) is stored);
 *                  "fc6/relu" is the group relu inside fc6;
 *   /model_weights/<layer>/<layer>/kernel:0  float32, conv (3, 3, in,
 *                  out), dense (in, out); .../bias:0 (out);
 *   /model_weights/top_level_model_weights  weight_names empty.
 * The layer groups are made in the order of their names, as Keras makes
 * them.  A list attribute longer than HDF5's 64 KB object header (over
 * 4032 strings) is split into name0, name1, ... as Keras splits it.
 *
 * Where the extensions plug in: a head with hidden layers is a longer
 * list of model_file_layer_t (Dense, Dropout, Dense: both kinds are
 * written already); a backbone that ends elsewhere is another
 * model_file_end, at which backbone_layers (model_file.c) stops and gives
 * the width the head takes, with the classes it adds (a global pooling)
 * configured in model_config.c's layer_json. */
#ifndef COMMON_NET_MODEL_FILE_H
#define COMMON_NET_MODEL_FILE_H

#include "net/weights.h"

/* The file's own format tag (root attribute "vggfeat_format"). */
#define MODEL_FILE_FORMAT "vggfeat-model 1"
/* The tf-keras version whose model.save layout and layer configurations
 * the file follows (its keras_version). */
#define MODEL_FILE_KERAS_VERSION "2.21.0"
/* The Sequential model's name. */
#define MODEL_FILE_NAME "sequential_1"
/* The most layers a head may have. */
#define MODEL_FILE_MAX_HEAD 1000

/* Where the backbone ends: the layer whose output the head takes. */
enum model_file_end {
	/* The second dense layer after its ReLU (VGG16's fc2, VGG-Face's
	 * fc7/relu): the store's vector, weights_spec's last cout wide. */
	MODEL_FILE_END_VECTOR = 0,
};

/* The kinds of the head's layers. */
enum model_file_kind {
	MODEL_FILE_DENSE = 1,   /* Dense(units, activation) */
	MODEL_FILE_DROPOUT = 2, /* Dropout(rate): nothing at predict time */
};

/* One layer of the head, in order from the backbone's end. */
typedef struct model_file_layer {
	int kind;
	const char *name;       /* Keras' name: "dense_1" */
	/* MODEL_FILE_DENSE: kernel (in, units) row-major and bias (units);
	 * in must be the width of what comes before it. */
	const char *activation; /* Keras' name: "softmax", "relu", "linear" */
	int in, units;
	const float *kernel, *bias;
	/* MODEL_FILE_DROPOUT */
	double rate;            /* in [0, 1) */
} model_file_layer_t;

/* The whole model. */
typedef struct model_file {
	const weights_t *w;  /* the backbone: its model, weights, fingerprint */
	int end;             /* where the backbone ends: model_file_end */
	const model_file_layer_t *head; /* 1..MODEL_FILE_MAX_HEAD layers */
	int nhead;
	/* The names of the last Dense layer's outputs, in index order. */
	const char *const *classes;
	int nclasses;
} model_file_t;

/* model_file_save writes m to path atomically: a temporary file beside it
 * (fsutil_dest_t: PATH.tmp.HOST.PID; through a link, beside the file the
 * link names, which is replaced and the link kept), written by libhdf5 in
 * a child process (h5child.h), flushed to disk, then renamed over path,
 * and the folder flushed; path is either what it was or the complete new
 * file, and the temporary file is removed on failure, and when SIGINT,
 * SIGTERM or SIGHUP stops the process meanwhile (which it then does, as
 * the signal's action was; one the process ignores stays ignored: the
 * signals being the process', one save at a time).  The process' own libhdf5 is not touched.
 * Right before the rename it asks model_file_replaceable again, and that
 * path still leads to the file the temporary one was written beside:
 * what is there may have changed while the weights were read and the
 * file written (a link turned to a photo), and a caller's check before
 * then does not hold for the rename.
 * Returns 0, or:
 *   ERR_ARG   a missing argument; a path whose name does not end in .h5 or
 *             .hdf5 (Keras goes by the name: model.save writes HDF5, and
 *             Keras 3's load_model reads it, under no other; err offers
 *             the name with .h5); end not a model_file_end; no head
 *             layer or more than MODEL_FILE_MAX_HEAD, or one of an
 *             unknown kind; a Dense layer whose in is
 *             not the width before it, or units, a kernel or a bias
 *             missing; a rate outside [0, 1); a name empty, longer than
 *             200 bytes, not UTF-8, with an empty component ("a//b",
 *             "/a", "a/") or a "." or ".." one, or given to two layers
 *             (backbone's included); a head that does not end with a
 *             Dense layer of nclasses units, or classes missing;
 *             what path names at the rename (model_file_replaceable's
 *             refusal, or "PATH now leads to X, not to Y, ..."), with
 *             "; it changed while the model was written: the model was
 *             not saved";
 *   ERR_IO    the temporary file cannot be made, written, flushed or
 *             renamed, or libhdf5 died writing it: "PATH: writing layer
 *             fc6 failed: No space left on device", path as given and the
 *             cause (HDF5's, or errno's), then " (the earlier PATH is
 *             unchanged)" when a file was there (fsutil_dest_failed);
 *   ERR_NOMEM. */
int model_file_save(const char *path, const model_file_t *m, char *err);

/* model_file_replaceable: 0 when model_file_save may write path: nothing
 * is there yet, or a whole-model file it wrote (its vggfeat_format and
 * model_config; read in a child process, h5child.h), and the name ends in
 * .h5 or .hdf5.  Else ERR_ARG, err naming what is there (a folder, a file
 * that is not HDF5, an HDF5 file of another kind: a head, a weights file,
 * a Keras model of the user's) or, that being fine, the name Keras would
 * not read the file under, or ERR_IO when path cannot be examined. */
int model_file_replaceable(const char *path, char *err);

#endif
