/* weights.c - reading Keras VGG16 weight files with the HDF5 C library.
 *
 * The walk follows Keras' legacy loader (load_weights_from_hdf5_group with
 * by_name=False): the layers with weights that keras_h5.h lists are matched
 * to the model's weighted layers by position, then every dataset is opened
 * by the name weight_names gives, relative to the layer's group.  Nothing
 * here knows a dataset path in advance, which is why Keras 1
 * ("block1_conv1_W_1:0") and Keras 2 ("block1_conv1/kernel:0") files both
 * load.
 *
 * Which model the file holds (weights.h) is told by the names of those
 * layers, before any dataset is read: every one of the first 15 is VGG16's
 * or every one is VGG-Face's.  A file whose names match neither is read by
 * position against the model it resembles more, so that a wrong shape is
 * reported as such, and then refused for its names; one that matches no
 * name at all (DeepFace's conv2d_1...) is refused at once.
 *
 * Every HDF5 failure becomes one line naming the file and, when there is one,
 * the layer; HDF5's own innermost reason is appended in parentheses. */
#include "net/weights.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "base/infile.h"
#include "error.h"
#include "hdf5/h5child.h"
#include "hdf5/h5util.h"
#include "hdf5/keras_h5.h"
#include "net/model.h"

const weights_layer_spec_t weights_spec[WEIGHTS_NLAYERS] = {
	{ "block1_conv1", 1, 3, 64, 0 },
	{ "block1_conv2", 1, 64, 64, 1 },
	{ "block2_conv1", 1, 64, 128, 0 },
	{ "block2_conv2", 1, 128, 128, 1 },
	{ "block3_conv1", 1, 128, 256, 0 },
	{ "block3_conv2", 1, 256, 256, 0 },
	{ "block3_conv3", 1, 256, 256, 1 },
	{ "block4_conv1", 1, 256, 512, 0 },
	{ "block4_conv2", 1, 512, 512, 0 },
	{ "block4_conv3", 1, 512, 512, 1 },
	{ "block5_conv1", 1, 512, 512, 0 },
	{ "block5_conv2", 1, 512, 512, 0 },
	{ "block5_conv3", 1, 512, 512, 1 },
	{ "fc1", 0, 25088, 4096, 0 },
	{ "fc2", 0, 4096, 4096, 0 },
};

int weights_check_layer(const weights_t *w, int layer_model, const char *layer,
			const char *path, char *err)
{
	char taps[160];

	if (layer_model == MODEL_AUTO || layer_model == w->model)
		return 0;
	model_tap_list(w->model, w->nlayers, taps, sizeof taps);
	return err_set(err, ERR_MISMATCH, "--layer %s is %s's name, but %s holds %s "
		       "weights, whose layers are %s", layer,
		       model_info(layer_model)->title, path,
		       model_info(w->model)->title, taps);
}

int weights_check_tap(const weights_t *w, int tap, const char *path,
		      char *err)
{
	const model_info_t *m = model_info(w->model);
	char gives[160];

	if (model_tap_info(tap)->nlayers <= w->nlayers)
		return 0;
	model_tap_list(w->model, w->nlayers, gives, sizeof gives);
	return err_set(err, ERR_MISSING, "%s is %s's _notop file (%d "
		       "convolutions, no %s or %s): it gives %s, not %s", path,
		       m->title, WEIGHTS_NCONV, m->layers[WEIGHTS_NCONV],
		       m->layers[WEIGHTS_NLAYERS - 1], gives,
		       model_tap_layer(w->model, tap));
}

const char *weights_fingerprint(const weights_t *w, int nlayers)
{
	if (nlayers < WEIGHTS_NCONV || nlayers > w->nlayers)
		return NULL;
	return w->fp[nlayers - WEIGHTS_NCONV];
}

int weights_check_fingerprint(const weights_t *w, int tap, const char *recorded,
			      const char *wpath, const char *path,
			      const char *whose, char *err)
{
	const char *fp = weights_fingerprint(w, model_tap_info(tap)->nlayers);

	if (!fp)
		return weights_check_tap(w, tap, wpath, err);
	if (strcmp(fp, recorded) == 0)
		return 0;
	return err_set(err, ERR_MISMATCH, "%s %s of %s weights with fingerprint %s, "
		       "but %s has fingerprint %s; use the weights extract used",
		       path, whose, model_info(w->model)->title, recorded, wpath, fp);
}

