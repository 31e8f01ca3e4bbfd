/* test_model.c - the registry of models (common/net/model.h): names, the
 * stores' names, layer names, where each model's file is looked for, and
 * the advice printed when it is missing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "net/model.h"
#include "net/weights.h"

static void expect_in(const char *msg, const char *part)
{
	if (!strstr(msg, part))
		fail_msg("message lacks \"%s\": %s", part, msg);
}

static void test_default_path(void **state)
{
	char *old_w = getenv("VGG16_WEIGHTS"), *old_h = getenv("HOME");
	char *old_k = getenv("KERAS_HOME");
	char save_w[4096] = "", save_h[4096] = "", save_k[4096] = "";
	char buf[4096], err[ERR_LEN], small[8];

	if (old_w)
		snprintf(save_w, sizeof save_w, "%s", old_w);
	if (old_h)
		snprintf(save_h, sizeof save_h, "%s", old_h);
	if (old_k)
		snprintf(save_k, sizeof save_k, "%s", old_k);
	assert_int_equal(unsetenv("KERAS_HOME"), 0);

	assert_int_equal(setenv("VGG16_WEIGHTS", "/data/w.h5", 1), 0);
	assert_int_equal(model_default_path(MODEL_VGG16, buf, sizeof buf, err), 0);
	assert_string_equal(buf, "/data/w.h5");
	assert_int_equal(model_default_path(MODEL_VGG16, small, sizeof small, err),
			 ERR_ARG);

	assert_int_equal(setenv("VGG16_WEIGHTS", "", 1), 0);
	assert_int_equal(setenv("HOME", "/home/u", 1), 0);
	assert_int_equal(model_default_path(MODEL_VGG16, buf, sizeof buf, err), 0);
	assert_string_equal(buf, "/home/u/.keras/models/" MODEL_VGG16_FILE);

	assert_int_equal(unsetenv("VGG16_WEIGHTS"), 0);
	assert_int_equal(model_default_path(MODEL_VGG16, buf, sizeof buf, err), 0);
	assert_string_equal(buf, "/home/u/.keras/models/" MODEL_VGG16_FILE);

	/* Keras' get_file: $KERAS_HOME replaces ~/.keras; VGG16_WEIGHTS
	 * still comes first. */
	assert_int_equal(setenv("KERAS_HOME", "/opt/k", 1), 0);
	assert_int_equal(model_default_path(MODEL_VGG16, buf, sizeof buf, err), 0);
	assert_string_equal(buf, "/opt/k/models/" MODEL_VGG16_FILE);
	assert_int_equal(setenv("VGG16_WEIGHTS", "/data/w.h5", 1), 0);
	assert_int_equal(model_default_path(MODEL_VGG16, buf, sizeof buf, err), 0);
	assert_string_equal(buf, "/data/w.h5");
	assert_int_equal(unsetenv("VGG16_WEIGHTS"), 0);
	assert_int_equal(setenv("KERAS_HOME", "", 1), 0);
	assert_int_equal(model_default_path(MODEL_VGG16, buf, sizeof buf, err), 0);
	assert_string_equal(buf, "/home/u/.keras/models/" MODEL_VGG16_FILE);
	assert_int_equal(unsetenv("KERAS_HOME"), 0);

	assert_int_equal(unsetenv("HOME"), 0);
	assert_int_equal(model_default_path(MODEL_VGG16, buf, sizeof buf, err), ERR_ARG);
	expect_in(err, "VGG16_WEIGHTS");

	if (old_w)
		setenv("VGG16_WEIGHTS", save_w, 1);
	if (old_h)
		setenv("HOME", save_h, 1);
	if (old_k)
		setenv("KERAS_HOME", save_k, 1);

	/* weights_path: --weights when given, refused when it does not fit;
	 * else the default. */
	assert_int_equal(model_weights_path("/w/given.h5", MODEL_VGG16, buf, sizeof buf, err), 0);
	assert_string_equal(buf, "/w/given.h5");
	assert_int_equal(model_weights_path("/w/given.h5", MODEL_VGG16, small, sizeof small,
					    err), ERR_ARG);
	expect_in(err, "--weights");
	assert_int_equal(setenv("VGG16_WEIGHTS", "/data/w.h5", 1), 0);
	assert_int_equal(model_weights_path(NULL, MODEL_VGG16, buf, sizeof buf, err), 0);
	assert_string_equal(buf, "/data/w.h5");
	if (old_w)
		setenv("VGG16_WEIGHTS", save_w, 1);
	else
		unsetenv("VGG16_WEIGHTS");
}

/* VGG-Face's file, where keras-vggface's get_file caches it
 * (models/vggface under $KERAS_HOME or ~/.keras), or $VGGFACE_WEIGHTS;
 * each model's variable leaves the other's path alone. */
