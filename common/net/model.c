/* model.c - see model.h: the registry's table, and where its files are
 * found. */
#include "net/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* The stores' names of the two models' vectors (the table, and the list
 * of them for messages). */
#define VGG16_STORE "vgg16-fc2"
#define VGGFACE_STORE "vggface-fc7"

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
		MODEL_VGG16_FILE, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
		MODEL_VGG16_URL, "VGG16(weights='imagenet')", "VGG16_WEIGHTS", "models",
		VGG16_STORE,
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
		VGGFACE_STORE,
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

int model_of_store(const char *s)
{
	for (int m = 1; s && m < MODEL_COUNT; m++)
		if (strcmp(s, models[m].store_model) == 0)
			return m;
	return -1;
}

const char *model_store_names(void)
{
	return "'" VGG16_STORE "' or '" VGGFACE_STORE "'";
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

void model_missing_help(int model, const char *path, char *buf,
				size_t len)
{
	const model_info_t *m = model_info(model);

	if (!buf || len == 0)
		return;
	snprintf(buf, len,
		 "%s weights not found at %s\n"
		 "%s downloads them on its first call from\n  %s\n"
		 "and caches them as ~/.keras/%s/%s ($KERAS_HOME/%s/ "
		 "when KERAS_HOME is set).\n"
		 "Copy or download that file there, or point to it with "
		 "%s=PATH or --weights PATH.",
		 m->title, path ? path : "(no path)", m->get, m->url,
		 m->cache_dir, m->file_name, m->cache_dir, m->env);
}