int weights_check_model(const weights_t *w, int want, const char *path,
			char *err)
{
	const model_info_t *has = model_info(w->model);

	if (want == MODEL_AUTO || want == w->model)
		return 0;
	return err_set(err, ERR_MISMATCH, "%s holds %s weights (layers %s .. %s), "
		       "not %s's: --model %s disagrees with the file", path,
		       has->title, has->layers[0], has->layers[WEIGHTS_NLAYERS - 1],
		       model_info(want)->title, model_info(want)->name);
}

size_t weights_kernel_count(int i)
{
	size_t n;

	if (i < 0 || i >= WEIGHTS_NLAYERS)
		return 0;
	if (err_mul3_size(weights_spec[i].is_conv ? 9 : 1,
			  (size_t)weights_spec[i].cin,
			  (size_t)weights_spec[i].cout, &n))
		return 0;
	return n;
}

void weights_free(weights_t *w)
{
	if (!w)
		return;
	if (w->shared)
		h5child_unmap(w->block, w->block_bytes);
	else
		free(w->block);
	memset(w, 0, sizeof *w);
}

/* The bytes of every kernel and bias, one block. */
static size_t block_bytes(void)
{
	size_t n = 0;
	for (int i = 0; i < WEIGHTS_NLAYERS; i++)
		n += weights_kernel_count(i) + (size_t)weights_spec[i].cout;
	return n * sizeof(float);
}

/* Points w's kernels and biases into block, in order. */
static void lay_out(weights_t *w, float *block, int shared)
{
	w->block = block;
	w->block_bytes = block_bytes();
	w->shared = shared;
	for (int i = 0; i < WEIGHTS_NLAYERS; i++) {
		w->kernel[i] = block;
		block += weights_kernel_count(i);
		w->bias[i] = block;
		block += weights_spec[i].cout;
	}
}

/* ---- datasets ---------------------------------------------------------- */

static void shape_str(const hsize_t *dims, int rank, char *buf, size_t len)
{
	size_t off = 0;

	off += (size_t)snprintf(buf, len, "(");
	for (int i = 0; i < rank && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%llu",
					i ? ", " : "",
					(unsigned long long)dims[i]);
	if (off < len)
		snprintf(buf + off, len - off, rank == 1 ? ",)" : ")");
}

/* read_dataset reads dataset name (relative to group), of the expected
 * shape, into out, converting any floating-point type to float32. */
static int read_dataset(hid_t group, const char *name, const hsize_t *want,
			int want_rank, float *out, const char *where, char *err)
{
	hid_t ds = H5I_INVALID_HID, space = H5I_INVALID_HID;
	hid_t type = H5I_INVALID_HID;
	hsize_t dims[H5S_MAX_RANK];
	char why[256], got[160], exp[160];
	int rank, ex, rc = 0;

	if ((ex = h5util_link_exists(group, name)) <= 0) {
		if (ex < 0)
			rc = err_set(err, ERR_FORMAT,
				     "%s: looking up dataset %s failed (%s)",
				     where, name, h5util_reason(why, sizeof why));
		else
			rc = err_set(err, ERR_MISSING,
				     "%s: dataset %s (listed in weight_names) "
				     "does not exist", where, name);
		goto out;
	}
	if ((ds = H5Dopen2(group, name, H5P_DEFAULT)) < 0 ||
	    (type = H5Dget_type(ds)) < 0 || (space = H5Dget_space(ds)) < 0 ||
	    (rank = H5Sget_simple_extent_ndims(space)) < 0 ||
	    H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
		rc = err_set(err, ERR_FORMAT, "%s: dataset %s unreadable (%s)",
			     where, name, h5util_reason(why, sizeof why));
		goto out;
	}
	if (H5Tget_class(type) != H5T_FLOAT) {
		rc = err_set(err, ERR_FORMAT,
			     "%s: dataset %s is not floating point", where,
			     name);
		goto out;
	}
	if (rank != want_rank || memcmp(dims, want, sizeof *dims * (size_t)rank)) {
		shape_str(dims, rank, got, sizeof got);
		shape_str(want, want_rank, exp, sizeof exp);
		rc = err_set(err, ERR_SHAPE,
			     "%s: dataset %s has shape %s, expected %s", where,
			     name, got, exp);
		goto out;
	}
	if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
		    out) < 0) {
		rc = err_set(err, ERR_FORMAT,
			     "%s: reading dataset %s failed (%s)", where, name,
			     h5util_reason(why, sizeof why));
		goto out;
	}
