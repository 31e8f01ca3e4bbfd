/* weights.h - reading Keras VGG16 and VGG-Face weight files (HDF5).
 *
 * Supported layouts, all found by following the file's own attributes, the
 * way Keras' legacy HDF5 loader does (never by hard-coded dataset paths):
 *  - the official vgg16_weights_tf_dim_ordering_tf_kernels.h5: root attribute
 *    layer_names; one group per layer; each group's attribute weight_names
 *    lists datasets relative to the group ("block1_conv1_W_1:0");
 *  - Keras 2 save_weights files: weight_names like "block1_conv1/kernel:0"
 *    (a nested group), root attributes backend and keras_version;
 *  - Keras 2 model.save files: the same layout under /model_weights.
 * Strings may be fixed- or variable-length.  A layer without weight_names
 * has no weights, as in Keras (keras_h5.h).  As in Keras (by_name=False),
 * layers that carry weights are matched to the model's in order: the first 15
 * of them must be the 13 convolutions and the two dense layers whose output
 * is the vector (a top layer such as "predictions" may follow and is
 * ignored).
 *
 * Two models share that network (13 conv 3x3, two dense layers of 4096, the
 * same shapes; net/model.h, the registry, holds what else sets them
 * apart), told apart by the names of the file's layers with weights,
 * never by their shapes:
 *  - VGG16 (keras.applications, ImageNet): block1_conv1 .. block5_conv3,
 *    fc1, fc2 [, predictions]; the vector is fc2 after its ReLU;
 *  - VGG-Face (keras-vggface's VGGFace(model='vgg16'), Parkhi et al. 2015,
 *    rcmalli_vggface_tf_vgg16.h5): conv1_1 .. conv5_3, fc6, fc7 [, fc8];
 *    its activations are layers of their own ("fc6/relu": nested groups
 *    without weights); the vector is fc7 after its ReLU, the same place in
 *    the network.
 * A file whose names are neither is refused with the names it holds.
 *
 * The _notop files (include_top=False: vgg16_weights_tf_dim_ordering_tf_
 * kernels_notop.h5, rcmalli_vggface_tf_notop_vgg16.h5, in every layout
 * above) hold the 13 convolutions alone: they load with nlayers 13 and
 * serve the pool taps (net/model.h), never fc1 or fc2.
 *
 * Shapes: conv kernels HWIO (3, 3, in, out), dense kernels (in, out), biases
 * (out), float32 (other float types are converted by HDF5).
 */
#ifndef COMMON_NET_WEIGHTS_H
#define COMMON_NET_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#define WEIGHTS_NCONV 13
#define WEIGHTS_NLAYERS 15 /* 13 conv + fc1 + fc2 */
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
	int model; /* MODEL_VGG16 or MODEL_VGGFACE, from the layer names */
	/* The layers read: WEIGHTS_NLAYERS, or WEIGHTS_NCONV from a _notop
	 * file (kernel and bias NULL past them). */
	int nlayers;
	/* A hash of every kernel's and bias' shape and float32 contents, in
	 * layer order, as 16 lower-case hex digits: two files with the same
	 * numbers have the same fingerprint, whatever their layout.  The
	 * hash runs layer after layer: fp[n - WEIGHTS_NCONV] is its value
	 * after the first n layers (weights_fingerprint), fingerprint its
	 * value over the file's nlayers. */
	char fingerprint[17];
	char fp[WEIGHTS_NLAYERS - WEIGHTS_NCONV + 1][17];
} weights_t;

/* weights_kernel_count returns the number of floats in layer i's kernel. */
size_t weights_kernel_count(int i);

/* weights_load reads the 15 layers from path into *w (allocating), or the
 * 13 convolutions of a _notop file (w->nlayers), and the
 * model they belong to (w->model, from the layer names), in a child
 * process (h5child.h): a file that crashes or hangs libhdf5 gives
 * ERR_FORMAT "PATH: damaged HDF5 file (...)" instead of killing the caller.
 * Errors (one line naming the file, and the layer when there is one):
 * ERR_MISSING (no such file; a layer is missing: fewer than 13, or 14),
 * ERR_UNSUPPORTED (layer names that are neither VGG16's nor VGG-Face's,
 * e.g. DeepFace's conv2d_1...: the message lists them),
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

/* weights_check_model: 0 when want is MODEL_AUTO or the model w holds,
 * else ERR_MISMATCH naming both (path is w's file, for the message). */
int weights_check_model(const weights_t *w, int want, const char *path,
			char *err);

/* weights_fingerprint: the fingerprint of w's first nlayers layers (16 hex
 * digits, in w), or NULL when nlayers is not WEIGHTS_NCONV .. w->nlayers.
 * A tap's vectors depend on exactly the layers it needs (net/model.h's
 * nlayers), so a store records this one: a full file and its _notop file
 * give the pool taps the same fingerprint, and the full file's over
 * WEIGHTS_NLAYERS is the fingerprint stores had before the taps. */
const char *weights_fingerprint(const weights_t *w, int nlayers);

/* weights_check_fingerprint: 0 when recorded, the fingerprint a record (a
 * store's "fingerprint", a head's vggfeat_fingerprint) says its vectors
 * were made with at tap, is w's over the layers tap needs, else
 * ERR_MISMATCH naming both files: "<path> <whose> of VGG16 weights with
 * fingerprint <recorded>, but <wpath> has fingerprint <w's>; use the
 * weights extract used" (whose: "holds vectors", "was trained on
 * features").  Weights that do not give tap: weights_check_tap's error. */
int weights_check_fingerprint(const weights_t *w, int tap, const char *recorded,
			      const char *wpath, const char *path,
			      const char *whose, char *err);

/* weights_check_layer: 0 when layer, a --layer's name, is w's model's
 * (layer_model, the model whose name it is: model_tap_find; MODEL_AUTO,
 * no --layer, passes), else ERR_MISMATCH naming the file (path), the
 * model it holds and the layers it has ("--layer fc7 is VGG-Face's name,
 * but PATH holds VGG16 weights, whose layers are fc2, fc1 or ..."). */
int weights_check_layer(const weights_t *w, int layer_model, const char *layer,
			const char *path, char *err);

/* weights_check_tap: 0 when w holds the layers tap (net/model.h) needs,
 * else ERR_MISSING naming the file (path), what it holds and the taps it
 * gives ("PATH is VGG16's _notop file (13 convolutions, no fc1 or fc2): it
 * gives block5_pool (...), not fc2"). */
int weights_check_tap(const weights_t *w, int tap, const char *path,
		      char *err);

#endif
