/* gen_weights.c - writes a synthetic VGG16 (or VGG-Face) weights file laid
 * out exactly as Keras (or keras-vggface) wrote one, so that the loader and
 * the network can be tested without the real 553 MB download.
 *
 * The numbers depend only on the seed, never on the layout: the weighted
 * layers are generated in model order (the 13 convolutions, fc1, fc2, then
 * predictions; VGG-Face's conv1_1 .. conv5_3, fc6, fc7, then fc8, whose 15
 * first layers get the same numbers as VGG16's for the same seed) from one
 * splitmix64 stream (common/base/rng.h, seeded with the seed):
 *  - kernel: He-normal, std = sqrt(2 / fan_in) with fan_in = 3*3*cin for a
 *    convolution and cin for a dense layer; the normals come from
 *    Box-Muller on consecutive pairs (u1, u2) of rng_uniform, in double:
 *    r = sqrt(-2 ln(1 - u1)), t = 2 pi u2, first r cos t, then r sin t;
 *    each value is (float)(std * z), in row-major (C) order;
 *  - bias: (float)(-0.05 + 0.1 * u), u = rng_uniform, one per output.
 * tests/test_weights.c recomputes values from this description.
 *
 * Layouts (what the loader has to find by following attributes):
 *  official  like vgg16_weights_tf_dim_ordering_tf_kernels.h5 (Keras 1):
 *            root layer_names as NUL-padded fixed-length strings, as h5py
 *            stores a numpy 'S' array; datasets <layer>_W_1:0 and
 *            <layer>_b_1:0 in each layer's group; layers without weights
 *            have weight_names = np.asarray([]), which h5py stores as an
 *            empty float64 array; ends with predictions (4096 -> 1000).
 *  keras2    a Keras 2 save_weights file: variable-length strings, root
 *            backend and keras_version, datasets in a nested group
 *            (<layer>/<layer>/kernel:0), empty weight_names as a
 *            zero-length string array.
 *  model     a Keras 2 model.save file: the keras2 layout under
 *            /model_weights, with model_config on the root.
 *  vggface   keras-vggface's rcmalli_vggface_tf_vgg16.h5 (Keras 2
 *            save_weights of VGGFace(model='vgg16')): layers input_1,
 *            conv1_1 .. conv5_3 and pool1 .. pool5, flatten, fc6,
 *            fc6/relu, fc7, fc7/relu, fc8 (4096 -> 2622), fc8/softmax; the
 *            activations' names hold a '/', so they are groups nested in
 *            fc6, fc7 and fc8, with empty weight_names; strings as numpy
 *            'S' arrays and empty lists as float64, as Keras 2.1 through
 *            h5py 2 wrote them; datasets <layer>/<layer>/kernel:0.
 *  deepface  like DeepFace's vgg_face_weights.h5 (a Keras Sequential
 *            model): zero_padding2d_N, conv2d_1 .. conv2d_16, the fully
 *            connected layers as convolutions (conv2d_14 is 7x7x512x4096,
 *            conv2d_15 1x1, conv2d_16 1x1 to 2622), dropout_N, flatten_1,
 *            activation_1, in the vggface layout's attributes; its datasets
 *            have their real shapes but are never written (HDF5 reads
 *            zeros): a file of a few KB, for the loader's refusal.
 * --notop leaves out flatten, fc1, fc2 and predictions, like
 * vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 (vggface: flatten and
 * what follows, like rcmalli_vggface_tf_notop_vgg16.h5). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "error.h"
#include "base/rng.h"
#include "net/model.h"
#include "net/weights.h"

static const char usage[] =
	"usage: gen_weights --seed N --out PATH\n"
	"                   [--layout official|keras2|model|vggface|deepface]\n"
	"                   [--notop] [--help]\n"
	"Writes a VGG16 (vggface: VGG-Face) weights file in Keras' HDF5 layout\n"
	"with seeded He-normal kernels and small uniform biases (same seed, same\n"
	"numbers, whatever the layout).\n";

/* Keras' VGG16 layers in model order; the notop file stops at block5_pool. */
static const char *const vgg16_layers[] = {
	"input_1",
	"block1_conv1", "block1_conv2", "block1_pool",
	"block2_conv1", "block2_conv2", "block2_pool",
	"block3_conv1", "block3_conv2", "block3_conv3", "block3_pool",
	"block4_conv1", "block4_conv2", "block4_conv3", "block4_pool",
	"block5_conv1", "block5_conv2", "block5_conv3", "block5_pool",
	"flatten", "fc1", "fc2", "predictions",
};

