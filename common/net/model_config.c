/* model_config.c - the whole-model file's model_config (model_file_impl.h):
 * the Keras configuration of each layer, as tf-keras 2.21's get_config
 * gives it for the seed's model, written as json.dumps writes it, so that
 * the text is the one model.save writes (tests/ref/keras_model.py compares
 * them byte for byte). */
#include "net/model_file_impl.h"

#include "base/jsonw.h"
#include "net/vgg.h"
#include "net/weights.h"

/* class_name: Keras' name of a layer class. */
static const char *class_name(int cls)
{
	switch (cls) {
	case MODEL_FILE_CONV: return "Conv2D";
	case MODEL_FILE_POOL: return "MaxPooling2D";
	case MODEL_FILE_FLATTEN: return "Flatten";
	case MODEL_FILE_ACTIVATION: return "Activation";
	case MODEL_FILE_DENSE: return "Dense";
	case MODEL_FILE_DROPOUT: return "Dropout";
	}
	return "?";
}

static void int_pair(jsonw_t *j, const char *key, int v)
{
	jsonw_key(j, key);
	jsonw_begin_array(j);
	jsonw_int(j, v);
	jsonw_int(j, v);
	jsonw_end_array(j);
}

/* An initializer as tf-keras 2.21 serialises it. */
static void initializer(jsonw_t *j, const char *key, const char *cls, int seed)
{
	jsonw_key(j, key);
	jsonw_begin_object(j);
	jsonw_key(j, "module");
	jsonw_string(j, "keras.initializers");
	jsonw_key(j, "class_name");
	jsonw_string(j, cls);
	jsonw_key(j, "config");
	jsonw_begin_object(j);
	if (seed) {
		jsonw_key(j, "seed");
		jsonw_null(j);
	}
	jsonw_end_object(j);
	jsonw_key(j, "registered_name");
	jsonw_null(j);
	jsonw_end_object(j);
}

/* What Conv2D's and Dense's configurations end with, from use_bias. */
static void weights_tail(jsonw_t *j)
{
	static const char *const none[] = {"kernel_regularizer", "bias_regularizer",
		"activity_regularizer", "kernel_constraint", "bias_constraint"};

	jsonw_key(j, "use_bias");
	jsonw_bool(j, 1);
	initializer(j, "kernel_initializer", "GlorotUniform", 1);
	initializer(j, "bias_initializer", "Zeros", 0);
	for (size_t i = 0; i < sizeof none / sizeof *none; i++) {
		jsonw_key(j, none[i]);
		jsonw_null(j);
	}
}

/* layer_json writes {"class_name": ..., "config": {...}} of L, with the
 * keys in the order of tf-keras 2.21's get_config. */
static void layer_json(jsonw_t *j, const model_file_entry_t *L)
{
	jsonw_begin_object(j);
	jsonw_key(j, "class_name");
	jsonw_string(j, class_name(L->cls));
	jsonw_key(j, "config");
	jsonw_begin_object(j);
	jsonw_key(j, "name");
	jsonw_string(j, L->name);
	jsonw_key(j, "trainable");
	jsonw_bool(j, L->trainable);
	jsonw_key(j, "dtype");
	jsonw_string(j, "float32");
	switch (L->cls) {
	case MODEL_FILE_CONV:
		jsonw_key(j, "filters");
		jsonw_int(j, L->units);
		int_pair(j, "kernel_size", MODEL_FILE_CONV_SIZE);
		int_pair(j, "strides", 1);
		jsonw_key(j, "padding");
		jsonw_string(j, "same");
		jsonw_key(j, "data_format");
		jsonw_string(j, "channels_last");
		int_pair(j, "dilation_rate", 1);
		jsonw_key(j, "groups");
		jsonw_int(j, 1);
		jsonw_key(j, "activation");
		jsonw_string(j, L->activation);
		weights_tail(j);
		break;
	case MODEL_FILE_POOL:
		int_pair(j, "pool_size", MODEL_FILE_POOL_SIZE);
		jsonw_key(j, "padding");
		jsonw_string(j, "valid");
		int_pair(j, "strides", MODEL_FILE_POOL_SIZE);
		jsonw_key(j, "data_format");
		jsonw_string(j, "channels_last");
		break;
	case MODEL_FILE_FLATTEN:
		jsonw_key(j, "data_format");
		jsonw_string(j, "channels_last");
		break;
	case MODEL_FILE_DENSE:
		jsonw_key(j, "units");
		jsonw_int(j, L->units);
		jsonw_key(j, "activation");
		jsonw_string(j, L->activation);
		weights_tail(j);
		break;
	case MODEL_FILE_ACTIVATION:
		jsonw_key(j, "activation");
		jsonw_string(j, L->activation);
		break;
	case MODEL_FILE_DROPOUT:
		jsonw_key(j, "rate");
		jsonw_real(j, L->rate);
		jsonw_key(j, "noise_shape");
		jsonw_null(j);
		jsonw_key(j, "seed");
		jsonw_null(j);
		break;
	}
	jsonw_end_object(j);
	jsonw_end_object(j);
}

int model_file_config(const model_file_list_t *l, const char *input, char **json,
		      char *err)
{
	jsonw_t j = {0};

	jsonw_begin_object(&j);
	jsonw_key(&j, "class_name");
	jsonw_string(&j, "Sequential");
	jsonw_key(&j, "config");
	jsonw_begin_object(&j);
	jsonw_key(&j, "name");
	jsonw_string(&j, MODEL_FILE_NAME);
	jsonw_key(&j, "layers");
	jsonw_begin_array(&j);

	jsonw_begin_object(&j);
	jsonw_key(&j, "class_name");
	jsonw_string(&j, "InputLayer");
	jsonw_key(&j, "config");
	jsonw_begin_object(&j);
	jsonw_key(&j, "batch_input_shape");
	jsonw_begin_array(&j);
	jsonw_null(&j);
	jsonw_int(&j, VGG_IN);
	jsonw_int(&j, VGG_IN);
	jsonw_int(&j, weights_spec[0].cin);
	jsonw_end_array(&j);
	jsonw_key(&j, "dtype");
	jsonw_string(&j, "float32");
	jsonw_key(&j, "sparse");
	jsonw_bool(&j, 0);
	jsonw_key(&j, "ragged");
	jsonw_bool(&j, 0);
	jsonw_key(&j, "name");
	jsonw_string(&j, input);
	jsonw_key(&j, "optional");
	jsonw_bool(&j, 0);
	jsonw_end_object(&j);
	jsonw_end_object(&j);

	for (int i = 0; i < l->n; i++)
		layer_json(&j, &l->v[i]);
	jsonw_end_array(&j);
	jsonw_end_object(&j);
	jsonw_end_object(&j);
	return jsonw_finish(&j, json, err);
}
