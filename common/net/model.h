/* model.h - the registry of the models the programs know: the one home of
 * every fact that sets one apart.  The weights loader asks it which layer
 * names belong to which model, the store which model names it may hold, and
 * extract and predict where a model's file lives, how its images are
 * preprocessed and what its vectors are called.
 *
 * Two models share one network (13 conv 3x3, two dense layers of 4096):
 *  - VGG16 (keras.applications, ImageNet): block1_conv1 .. block5_conv3,
 *    fc1, fc2; its vector is fc2 after its ReLU;
 *  - VGG-Face (keras-vggface's VGGFace(model='vgg16'), Parkhi et al. 2015):
 *    conv1_1 .. conv5_3, fc6, fc7; its vector is fc7 after its ReLU, the
 *    same place in the network.
 * Both take Keras' load_img at VGG_IN x VGG_IN (net/vgg.h) with a nearest
 * resize, RGB flipped to BGR, minus the model's channel means.
 *
 * The registry also holds the taps: the places where the vector is taken
 * (extract --layer, --pooling), their names in each model, their widths,
 * the layers with weights each needs (so which files serve it: a _notop
 * file serves the pool taps) and the store's name for each model's tap. */
#ifndef COMMON_NET_MODEL_H
#define COMMON_NET_MODEL_H

#include <stddef.h>

#include "net/weights.h"

/* The files as Keras (and keras-vggface, under models/vggface/) download
 * them. */
#define MODEL_VGG16_FILE "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
#define MODEL_VGG16_NOTOP_FILE "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
#define MODEL_VGG16_URL \
	"https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" \
	MODEL_VGG16_FILE
#define MODEL_VGGFACE_FILE "rcmalli_vggface_tf_vgg16.h5"
#define MODEL_VGGFACE_URL \
	"https://github.com/rcmalli/keras-vggface/releases/download/v2.0/" \
	MODEL_VGGFACE_FILE

/* The models (weights_t.model); MODEL_AUTO asks for the one a file holds. */
enum model_id { MODEL_AUTO = 0, MODEL_VGG16 = 1, MODEL_VGGFACE = 2 };
#define MODEL_COUNT 3

/* The 2x2 max-pools, one after each weights_spec layer with pool_after. */
#define MODEL_NPOOLS 5

/* The taps, as Keras users take them: VGG16(include_top=True) up to a
 * dense layer, or VGG16(include_top=False, pooling=None|'avg'|'max') with
 * a Flatten for None.  The network stops at its tap: a pool tap runs no
 * dense layer.  These numbers are in no file (stores and heads name a tap
 * by its store name, model_store_name). */
enum model_tap {
	MODEL_TAP_FC2 = 0,  /* fc2 (VGG-Face: fc7) after its ReLU: the default */
	MODEL_TAP_FC1,      /* fc1 (fc6) after its ReLU */
	MODEL_TAP_POOL,     /* block5_pool (pool5) flattened as Keras' Flatten
			     * does it: H, W, C order */
	MODEL_TAP_POOL_AVG, /* GlobalAveragePooling2D of block5_pool's 7x7 */
	MODEL_TAP_POOL_MAX, /* GlobalMaxPooling2D of it */
};
#define MODEL_NTAPS 5

/* What a tap is, the same in both models. */
typedef struct model_tap_info {
	const char *pooling; /* --pooling's value ("avg", "max"), NULL: none */
	int dim;             /* the vector's length: 4096, 25088 or 512 */
	/* The file's layers with weights it needs, in order: 15 (fc2), 14
	 * (fc1) or WEIGHTS_NCONV (a pool tap: the _notop file serves it). */
	int nlayers;
} model_tap_info_t;

/* What sets a model apart. */
typedef struct model_info {
	const char *name;   /* --model's value: "vgg16", "vggface" */
	const char *title;  /* for messages: "VGG16", "VGG-Face" */
	const char *layers[WEIGHTS_NLAYERS]; /* the file's layer names, in order */
	/* The layers without weights, as the model's Keras code names them
	 * (the whole-model file, net/model_file.h): the input, the pools,
	 * the flatten before the first dense layer, and the ReLUs after the
	 * two dense layers when they are layers of their own (keras-vggface's
	 * Activation('relu', name='fc6/relu')); NULL when the Dense layer
	 * applies its own (VGG16's activation='relu'). */
	const char *input;
	const char *pools[MODEL_NPOOLS];
	const char *flatten;
	const char *dense_relu[2];
	const char *file_name, *notop_name, *url;
	const char *get;    /* the Python call that downloads the file */
	const char *env;    /* the variable naming the file: "VGG16_WEIGHTS" */
	const char *cache_dir; /* under $KERAS_HOME or ~/.keras */
	const char *store_model; /* the store's "model" at the default tap:
				  * "vgg16-fc2" (model_store_name) */
	/* The store's "model" at each tap (model_store_name). */
	const char *store_taps[MODEL_NTAPS];
	const char *preprocess;  /* the store's "preprocess" (store/featdb.h) */
	float mean_bgr[3];  /* subtracted from B, G, R (img_preprocess) */
} model_info_t;