/* keras-vggface's VGGFace(model='vgg16'); its notop stops at pool5. */
static const char *const vggface_layers[] = {
	"input_1",
	"conv1_1", "conv1_2", "pool1",
	"conv2_1", "conv2_2", "pool2",
	"conv3_1", "conv3_2", "conv3_3", "pool3",
	"conv4_1", "conv4_2", "conv4_3", "pool4",
	"conv5_1", "conv5_2", "conv5_3", "pool5",
	"flatten", "fc6", "fc6/relu", "fc7", "fc7/relu", "fc8", "fc8/softmax",
};

/* DeepFace's Sequential VGG-Face: padding before each convolution. */
static const char *const deepface_layers[] = {
	"zero_padding2d_1", "conv2d_1", "zero_padding2d_2", "conv2d_2",
	"max_pooling2d_1",
	"zero_padding2d_3", "conv2d_3", "zero_padding2d_4", "conv2d_4",
	"max_pooling2d_2",
	"zero_padding2d_5", "conv2d_5", "zero_padding2d_6", "conv2d_6",
	"zero_padding2d_7", "conv2d_7", "max_pooling2d_3",
	"zero_padding2d_8", "conv2d_8", "zero_padding2d_9", "conv2d_9",
	"zero_padding2d_10", "conv2d_10", "max_pooling2d_4",
	"zero_padding2d_11", "conv2d_11", "zero_padding2d_12", "conv2d_12",
	"zero_padding2d_13", "conv2d_13", "max_pooling2d_5",
	"conv2d_14", "dropout_1", "conv2d_15", "dropout_2", "conv2d_16",
	"flatten_1", "activation_1",
};

#define GEN_COUNT(a) (sizeof (a) / sizeof *(a))
#define GEN_NOTOP_NLAYERS 19

/* A layout: its layers, and how Keras' version of the day wrote them. */
typedef struct gen_layout {
	const char *name;
	const char *const *layers;
	size_t nlayers;
	int model;        /* weights.h's, whose shapes the layers take; 0: DeepFace */
	int vlen;         /* variable-length strings (h5py 3), else numpy 'S' */
	int keras1_names; /* <layer>_W_1:0, else <layer>/kernel:0 */
	int root_attrs;   /* backend and keras_version beside layer_names */
	int model_save;   /* under /model_weights, model_config on the root */
	int declared;     /* datasets declared, never written */
} gen_layout_t;

static const gen_layout_t gen_layouts[] = {
	{"official", vgg16_layers, GEN_COUNT(vgg16_layers), MODEL_VGG16, 0, 1, 0, 0, 0},
	{"keras2", vgg16_layers, GEN_COUNT(vgg16_layers), MODEL_VGG16, 1, 0, 1, 0, 0},
	{"model", vgg16_layers, GEN_COUNT(vgg16_layers), MODEL_VGG16, 1, 0, 1, 1, 0},
	{"vggface", vggface_layers, GEN_COUNT(vggface_layers), MODEL_VGGFACE, 0, 0, 1,
	 0, 0},
	{"deepface", deepface_layers, GEN_COUNT(deepface_layers), 0, 0, 0, 1, 0, 1},
};

/* Floats per write: big enough for HDF5 to stream, small enough that fc1
 * (411 MB) never sits in memory whole. */
#define GEN_SLAB_FLOATS ((size_t)1 << 20)

/* A kernel: k x k x cin x cout for a convolution (k > 0), else a dense
 * cin x cout. */
typedef struct gen_shape {
	int k, cin, cout;
} gen_shape_t;

/* gen_layer_shape says whether layer name of layout l has weights and
 * which: the model's 15 layers have VGG16's shapes (weights_spec), its top
 * layer (predictions, fc8) 1000 or 2622 outputs; DeepFace's conv2d_N are
 * VGG16's convolutions, then fc6, fc7 and fc8 as 7x7 and 1x1 ones. */