out:
	if (space >= 0)
		H5Sclose(space);
	if (type >= 0)
		H5Tclose(type);
	if (ds >= 0)
		H5Dclose(ds);
	return rc;
}

/* load_layer reads the file's layer fname, whose weight_names are names,
 * into layer i of model. */
static int load_layer(hid_t root, const char *path, const char *fname,
		      const h5util_strlist_t *names, int model, int i,
		      weights_t *w, char *err)
{
	const weights_layer_spec_t *s = &weights_spec[i];
	const model_info_t *m = model_info(model);
	hsize_t kdims[4], bdims[1] = { (hsize_t)s->cout };
	hid_t g = H5I_INVALID_HID;
	char where[ERR_LEN], why[256];
	int krank, rc;

	/* Keras matches by position, so the file's name may differ from
	 * the model's; say both when it does. */
	if (strcmp(fname, m->layers[i]) == 0)
		snprintf(where, sizeof where, "%s: layer %s", path, fname);
	else
		snprintf(where, sizeof where, "%s: layer %s (%s's %s)",
			 path, fname, m->title, m->layers[i]);
	if (s->is_conv) {
		kdims[0] = kdims[1] = 3;
		kdims[2] = (hsize_t)s->cin;
		kdims[3] = (hsize_t)s->cout;
		krank = 4;
	} else {
		kdims[0] = (hsize_t)s->cin;
		kdims[1] = (hsize_t)s->cout;
		krank = 2;
	}
	if ((g = H5Gopen2(root, fname, H5P_DEFAULT)) < 0) {
		rc = err_set(err, ERR_FORMAT, "%s: group unreadable (%s)",
			     where, h5util_reason(why, sizeof why));
		goto fail;
	}
	if (names->n != 2) {
		rc = err_set(err, ERR_FORMAT,
			     "%s: has %zu weights, expected 2 (kernel, bias)",
			     where, names->n);
		goto fail;
	}
	if ((rc = read_dataset(g, names->v[0], kdims, krank, w->kernel[i],
			       where, err)) ||
	    (rc = read_dataset(g, names->v[1], bdims, 1, w->bias[i], where,
			       err)))
		goto fail;
fail:
	if (g >= 0)
		H5Gclose(g);
	return rc;
}

/* ---- which model ------------------------------------------------------- */

/* name_matches: how many of the file's layers with weights carry model's
 * name at their place. */
static int name_matches(const h5util_strlist_t *l, int model)
{
	int n = 0;
	for (size_t k = 0; k < l->n && k < WEIGHTS_NLAYERS; k++)
		n += strcmp(l->v[k], model_info(model)->layers[k]) == 0;
	return n;
}

/* list_names writes the names of l, separated by commas; when they are
 * long, the first three, "..." and the last. */
static void list_names(const h5util_strlist_t *l, char *buf, size_t len)
{
	size_t total = 0, off = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < l->n; k++)
		total += strlen(l->v[k]) + 2;
	for (size_t k = 0; k < l->n && off < len; k++) {
		if (k == 3 && l->n > 5 && total > 120) {
			off += (size_t)snprintf(buf + off, len - off, ", ...");
			k = l->n - 1;
			if (off >= len)
				break;
		}
		off += (size_t)snprintf(buf + off, len - off, "%s%.60s",
					k ? ", " : "", l->v[k]);
	}
}

/* detect picks the model by the names of the file's first layers with
 * weights (l): the one with more of its names at their places (VGG16 when
 * even), and how many layers to read (*nlayers): 15, or the 13
 * convolutions of a _notop file.  Refuses a file that has fewer than 13
 * such layers, or 14 (ERR_MISSING), or none of either model's names
 * (ERR_UNSUPPORTED, naming what it has); a file that has some is checked
 * name by name after its shapes (check_names). */
