/* test_model_file.c - the whole-model file (net/model_file.h) through the
 * real `predict --save-model`, and model_file_save called directly:
 *  - its HDF5 layout, read back with the HDF5 C API: the root's and
 *    model_weights' attributes and their types, layer_names and every
 *    layer's weight_names, the datasets' shapes, the head's numbers bit for
 *    bit, and the backbone's through the weights loader (its fingerprint);
 *  - model_config parsed back (tests/support/tjson.h): each layer's class,
 *    name, configuration keys in tf-keras 2.21's order, trainable, units,
 *    activations;
 *  - VGG16 and VGG-Face (keras-vggface's names, its fc6/relu and fc7/relu
 *    as nested groups);
 *  - the atomic write: a save that fails half-way (a file size limit)
 *    leaves the old file as it was and no temporary file; a folder that
 *    does not exist; exit 1 with one "predict: error:" line;
 *  - through a symbolic link: the file it names written, the link kept;
 *  - predict killed (SIGKILL) while its child writes: the child dies too;
 *    stopped (SIGINT, SIGTERM, SIGHUP): its temporary file removed, the
 *    earlier model kept; a SIGHUP it ignores (nohup) still ignored;
 *  - a photo moved to the model's name, or its link turned to a photo,
 *    while the model is written: refused at the rename, the photo kept;
 *  - the refusals: a head of another model than the weights, a missing
 *    head, the model written over its own head or weights, usage errors
 *    (exit 2 with the Try line); a name Keras would not read the file
 *    from (face_model.keras), refused before the weights are read;
 *  - the head as a list: hidden layers (Dense relu, Dropout, Dense
 *    softmax), a class list long enough to be split, and what
 *    model_file_save refuses.
 * The expected names and keys below are what tf-keras 2.21's model.save
 * wrote for the seed's model (tests/ref/keras_model.py checks the file
 * against that byte for byte, and load_model's predictions against
 * predict's, in the dev environment). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <glob.h>
#include <signal.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "hdf5/h5util.h"
#include "head/head.h"
#include "net/model.h"
#include "net/model_file.h"
#include "net/weights.h"
#include "proc.h"
#include "testutil.h"
#include "tjson.h"

static char dir[256], vf[512], head16[512], headvf[512], headh[512], log_[512];
static weights_t w16;
static head_t h16, hvf, hh;
static char *classes[] = {"ann", "Zo\xc3\xab", "cy"};

/* ---- what tf-keras 2.21 wrote for the seed's model --------------------- */

enum { C, P, F, D, A, R }; /* Conv2D, MaxPooling2D, Flatten, Dense, Activation, Dropout */
static const char *const cls_name[] = {"Conv2D", "MaxPooling2D", "Flatten", "Dense",
				       "Activation", "Dropout"};
static const char *const keys_of[][20] = {
	[C] = {"name", "trainable", "dtype", "filters", "kernel_size", "strides", "padding",
	       "data_format", "dilation_rate", "groups", "activation", "use_bias",
	       "kernel_initializer", "bias_initializer", "kernel_regularizer",
	       "bias_regularizer", "activity_regularizer", "kernel_constraint",
	       "bias_constraint", NULL},
	[P] = {"name", "trainable", "dtype", "pool_size", "padding", "strides", "data_format",
	       NULL},
	[F] = {"name", "trainable", "dtype", "data_format", NULL},
	[D] = {"name", "trainable", "dtype", "units", "activation", "use_bias",
	       "kernel_initializer", "bias_initializer", "kernel_regularizer",
	       "bias_regularizer", "activity_regularizer", "kernel_constraint",
	       "bias_constraint", NULL},
	[A] = {"name", "trainable", "dtype", "activation", NULL},
	[R] = {"name", "trainable", "dtype", "rate", "noise_shape", "seed", NULL},
};
static const char *const input_keys[] = {"batch_input_shape", "dtype", "sparse", "ragged",
					 "name", "optional", NULL};

/* A layer as the file must hold it. */
typedef struct want {
	const char *name;
	int cls;
	int units;               /* filters or units; 0 without */
	const char *activation;  /* NULL: the class has none */
	int kdims[4], krank;     /* 0: no weights */
} want_t;

#define CONV(n, ci, co) {n, C, co, "relu", {3, 3, ci, co}, 4}
#define POOL(n) {n, P, 0, NULL, {0}, 0}
static const want_t vgg16_layers[] = {
	CONV("block1_conv1", 3, 64), CONV("block1_conv2", 64, 64), POOL("block1_pool"),
	CONV("block2_conv1", 64, 128), CONV("block2_conv2", 128, 128), POOL("block2_pool"),
	CONV("block3_conv1", 128, 256), CONV("block3_conv2", 256, 256),
	CONV("block3_conv3", 256, 256), POOL("block3_pool"),
	CONV("block4_conv1", 256, 512), CONV("block4_conv2", 512, 512),
	CONV("block4_conv3", 512, 512), POOL("block4_pool"),
	CONV("block5_conv1", 512, 512), CONV("block5_conv2", 512, 512),
	CONV("block5_conv3", 512, 512), POOL("block5_pool"),
	{"flatten", F, 0, NULL, {0}, 0},
	{"fc1", D, 4096, "relu", {25088, 4096}, 2},
	{"fc2", D, 4096, "relu", {4096, 4096}, 2},
	{"dense_1", D, 3, "softmax", {4096, 3}, 2},
};
static const want_t vggface_layers[] = {
	CONV("conv1_1", 3, 64), CONV("conv1_2", 64, 64), POOL("pool1"),
	CONV("conv2_1", 64, 128), CONV("conv2_2", 128, 128), POOL("pool2"),
	CONV("conv3_1", 128, 256), CONV("conv3_2", 256, 256), CONV("conv3_3", 256, 256),
	POOL("pool3"),
	CONV("conv4_1", 256, 512), CONV("conv4_2", 512, 512), CONV("conv4_3", 512, 512),
	POOL("pool4"),
	CONV("conv5_1", 512, 512), CONV("conv5_2", 512, 512), CONV("conv5_3", 512, 512),
	POOL("pool5"),
	{"flatten", F, 0, NULL, {0}, 0},
	{"fc6", D, 4096, "linear", {25088, 4096}, 2},
	{"fc6/relu", A, 0, "relu", {0}, 0},
	{"fc7", D, 4096, "linear", {4096, 4096}, 2},
	{"fc7/relu", A, 0, "relu", {0}, 0},
	{"dense_1", D, 3, "softmax", {4096, 3}, 2},
};
#define NWANT(a) (sizeof a / sizeof *a)

/* ---- set-up ------------------------------------------------------------ */

static void path_in(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);
	assert_true(n > 0 && (size_t)n < len);
}

/* A head of K classes for model (its store name), of the test weights,
 * with biases that are not zero (a hidden layer of 16 units first when
 * hidden is set), saved at path. */