static int gen_layer_shape(const gen_layout_t *l, const char *name,
			   gen_shape_t *s)
{
	int n;

	if (!l->model) {
		if (sscanf(name, "conv2d_%d", &n) != 1 || n < 1 || n > 16)
			return 0;
		if (n <= WEIGHTS_NCONV)
			*s = (gen_shape_t){3, weights_spec[n - 1].cin,
					   weights_spec[n - 1].cout};
		else
			*s = n == 14 ? (gen_shape_t){7, 512, 4096}
			   : n == 15 ? (gen_shape_t){1, 4096, 4096}
				     : (gen_shape_t){1, 4096, 2622};
		return 1;
	}
	if (strcmp(name, l->model == MODEL_VGG16 ? "predictions" : "fc8") == 0) {
		*s = (gen_shape_t){0, 4096, l->model == MODEL_VGG16 ? 1000 : 2622};
		return 1;
	}
	for (int i = 0; i < WEIGHTS_NLAYERS; i++)
		if (strcmp(name, model_info(l->model)->layers[i]) == 0) {
			*s = (gen_shape_t){weights_spec[i].is_conv ? 3 : 0,
					   weights_spec[i].cin, weights_spec[i].cout};
			return 1;
		}
	return 0;
}

/* ---- numbers ----------------------------------------------------------- */

typedef struct gen_normal {
	rng_t *rng;
	int have_spare;
	double spare;
} gen_normal_t;

static double gen_normal_next(gen_normal_t *g)
{
	double u1, u2, r, t;

	if (g->have_spare) {
		g->have_spare = 0;
		return g->spare;
	}
	u1 = rng_uniform(g->rng);
	u2 = rng_uniform(g->rng);
	r = sqrt(-2.0 * log(1.0 - u1)); /* 1 - u1 is in (0, 1]: no log(0) */
	t = 2.0 * M_PI * u2;
	g->spare = r * sin(t);
	g->have_spare = 1;
	return r * cos(t);
}

/* ---- attributes -------------------------------------------------------- */

/* attr_strings writes a 1-D string attribute: NUL-padded fixed-length
 * strings as wide as the longest (numpy's 'S' dtype), or variable-length
 * UTF-8 ones (h5py 3).  n == 0 gives a zero-length string array. */
static int attr_strings(hid_t obj, const char *name, const char *const *v,
			size_t n, int vlen, char *err)
{
	hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID;
	hid_t attr = H5I_INVALID_HID;
	hsize_t dims[1] = { n };
	size_t width = 1, bytes;
	char *fixed = NULL;
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		if (strlen(v[i]) > width)
			width = strlen(v[i]);
	if ((type = H5Tcopy(H5T_C_S1)) < 0 ||
	    H5Tset_size(type, vlen ? H5T_VARIABLE : width) < 0 ||
	    H5Tset_strpad(type, vlen ? H5T_STR_NULLTERM : H5T_STR_NULLPAD) < 0 ||
	    H5Tset_cset(type, vlen ? H5T_CSET_UTF8 : H5T_CSET_ASCII) < 0 ||
	    (space = H5Screate_simple(1, dims, NULL)) < 0 ||
	    (attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT,
			       H5P_DEFAULT)) < 0) {
		rc = err_set(err, ERR_IO, "creating attribute %s failed", name);
		goto out;
	}
	if (n == 0)
		goto out; /* nothing to write, rc == 0 */
	if (!vlen) {
		/* calloc gives the NUL padding. */
		if (err_mul_size(n, width, &bytes) ||
		    !(fixed = calloc(bytes, 1))) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			memcpy(fixed + i * width, v[i], strlen(v[i]));
	}
	if (H5Awrite(attr, type, vlen ? (const void *)v : fixed) < 0)
		rc = err_set(err, ERR_IO, "writing attribute %s failed", name);
out:
	free(fixed);
	if (attr >= 0)
		H5Aclose(attr);
	if (space >= 0)
		H5Sclose(space);
	if (type >= 0)
		H5Tclose(type);
	return rc;
}

/* attr_empty_f64 writes what h5py makes of Keras' empty weight_names list:
 * np.asarray([]), a float64 array of length 0. */
