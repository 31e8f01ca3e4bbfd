/* model.c - see model.h: the registry's table, and where its files are
 * found. */
#include "net/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

/* The stores' names of the two models' vectors at each tap (the table,
 * and the list of them for messages): the model, the tap's layer, and the
 * pooling when there is one. */
#define VGG16_STORE "vgg16-fc2"
#define VGG16_STORE_TAPS \
	{ VGG16_STORE, "vgg16-fc1", "vgg16-block5_pool", \
	  "vgg16-block5_pool-avg", "vgg16-block5_pool-max" }
#define VGGFACE_STORE "vggface-fc7"
#define VGGFACE_STORE_TAPS \
	{ VGGFACE_STORE, "vggface-fc6", "vggface-pool5", "vggface-pool5-avg", \
	  "vggface-pool5-max" }
#define STORE_NAMES \
	"'" VGG16_STORE "', 'vgg16-fc1', 'vgg16-block5_pool', " \
	"'vgg16-block5_pool-avg', 'vgg16-block5_pool-max', '" VGGFACE_STORE \
	"', 'vggface-fc6', 'vggface-pool5', 'vggface-pool5-avg' or " \
	"'vggface-pool5-max'"

static const model_tap_info_t taps[MODEL_NTAPS] = {
	[MODEL_TAP_FC2] = { NULL, 4096, WEIGHTS_NLAYERS },
	[MODEL_TAP_FC1] = { NULL, 4096, WEIGHTS_NLAYERS - 1 },
	/* block5_pool is (7, 7, 512) */
	[MODEL_TAP_POOL] = { NULL, 7 * 7 * 512, WEIGHTS_NCONV },
	[MODEL_TAP_POOL_AVG] = { "avg", 512, WEIGHTS_NCONV },
	[MODEL_TAP_POOL_MAX] = { "max", 512, WEIGHTS_NCONV },
};

static const model_info_t models[MODEL_COUNT] = {
	[MODEL_VGG16] = {
		"vgg16", "VGG16",
		{ "block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2",
		  "block3_conv1", "block3_conv2", "block3_conv3", "block4_conv1",
		  "block4_conv2", "block4_conv3", "block5_conv1", "block5_conv2",
		  "block5_conv3", "fc1", "fc2" },
		/* keras.applications.vgg16.VGG16's (the input as Keras names the
		 * first Input of a session) */
		"input_1",
		{ "block1_pool", "block2_pool", "block3_pool", "block4_pool",
		  "block5_pool" },
		"flatten", { NULL, NULL },
		MODEL_VGG16_FILE, MODEL_VGG16_NOTOP_FILE,
		MODEL_VGG16_URL, "VGG16(weights='imagenet')", "VGG16_WEIGHTS", "models",
		VGG16_STORE, VGG16_STORE_TAPS,
		"keras-load_img-224-nearest;rgb2bgr;mean-103.939,116.779,123.68",
		/* vgg16.preprocess_input's (ImageNet's means) */
		{ 103.939f, 116.779f, 123.68f },
	},
	[MODEL_VGGFACE] = {
		"vggface", "VGG-Face",
		{ "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2",
		  "conv3_3", "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2",
		  "conv5_3", "fc6", "fc7" },
		/* keras_vggface.models.VGG16's */
		"input_1",
		{ "pool1", "pool2", "pool3", "pool4", "pool5" },
		"flatten", { "fc6/relu", "fc7/relu" },
		MODEL_VGGFACE_FILE, "rcmalli_vggface_tf_notop_vgg16.h5",
		MODEL_VGGFACE_URL, "keras_vggface.VGGFace(model='vgg16')",
		"VGGFACE_WEIGHTS", "models/vggface",
		VGGFACE_STORE, VGGFACE_STORE_TAPS,
		"keras-load_img-224-nearest;rgb2bgr;mean-93.5940,104.7624,129.1863",
		/* keras_vggface.utils.preprocess_input(version=1)'s (VGG-Face's
		 * training set), after the same flip */
		{ 93.5940f, 104.7624f, 129.1863f },
	},
};

const model_info_t *model_info(int model)
{
	return &models[model == MODEL_VGGFACE ? MODEL_VGGFACE : MODEL_VGG16];
}

