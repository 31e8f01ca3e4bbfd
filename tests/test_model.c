/* test_model.c - the registry of models (common/net/model.h): names, the
 * stores' names, layer names, the taps, where each model's file is looked
 * for, and the advice printed when it is missing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "net/model.h"
#include "net/weights.h"
#include "testutil.h"

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

/* A record made with another model's preprocessing is refused, naming
 * the file, both settings and the model. */
static void test_check_preprocess(void **state)
{
	(void)state;
	const model_info_t *a = model_info(MODEL_VGG16);
	const model_info_t *b = model_info(MODEL_VGGFACE);
	char err[ERR_LEN], want[ERR_LEN];

	assert_string_not_equal(a->preprocess, b->preprocess);
	assert_int_equal(model_check_preprocess(MODEL_VGG16, a->preprocess, "a.lmdb",
						"holds vectors", err), 0);
	assert_int_equal(model_check_preprocess(MODEL_VGGFACE, b->preprocess,
						"a.lmdb", "holds vectors", err), 0);
	assert_int_equal(model_check_preprocess(MODEL_VGG16, b->preprocess, "/x/h.h5",
						"was trained on features", err),
			 ERR_MISMATCH);
	snprintf(want, sizeof want, "/x/h.h5 was trained on features made with "
		 "preprocessing '%s'; this program uses '%s' for VGG16",
		 b->preprocess, a->preprocess);
	assert_string_equal(err, want);
	assert_int_equal(model_check_preprocess(MODEL_VGGFACE, "", "a.lmdb",
						"holds vectors", err), ERR_MISMATCH);
	expect_in(err, "a.lmdb holds vectors made with preprocessing ''");
	expect_in(err, "for VGG-Face");
}

static void test_missing_help(void **state)
{
	char buf[1024];

	model_missing_help(MODEL_VGG16, MODEL_TAP_FC2, "/x/y.h5", buf, sizeof buf);
	expect_in(buf, "/x/y.h5");
	expect_in(buf, MODEL_VGG16_URL);
	expect_in(buf, "~/.keras/models/");
	expect_in(buf, "VGG16_WEIGHTS");
	expect_in(buf, "--weights");

	assert_null(strstr(buf, "_notop"));
	assert_null(strstr(buf, "names)"));
	/* A path from the variable says so: the user did not type it. */
	assert_int_equal(setenv("VGG16_WEIGHTS", "/x/y.h5", 1), 0);
	model_missing_help(MODEL_VGG16, MODEL_TAP_FC2, "/x/y.h5", buf, sizeof buf);
	expect_in(buf, "VGG16 weights not found at /x/y.h5 (the path VGG16_WEIGHTS "
		  "names)\n");
	assert_int_equal(unsetenv("VGG16_WEIGHTS"), 0);

	model_missing_help(MODEL_VGGFACE, MODEL_TAP_FC1, "/x/face.h5", buf, sizeof buf);
	expect_in(buf, "VGG-Face weights not found at /x/face.h5");
	expect_in(buf, MODEL_VGGFACE_URL);
	expect_in(buf, "~/.keras/models/vggface/" MODEL_VGGFACE_FILE);
	expect_in(buf, "VGGFACE_WEIGHTS");
	expect_in(buf, "--weights");
	assert_null(strstr(buf, "_notop"));

	/* A pool tap: the _notop file serves too. */
	model_missing_help(MODEL_VGG16, MODEL_TAP_POOL_AVG, "/x/y.h5", buf, sizeof buf);
	expect_in(buf, "block5_pool needs no dense layer");
	expect_in(buf, MODEL_VGG16_NOTOP_FILE);
	model_missing_help(MODEL_VGGFACE, MODEL_TAP_POOL, "/x/y.h5", buf, sizeof buf);
	expect_in(buf, "pool5 needs no dense layer");
	expect_in(buf, "rcmalli_vggface_tf_notop_vgg16.h5");
}

/* Every tap: its store name in each model (the default's the names stores
 * had before the taps), its width, the layers it needs, its layer's name,
 * and the way back from the store's name. */