static int attr_empty_f64(hid_t obj, const char *name, char *err)
{
	hsize_t dims[1] = { 0 };
	hid_t space = H5Screate_simple(1, dims, NULL), attr = H5I_INVALID_HID;
	int rc = 0;

	if (space < 0 || (attr = H5Acreate2(obj, name, H5T_IEEE_F64LE, space,
					    H5P_DEFAULT, H5P_DEFAULT)) < 0)
		rc = err_set(err, ERR_IO, "creating attribute %s failed", name);
	if (attr >= 0)
		H5Aclose(attr);
	if (space >= 0)
		H5Sclose(space);
	return rc;
}

/* attr_string writes one scalar string, fixed-length as h5py stores a
 * Python bytes value, or variable-length as it stores a str. */
static int attr_string(hid_t obj, const char *name, const char *value,
		       int vlen, char *err)
{
	hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID;
	hid_t attr = H5I_INVALID_HID;
	int rc = 0;

	if ((type = H5Tcopy(H5T_C_S1)) < 0 ||
	    H5Tset_size(type, vlen ? H5T_VARIABLE : strlen(value)) < 0 ||
	    H5Tset_strpad(type, vlen ? H5T_STR_NULLTERM : H5T_STR_NULLPAD) < 0 ||
	    H5Tset_cset(type, vlen ? H5T_CSET_UTF8 : H5T_CSET_ASCII) < 0 ||
	    (space = H5Screate(H5S_SCALAR)) < 0 ||
	    (attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT,
			       H5P_DEFAULT)) < 0 ||
	    H5Awrite(attr, type, vlen ? (const void *)&value : value) < 0)
		rc = err_set(err, ERR_IO, "writing attribute %s failed", name);
	if (attr >= 0)
		H5Aclose(attr);
	if (space >= 0)
		H5Sclose(space);
	if (type >= 0)
		H5Tclose(type);
	return rc;
}

/* ---- datasets ---------------------------------------------------------- */

/* write_kernel creates dataset name (rank 4 (k, k, cin, cout) or rank 2
 * (cin, cout)) under g and, unless declared, fills it with He-normal
 * values, slab by slab along the first axis so that the stream order is the
 * row-major order. */
static int write_kernel(hid_t g, hid_t lcpl, const char *name,
			const gen_shape_t *s, int declared, rng_t *rng,
			char *err)
{
	hsize_t dims[4], start[4] = { 0 }, count[4];
	int rank = s->k ? 4 : 2;
	hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
	hid_t ds = H5I_INVALID_HID;
	gen_normal_t normal = { rng, 0, 0.0 };
	size_t row = 1, rows_per_slab, slab;
	double fan_in, std;
	float *buf = NULL;
	int rc = 0;

	if (s->k) {
		dims[0] = dims[1] = (hsize_t)s->k;
		dims[2] = (hsize_t)s->cin;
		dims[3] = (hsize_t)s->cout;
		fan_in = (double)s->k * s->k * s->cin;
	} else {
		dims[0] = (hsize_t)s->cin;
		dims[1] = (hsize_t)s->cout;
		fan_in = s->cin;
	}
	std = sqrt(2.0 / fan_in);
	for (int d = 1; d < rank; d++)
		if (err_mul_size(row, (size_t)dims[d], &row)) {
			rc = err_set(err, ERR_NOMEM, "%s: size overflow", name);
			goto out;
		}
	rows_per_slab = row >= GEN_SLAB_FLOATS ? 1 : GEN_SLAB_FLOATS / row;
	if (err_mul_size(rows_per_slab, row, &slab) ||
	    !(buf = malloc(slab * sizeof *buf))) {
		rc = err_set(err, ERR_NOMEM, "%s: out of memory", name);
		goto out;
	}
	if ((fspace = H5Screate_simple(rank, dims, NULL)) < 0 ||
	    (ds = H5Dcreate2(g, name, H5T_IEEE_F32LE, fspace, lcpl,
			     H5P_DEFAULT, H5P_DEFAULT)) < 0) {
		rc = err_set(err, ERR_IO, "creating dataset %s failed", name);
		goto out;
	}
	memcpy(count, dims, sizeof count);
	for (hsize_t r0 = 0; r0 < dims[0] && !declared; r0 += rows_per_slab) {
		size_t nrows = dims[0] - r0 < rows_per_slab ?
			       (size_t)(dims[0] - r0) : rows_per_slab;
		start[0] = r0;
		count[0] = nrows;
		for (size_t i = 0; i < nrows * row; i++)
			buf[i] = (float)(std * gen_normal_next(&normal));
		if ((mspace = H5Screate_simple(rank, count, NULL)) < 0 ||
		    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL,
					count, NULL) < 0 ||
		    H5Dwrite(ds, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT,
			     buf) < 0) {
			rc = err_set(err, ERR_IO, "writing dataset %s failed",
				     name);
			goto out;
		}
		H5Sclose(mspace);
		mspace = H5I_INVALID_HID;
	}