static int make_head(const char *path, int model, int hidden, head_t *h, char *err)
{
	head_meta_t m = {0};
	const model_info_t *mi = model_info(model);
	const int H = 16;
	int rc = head_create(4096, hidden ? 1 : 0, &H, 3, 7, h, err);
	if (rc)
		return rc;
	for (int l = 0; l < h->nlayers; l++)
		for (int k = 0; k < h->layer[l].out; k++)
			h->layer[l].bias[k] = 0.25f * (float)(k + 1);
	m.nclasses = 3;
	m.classes = classes;
	snprintf(m.model, sizeof m.model, "%s", mi->store_model);
	snprintf(m.fingerprint, sizeof m.fingerprint, "%s", w16.fingerprint);
	snprintf(m.preprocess, sizeof m.preprocess, "%s", mi->preprocess);
	snprintf(m.version, sizeof m.version, "test");
	return head_save(path, h, &m, err);
}

static int setup(void **state)
{
	char err[ERR_LEN];
	(void)state;
	snprintf(dir, sizeof dir, "%s", tu_tmpdir());
	snprintf(vf, sizeof vf, "%s/vggface.h5", dir);
	snprintf(head16, sizeof head16, "%s/head16.h5", dir);
	snprintf(headvf, sizeof headvf, "%s/headvf.h5", dir);
	snprintf(headh, sizeof headh, "%s/headh.h5", dir);
	snprintf(log_, sizeof log_, "%s/log", dir);
	if (weights_load(tu_weights_path(), &w16, err)) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	/* keras-vggface's layout with seed 1's numbers: VGG-Face weights
	 * with the test weights' fingerprint. */
	char *gen[] = {proc_tool("gen_weights"), "--seed", "1", "--layout", "vggface",
		       "--out", vf, NULL};
	if (proc_run(gen, log_) != 0)
		return -1;
	if (make_head(head16, MODEL_VGG16, 0, &h16, err) ||
	    make_head(headvf, MODEL_VGGFACE, 0, &hvf, err) ||
	    make_head(headh, MODEL_VGG16, 1, &hh, err)) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	weights_free(&w16);
	head_free(&h16);
	head_free(&hvf);
	head_free(&hh);
	tu_rm_rf(dir);
	return 0;
}

/* Runs predict with the arguments (NULL-terminated), its output to log_:
 * its exit status; *out the output (static, until the next call). */
static int predict(const char **out, ...)
{
	static char *text;
	char *argv[32];
	int n = 0;
	va_list ap;

	argv[n++] = proc_bin("predict");
	va_start(ap, out);
	for (char *a; (a = va_arg(ap, char *)) && n < 31;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	int st = proc_run(argv, log_);
	free(text);
	text = tu_slurp(log_);
	if (out)
		*out = text;
	return st;
}

/* No file of dir's starts with base's name followed by ".tmp". */
static void no_temporary(const char *path)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char prefix[300];
	DIR *d = opendir(dir);
	struct dirent *e;

	snprintf(prefix, sizeof prefix, "%s.tmp", base);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			fail_msg("a temporary file is left: %s", e->d_name);
	closedir(d);
}

/* ---- reading the file back --------------------------------------------- */

/* The strings of attribute name of obj; *found whether it exists. */
static h5util_strlist_t strings(hid_t obj, const char *name, int *found)
{
	h5util_strlist_t l = {0};
	char err[ERR_LEN];
	int f = 0;
	if (h5util_attr_strings(obj, name, &l, &f, "file", err))
		fail_msg("%s", err);
	if (found)
		*found = f;
	else if (!f)
		fail_msg("no attribute %s", name);
	return l;
}

static void expect_text(hid_t obj, const char *name, const char *want)
{
	h5util_strlist_t l = strings(obj, name, NULL);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0], want);
	h5util_strlist_free(&l);
}

/* The attribute's type: variable-length strings of cset, scalar or a list. */
static void expect_vlen(hid_t obj, const char *name, H5T_cset_t cset, int scalar)
{
	hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
	assert_true(a >= 0);
	hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
	assert_int_equal(H5Tget_class(t), H5T_STRING);
	assert_true(H5Tis_variable_str(t) > 0);
	assert_int_equal(H5Tget_cset(t), cset);
	assert_int_equal(H5Sget_simple_extent_type(sp), scalar ? H5S_SCALAR : H5S_SIMPLE);
	H5Sclose(sp);
	H5Tclose(t);
	H5Aclose(a);
}

/* Dataset name of g: float32 of shape dims (rank); its numbers into out
 * when out is not NULL. */
static void expect_dataset(hid_t g, const char *name, int rank, const hsize_t *dims,
			   float *out)
{
	hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
	if (d < 0)
		fail_msg("no dataset %s", name);
	hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
	hsize_t got[4];
	assert_true(H5Tequal(t, H5T_IEEE_F32LE) > 0);
	assert_int_equal(H5Sget_simple_extent_ndims(sp), rank);
	H5Sget_simple_extent_dims(sp, got, NULL);
	for (int i = 0; i < rank; i++)
		if (got[i] != dims[i])
			fail_msg("%s: dimension %d is %llu, not %llu", name, i,
				 (unsigned long long)got[i], (unsigned long long)dims[i]);
	if (out)
		assert_true(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0);
	H5Sclose(sp);
	H5Tclose(t);
	H5Dclose(d);
}

/* An object's keys are exactly want's, in want's order. */
static void expect_keys(const tj_t *o, const char *const *want, const char *what)
{
	size_t n = 0;
	assert_int_equal(o->type, TJ_OBJ);
	for (; want[n]; n++) {
		if (n >= o->n || strcmp(o->keys[n], want[n]) != 0)
			fail_msg("%s: key %zu is %s, tf-keras writes %s", what, n,
				 n < o->n ? o->keys[n] : "(none)", want[n]);
	}
	if (o->n != n)
		fail_msg("%s: %zu keys, tf-keras writes %zu", what, o->n, n);
}

static void expect_int_pair(const tj_t *cfg, const char *key, int v)
{
	const tj_t *a = tj_get(cfg, key);
	assert_non_null(a);
	assert_int_equal(a->type, TJ_ARR);
	assert_int_equal(a->n, 2);
	assert_true(a->items[0]->num == v && a->items[1]->num == v);
}

/* model_config: a Sequential of the input, then want's layers (the last
 * nhead of them the head's, trainable). */