static int detect(const h5util_strlist_t *l, const char *path, int *model,
		  int *nlayers, char *err)
{
	int v16 = name_matches(l, MODEL_VGG16);
	int vf = name_matches(l, MODEL_VGGFACE);
	const model_info_t *m, *a = model_info(MODEL_VGG16);
	const model_info_t *b = model_info(MODEL_VGGFACE);
	char names[300];

	*model = vf > v16 ? MODEL_VGGFACE : MODEL_VGG16;
	m = model_info(*model);
	if (l->n > 0 && v16 == 0 && vf == 0) {
		list_names(l, names, sizeof names);
		return err_set(err, ERR_UNSUPPORTED,
			       "%s: neither %s nor %s weights: its layers with "
			       "weights are %s (%s's are %s .. %s, %s's %s .. %s)",
			       path, a->title, b->title, names, a->title,
			       a->layers[0], a->layers[WEIGHTS_NLAYERS - 1],
			       b->title, b->layers[0], b->layers[WEIGHTS_NLAYERS - 1]);
	}
	*nlayers = l->n >= WEIGHTS_NLAYERS ? WEIGHTS_NLAYERS : WEIGHTS_NCONV;
	if (l->n == WEIGHTS_NCONV || l->n >= WEIGHTS_NLAYERS)
		return 0;
	return err_set(err, ERR_MISSING, "%s: %zu layers with weights, %s needs %d "
		       "(13 conv, %s, %s), or 13 (a _notop file)", path, l->n,
		       m->title, WEIGHTS_NLAYERS, m->layers[WEIGHTS_NCONV],
		       m->layers[WEIGHTS_NCONV + 1]);
}

/* check_names refuses a file read as model whose layers do not all carry
 * model's names: the shapes fit, but shapes alone never say which
 * network's numbers these are (VGG16's and VGG-Face's are the same). */
static int check_names(const h5util_strlist_t *l, const char *path, int model,
		       int nlayers, char *err)
{
	const model_info_t *m = model_info(model);
	const model_info_t *a = model_info(MODEL_VGG16);
	const model_info_t *b = model_info(MODEL_VGGFACE);

	for (int k = 0; k < nlayers; k++)
		if (strcmp(l->v[k], m->layers[k]) != 0)
			return err_set(err, ERR_UNSUPPORTED,
				       "%s: layer %.100s where %s has %s: the model is "
				       "told by its layer names, and these are neither "
				       "%s's (%s .. %s) nor %s's (%s .. %s)", path,
				       l->v[k], m->title, m->layers[k], a->title,
				       a->layers[0], a->layers[WEIGHTS_NLAYERS - 1],
				       b->title, b->layers[0],
				       b->layers[WEIGHTS_NLAYERS - 1]);
	return 0;
}

/* check_backend refuses files written by Theano: Keras flips their
 * convolution kernels on loading (conv_utils.convert_kernel), which this
 * loader does not do, and the shapes alone would not reveal it. */
static int check_backend(hid_t root, const char *path, char *err)
{
	h5util_strlist_t b = { 0 };
	int found, rc;

	if ((rc = h5util_attr_strings(root, "backend", &b, &found, path, err)))
		goto out;
	if (b.n == 1 && strcmp(b.v[0], "theano") == 0)
		rc = err_set(err, ERR_UNSUPPORTED,
			     "%s: written by the Theano backend (flipped "
			     "kernels); use the TensorFlow file %s", path,
			     MODEL_VGG16_FILE);
out:
	h5util_strlist_free(&b);
	return rc;
}

/* ---- fingerprint -------------------------------------------------------- */

#define FP_K1 0x9e3779b97f4a7c15ULL
#define FP_K2 0xc2b2ae3d27d4eb4fULL