out:
	free(buf);
	if (mspace >= 0)
		H5Sclose(mspace);
	if (ds >= 0)
		H5Dclose(ds);
	if (fspace >= 0)
		H5Sclose(fspace);
	return rc;
}

static int write_bias(hid_t g, hid_t lcpl, const char *name, int cout,
		      int declared, rng_t *rng, char *err)
{
	hsize_t dims[1] = { (hsize_t)cout };
	hid_t space = H5I_INVALID_HID, ds = H5I_INVALID_HID;
	float *buf = malloc((size_t)cout * sizeof *buf);
	int rc = 0;

	if (!buf) {
		rc = err_set(err, ERR_NOMEM, "%s: out of memory", name);
		goto out;
	}
	for (int i = 0; i < cout; i++)
		buf[i] = (float)(-0.05 + 0.1 * rng_uniform(rng));
	if ((space = H5Screate_simple(1, dims, NULL)) < 0 ||
	    (ds = H5Dcreate2(g, name, H5T_IEEE_F32LE, space, lcpl,
			     H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
	    (!declared && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL,
				   H5P_DEFAULT, buf) < 0))
		rc = err_set(err, ERR_IO, "writing dataset %s failed", name);
out:
	free(buf);
	if (ds >= 0)
		H5Dclose(ds);
	if (space >= 0)
		H5Sclose(space);
	return rc;
}

/* ---- file -------------------------------------------------------------- */

/* write_layers writes layer_names and the first nlayers layer groups of
 * layout l under top. */
static int write_layers(hid_t top, const gen_layout_t *l, size_t nlayers,
			rng_t *rng, char *err)
{
	hid_t lcpl = H5I_INVALID_HID, g = H5I_INVALID_HID;
	char kname[96], bname[96];
	int rc;

	/* Keras 2 names a weight "<layer>/kernel:0"; HDF5 must create the
	 * <layer> group inside the layer's group on the way. */
	if ((lcpl = H5Pcreate(H5P_LINK_CREATE)) < 0 ||
	    H5Pset_create_intermediate_group(lcpl, 1) < 0) {
		rc = err_set(err, ERR_IO, "HDF5 property list failed");
		goto out;
	}
	if ((rc = attr_strings(top, "layer_names", l->layers, nlayers, l->vlen,
			       err)))
		goto out;
	if (l->root_attrs &&
	    ((rc = attr_string(top, "backend", "tensorflow", 0, err)) ||
	     (rc = attr_string(top, "keras_version", "2.2.4", 0, err))))
		goto out;
	for (size_t k = 0; k < nlayers; k++) {
		const char *name = l->layers[k];
		const char *wn[2] = { kname, bname };
		gen_shape_t s = { 0, 0, 0 };
		int has = gen_layer_shape(l, name, &s);

		/* "fc6/relu" lands in the group fc6, made just before. */
		if ((g = H5Gcreate2(top, name, H5P_DEFAULT, H5P_DEFAULT,
				    H5P_DEFAULT)) < 0) {
			rc = err_set(err, ERR_IO, "creating group %s failed",
				     name);
			goto out;
		}
		snprintf(kname, sizeof kname,
			 l->keras1_names ? "%s_W_1:0" : "%s/kernel:0", name);
		snprintf(bname, sizeof bname,
			 l->keras1_names ? "%s_b_1:0" : "%s/bias:0", name);
		if (!has)
			rc = l->vlen ? attr_strings(g, "weight_names", wn, 0, 1, err) :
			     attr_empty_f64(g, "weight_names", err);
		else if (!(rc = attr_strings(g, "weight_names", wn, 2, l->vlen,
					     err)) &&
			 !(rc = write_kernel(g, lcpl, kname, &s, l->declared, rng,
					     err)))
			rc = write_bias(g, lcpl, bname, s.cout, l->declared, rng,
					err);
		if (rc)
			goto out;
		H5Gclose(g);
		g = H5I_INVALID_HID;
	}
out:
	if (g >= 0)
		H5Gclose(g);
	if (lcpl >= 0)
		H5Pclose(lcpl);
	return rc;
}

static int gen_write(const char *path, uint64_t seed, const gen_layout_t *l,
		     int notop, char *err)
{
	static const char model_config[] =
		"{\"class_name\": \"Model\", \"config\": {\"name\": \"vgg16\"}}";
	rng_t rng = { seed };
	size_t nlayers = notop ? GEN_NOTOP_NLAYERS : l->nlayers;
	hid_t file, top = H5I_INVALID_HID;
	int rc;

	if ((file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT,
			      H5P_DEFAULT)) < 0)
		return err_set(err, ERR_IO, "cannot create %s", path);
	if (l->model_save) {
		if ((rc = attr_string(file, "model_config", model_config, 1,
				      err)) ||
		    (rc = attr_string(file, "backend", "tensorflow", 0, err)) ||
		    (rc = attr_string(file, "keras_version", "2.2.4", 0, err)))
			goto out;
		if ((top = H5Gcreate2(file, "model_weights", H5P_DEFAULT,
				      H5P_DEFAULT, H5P_DEFAULT)) < 0) {
			rc = err_set(err, ERR_IO, "creating model_weights "
				     "failed");
			goto out;
		}
	}
	rc = write_layers(top >= 0 ? top : file, l, nlayers, &rng, err);
out:
	if (top >= 0)
		H5Gclose(top);
	if (H5Fclose(file) < 0 && rc == 0)
		rc = err_set(err, ERR_IO, "closing %s failed", path);
	if (rc)
		unlink(path); /* a partial file must not pass for a good one */
	return rc;
}