static void test_taps(void **state)
{
	static const char *const names[2][MODEL_NTAPS] = {
		{ "vgg16-fc2", "vgg16-fc1", "vgg16-block5_pool", "vgg16-block5_pool-avg",
		  "vgg16-block5_pool-max" },
		{ "vggface-fc7", "vggface-fc6", "vggface-pool5", "vggface-pool5-avg",
		  "vggface-pool5-max" },
	};
	static const char *const layers[2][3] = {
		{ "fc2", "fc1", "block5_pool" }, { "fc7", "fc6", "pool5" },
	};
	static const int dims[MODEL_NTAPS] = { 4096, 4096, 25088, 512, 512 };
	static const int nlayers[MODEL_NTAPS] = { 15, 14, 13, 13, 13 };
	static const char *const poolings[MODEL_NTAPS] = { NULL, NULL, NULL, "avg", "max" };

	for (int m = MODEL_VGG16; m <= MODEL_VGGFACE; m++)
		for (int t = 0; t < MODEL_NTAPS; t++) {
			const char *s = model_store_name(m, t);
			int mm = -1, tt = -1;
			assert_string_equal(s, names[m - 1][t]);
			assert_int_equal(model_store_parse(s, &mm, &tt), 0);
			assert_int_equal(mm, m);
			assert_int_equal(tt, t);
			assert_int_equal(model_of_store(s), m);
			assert_non_null(strstr(model_store_names(), s));
			assert_string_equal(model_tap_layer(m, t),
					    layers[m - 1][t < MODEL_TAP_POOL ? t : 2]);
		}
	assert_string_equal(model_store_name(MODEL_VGG16, MODEL_TAP_FC2),
			    model_info(MODEL_VGG16)->store_model);
	assert_string_equal(model_store_name(MODEL_VGGFACE, MODEL_TAP_FC2),
			    model_info(MODEL_VGGFACE)->store_model);
	assert_string_equal(model_store_name(MODEL_AUTO, MODEL_TAP_POOL_AVG),
			    "vgg16-block5_pool-avg");
	for (int t = 0; t < MODEL_NTAPS; t++) {
		assert_int_equal(model_tap_info(t)->dim, dims[t]);
		assert_int_equal(model_tap_info(t)->nlayers, nlayers[t]);
		if (poolings[t])
			assert_string_equal(model_tap_info(t)->pooling, poolings[t]);
		else
			assert_null(model_tap_info(t)->pooling);
	}
	int m = 0, t = 0;
	assert_int_equal(model_store_parse("vgg16-block5_pool-mean", &m, &t), -1);
	assert_int_equal(model_store_parse("vgg16-pool5-avg", &m, &t), -1);
	assert_int_equal(model_store_parse(NULL, &m, &t), -1);
	assert_int_equal(model_of_store("vgg16-fc1 "), -1);
}

/* --layer and --pooling, as extract parses them. */
static void test_tap_find(void **state)
{
	static const struct {
		const char *layer, *pooling;
		int model, tap;
	} ok[] = {
		{ NULL, NULL, MODEL_AUTO, MODEL_TAP_FC2 },
		{ "fc2", NULL, MODEL_VGG16, MODEL_TAP_FC2 },
		{ "fc1", NULL, MODEL_VGG16, MODEL_TAP_FC1 },
		{ "block5_pool", NULL, MODEL_VGG16, MODEL_TAP_POOL },
		{ "block5_pool", "avg", MODEL_VGG16, MODEL_TAP_POOL_AVG },
		{ "block5_pool", "max", MODEL_VGG16, MODEL_TAP_POOL_MAX },
		{ "fc7", NULL, MODEL_VGGFACE, MODEL_TAP_FC2 },
		{ "fc6", NULL, MODEL_VGGFACE, MODEL_TAP_FC1 },
		{ "pool5", NULL, MODEL_VGGFACE, MODEL_TAP_POOL },
		{ "pool5", "avg", MODEL_VGGFACE, MODEL_TAP_POOL_AVG },
		{ "pool5", "max", MODEL_VGGFACE, MODEL_TAP_POOL_MAX },
	};
	static const struct {
		const char *layer, *pooling, *says;
	} bad[] = {
		{ "fc3", NULL, "'fc3' is not fc2, fc1 or block5_pool (VGG-Face: fc7, fc6 or pool5)" },
		{ "FC2", NULL, "'FC2' is not" },
		{ "block4_pool", NULL, "'block4_pool' is not" },
		{ "", NULL, "'' is not" },
		{ "fc2", "avg", "--pooling avg: Keras pools block5_pool (VGG-Face: pool5) only" },
		{ "fc6", "max", "give --layer pool5" },
		{ NULL, "avg", "give --layer block5_pool" },
		{ "block5_pool", "mean", "--pooling: 'mean' is not avg or max" },
		{ "pool5", "", "--pooling: '' is not avg or max" },
	};
	char err[ERR_LEN];

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int m = -1, t = -1;
		assert_int_equal(model_tap_find(ok[i].layer, ok[i].pooling, &m, &t, err), 0);
		assert_int_equal(m, ok[i].model);
		assert_int_equal(t, ok[i].tap);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int m = -1, t = -1;
		assert_int_equal(model_tap_find(bad[i].layer, bad[i].pooling, &m, &t, err),
				 ERR_ARG);
		expect_in(err, bad[i].says);
		assert_int_equal(m, -1);
		assert_int_equal(t, -1);
	}

	char buf[128];
	model_tap_options(MODEL_VGG16, MODEL_TAP_POOL_AVG, buf, sizeof buf);
	assert_string_equal(buf, "--layer block5_pool --pooling avg");
	model_tap_options(MODEL_VGGFACE, MODEL_TAP_POOL, buf, sizeof buf);
	assert_string_equal(buf, "--layer pool5");
	model_tap_options(MODEL_VGGFACE, MODEL_TAP_FC1, buf, sizeof buf);
	assert_string_equal(buf, "--layer fc6");
	model_tap_list(MODEL_VGG16, WEIGHTS_NLAYERS, buf, sizeof buf);
	assert_string_equal(buf, "fc2, fc1 or block5_pool (avg- or max-pooled, or flattened)");
	model_tap_list(MODEL_VGGFACE, WEIGHTS_NCONV, buf, sizeof buf);
	assert_string_equal(buf, "pool5 (avg- or max-pooled, or flattened)");
}

