/* keras_h5.h - the walk over a Keras HDF5 weights file that both of its
 * readers (weights.c for VGG16 / VGG-Face, head_file.c for the softmax
 * head) take, with the rule of Keras' legacy loader (hdf5_format.py):
 *
 *   - the group holding the attribute layer_names is the root, or
 *     /model_weights in a file written by model.save;
 *   - layer_names lists the model's layers in order, one group each, named
 *     relative to that group ("fc6/relu" is a nested group);
 *   - a layer's attribute weight_names lists its datasets, relative to the
 *     layer's group; load_attributes_from_hdf5_group gives [] for a missing
 *     attribute and load_weights_from_hdf5_group keeps only the layers
 *     whose list is not empty, so a layer without weight_names is a layer
 *     without weights: skipped, like one whose list is empty.
 *
 * List attributes are read by h5util_attr_strings (fixed- or
 * variable-length strings, split into name0, name1, ... when large). */
#ifndef COMMON_HDF5_KERAS_H5_H
#define COMMON_HDF5_KERAS_H5_H

#include <stddef.h>

#include <hdf5.h>

#include "hdf5/h5util.h"

/* The layers with weights, in file order: names.v[i] is a layer's name
 * (its group, relative to the group keras_h5_open_root gave) and
 * weights[i] its weight_names (never empty).  {0} is an empty list. */
typedef struct keras_h5_layers {
	h5util_strlist_t names;
	h5util_strlist_t *weights; /* (names.n) */
} keras_h5_layers_t;

/* keras_h5_open_root opens in *root the group holding layer_names: the
 * root group when it has layer_names (or its chunks layer_names0, ...),
 * else /model_weights when it exists, else the root group (where the walk
 * then finds no layer_names).  The caller closes *root with H5Oclose.
 * path prefixes the messages.  Returns 0 or ERR_FORMAT ("root group
 * unreadable", "model_weights is not a group"), with HDF5's reason. */
int keras_h5_open_root(hid_t file, const char *path, hid_t *root, char *err);

/* keras_h5_layers appends to out (empty or {0}) the first limit layers of
 * root's layer_names that have weights, in file order; fewer when the file
 * has fewer (the layers after the limit are not looked at).  Errors, each
 * one line naming path and, when there is one, the layer:
 * ERR_FORMAT "no layer_names attribute: not a Keras weights file", or an
 * attribute, a lookup or a group unreadable (HDF5's reason);
 * ERR_MISSING "layer X: listed in layer_names but there is no such group";
 * ERR_NOMEM.  On failure out holds what was found before it; free it with
 * keras_h5_layers_free either way. */
int keras_h5_layers(hid_t root, const char *path, size_t limit,
		    keras_h5_layers_t *out, char *err);

/* keras_h5_layers_free frees the lists and empties l; accepts NULL. */
void keras_h5_layers_free(keras_h5_layers_t *l);

#endif