static void check_config(const char *json, const want_t *want, size_t n, size_t nhead)
{
	char why[256];
	tj_t *root = tj_parse(json, why);
	if (!root)
		fail_msg("model_config is not JSON: %s", why);
	assert_string_equal(tj_str(root, "class_name"), "Sequential");
	const tj_t *cfg = tj_get(root, "config");
	assert_string_equal(tj_str(cfg, "name"), MODEL_FILE_NAME);
	const tj_t *layers = tj_get(cfg, "layers");
	assert_non_null(layers);
	assert_int_equal(layers->type, TJ_ARR);
	assert_int_equal(layers->n, n + 1);

	const tj_t *in = layers->items[0];
	assert_string_equal(tj_str(in, "class_name"), "InputLayer");
	const tj_t *ic = tj_get(in, "config");
	expect_keys(ic, input_keys, "InputLayer");
	const tj_t *shape = tj_get(ic, "batch_input_shape");
	assert_int_equal(shape->n, 4);
	assert_int_equal(shape->items[0]->type, TJ_NULL);
	assert_true(shape->items[1]->num == 224 && shape->items[2]->num == 224 &&
		    shape->items[3]->num == 3);
	assert_string_equal(tj_str(ic, "name"), "input_1");
	assert_string_equal(tj_str(ic, "dtype"), "float32");

	for (size_t i = 0; i < n; i++) {
		const want_t *w = &want[i];
		const tj_t *l = layers->items[i + 1];
		const tj_t *c = tj_get(l, "config");
		expect_keys(l, (const char *const[]){"class_name", "config", NULL}, w->name);
		if (strcmp(tj_str(l, "class_name"), cls_name[w->cls]) != 0)
			fail_msg("%s is a %s, not a %s", w->name, tj_str(l, "class_name"),
				 cls_name[w->cls]);
		expect_keys(c, keys_of[w->cls], w->name);
		assert_string_equal(tj_str(c, "name"), w->name);
		assert_string_equal(tj_str(c, "dtype"), "float32");
		const tj_t *tr = tj_get(c, "trainable");
		assert_int_equal(tr->type, TJ_BOOL);
		if (tr->boolean != (i >= n - nhead))
			fail_msg("%s: trainable %d", w->name, tr->boolean);
		if (w->activation)
			assert_string_equal(tj_str(c, "activation"), w->activation);
		if (w->cls == C) {
			assert_true(tj_get(c, "filters")->num == w->units);
			expect_int_pair(c, "kernel_size", 3);
			expect_int_pair(c, "strides", 1);
			assert_string_equal(tj_str(c, "padding"), "same");
		} else if (w->cls == P) {
			expect_int_pair(c, "pool_size", 2);
			expect_int_pair(c, "strides", 2);
			assert_string_equal(tj_str(c, "padding"), "valid");
		} else if (w->cls == D) {
			assert_true(tj_get(c, "units")->num == w->units);
		} else if (w->cls == R) {
			assert_true(tj_get(c, "rate")->num == 0.5);
		}
		if (w->cls == C || w->cls == D) {
			const tj_t *ki = tj_get(c, "kernel_initializer");
			assert_string_equal(tj_str(ki, "class_name"), "GlorotUniform");
			assert_string_equal(tj_str(tj_get(c, "bias_initializer"), "class_name"),
					    "Zeros");
		}
	}
	tj_free(root);
}

/* check_file: the file at path holds want's layers (the last nhead the
 * head's, whose layers with weights have the numbers of hl's nhl Dense
 * layers, in order, when hl is not NULL) over model's backbone with the
 * test weights. */