int main(int argc, char **argv)
{
	const char *out = NULL, *seed_arg = NULL;
	const gen_layout_t *layout = &gen_layouts[0];
	unsigned long long seed;
	char err[ERR_LEN], *end;
	int notop = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(a, "--notop") == 0) {
			notop = 1;
		} else if (i + 1 < argc && strcmp(a, "--seed") == 0) {
			seed_arg = argv[++i];
		} else if (i + 1 < argc && strcmp(a, "--out") == 0) {
			out = argv[++i];
		} else if (i + 1 < argc && strcmp(a, "--layout") == 0) {
			const char *l = argv[++i];
			layout = NULL;
			for (size_t k = 0; k < GEN_COUNT(gen_layouts); k++)
				if (strcmp(l, gen_layouts[k].name) == 0)
					layout = &gen_layouts[k];
			if (!layout) {
				fprintf(stderr, "gen_weights: unknown layout "
					"'%s'\n%s", l, usage);
				return 1;
			}
		} else {
			fprintf(stderr, "gen_weights: unknown or incomplete "
				"option '%s'\n%s", a, usage);
			return 1;
		}
	}
	if (!seed_arg || !out) {
		fprintf(stderr, "gen_weights: --seed and --out are required\n%s",
			usage);
		return 1;
	}
	if (notop && !layout->model) {
		fprintf(stderr, "gen_weights: --notop: the %s layout has none\n",
			layout->name);
		return 1;
	}
	errno = 0;
	seed = strtoull(seed_arg, &end, 10);
	if (errno || end == seed_arg || *end || *seed_arg == '-') {
		fprintf(stderr, "gen_weights: bad seed '%s'\n", seed_arg);
		return 1;
	}
	/* Failures are reported in one line below, not as HDF5 stack dumps. */
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	if (gen_write(out, seed, layout, notop, err)) {
		fprintf(stderr, "gen_weights: %s: %s\n", out, err);
		return 1;
	}
	return 0;
}
