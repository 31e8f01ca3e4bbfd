/* model_file_impl.h - what the two files of the whole-model module share:
 * the model as one list of layers, in model order, which model_file.c
 * builds (from the registry, the weights and the head) and writes as HDF5,
 * and model_config.c writes as Keras' model_config. */
#ifndef COMMON_NET_MODEL_FILE_IMPL_H
#define COMMON_NET_MODEL_FILE_IMPL_H

#include <hdf5.h>

#include "net/model_file.h"

/* VGG's convolutions are 3x3, stride 1, 'same'; its pools 2x2, stride 2
 * (net/vgg.h). */
#define MODEL_FILE_CONV_SIZE 3
#define MODEL_FILE_POOL_SIZE 2

/* The backbone's Keras classes, beside the head's (MODEL_FILE_DENSE,
 * MODEL_FILE_DROPOUT): Conv2D, MaxPooling2D, Flatten, Activation. */
enum {
	MODEL_FILE_CONV = 16,
	MODEL_FILE_POOL,
	MODEL_FILE_FLATTEN,
	MODEL_FILE_ACTIVATION,
};

/* One layer of the model (the input is not one: Keras lists it in the
 * configuration only). */
typedef struct model_file_entry {
	int cls;                  /* a class above, or a model_file_kind */
	const char *name;
	int trainable;
	int units;                /* Conv2D's filters, Dense's units */
	const char *activation;   /* Conv2D, Dense, Activation */
	double rate;              /* Dropout */
	const float *kernel, *bias; /* NULL when the layer has no weights */
	int krank;
	hsize_t kdims[4];
} model_file_entry_t;

typedef struct model_file_list {
	model_file_entry_t *v;
	int n, cap;
} model_file_list_t;

/* model_file_config writes into *json (malloc'd, the caller frees it) the
 * model_config text of the Sequential model MODEL_FILE_NAME of the input
 * layer input (VGG_IN x VGG_IN x the first convolution's channels), then
 * l's layers, each with the keys, order and values of tf-keras 2.21's
 * get_config.  Returns 0, ERR_ARG (a name that is not UTF-8, a rate that
 * is not finite: jsonw.h) or ERR_NOMEM. */
int model_file_config(const model_file_list_t *l, const char *input, char **json,
		      char *err);

#endif