static void check_file(const char *path, int model, const want_t *want, size_t n,
		       size_t nhead, const head_layer_t *const *hl, size_t nhl)
{
	const model_info_t *mi = model_info(model);
	hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	int found;

	assert_true(f >= 0);
	/* The root: Keras' attributes, as tf-keras writes their types. */
	expect_text(f, "keras_version", "2.21.0");
	expect_text(f, "backend", "tensorflow");
	expect_vlen(f, "keras_version", H5T_CSET_UTF8, 1);
	expect_vlen(f, "backend", H5T_CSET_UTF8, 1);
	expect_vlen(f, "model_config", H5T_CSET_ASCII, 1);
	assert_int_equal(H5Aexists(f, "training_config"), 0);
	assert_int_equal(H5Aexists(f, "layer_names"), 0);
	/* Ours. */
	expect_text(f, "vggfeat_format", MODEL_FILE_FORMAT);
	expect_text(f, "vggfeat_model", mi->store_model);
	expect_text(f, "vggfeat_fingerprint", w16.fingerprint);
	expect_text(f, "vggfeat_preprocess", mi->preprocess);
	h5util_strlist_t cl = strings(f, "vggfeat_classes", NULL);
	assert_int_equal(cl.n, 3);
	for (int k = 0; k < 3; k++)
		assert_string_equal(cl.v[k], classes[k]);
	h5util_strlist_free(&cl);

	h5util_strlist_t mc = strings(f, "model_config", NULL);
	assert_int_equal(mc.n, 1);
	check_config(mc.v[0], want, n, nhead);
	h5util_strlist_free(&mc);

	/* model_weights. */
	hid_t mw = H5Gopen2(f, "model_weights", H5P_DEFAULT);
	assert_true(mw >= 0);
	expect_text(mw, "backend", "tensorflow");
	expect_text(mw, "keras_version", "2.21.0");
	expect_vlen(mw, "layer_names", H5T_CSET_ASCII, 0);
	h5util_strlist_t ln = strings(mw, "layer_names", NULL);
	assert_int_equal(ln.n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(ln.v[i], want[i].name);
	h5util_strlist_free(&ln);
	size_t hk = 0; /* the head's layers with weights met so far */
	for (size_t i = 0; i < n; i++) {
		const want_t *w = &want[i];
		hid_t g = H5Gopen2(mw, w->name, H5P_DEFAULT);
		if (g < 0)
			fail_msg("no group %s", w->name);
		h5util_strlist_t wn = strings(g, "weight_names", &found);
		assert_true(found);
		if (!w->krank) {
			/* np.asarray([]): an empty float64 list. */
			assert_int_equal(wn.n, 0);
			hid_t a = H5Aopen(g, "weight_names", H5P_DEFAULT);
			hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
			assert_true(H5Tequal(t, H5T_IEEE_F64LE) > 0);
			assert_int_equal(H5Sget_simple_extent_npoints(sp), 0);
			H5Sclose(sp), H5Tclose(t), H5Aclose(a);
		} else {
			char kn[256], bn[256];
			hsize_t kd[4], bd[1] = {(hsize_t)w->kdims[w->krank - 1]};
			snprintf(kn, sizeof kn, "%s/kernel:0", w->name);
			snprintf(bn, sizeof bn, "%s/bias:0", w->name);
			assert_int_equal(wn.n, 2);
			assert_string_equal(wn.v[0], kn);
			assert_string_equal(wn.v[1], bn);
			expect_vlen(g, "weight_names", H5T_CSET_ASCII, 0);
			for (int d = 0; d < w->krank; d++)
				kd[d] = (hsize_t)w->kdims[d];
			const head_layer_t *L = hl && i >= n - nhead && hk < nhl ? hl[hk++] : NULL;
			float *k = L ? malloc((size_t)L->in * L->out * sizeof *k) : NULL;
			float *b = L ? malloc((size_t)L->out * sizeof *b) : NULL;
			expect_dataset(g, kn, w->krank, kd, k);
			expect_dataset(g, bn, 1, bd, b);
			if (L) {
				assert_memory_equal(k, L->kernel, (size_t)L->in * L->out * sizeof *k);
				assert_memory_equal(b, L->bias, (size_t)L->out * sizeof *b);
			}
			free(k), free(b);
		}
		h5util_strlist_free(&wn);
		H5Gclose(g);
	}
	hid_t top = H5Gopen2(mw, "top_level_model_weights", H5P_DEFAULT);
	assert_true(top >= 0);
	h5util_strlist_t tw = strings(top, "weight_names", &found);
	assert_true(found && tw.n == 0);
	H5Gclose(top);
	H5Gclose(mw);
	H5Fclose(f);

	/* The backbone's numbers: the weights loader reads model.save's
	 * layout, and finds the model and every number (its fingerprint). */
	weights_t back;
	char err[ERR_LEN];
	if (weights_load(path, &back, err))
		fail_msg("%s", err);
	assert_int_equal(back.model, model);
	assert_string_equal(back.fingerprint, w16.fingerprint);
	weights_free(&back);
}

/* ---- the tests --------------------------------------------------------- */

static void test_vgg16(void **state)
{
	(void)state;
	char out[600];
	const char *text;
	path_in(out, sizeof out, "face_model.h5");
	int st = predict(&text, "--head", head16, "--weights", tu_weights_path(),
			 "--save-model", out, NULL);
	if (st != 0)
		fail_msg("predict exited %d: %s", st, text);
	assert_non_null(strstr(text, "predict: saved the whole model to"));
	assert_non_null(strstr(text, out));
	const head_layer_t *l16 = &h16.layer[0];
	check_file(out, MODEL_VGG16, vgg16_layers, NWANT(vgg16_layers), 1, &l16, 1);
	no_temporary(out);

	/* Saving again replaces it whole (the same bytes: nothing in the
	 * file depends on the time or the process). */
	size_t len1, len2;
	uint8_t *a = tu_read_file(out, &len1);
	assert_int_equal(predict(NULL, "--head", head16, "--weights", tu_weights_path(),
				 "--save-model", out, "-q", NULL), 0);
	uint8_t *b = tu_read_file(out, &len2);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(len1, len2);
	assert_true(memcmp(a, b, len1) == 0);
	free(a), free(b);
	unlink(out);
}

static void test_vggface(void **state)
{
	(void)state;
	char out[600];
	const char *text;
	path_in(out, sizeof out, "face_model_vf.h5");
	int st = predict(&text, "--head", headvf, "--weights", vf, "--save-model", out, NULL);
	if (st != 0)
		fail_msg("predict exited %d: %s", st, text);
	assert_non_null(strstr(text, "VGG-Face through fc7"));
	const head_layer_t *lvf = &hvf.layer[0];
	check_file(out, MODEL_VGGFACE, vggface_layers, NWANT(vggface_layers), 1, &lvf, 1);

	/* keras-vggface's activations are groups nested in their Dense
	 * layer's, as h5py's create_group("fc6/relu") makes them. */
	hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
	hid_t fc6 = H5Gopen2(f, "model_weights/fc6", H5P_DEFAULT);
	assert_true(fc6 >= 0);
	hid_t relu = H5Gopen2(fc6, "relu", H5P_DEFAULT);
	assert_true(relu >= 0);
	H5Gclose(relu);
	H5Gclose(fc6);
	H5Fclose(f);
	unlink(out);
}

/* A small stand-in for a whole-model file an earlier --save-model wrote:
 * the root attributes by which it is known. */
static void small_model_file(const char *path)
{
	hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(f >= 0);
	assert_int_equal(h5util_attr_write_text(f, "vggfeat_format", MODEL_FILE_FORMAT), 0);
	assert_int_equal(h5util_attr_write_text(f, "model_config", "{}"), 0);
	H5Fclose(f);
}

/* A save that fails half-way (a file size limit of 20 MB, whose signal
 * is ignored so that write fails with EFBIG) and a folder that does not
 * exist: exit 1, one error line naming the file as given, the old file
 * untouched, no temporary file left. */
static void test_atomic(void **state)
{
	(void)state;
	char out[600], cmd[4096];
	path_in(out, sizeof out, "kept.h5");
	small_model_file(out);
	size_t oldlen;
	uint8_t *old = tu_read_file(out, &oldlen);
	assert_non_null(old);
	snprintf(cmd, sizeof cmd, "trap '' XFSZ; ulimit -f 20000; exec '%s' --head '%s' "
		 "--weights '%s' --save-model '%s'", proc_bin("predict"), head16,
		 tu_weights_path(), out);
	char *argv[] = {"/bin/bash", "-c", cmd, NULL};
	int st = proc_run(argv, log_);
	char *text = tu_slurp(log_);
	if (st != 1)
		fail_msg("exit %d: %s", st, text);
	/* Named as given, the cause said, and the earlier file said to be
	 * unchanged (it named the temporary file). */
	char named[1400], kept[1400];
	snprintf(named, sizeof named, "predict: error: %s: ", out);
	snprintf(kept, sizeof kept, ": File too large (the earlier %s is unchanged)\n", out);
	if (strncmp(text, named, strlen(named)) != 0 || !strstr(text, kept) ||
	    strstr(text, ".tmp."))
		fail_msg("a save cut by a file size limit said: %s", text);
	assert_int_equal(tu_count(text, "\n"), 1);
	free(text);
	size_t len;
	uint8_t *now = tu_read_file(out, &len);
	assert_int_equal(len, oldlen);
	assert_memory_equal(now, old, oldlen);
	free(now), free(old);
	no_temporary(out);

	const char *msg;
	char nowhere[600];
	path_in(nowhere, sizeof nowhere, "no/such/folder/model.h5");
	assert_int_equal(predict(&msg, "--head", head16, "--weights", tu_weights_path(),
				 "--save-model", nowhere, NULL), 1);
	snprintf(named, sizeof named, "predict: error: %s: creating it failed: No such "
		 "file or directory\n", nowhere);
	if (strcmp(msg, named) != 0)
		fail_msg("a save into no folder said: %s", msg);
	assert_false(tu_exists(nowhere));
}

/* --save-model through a symbolic link writes the file the link names
 * and keeps the link, as Keras' model.save(path) does through h5py (the
 * model used to be renamed over the link); a link to a photo is refused,
 * the photo kept byte for byte. */
static void test_save_through_link(void **state)
{
	(void)state;
	char sub[600], real[700], link[600], photo[700], tophoto[600], want[1500];
	const char *msg;
	struct stat st;

	path_in(sub, sizeof sub, "linked");
	path_in(link, sizeof link, "link.h5");
	path_in(tophoto, sizeof tophoto, "tophoto.h5");
	snprintf(real, sizeof real, "%s/model.h5", sub);
	snprintf(photo, sizeof photo, "%s/me.jpg", sub);
	assert_int_equal(mkdir(sub, 0755), 0);
	small_model_file(real);
	assert_int_equal(symlink("linked/model.h5", link), 0);
	int rc = predict(&msg, "--head", head16, "--weights", tu_weights_path(),
			 "--save-model", link, "-q", NULL);
	if (rc != 0)
		fail_msg("exit %d: %s", rc, msg);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	const head_layer_t *l16 = &h16.layer[0];
	check_file(real, MODEL_VGG16, vgg16_layers, NWANT(vgg16_layers), 1, &l16, 1);
	no_temporary(link);
	unlink(real);

	static const char jpeg[] = "\xff\xd8\xff a photo";
	assert_int_equal(tu_write_file(photo, jpeg, sizeof jpeg - 1), 0);
	assert_int_equal(symlink("linked/me.jpg", tophoto), 0);
	assert_int_equal(predict(&msg, "--head", head16, "--weights", tu_weights_path(),
				 "--save-model", tophoto, NULL), 1);
	snprintf(want, sizeof want, "%s (a link to %s/me.jpg) exists and is not a "
		 "whole-model file (not an HDF5 file)", tophoto, sub);
	if (!strstr(msg, want))
		fail_msg("--save-model through a link to a photo said: %s", msg);
	tu_assert_file_holds(photo, jpeg, sizeof jpeg - 1);
	assert_int_equal(lstat(tophoto, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
}

/* The temporary files of path that process pid writes (glob): how many,
 * each removed when remove is set. */
static int temporaries_of(const char *path, pid_t pid, int remove)
{
	char pat[700];
	glob_t g;

	snprintf(pat, sizeof pat, "%s.tmp.*.%ld", path, (long)pid);
	if (glob(pat, 0, NULL, &g) != 0)
		return 0;
	int n = (int)g.gl_pathc;
	for (int i = 0; remove && i < n; i++)
		unlink(g.gl_pathv[i]);
	globfree(&g);
	return n;
}

/* kill -9 of predict --save-model takes its libhdf5 writer along: the
 * writer used to go on writing the rest of the 537 MB temporary file for
 * no one, and ended by itself (exit 0) half a second or more later.  Once
 * the writer has made its file, predict is killed; the writer, adopted by
 * this process (proc_adopt_orphans) to be waited for, must end by SIGKILL
 * within 10 s, its file unfinished. */
static void test_killed_parent_takes_writer(void **state)
{
	(void)state;
	char out[600];
	path_in(out, sizeof out, "killed.h5");
	char *argv[] = {proc_bin("predict"), "--head", head16, "--weights",
			(char *)tu_weights_path(), "--save-model", out, "-q", NULL};
	pid_t kids[4];

	if (proc_adopt_orphans(1) != 0)
		skip(); /* not Linux */
	pid_t pid = proc_spawn(argv, log_);
	assert_true(pid > 0);
	/* The writer (a child: the readers of the weights and the head have
	 * ended) has made its file; the weights take seconds to read. */
	for (int i = 0; i < 12000 && !temporaries_of(out, pid, 0); i++)
		proc_sleep(0.01);
	int n = proc_children(pid, kids, 4);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(proc_wait(pid), 128 + SIGKILL);
	int writer = n == 1 ? proc_wait_bounded(kids[0], 10.0) : -2;
	assert_int_equal(proc_adopt_orphans(0), 0);
	assert_int_equal(temporaries_of(out, pid, 1), 1);
	assert_int_equal(n, 1);
	assert_int_equal(writer, 128 + SIGKILL);
	assert_false(tu_exists(out));
}

/* spawn_save starts predict --save-model out with sig's disposition
 * action (SIG_DFL, SIG_IGN: nohup's), whatever this process' is, and
 * waits for its temporary file. */
static pid_t spawn_save(const char *out, int sig, void (*action)(int))
{
	char *argv[] = {proc_bin("predict"), "--head", head16, "--weights",
			(char *)tu_weights_path(), "--save-model", (char *)out, "-q", NULL};
	struct sigaction sa = {.sa_handler = action}, before;

	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(sig, &sa, &before), 0);
	pid_t pid = proc_spawn(argv, log_);
	assert_int_equal(sigaction(sig, &before, NULL), 0);
	assert_true(pid > 0);
	for (int i = 0; i < 12000 && !temporaries_of(out, pid, 0); i++)
		proc_sleep(0.01);
	assert_int_equal(temporaries_of(out, pid, 0), 1);
	return pid;
}

/* predict told to stop while it writes the model (Ctrl-C, kill, the
 * terminal closed) removes its temporary file and ends by that signal;
 * the earlier model is kept byte for byte.  Up to 537 MB of it stayed
 * until a save to the same name.  A signal it was started to ignore
 * (nohup's SIGHUP) is still ignored: the model is saved. */
static void test_stopped_while_written(void **state)
{
	(void)state;
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	char out[600];
	size_t oldlen, len;

	path_in(out, sizeof out, "stopped.h5");
	small_model_file(out);
	uint8_t *old = tu_read_file(out, &oldlen);
	assert_non_null(old);
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
		pid_t pid = spawn_save(out, sigs[i], SIG_DFL);
		proc_sleep(0.2);
		assert_int_equal(kill(pid, sigs[i]), 0);
		int st = proc_wait(pid);
		int left = temporaries_of(out, pid, 1);
		if (st != 128 + sigs[i] || left)
			fail_msg("SIG%s: exit %d, %d temporary file(s) left",
				 sigabbrev_np(sigs[i]), st, left);
		uint8_t *now = tu_read_file(out, &len);
		assert_int_equal(len, oldlen);
		assert_memory_equal(now, old, oldlen);
		free(now);
	}
	free(old);

	pid_t pid = spawn_save(out, SIGHUP, SIG_IGN);
	proc_sleep(0.2);
	assert_int_equal(kill(pid, SIGHUP), 0);
	assert_int_equal(proc_wait(pid), 0);
	const head_layer_t *l16 = &h16.layer[0];
	check_file(out, MODEL_VGG16, vgg16_layers, NWANT(vgg16_layers), 1, &l16, 1);
	no_temporary(out);
	unlink(out);
}

/* save_changing runs predict --save-model path, waits for its writer's
 * temporary file beside file (the file path leads to), runs change, waits
 * for predict: its exit status, its output in *msg.  The weights take
 * seconds to read and the model seconds to write: the change comes while
 * it is written, after predict's first check of path. */
static int save_changing(const char *path, const char *file, void (*change)(void),
			 char **msg)
{
	char *argv[] = {proc_bin("predict"), "--head", head16, "--weights",
			(char *)tu_weights_path(), "--save-model", (char *)path, "-q",
			NULL};
	pid_t pid = proc_spawn(argv, log_);
	assert_true(pid > 0);
	int seen = 0;
	for (int i = 0; i < 12000 && !(seen = temporaries_of(file, pid, 0)); i++)
		proc_sleep(0.01);
	change();
	int st = proc_wait(pid);
	*msg = tu_slurp(log_);
	assert_int_equal(seen, 1);
	assert_int_equal(temporaries_of(file, pid, 0), 0);
	return st;
}

static const char g_jpeg[] = "\xff\xd8\xff a photo";
static char g_changing[600], g_turned[600], g_sub[600];

/* A photo moved to the model's name. */
static void photo_moved_in(void)
{
	char tmp[700];
	snprintf(tmp, sizeof tmp, "%s.photo", g_changing);
	assert_int_equal(tu_write_file(tmp, g_jpeg, sizeof g_jpeg - 1), 0);
	assert_int_equal(rename(tmp, g_changing), 0);
}

/* The link turned to a photo beside its file, or to a file not there. */
static void turn_link(const char *to)
{
	char tmp[700];
	snprintf(tmp, sizeof tmp, "%s.new", g_turned);
	assert_int_equal(symlink(to, tmp), 0);
	assert_int_equal(rename(tmp, g_turned), 0);
}

static void link_turned(void)
{
	turn_link("turned/me.jpg");
}

static void link_turned_away(void)
{
	turn_link("turned/elsewhere.h5");
}

static void expect_photo(const char *path)
{
	tu_assert_file_holds(path, g_jpeg, sizeof g_jpeg - 1);
}

/* predict --save-model checks its target before it reads the weights and
 * writes the file, which takes seconds; model_file_save asks again right
 * before the rename.  A photo moved to the model's name meanwhile was
 * replaced by the model, and a link turned to a photo left the model where
 * the link no longer leads, exit 0 both; now each is refused, the photo
 * and the earlier model kept byte for byte, the temporary file removed; so
 * is a link turned to a file not there, where the model would not be. */
static void test_changed_while_written(void **state)
{
	(void)state;
	char *msg, want[2400];

	path_in(g_changing, sizeof g_changing, "changing.h5");
	small_model_file(g_changing);
	int st = save_changing(g_changing, g_changing, photo_moved_in, &msg);
	snprintf(want, sizeof want, "predict: error: %s exists and is not a "
		 "whole-model file (not an HDF5 file); --save-model replaces only a "
		 "model it wrote: move that file away or name another; it changed "
		 "while the model was written: the model was not saved\n", g_changing);
	if (st != 1 || strcmp(msg, want) != 0)
		fail_msg("exit %d: %s", st, msg);
	free(msg);
	expect_photo(g_changing);
	unlink(g_changing);

	char real[700], photo[700];
	path_in(g_sub, sizeof g_sub, "turned");
	path_in(g_turned, sizeof g_turned, "turned.h5");
	snprintf(real, sizeof real, "%s/model.h5", g_sub);
	snprintf(photo, sizeof photo, "%s/me.jpg", g_sub);
	assert_int_equal(mkdir(g_sub, 0755), 0);
	small_model_file(real);
	size_t oldlen;
	uint8_t *old = tu_read_file(real, &oldlen);
	assert_non_null(old);
	assert_int_equal(tu_write_file(photo, g_jpeg, sizeof g_jpeg - 1), 0);
	assert_int_equal(symlink("turned/model.h5", g_turned), 0);
	st = save_changing(g_turned, real, link_turned, &msg);
	snprintf(want, sizeof want, "predict: error: %s (a link to %s) exists and is "
		 "not a whole-model file (not an HDF5 file); --save-model replaces only "
		 "a model it wrote: move that file away or name another; it changed "
		 "while the model was written: the model was not saved\n", g_turned,
		 photo);
	if (st != 1 || strcmp(msg, want) != 0)
		fail_msg("exit %d: %s", st, msg);
	free(msg);
	expect_photo(photo);
	size_t len;
	uint8_t *now = tu_read_file(real, &len);
	assert_int_equal(len, oldlen);
	assert_memory_equal(now, old, oldlen);
	free(now);

	/* Turned to a file not there: the model would not be where the link
	 * leads. */
	char away[700];
	snprintf(away, sizeof away, "%s/elsewhere.h5", g_sub);
	turn_link("turned/model.h5");
	st = save_changing(g_turned, real, link_turned_away, &msg);
	snprintf(want, sizeof want, "predict: error: %s now leads to %s, not to %s, "
		 "which the model was written to replace; it changed while the model "
		 "was written: the model was not saved\n", g_turned, away, real);
	if (st != 1 || strcmp(msg, want) != 0)
		fail_msg("exit %d: %s", st, msg);
	free(msg);
	assert_false(tu_exists(away));
	now = tu_read_file(real, &len);
	assert_int_equal(len, oldlen);
	assert_memory_equal(now, old, oldlen);
	free(now), free(old);
	unlink(g_turned), unlink(photo), unlink(real), rmdir(g_sub);
}

static void test_refusals(void **state)
{
	(void)state;
	char out[600];
	const char *msg;
	path_in(out, sizeof out, "refused.h5");

	/* A head trained on VGG-Face's features, VGG16's weights. */
	assert_int_equal(predict(&msg, "--head", headvf, "--weights", tu_weights_path(),
				 "--save-model", out, NULL), 1);
	assert_non_null(strstr(msg, "predict: error: "));
	assert_non_null(strstr(msg, "vggface-fc7"));
	assert_false(tu_exists(out));

	/* A missing head. */
	char missing[600];
	path_in(missing, sizeof missing, "no_head.h5");
	assert_int_equal(predict(&msg, "--head", missing, "--weights", tu_weights_path(),
				 "--save-model", out, NULL), 1);
	assert_non_null(strstr(msg, "predict: error: "));
	assert_non_null(strstr(msg, missing));
	assert_false(tu_exists(out));

	/* The model over its own head, or its own weights (the test's own
	 * VGG-Face file: if the refusal failed, only this test's copy would
	 * go): refused before anything is written, both left as they were. */
	struct stat before, after;
	assert_int_equal(stat(headvf, &before), 0);
	assert_int_equal(predict(&msg, "--head", headvf, "--weights", vf, "--save-model",
				 headvf, NULL), 1);
	assert_non_null(strstr(msg, "is the head it is made from"));
	assert_int_equal(stat(headvf, &after), 0);
	assert_int_equal(before.st_size, after.st_size);
	assert_int_equal(stat(vf, &before), 0);
	assert_int_equal(predict(&msg, "--head", headvf, "--weights", vf, "--save-model", vf,
				 NULL), 1);
	assert_non_null(strstr(msg, "is the weights file it is made from"));
	assert_int_equal(stat(vf, &after), 0);
	assert_int_equal(before.st_size, after.st_size);
	assert_true(before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
		    before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);

	/* Over anything but a whole model it wrote: a photo, another head, a
	 * Keras model of the user's, a folder; each left as it was. */
	char photo[600], other[600], folder[600];
	path_in(photo, sizeof photo, "me.jpg");
	path_in(other, sizeof other, "other_head.h5");
	path_in(folder, sizeof folder, "a_folder");
	static const char jpeg[] = "\xff\xd8\xff a photo";
	assert_int_equal(tu_write_file(photo, jpeg, sizeof jpeg - 1), 0);
	char cp[1400];
	snprintf(cp, sizeof cp, "cp '%s' '%s'", head16, other);
	assert_int_equal(system(cp), 0);
	assert_int_equal(mkdir(folder, 0755), 0);
	const struct { const char *path, *why; } refused[] = {
		{photo, "me.jpg exists and is not a whole-model file (not an HDF5 "
			"file); --save-model replaces only a model it wrote"},
		{other, "other_head.h5 exists and is not a whole-model file (an HDF5 "
			"file that is not a whole model predict --save-model wrote)"},
		{folder, "a_folder is a folder; name the model's file"},
	};
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		struct stat b0, b1;
		assert_int_equal(stat(refused[i].path, &b0), 0);
		assert_int_equal(predict(&msg, "--head", head16, "--weights",
					 tu_weights_path(), "--save-model", refused[i].path,
					 NULL), 1);
		if (!strstr(msg, refused[i].why))
			fail_msg("--save-model %s said: %s", refused[i].path, msg);
		assert_int_equal(stat(refused[i].path, &b1), 0);
		assert_true(b0.st_ino == b1.st_ino && b0.st_size == b1.st_size);
	}
	unlink(photo), unlink(other), rmdir(folder);

	/* Usage errors: exit 2, the Try line. */
	static const char *const usage[][6] = {
		{"--save-model", "x.h5", NULL},                      /* no --head */
		{"--head", "h.h5", "--save-model", "x.h5", "photo.jpg", NULL}, /* images */
		{"--head", "h.h5", "--save-model", "", NULL},        /* an empty path */
		{"--head", "h.h5", "--save-model", NULL},            /* no value */
	};
	for (size_t i = 0; i < sizeof usage / sizeof *usage; i++) {
		const char *const *a = usage[i];
		int st = predict(&msg, a[0], a[1], a[2], a[3], a[4], a[5]);
		if (st != 2 || !strstr(msg, "Try 'predict --help'."))
			fail_msg("case %zu: exit %d: %s", i, st, msg);
		assert_false(strstr(msg, "error:"));
	}
	assert_int_equal(predict(&msg, "--help", NULL), 0);
	assert_non_null(strstr(msg, "--save-model FILE"));
}