int model_parse(const char *s)
{
	for (int m = 1; s && m < MODEL_COUNT; m++)
		if (strcmp(s, models[m].name) == 0)
			return m;
	return -1;
}

int model_store_parse(const char *s, int *model, int *tap)
{
	for (int m = 1; s && m < MODEL_COUNT; m++)
		for (int t = 0; t < MODEL_NTAPS; t++)
			if (strcmp(s, models[m].store_taps[t]) == 0) {
				*model = m;
				*tap = t;
				return 0;
			}
	return -1;
}

int model_of_store(const char *s)
{
	int m, t;

	return model_store_parse(s, &m, &t) ? -1 : m;
}

int model_check_preprocess(int model, const char *recorded, const char *path,
			   const char *whose, char *err)
{
	const model_info_t *m = model_info(model);

	if (strcmp(recorded, m->preprocess) == 0)
		return 0;
	return err_set(err, ERR_MISMATCH, "%s %s made with preprocessing '%s'; this "
		       "program uses '%s' for %s", path, whose, recorded,
		       m->preprocess, m->title);
}

const char *model_store_names(void)
{
	return STORE_NAMES;
}

const model_tap_info_t *model_tap_info(int tap)
{
	return &taps[tap > 0 && tap < MODEL_NTAPS ? tap : MODEL_TAP_FC2];
}

const char *model_store_name(int model, int tap)
{
	return model_info(model)->store_taps[tap > 0 && tap < MODEL_NTAPS ? tap
							: MODEL_TAP_FC2];
}

const char *model_tap_layer(int model, int tap)
{
	const model_info_t *m = model_info(model);
	int n = model_tap_info(tap)->nlayers;

	/* A dense tap is the last layer with weights it needs. */
	return n > WEIGHTS_NCONV ? m->layers[n - 1] : m->pools[MODEL_NPOOLS - 1];
}

int model_tap_find(const char *layer, const char *pooling, int *model,
		   int *tap, char *err)
{
	const model_info_t *a = model_info(MODEL_VGG16);
	const model_info_t *b = model_info(MODEL_VGGFACE);
	int t = -1, m = MODEL_AUTO;

	for (int i = 1; layer && t < 0 && i < MODEL_COUNT; i++)
		for (int k = 0; k <= MODEL_TAP_POOL; k++)
			if (strcmp(layer, model_tap_layer(i, k)) == 0) {
				m = i;
				t = k;
				break;
			}
	if (!layer)
		t = MODEL_TAP_FC2;
	if (t < 0)
		return err_set(err, ERR_ARG, "--layer: '%s' is not %s, %s or %s "
			       "(%s: %s, %s or %s)", layer,
			       a->layers[WEIGHTS_NLAYERS - 1], a->layers[WEIGHTS_NCONV],
			       model_tap_layer(MODEL_VGG16, MODEL_TAP_POOL), b->title,
			       b->layers[WEIGHTS_NLAYERS - 1], b->layers[WEIGHTS_NCONV],
			       model_tap_layer(MODEL_VGGFACE, MODEL_TAP_POOL));
	if (pooling && t != MODEL_TAP_POOL)
		return err_set(err, ERR_ARG, "--pooling %s: Keras pools %s (%s: %s) "
			       "only; give --layer %s", pooling,
			       model_tap_layer(MODEL_VGG16, MODEL_TAP_POOL), b->title,
			       model_tap_layer(MODEL_VGGFACE, MODEL_TAP_POOL),
			       model_tap_layer(m, MODEL_TAP_POOL));
	if (pooling) {
		if (strcmp(pooling, taps[MODEL_TAP_POOL_AVG].pooling) == 0)
			t = MODEL_TAP_POOL_AVG;
		else if (strcmp(pooling, taps[MODEL_TAP_POOL_MAX].pooling) == 0)
			t = MODEL_TAP_POOL_MAX;
		else
			return err_set(err, ERR_ARG, "--pooling: '%s' is not %s or %s",
				       pooling, taps[MODEL_TAP_POOL_AVG].pooling,
				       taps[MODEL_TAP_POOL_MAX].pooling);
	}
	*model = m;
	*tap = t;
	return 0;
}

void model_tap_options(int model, int tap, char *buf, size_t len)
{
	const char *pooling = model_tap_info(tap)->pooling;

	if (!buf || len == 0)
		return;
	snprintf(buf, len, "--layer %s%s%s", model_tap_layer(model, tap),
		 pooling ? " --pooling " : "", pooling ? pooling : "");
}