/* model_info: model's description (MODEL_AUTO: VGG16's, the default when
 * nothing says otherwise). */
const model_info_t *model_info(int model);

/* model_parse: the model whose name is s, or -1 (s may be NULL). */
int model_parse(const char *s);

/* model_of_store: the model whose store name (at any tap) is s, or -1 (s
 * may be NULL). */
int model_of_store(const char *s);

/* model_store_parse: the model and the tap whose store name is s (NULL
 * allowed): 0 and *model, *tap set, or -1. */
int model_store_parse(const char *s, int *model, int *tap);

/* model_check_preprocess: 0 when recorded, the preprocessing a record (a
 * store's "preprocess", a head's vggfeat_preprocess) says its vectors
 * were made with, is model's, else ERR_MISMATCH: "<path> <whose> made
 * with preprocessing '<recorded>'; this program uses '<model's>' for
 * VGG16" (whose: "holds vectors", "was trained on features"). */
int model_check_preprocess(int model, const char *recorded, const char *path,
			   const char *whose, char *err);

/* model_store_name: the store's "model" for model's vectors at tap:
 * "vgg16-fc2", "vgg16-fc1", "vgg16-block5_pool", "vgg16-block5_pool-avg",
 * "vgg16-block5_pool-max"; "vggface-fc7", "vggface-fc6", "vggface-pool5",
 * "vggface-pool5-avg", "vggface-pool5-max" (static text; MODEL_AUTO is
 * VGG16).  The default tap's names are those of the stores written before
 * the taps, which stay readable as they are. */
const char *model_store_name(int model, int tap);

/* model_store_names: every store name, quoted, for messages: "'vgg16-fc2',
 * ... or 'vggface-pool5-max'" (static text). */
const char *model_store_names(void);

/* model_tap_info: what tap is (tap out of range: the default's). */
const model_tap_info_t *model_tap_info(int tap);

/* model_tap_layer: the name of the layer tap takes in model: "fc2", "fc1",
 * "block5_pool"; VGG-Face's "fc7", "fc6", "pool5" (static text). */
const char *model_tap_layer(int model, int tap);

/* model_tap_find: the tap that extract's --layer LAYER [--pooling P] asks
 * for (layer NULL: the default, fc2; pooling NULL: none), and the model
 * whose layer name LAYER is (*model; MODEL_AUTO when layer is NULL).
 * Returns 0, or ERR_ARG naming what is wrong: a layer neither model has
 * (the message lists both models' names), a pooling other than avg and
 * max, a pooling on a dense layer (Keras pools only without the top). */
int model_tap_find(const char *layer, const char *pooling, int *model,
		   int *tap, char *err);

/* model_tap_options writes the options that ask for tap in model, for
 * messages: "--layer fc2", "--layer block5_pool --pooling avg",
 * "--layer pool5" (its Flatten). */
void model_tap_options(int model, int tap, char *buf, size_t len);

/* model_tap_list writes the taps a file with nlayers layers with weights
 * gives in model, for messages: "fc2, fc1 or block5_pool (with --pooling
 * avg or max, or without)"; with WEIGHTS_NCONV, "block5_pool (with
 * --pooling avg or max, or without)". */
void model_tap_list(int model, int nlayers, char *buf, size_t len);

/* model_default_path writes the file model's weights are read from when
 * none is given: $<env> ($VGG16_WEIGHTS, $VGGFACE_WEIGHTS), else where
 * Keras' get_file caches it: $KERAS_HOME/<cache_dir>/<file_name> when
 * KERAS_HOME is set, else ~/.keras/<cache_dir>/<file_name>.  MODEL_AUTO is
 * VGG16.  (Keras falls back to /tmp/.keras when that folder exists but is
 * not writable; that case is not followed.)  Returns 0 or ERR_ARG (the
 * buffer too small, no HOME). */
int model_default_path(int model, char *buf, size_t len, char *err);

/* model_weights_path writes the file the weights are read from: given (a
 * program's --weights) when not NULL, else model's default.  Returns 0 or
 * ERR_ARG (a path longer than the buffer, no HOME). */
int model_weights_path(const char *given, int model, char *buf, size_t len,
		       char *err);

/* model_tap_path: model_weights_path for a program that takes tap.  A pool
 * tap needs no dense layer, so when no file is given and model's variable
 * ($VGG16_WEIGHTS) is not set, the _notop file (notop_name) is read when
 * it is in Keras' cache beside file_name, as Keras' include_top=False
 * downloads it; otherwise the full file, which serves every tap. */
int model_tap_path(const char *given, int model, int tap, char *buf,
		   size_t len, char *err);

/* model_missing_help writes the advice printed when model's weights file
 * does not exist at path: where it was looked for and how to get it (for
 * a pool tap, that the _notop file serves too). */
void model_missing_help(int model, int tap, const char *path, char *buf,
			size_t len);

#endif