/* Without --weights, a pool tap reads the _notop file when Keras cached it
 * beside the full one; the dense taps, $VGG16_WEIGHTS and --weights are
 * as before. */
static void test_tap_path(void **state)
{
	static const char *const vars[] = { "VGG16_WEIGHTS", "VGGFACE_WEIGHTS",
					    "KERAS_HOME" };
	char save[3][4096], buf[4096], want[4096], err[ERR_LEN];
	int had[3];
	const char *dir = tu_tmpdir();

	for (int v = 0; v < 3; v++) {
		const char *x = getenv(vars[v]);
		had[v] = x != NULL;
		snprintf(save[v], sizeof save[v], "%s", x ? x : "");
		unsetenv(vars[v]);
	}
	assert_int_equal(setenv("KERAS_HOME", dir, 1), 0);
	/* No _notop file cached: the full file, for every tap. */
	for (int t = 0; t < MODEL_NTAPS; t++) {
		assert_int_equal(model_tap_path(NULL, MODEL_VGG16, t, buf, sizeof buf, err), 0);
		snprintf(want, sizeof want, "%s/models/" MODEL_VGG16_FILE, dir);
		assert_string_equal(buf, want);
	}
	snprintf(want, sizeof want, "%s/models", dir);
	assert_int_equal(mkdir(want, 0755), 0);
	snprintf(want, sizeof want, "%s/models/" MODEL_VGG16_NOTOP_FILE, dir);
	assert_int_equal(tu_write_file(want, "x", 1), 0);
	for (int t = 0; t < MODEL_NTAPS; t++) {
		assert_int_equal(model_tap_path(NULL, MODEL_AUTO, t, buf, sizeof buf, err), 0);
		if (model_tap_info(t)->nlayers == WEIGHTS_NCONV)
			assert_string_equal(buf, want);
		else
			assert_non_null(strstr(buf, "/models/" MODEL_VGG16_FILE));
	}
	/* VGG-Face's cache has no _notop file. */
	assert_int_equal(model_tap_path(NULL, MODEL_VGGFACE, MODEL_TAP_POOL_MAX, buf,
					sizeof buf, err), 0);
	assert_non_null(strstr(buf, "/models/vggface/" MODEL_VGGFACE_FILE));
	/* The variable and --weights come first. */
	assert_int_equal(setenv("VGG16_WEIGHTS", "/data/w.h5", 1), 0);
	assert_int_equal(model_tap_path(NULL, MODEL_VGG16, MODEL_TAP_POOL_AVG, buf,
					sizeof buf, err), 0);
	assert_string_equal(buf, "/data/w.h5");
	assert_int_equal(unsetenv("VGG16_WEIGHTS"), 0);
	assert_int_equal(model_tap_path("/w/given.h5", MODEL_VGG16, MODEL_TAP_POOL_AVG,
					buf, sizeof buf, err), 0);
	assert_string_equal(buf, "/w/given.h5");
	/* A buffer that holds the full path but not the _notop one. */
	snprintf(want, sizeof want, "%s/models/" MODEL_VGG16_FILE, dir);
	assert_int_equal(model_tap_path(NULL, MODEL_VGG16, MODEL_TAP_POOL_AVG, buf,
					strlen(want) + 1, err), ERR_ARG);
	for (int v = 0; v < 3; v++)
		if (had[v])
			setenv(vars[v], save[v], 1);
		else
			unsetenv(vars[v]);
	tu_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_path),
		cmocka_unit_test(test_default_path_vggface),
		cmocka_unit_test(test_model_info),
		cmocka_unit_test(test_check_preprocess),
		cmocka_unit_test(test_missing_help),
		cmocka_unit_test(test_taps),
		cmocka_unit_test(test_tap_find),
		cmocka_unit_test(test_tap_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
