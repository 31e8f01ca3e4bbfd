/* weights.h - reading Keras VGG16 weight files (HDF5).
 *
 * Supported layouts, all found by following the file's own attributes, the
 * way Keras' legacy HDF5 loader does (never by hard-coded dataset paths):
 *  - the official vgg16_weights_tf_dim_ordering_tf_kernels.h5: root attribute
 *    layer_names; one group per layer; each group's attribute weight_names
 *    lists datasets relative to the group ("block1_conv1_W_1:0");
 *  - Keras 2 save_weights files: weight_names like "block1_conv1/kernel:0"
 *    (a nested group), root attributes backend and keras_version;
 *  - Keras 2 model.save files: the same layout under /model_weights.
 * Strings may be fixed- or variable-length.  As in Keras (by_name=False),
 * layers that carry weights are matched to the model's in order: the first 15
 * of them must be the 13 convolutions, fc1 and fc2 (a top layer such as
 * "predictions" may follow and is ignored).
 *
 * Shapes: conv kernels HWIO (3, 3, in, out), dense kernels (in, out), biases
 * (out), float32 (other float types are converted by HDF5).
 */
#ifndef COMMON_WEIGHTS_H
#define COMMON_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#define WEIGHTS_NCONV 13
#define WEIGHTS_NLAYERS 15 /* 13 conv + fc1 + fc2 */
#define WEIGHTS_FILE_NAME "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
#define WEIGHTS_URL \
	"https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" \
	WEIGHTS_FILE_NAME

/* One layer of VGG16 that carries weights.  For a conv layer the kernel is
 * (3, 3, cin, cout); for a dense layer (cin, cout).  pool_after says a 2x2
 * max-pool follows the layer. */
typedef struct weights_layer_spec {
	const char *name; /* Keras' name: "block1_conv1" ... "fc2" */
	int is_conv;
	int cin, cout;
	int pool_after;
} weights_layer_spec_t;

extern const weights_layer_spec_t weights_spec[WEIGHTS_NLAYERS];

typedef struct weights {
	float *kernel[WEIGHTS_NLAYERS]; /* HWIO or (in, out), see weights_spec */
	float *bias[WEIGHTS_NLAYERS];   /* (cout) */
	/* One block holds them all, kernel then bias of each layer in order:
	 * malloc'd, or shared with the child process that read the file. */
	float *block;
	size_t block_bytes;
	int shared;
	/* A hash of every kernel's and bias' shape and float32 contents, in
	 * layer order, as 16 lower-case hex digits: two files with the same
	 * numbers have the same fingerprint, whatever their layout. */
	char fingerprint[17];
} weights_t;

/* weights_kernel_count returns the number of floats in layer i's kernel. */
size_t weights_kernel_count(int i);

/* weights_load reads the 15 layers from path into *w (allocating), in a
 * child process (h5child.h): a file that crashes or hangs libhdf5 gives
 * ERR_FORMAT "PATH: damaged HDF5 file (...)" instead of killing the caller.
 * Errors (one line naming the file, and the layer when there is one):
 * ERR_MISSING (no such file; a layer is missing, e.g. the _notop file),
 * ERR_FORMAT (not HDF5, truncated, attributes or datasets unreadable),
 * ERR_SHAPE (a dataset has the wrong shape), ERR_NOMEM; also ERR_IO (the
 * path cannot be opened or is not a regular file) and ERR_UNSUPPORTED (the
 * root's backend attribute says "theano": Keras would flip those kernels).
 * HDF5's own reason, when it gives one, ends the message in parentheses.
 * On failure *w is left empty.  HDF5's automatic error printing is switched
 * off during the call and restored after it, so the call must not run
 * concurrently with other HDF5 use (the serial HDF5 library is not
 * thread-safe anyway). */
int weights_load(const char *path, weights_t *w, char *err);

/* weights_read: weights_load in this process (the fuzz target's: it must
 * see libhdf5's crashes). */
int weights_read(const char *path, weights_t *w, char *err);

/* weights_free releases everything; accepts NULL and empty structs. */
void weights_free(weights_t *w);

/* weights_default_path writes the file weights are read from when none is
 * given: $VGG16_WEIGHTS, else where Keras' get_file caches it:
 * $KERAS_HOME/models/WEIGHTS_FILE_NAME when KERAS_HOME is set, else
 * ~/.keras/models/WEIGHTS_FILE_NAME.  (Keras falls back to /tmp/.keras when
 * that folder exists but is not writable; that case is not followed.)
 * Returns 0 or ERR_ARG (buffer too small / no HOME). */
int weights_default_path(char *buf, size_t len, char *err);

/* weights_path writes the file weights are read from: given (a
 * program's --weights) when not NULL, else weights_default_path's.
 * Returns 0 or ERR_ARG (a path longer than the buffer, no HOME). */
int weights_path(const char *given, char *buf, size_t len, char *err);

/* weights_missing_help writes the advice printed when the weights file does
 * not exist: where it was looked for and how to get it. */
void weights_missing_help(const char *path, char *buf, size_t len);

#endif