/* Keras goes by the model file's name: model.save writes HDF5 only to a
 * name ending in .h5 or .hdf5, and Keras 3's load_model opens a .keras file
 * as its zip format ("File not found: ... Please ensure the file is an
 * accessible `.keras` zip file") and refuses any other name.  predict
 * --save-model face_model.keras wrote the HDF5 file there, exit 0; now
 * such a name is refused, the name to use offered, before the weights are
 * read (weights that are a photo are not looked at), nothing written. */
static void test_keras_names(void **state)
{
	(void)state;
	char photo[600], want[2000];
	const char *msg;
	static const char jpeg[] = "\xff\xd8\xff a photo";
	static const struct { const char *name, *offered; } refused[] = {
		{"face_model.keras", "face_model.h5"},
		{"face_model", "face_model.h5"},
		{"FACE_MODEL.H5", "FACE_MODEL.h5"},
		{"v1.2/face_model", "v1.2/face_model.h5"},
	};

	path_in(photo, sizeof photo, "weights.jpg");
	assert_int_equal(tu_write_file(photo, jpeg, sizeof jpeg - 1), 0);
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		char out[600], offered[600];
		path_in(out, sizeof out, refused[i].name);
		path_in(offered, sizeof offered, refused[i].offered);
		for (int weights_too = 0; weights_too < 2; weights_too++) {
			int st = predict(&msg, "--head", head16, "--weights",
					 weights_too ? photo : tu_weights_path(),
					 "--save-model", out, NULL);
			snprintf(want, sizeof want, "predict: error: %s: the model is "
				 "written as HDF5, which Keras reads only from a name "
				 "ending in .h5 or .hdf5 (model.save and load_model go "
				 "by the name; .keras is Keras' zip format): name it %s\n",
				 out, offered);
			if (st != 1 || strcmp(msg, want) != 0)
				fail_msg("--save-model %s: exit %d: %s", refused[i].name,
					 st, msg);
			assert_false(tu_exists(out));
			no_temporary(out);
		}
	}
	unlink(photo);

	/* model_file_save itself writes no file Keras would not read back. */
	char out[600], err[ERR_LEN];
	const model_file_layer_t dense = {
		.kind = MODEL_FILE_DENSE, .name = "dense_1", .activation = "softmax",
		.in = h16.layer[0].in, .units = h16.layer[0].out,
		.kernel = h16.layer[0].kernel, .bias = h16.layer[0].bias};
	const model_file_t m = {.w = &w16, .end = MODEL_FILE_END_VECTOR, .head = &dense,
				.nhead = 1, .classes = (const char *const *)classes,
				.nclasses = 3};
	path_in(out, sizeof out, "direct.keras");
	assert_int_equal(model_file_save(out, &m, err), ERR_ARG);
	assert_non_null(strstr(err, "name it "));
	assert_false(tu_exists(out));
	no_temporary(out);

	/* The two names Keras reads HDF5 from. */
	path_in(out, sizeof out, "face_model.hdf5");
	assert_int_equal(model_file_replaceable(out, err), 0);
	path_in(out, sizeof out, "face_model.h5");
	assert_int_equal(model_file_replaceable(out, err), 0);
}