/* fp_final is a bijective avalanche step (splitmix64's finaliser). */
static uint64_t fp_final(uint64_t h)
{
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

static uint64_t fp_lane(uint64_t a, uint64_t v)
{
	a = (a ^ v) * FP_K1;
	return a ^ (a >> 29);
}

/* fp_floats folds n float32 values into h.  Each 8-byte word is two floats'
 * bit patterns, the first in the low half, so the result is the same on
 * every byte order.  Four independent lanes keep the multiplier busy:
 * 528 MB hash at memory speed. */
static uint64_t fp_floats(uint64_t h, const float *f, size_t n)
{
	uint64_t lane[4] = { h, h ^ FP_K2, h + FP_K1, ~h };
	size_t words = n / 2, i = 0;
	uint64_t v;

	for (; i + 4 <= words; i += 4)
		for (int j = 0; j < 4; j++) {
			memcpy(&v, f + 2 * (i + (size_t)j), 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
			v = v << 32 | v >> 32;
#endif
			lane[j] = fp_lane(lane[j], v);
		}
	for (; i < words; i++) {
		memcpy(&v, f + 2 * i, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		v = v << 32 | v >> 32;
#endif
		lane[0] = fp_lane(lane[0], v);
	}
	if (n % 2) {
		uint32_t last;
		memcpy(&last, f + n - 1, 4);
		lane[1] = fp_lane(lane[1], last);
	}
	h = fp_final(h ^ (uint64_t)n);
	for (int j = 0; j < 4; j++)
		h = fp_final(h ^ fp_final(lane[j] + (uint64_t)j));
	return h;
}

/* fingerprint hashes w's layers in order, noting the hash after each of
 * the first WEIGHTS_NCONV .. w->nlayers layers (weights_fingerprint). */
static void fingerprint(weights_t *w)
{
	uint64_t h = FP_K2;

	for (int i = 0; i < w->nlayers; i++) {
		const weights_layer_spec_t *s = &weights_spec[i];
		uint64_t kshape[4] = { 3, 3, (uint64_t)s->cin,
				       (uint64_t)s->cout };
		const uint64_t *k = s->is_conv ? kshape : kshape + 2;
		int rank = s->is_conv ? 4 : 2;

		h = fp_final(h ^ (uint64_t)rank);
		for (int d = 0; d < rank; d++)
			h = fp_final(h ^ k[d]);
		h = fp_floats(h, w->kernel[i], weights_kernel_count(i));
		h = fp_final(h ^ 1);
		h = fp_final(h ^ (uint64_t)s->cout);
		h = fp_floats(h, w->bias[i], (size_t)s->cout);
		if (i + 1 >= WEIGHTS_NCONV)
			snprintf(w->fp[i + 1 - WEIGHTS_NCONV], sizeof w->fp[0],
				 "%016" PRIx64, h);
	}
	memcpy(w->fingerprint, w->fp[w->nlayers - WEIGHTS_NCONV],
	       sizeof w->fingerprint);
}

/* ---- entry point -------------------------------------------------------- */

/* check_file tells a missing or unreadable file from one that is not HDF5,
 * before HDF5 reduces both to "unable to open file". */
static int check_file(const char *path, char *err)
{
	struct stat st;
	char why[256];
	htri_t is;
	int fd, rc;

	/* The open tells a missing file from an unreadable one, and never
	 * waits for a FIFO's writer. */
	if ((rc = infile_open(path, &fd, &st, err)))
		return rc;
	close(fd);
	if (!S_ISREG(st.st_mode))
		return err_set(err, ERR_IO, "%s: not a regular file", path);
	if ((is = H5Fis_hdf5(path)) < 0)
		return err_set(err, ERR_FORMAT, "%s: not readable as HDF5 (%s)",
			       path, h5util_reason(why, sizeof why));
	if (is == 0)
		return err_set(err, ERR_FORMAT,
			       "%s: not an HDF5 file (no HDF5 signature)", path);
	return 0;
}

/* read_into reads the file's 15 layers (a _notop file's 13) into w's
 * block (laid out), and w->model and w->nlayers. */
static int read_into(const char *path, weights_t *w, char *err)
{
	hid_t file = H5I_INVALID_HID, root = H5I_INVALID_HID;
	keras_h5_layers_t layers = { 0 };
	h5util_quiet_t quiet;
	char why[256];
	int rc, model = MODEL_VGG16, nlayers = WEIGHTS_NLAYERS;

	/* Failures are reported through err, not as HDF5's stack dumps. */
	h5util_quiet(&quiet);
	if ((rc = check_file(path, err)))
		goto out;
	if ((file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
		rc = err_set(err, ERR_FORMAT,
			     "%s: damaged or truncated HDF5 file (%s)", path,
			     h5util_reason(why, sizeof why));
		goto out;
	}
	/* Whatever follows the 15 layers, such as "predictions", is never
	 * needed. */
	if ((rc = keras_h5_open_root(file, path, &root, err)) ||
	    (rc = check_backend(root, path, err)) ||
	    (rc = keras_h5_layers(root, path, WEIGHTS_NLAYERS, &layers, err)) ||
	    (rc = detect(&layers.names, path, &model, &nlayers, err)))
		goto out;
	for (int i = 0; i < nlayers; i++)
		if ((rc = load_layer(root, path, layers.names.v[i],
				     &layers.weights[i], model, i, w, err)))
			goto out;
	if ((rc = check_names(&layers.names, path, model, nlayers, err)))
		goto out;
	w->model = model;
	w->nlayers = nlayers;
out:
	keras_h5_layers_free(&layers);
	if (root >= 0)
		H5Oclose(root);
	if (file >= 0 && H5Fclose(file) < 0 && rc == 0)
		rc = err_set(err, ERR_FORMAT, "%s: closing failed (%s)", path,
			     h5util_reason(why, sizeof why));
	h5util_unquiet(&quiet);
	return rc;
}

/* What the child of weights_load reads for its parent. */
typedef struct child_job {
	const char *path;
	weights_t *w;
} child_job_t;

/* The child reads the numbers into the shared block and sends the model
 * and the layers read (two ints) down the pipe: the parent's w is not
 * shared. */
static int child_read(void *arg, int fd, char *err)
{
	const child_job_t *j = arg;
	int rc = read_into(j->path, j->w, err);
	int what[2] = { j->w->model, j->w->nlayers };

	if (rc == 0 && h5child_write(fd, what, sizeof what))
		rc = err_set(err, ERR_IO, "%s: sending the model failed", j->path);
	return rc;
}

static int parent_read(void *arg, int fd, char *err)
{
	const child_job_t *j = arg;
	int what[2];

	if (h5child_read(fd, what, sizeof what) ||
	    (what[0] != MODEL_VGG16 && what[0] != MODEL_VGGFACE) ||
	    (what[1] != WEIGHTS_NCONV && what[1] != WEIGHTS_NLAYERS))
		return err_set(err, ERR_FORMAT, "%s: no model came back", j->path);
	j->w->model = what[0];
	j->w->nlayers = what[1];
	return 0;
}

/* finish: what a file just read needs: no pointer to layers it lacks (a
 * _notop file's fc1 and fc2), and the fingerprints. */
static void finish(weights_t *w)
{
	for (int i = w->nlayers; i < WEIGHTS_NLAYERS; i++)
		w->kernel[i] = w->bias[i] = NULL;
	fingerprint(w);
}

/* Common entry: an empty *w and a path, or an error. */
static int start(const char *path, weights_t *w, char *err)
{
	if (!w)
		return err_set(err, ERR_ARG, "weights_load: no output");
	memset(w, 0, sizeof *w);
	if (!path || !*path)
		return err_set(err, ERR_ARG, "weights_load: no path");
	return 0;
}

int weights_load(const char *path, weights_t *w, char *err)
{
	float *block;
	int rc;

	if ((rc = start(path, w, err)))
		return rc;
	if (!(block = h5child_map(block_bytes())))
		return err_set(err, ERR_NOMEM, "%s: out of memory for the weights "
			       "(%zu MB)", path, block_bytes() >> 20);
	lay_out(w, block, 1);
	child_job_t j = {path, w};
	if ((rc = h5child_run(path, child_read, parent_read, &j, err))) {
		weights_free(w);
		return rc;
	}
	finish(w);
	return 0;
}

int weights_read(const char *path, weights_t *w, char *err)
{
	float *block;
	int rc;

	if ((rc = start(path, w, err)))
		return rc;
	if (!(block = malloc(block_bytes())))
		return err_set(err, ERR_NOMEM, "%s: out of memory for the weights "
			       "(%zu MB)", path, block_bytes() >> 20);
	lay_out(w, block, 0);
	if ((rc = read_into(path, w, err))) {
		weights_free(w);
		return rc;
	}
	finish(w);
	return 0;
}