static void test_default_path_vggface(void **state)
{
	static const char *const vars[] = { "VGG16_WEIGHTS", "VGGFACE_WEIGHTS",
					    "KERAS_HOME", "HOME" };
	char save[4][4096], buf[4096], err[ERR_LEN];
	int had[4];

	for (int v = 0; v < 4; v++) {
		const char *x = getenv(vars[v]);
		had[v] = x != NULL;
		snprintf(save[v], sizeof save[v], "%s", x ? x : "");
		unsetenv(vars[v]);
	}
	assert_int_equal(setenv("HOME", "/home/u", 1), 0);
	assert_int_equal(setenv("VGG16_WEIGHTS", "/data/vgg16.h5", 1), 0);
	assert_int_equal(model_default_path(MODEL_VGGFACE, buf, sizeof buf,
						    err), 0);
	assert_string_equal(buf, "/home/u/.keras/models/vggface/"
			    MODEL_VGGFACE_FILE);
	assert_int_equal(setenv("KERAS_HOME", "/opt/k", 1), 0);
	assert_int_equal(model_default_path(MODEL_VGGFACE, buf, sizeof buf,
						    err), 0);
	assert_string_equal(buf, "/opt/k/models/vggface/" MODEL_VGGFACE_FILE);
	assert_int_equal(setenv("VGGFACE_WEIGHTS", "/data/face.h5", 1), 0);
	assert_int_equal(model_weights_path(NULL, MODEL_VGGFACE, buf, sizeof buf,
					    err), 0);
	assert_string_equal(buf, "/data/face.h5");
	/* --weights first; VGG16 (and no --model) keeps its own default. */
	assert_int_equal(model_weights_path("/w/given.h5", MODEL_VGGFACE, buf,
					    sizeof buf, err), 0);
	assert_string_equal(buf, "/w/given.h5");
	assert_int_equal(model_weights_path(NULL, MODEL_AUTO, buf, sizeof buf, err), 0);
	assert_string_equal(buf, "/data/vgg16.h5");
	assert_int_equal(unsetenv("VGG16_WEIGHTS"), 0);
	assert_int_equal(model_default_path(MODEL_VGG16, buf, sizeof buf, err), 0);
	assert_string_equal(buf, "/opt/k/models/" MODEL_VGG16_FILE);
	assert_int_equal(unsetenv("VGGFACE_WEIGHTS"), 0);
	assert_int_equal(unsetenv("KERAS_HOME"), 0);
	assert_int_equal(unsetenv("HOME"), 0);
	assert_int_equal(model_default_path(MODEL_VGGFACE, buf, sizeof buf,
						    err), ERR_ARG);
	expect_in(err, "VGGFACE_WEIGHTS");
	for (int v = 0; v < 4; v++)
		if (had[v])
			setenv(vars[v], save[v], 1);
}

/* The models by name, by the store's name, and what they describe. */
static void test_model_info(void **state)
{
	const model_info_t *a = model_info(MODEL_VGG16);
	const model_info_t *b = model_info(MODEL_VGGFACE);

	assert_int_equal(model_parse("vgg16"), MODEL_VGG16);
	assert_int_equal(model_parse("vggface"), MODEL_VGGFACE);
	assert_int_equal(model_parse("VGG16"), -1);
	assert_int_equal(model_parse(""), -1);
	assert_int_equal(model_parse(NULL), -1);
	assert_int_equal(model_of_store("vgg16-fc2"), MODEL_VGG16);
	assert_int_equal(model_of_store("vggface-fc7"), MODEL_VGGFACE);
	assert_int_equal(model_of_store("resnet50-avgpool"), -1);
	assert_ptr_equal(model_info(MODEL_AUTO), a);
	assert_string_equal(a->layers[0], "block1_conv1");
	assert_string_equal(a->layers[WEIGHTS_NLAYERS - 1], "fc2");
	assert_string_equal(b->layers[0], "conv1_1");
	assert_string_equal(b->layers[WEIGHTS_NCONV], "fc6");
	assert_string_equal(b->layers[WEIGHTS_NLAYERS - 1], "fc7");
	/* VGG16's layer names are weights_spec's. */
	for (int i = 0; i < WEIGHTS_NLAYERS; i++)
		assert_string_equal(a->layers[i], weights_spec[i].name);
}

static void test_missing_help(void **state)
{
	char buf[1024];

	model_missing_help(MODEL_VGG16, "/x/y.h5", buf, sizeof buf);
	expect_in(buf, "/x/y.h5");
	expect_in(buf, MODEL_VGG16_URL);
	expect_in(buf, "~/.keras/models/");
	expect_in(buf, "VGG16_WEIGHTS");
	expect_in(buf, "--weights");

	model_missing_help(MODEL_VGGFACE, "/x/face.h5", buf, sizeof buf);
	expect_in(buf, "VGG-Face weights not found at /x/face.h5");
	expect_in(buf, MODEL_VGGFACE_URL);
	expect_in(buf, "~/.keras/models/vggface/" MODEL_VGGFACE_FILE);
	expect_in(buf, "VGGFACE_WEIGHTS");
	expect_in(buf, "--weights");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_path),
		cmocka_unit_test(test_default_path_vggface),
		cmocka_unit_test(test_model_info),
		cmocka_unit_test(test_missing_help),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