/* predict --save-model of a head with a hidden layer (train-head
 * --hidden's file): the backbone, then dense_1 (relu, 16 units) and
 * dense_2 (softmax), with the head file's numbers. */
static void test_hidden_head(void **state)
{
	(void)state;
	char out[600];
	const char *text;
	want_t want[NWANT(vgg16_layers) + 1];
	size_t n = NWANT(vgg16_layers) - 1;

	path_in(out, sizeof out, "face_model_hidden.h5");
	int st = predict(&text, "--head", headh, "--weights", tu_weights_path(),
			 "--save-model", out, NULL);
	if (st != 0)
		fail_msg("predict exited %d: %s", st, text);
	assert_non_null(strstr(text, "then Dense layers with softmax over 3 classes"));
	memcpy(want, vgg16_layers, n * sizeof *want);
	want[n++] = (want_t){"dense_1", D, 16, "relu", {4096, 16}, 2};
	want[n++] = (want_t){"dense_2", D, 3, "softmax", {16, 3}, 2};
	const head_layer_t *hl[2] = {&hh.layer[0], &hh.layer[1]};
	check_file(out, MODEL_VGG16, want, n, 2, hl, 2);
	no_temporary(out);
	unlink(out);
}

/* model_file_save itself: a head with hidden layers (what issue 24's head
 * gives), and what it refuses. */
