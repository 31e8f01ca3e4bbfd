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
 * resize, RGB flipped to BGR, minus the model's channel means. */
#ifndef COMMON_NET_MODEL_H
#define COMMON_NET_MODEL_H

#include <stddef.h>

#include "net/weights.h"

/* The files as Keras (and keras-vggface, under models/vggface/) download
 * them. */
#define MODEL_VGG16_FILE "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
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
	const char *store_model; /* the store's "model": "vgg16-fc2" */
	const char *preprocess;  /* the store's "preprocess" (store/featdb.h) */
	float mean_bgr[3];  /* subtracted from B, G, R (img_preprocess) */
} model_info_t;

/* model_info: model's description (MODEL_AUTO: VGG16's, the default when
 * nothing says otherwise). */
const model_info_t *model_info(int model);

/* model_parse: the model whose name is s, or -1 (s may be NULL). */
int model_parse(const char *s);

/* model_of_store: the model whose store_model is s, or -1 (s may be NULL). */
int model_of_store(const char *s);

/* model_store_names: every store_model, quoted, for messages: "'vgg16-fc2'
 * or 'vggface-fc7'" (static text). */
const char *model_store_names(void);

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

/* model_missing_help writes the advice printed when model's weights file
 * does not exist at path: where it was looked for and how to get it. */
void model_missing_help(int model, const char *path, char *buf, size_t len);

#endif