void model_tap_list(int model, int nlayers, char *buf, size_t len)
{
	const char *pool = model_tap_layer(model, MODEL_TAP_POOL);

	if (!buf || len == 0)
		return;
	if (nlayers >= WEIGHTS_NLAYERS)
		snprintf(buf, len, "%s, %s or %s (avg- or max-pooled, or flattened)",
			 model_tap_layer(model, MODEL_TAP_FC2),
			 model_tap_layer(model, MODEL_TAP_FC1), pool);
	else
		snprintf(buf, len, "%s (avg- or max-pooled, or flattened)", pool);
}

int model_default_path(int model, char *buf, size_t len, char *err)
{
	const model_info_t *m = model_info(model);
	const char *env = getenv(m->env);
	const char *keras = getenv("KERAS_HOME"), *home = getenv("HOME");
	int n;

	if (!buf || len == 0)
		return err_set(err, ERR_ARG, "model_default_path: no buffer");
	if (env && *env)
		n = snprintf(buf, len, "%s", env);
	else if (keras && *keras)
		n = snprintf(buf, len, "%s/%s/%s", keras, m->cache_dir, m->file_name);
	else if (home && *home)
		n = snprintf(buf, len, "%s/.keras/%s/%s", home, m->cache_dir,
			     m->file_name);
	else
		return err_set(err, ERR_ARG,
			       "HOME is not set: set %s or KERAS_HOME, or pass "
			       "--weights", m->env);
	if (n < 0 || (size_t)n >= len)
		return err_set(err, ERR_ARG,
			       "weights path longer than %zu bytes", len - 1);
	return 0;
}

int model_weights_path(const char *given, int model, char *buf, size_t len,
		       char *err)
{
	if (!given)
		return model_default_path(model, buf, len, err);
	if (!buf || len == 0)
		return err_set(err, ERR_ARG, "model_weights_path: no buffer");
	if ((size_t)snprintf(buf, len, "%s", given) >= len)
		return err_set(err, ERR_ARG, "--weights: a path longer than %zu bytes",
			       len - 1);
	return 0;
}

int model_tap_path(const char *given, int model, int tap, char *buf,
		   size_t len, char *err)
{
	const model_info_t *m = model_info(model);
	const char *env = getenv(m->env), *slash;
	char notop[4096];
	int rc;

	if ((rc = model_weights_path(given, model, buf, len, err)) || given ||
	    (env && *env) || model_tap_info(tap)->nlayers > WEIGHTS_NCONV)
		return rc;
	slash = strrchr(buf, '/');
	if (!slash || (size_t)snprintf(notop, sizeof notop, "%.*s/%s",
				       (int)(slash - buf), buf,
				       m->notop_name) >= sizeof notop ||
	    access(notop, F_OK) != 0)
		return 0;
	if ((size_t)snprintf(buf, len, "%s", notop) >= len)
		return err_set(err, ERR_ARG, "weights path longer than %zu bytes",
			       len - 1);
	return 0;
}

void model_missing_help(int model, int tap, const char *path, char *buf,
			size_t len)
{
	const model_info_t *m = model_info(model);
	const char *env = getenv(m->env);
	char notop[512] = "", from[128] = "";

	if (!buf || len == 0)
		return;
	/* A path the user did not type names its source. */
	if (path && env && *env && strcmp(path, env) == 0)
		snprintf(from, sizeof from, " (the path %s names)", m->env);
	if (model_tap_info(tap)->nlayers == WEIGHTS_NCONV)
		snprintf(notop, sizeof notop, "\n%s needs no dense layer: the "
			 "_notop file %s, beside it, serves too.",
			 model_tap_layer(model, tap), m->notop_name);
	snprintf(buf, len,
		 "%s weights not found at %s%s\n"
		 "%s downloads them on its first call from\n  %s\n"
		 "and caches them as ~/.keras/%s/%s ($KERAS_HOME/%s/ "
		 "when KERAS_HOME is set).%s\n"
		 "Copy or download that file there, or point to it with "
		 "%s=PATH or --weights PATH.",
		 m->title, path ? path : "(no path)", from, m->get, m->url,
		 m->cache_dir, m->file_name, m->cache_dir, notop, m->env);
}