static void test_head_list(void **state)
{
	(void)state;
	char out[600], err[ERR_LEN];
	head_t hidden;
	assert_int_equal(head_create(4096, 0, NULL, 16, 11, &hidden, err), 0);
	const float *hk = hidden.layer[0].kernel, *hb = hidden.layer[0].bias;
	const float *k16 = h16.layer[0].kernel, *b16 = h16.layer[0].bias;
	model_file_layer_t layers[3] = {
		{.kind = MODEL_FILE_DENSE, .name = "dense_hidden", .activation = "relu",
		 .in = 4096, .units = 16, .kernel = hk, .bias = hb},
		{.kind = MODEL_FILE_DROPOUT, .name = "dropout_1", .rate = 0.5},
		{.kind = MODEL_FILE_DENSE, .name = "dense_1", .activation = "softmax",
		 .in = 16, .units = 3, .kernel = k16, .bias = b16},
	};
	model_file_t m = {.w = &w16, .end = MODEL_FILE_END_VECTOR, .head = layers,
			  .nhead = 3, .classes = (const char *const *)classes, .nclasses = 3};
	path_in(out, sizeof out, "hidden.h5");
	if (model_file_save(out, &m, err))
		fail_msg("%s", err);
	want_t want[NWANT(vgg16_layers) + 2];
	memcpy(want, vgg16_layers, sizeof vgg16_layers - sizeof *want);
	size_t n = NWANT(vgg16_layers) - 1;
	want[n++] = (want_t){"dense_hidden", D, 16, "relu", {4096, 16}, 2};
	want[n++] = (want_t){"dropout_1", R, 0, NULL, {0}, 0};
	want[n++] = (want_t){"dense_1", D, 3, "softmax", {16, 3}, 2};
	/* h16's kernel is (4096, 3): its first 16 rows are dense_1's here. */
	const head_layer_t first = hidden.layer[0];
	const head_layer_t last = {.in = 16, .out = 3, .kernel = (float *)k16,
				   .bias = (float *)b16};
	const head_layer_t *hl[2] = {&first, &last};
	check_file(out, MODEL_VGG16, want, n, 3, hl, 2);
	unlink(out);

	/* Refusals: ERR_ARG, nothing written. */
	struct { int layer; model_file_layer_t with; const char *says; } bad[] = {
		{0, {.kind = MODEL_FILE_DENSE, .name = "dense_hidden", .activation = "relu",
		     .in = 4095, .units = 16, .kernel = hk, .bias = hb},
		 "takes 4095 inputs where 4096 come"},
		{1, {.kind = MODEL_FILE_DROPOUT, .name = "dropout_1", .rate = 1.0},
		 "outside [0, 1)"},
		{1, {.kind = 9, .name = "x"}, "unknown kind"},
		{1, {.kind = MODEL_FILE_DROPOUT, .name = "fc1", .rate = 0.5}, "two layers named fc1"},
		{1, {.kind = MODEL_FILE_DROPOUT, .name = "dense_1", .rate = 0.5},
		 "two layers named dense_1"},
		{1, {.kind = MODEL_FILE_DROPOUT, .name = "input_1", .rate = 0.5}, "is taken"},
		{1, {.kind = MODEL_FILE_DROPOUT, .name = "top_level_model_weights", .rate = 0.5},
		 "is taken"},
		{1, {.kind = MODEL_FILE_DROPOUT, .name = "a//b", .rate = 0.5}, "not a name"},
		{1, {.kind = MODEL_FILE_DROPOUT, .name = "/a", .rate = 0.5}, "not a name"},
		{1, {.kind = MODEL_FILE_DROPOUT, .name = "a/", .rate = 0.5}, "not a name"},
		{1, {.kind = MODEL_FILE_DROPOUT, .name = "a/../b", .rate = 0.5}, "not a name"},
		{1, {.kind = MODEL_FILE_DROPOUT, .name = "", .rate = 0.5}, "not a name"},
		{1, {.kind = MODEL_FILE_DROPOUT, .name = NULL, .rate = 0.5}, "not a name"},
		{1, {.kind = MODEL_FILE_DROPOUT, .name = "\xc3", .rate = 0.5}, "not UTF-8"},
		{2, {.kind = MODEL_FILE_DROPOUT, .name = "dropout_2", .rate = 0.5},
		 "ends with dropout_2, not a Dense layer"},
		{2, {.kind = MODEL_FILE_DENSE, .name = "dense_1", .activation = "softmax",
		     .in = 16, .units = 4, .kernel = k16, .bias = b16},
		 "3 class names for the 4 outputs"},
		{2, {.kind = MODEL_FILE_DENSE, .name = "dense_1", .activation = "softmax",
		     .in = 16, .units = 3, .kernel = NULL, .bias = b16},
		 "without its units, activation or weights"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		model_file_layer_t copy[3];
		memcpy(copy, layers, sizeof copy);
		copy[bad[i].layer] = bad[i].with;
		m.head = copy;
		int rc = model_file_save(out, &m, err);
		if (rc != ERR_ARG || !strstr(err, bad[i].says))
			fail_msg("case %zu: %s: %s (wanted '%s')", i, err_name(rc), err,
				 bad[i].says);
		assert_false(tu_exists(out));
	}
	m.head = layers;
	m.end = 5;
	assert_int_equal(model_file_save(out, &m, err), ERR_ARG);
	m.end = MODEL_FILE_END_VECTOR;
	m.nhead = 0;
	assert_int_equal(model_file_save(out, &m, err), ERR_ARG);
	m.nhead = MODEL_FILE_MAX_HEAD + 1;
	assert_int_equal(model_file_save(out, &m, err), ERR_ARG);
	assert_non_null(strstr(err, "head layers, not 1 to"));
	no_temporary(out);
	head_free(&hidden);
}

/* More class names than one attribute holds in HDF5's 64 KB object header
 * (4032 variable-length strings): split into vggfeat_classes0, 1, ... as
 * Keras splits its lists, and read back whole by Keras' rule. */
static void test_many_classes(void **state)
{
	(void)state;
	enum { K = 4100 };
	char out[600], err[ERR_LEN];
	char **names = calloc(K, sizeof *names);
	float *kernel = calloc((size_t)4096 * K + K, sizeof *kernel);
	assert_non_null(names);
	assert_non_null(kernel);
	for (int k = 0; k < K; k++) {
		names[k] = malloc(24);
		snprintf(names[k], 24, "person%04d", k);
	}
	model_file_layer_t dense = {.kind = MODEL_FILE_DENSE, .name = "dense_1",
				    .activation = "softmax", .in = 4096, .units = K,
				    .kernel = kernel, .bias = kernel + (size_t)4096 * K};
	model_file_t m = {.w = &w16, .end = MODEL_FILE_END_VECTOR, .head = &dense,
			  .nhead = 1, .classes = (const char *const *)names, .nclasses = K};
	path_in(out, sizeof out, "many.h5");
	if (model_file_save(out, &m, err))
		fail_msg("%s", err);
	hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(f >= 0);
	assert_int_equal(H5Aexists(f, "vggfeat_classes"), 0);
	assert_true(H5Aexists(f, "vggfeat_classes0") > 0);
	assert_true(H5Aexists(f, "vggfeat_classes1") > 0);
	assert_int_equal(H5Aexists(f, "vggfeat_classes2"), 0);
	h5util_strlist_t l = strings(f, "vggfeat_classes", NULL);
	assert_int_equal(l.n, K);
	for (int k = 0; k < K; k++)
		assert_string_equal(l.v[k], names[k]);
	h5util_strlist_free(&l);
	H5Fclose(f);
	unlink(out);
	for (int k = 0; k < K; k++)
		free(names[k]);
	free(names);
	free(kernel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vgg16),
		cmocka_unit_test(test_vggface),
		cmocka_unit_test(test_atomic),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_keras_names),
		cmocka_unit_test(test_save_through_link),
		cmocka_unit_test(test_killed_parent_takes_writer),
		cmocka_unit_test(test_stopped_while_written),
		cmocka_unit_test(test_changed_while_written),
		cmocka_unit_test(test_hidden_head),
		cmocka_unit_test(test_head_list),
		cmocka_unit_test(test_many_classes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
